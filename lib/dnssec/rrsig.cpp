// RRSIG: canonical RRsets, signed data, signing and verifying.
#include "dnssec/rrsig.hpp"

#include <algorithm>
#include <cstring>

#include "dns/types.hpp"

namespace zonemesh::dnssec {
namespace {

namespace t = dns::rr_type;

void put16(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, v >> 16);
  put16(out, v & 0xffff);
}

/// Lowercases the uncompressed name at `at` in place; returns the offset
/// after it, or 0 when there is no valid name there.
std::size_t lower_name_at(std::vector<std::uint8_t>& rd, std::size_t at) {
  std::size_t total = 0;
  while (at < rd.size()) {
    const std::size_t len = rd[at];
    if (len == 0) return at + 1;
    if (len > 63 || at + 1 + len > rd.size()) return 0;
    for (std::size_t i = at + 1; i <= at + len; ++i) rd[i] = dns::to_lower(rd[i]);
    total += len + 1;
    if (total > 254) return 0;
    at += len + 1;
  }
  return 0;
}

/// Skips one <character-string>; returns the offset after it or 0.
std::size_t skip_string(const std::vector<std::uint8_t>& rd, std::size_t at) {
  if (at >= rd.size() || at + 1 + rd[at] > rd.size()) return 0;
  return at + 1 + rd[at];
}

}  // namespace

std::vector<std::uint8_t> canonical_rdata(std::uint16_t type, std::span<const std::uint8_t> rdata) {
  std::vector<std::uint8_t> rd(rdata.begin(), rdata.end());
  std::size_t at = 0;
  switch (type) {
    case t::ns:
    case t::md:
    case t::mf:
    case t::cname:
    case t::mb:
    case t::mg:
    case t::mr:
    case t::ptr:
    case t::dname:
      (void)lower_name_at(rd, 0);
      break;
    case t::soa:
    case t::minfo:
    case t::rp:
      at = lower_name_at(rd, 0);
      if (at != 0) (void)lower_name_at(rd, at);
      break;
    case t::mx:
    case t::afsdb:
    case 21:  // RT
    case t::kx:
      if (rd.size() > 2) (void)lower_name_at(rd, 2);
      break;
    case 26:  // PX
      if (rd.size() > 2 && (at = lower_name_at(rd, 2)) != 0) (void)lower_name_at(rd, at);
      break;
    case t::srv:
      if (rd.size() > 6) (void)lower_name_at(rd, 6);
      break;
    case t::naptr:
      at = 4;
      for (int i = 0; i < 3 && at != 0; ++i) at = skip_string(rd, at);
      if (at != 0) (void)lower_name_at(rd, at);
      break;
    case t::rrsig:
      if (rd.size() > 18) (void)lower_name_at(rd, 18);
      break;
    default:
      break;
  }
  return rd;
}

std::uint8_t rrsig_labels(const dns::name& owner) {
  const std::size_t n = owner.label_count();
  return static_cast<std::uint8_t>(owner.is_wildcard() ? n - 1 : n);
}

std::vector<std::uint8_t> rrsig_signed_data(const rrsig_fields& f, const dns::name& signer,
                                            const dns::name& owner, std::uint16_t rrclass,
                                            std::span<const std::span<const std::uint8_t>> rdatas) {
  std::vector<std::uint8_t> out;
  put16(out, f.type_covered);
  out.push_back(f.algorithm);
  out.push_back(f.labels);
  put32(out, f.original_ttl);
  put32(out, f.expiration);
  put32(out, f.inception);
  put16(out, f.key_tag);
  const dns::name signer_lower = signer.lowercased();  // named: wire() points into it
  for (const auto c : signer_lower.wire()) out.push_back(c);

  // The owner as signed: lowercase; "*." + the rightmost `labels` labels
  // when the name has more labels than the RRSIG counts (RFC 4035 5.3.2).
  dns::name signed_owner = owner.lowercased();
  if (signed_owner.label_count() > f.labels) {
    signed_owner.strip_left(signed_owner.label_count() - f.labels);
    (void)signed_owner.prepend_label("*");
  }
  std::vector<std::vector<std::uint8_t>> rrs;
  rrs.reserve(rdatas.size());
  for (const auto rd : rdatas) rrs.push_back(canonical_rdata(f.type_covered, rd));
  // RFC 4034 6.3: RDATA as left-justified unsigned octet sequences.
  std::sort(rrs.begin(), rrs.end());
  rrs.erase(std::unique(rrs.begin(), rrs.end()), rrs.end());
  const auto owner_wire = signed_owner.wire();
  for (const auto& rd : rrs) {
    out.insert(out.end(), owner_wire.begin(), owner_wire.end());
    put16(out, f.type_covered);
    put16(out, rrclass);
    put32(out, f.original_ttl);
    put16(out, static_cast<std::uint32_t>(rd.size()));
    out.insert(out.end(), rd.begin(), rd.end());
  }
  return out;
}

std::vector<std::uint8_t> sign_rrset(const signing_key& key, std::uint16_t key_tag, const dns::name& signer,
                                     const dns::name& owner, std::uint16_t type, std::uint32_t ttl,
                                     std::span<const std::span<const std::uint8_t>> rdatas,
                                     std::uint32_t inception, std::uint32_t expiration) {
  rrsig_fields f;
  f.type_covered = type;
  f.algorithm = static_cast<std::uint8_t>(key.algorithm());
  f.labels = rrsig_labels(owner);
  f.original_ttl = ttl;
  f.expiration = expiration;
  f.inception = inception;
  f.key_tag = key_tag;
  auto data = rrsig_signed_data(f, signer, owner, dns::rr_class::in, rdatas);
  auto sig = key.sign(data);
  // The RDATA is the signed data's RRSIG part followed by the signature.
  const std::size_t head = 18 + signer.wire_length();
  data.resize(head);
  data.insert(data.end(), sig.begin(), sig.end());
  return data;
}

bool parse_rrsig(std::span<const std::uint8_t> rd, rrsig_view& out) {
  if (rd.size() < 19) return false;
  auto u16 = [&](std::size_t i) { return static_cast<std::uint16_t>((rd[i] << 8) | rd[i + 1]); };
  auto u32 = [&](std::size_t i) { return (std::uint32_t{u16(i)} << 16) | u16(i + 2); };
  out.fields.type_covered = u16(0);
  out.fields.algorithm = rd[2];
  out.fields.labels = rd[3];
  out.fields.original_ttl = u32(4);
  out.fields.expiration = u32(8);
  out.fields.inception = u32(12);
  out.fields.key_tag = u16(16);
  std::size_t used = 0;
  if (dns::name::from_wire_prefix(rd.subspan(18), out.signer, used) != dns::name_status::ok) return false;
  out.signature = rd.subspan(18 + used);
  return !out.signature.empty();
}

bool verify_rrset(std::span<const std::uint8_t> dnskey, std::span<const std::uint8_t> rrsig,
                  const dns::name& owner, std::uint16_t type,
                  std::span<const std::span<const std::uint8_t>> rdatas) {
  rrsig_view v;
  if (!parse_rrsig(rrsig, v)) return false;
  if (v.fields.type_covered != type || dnskey.size() < 4 || v.fields.algorithm != dnskey[3] ||
      v.fields.key_tag != key_tag(dnskey) || v.fields.labels > owner.label_count()) {
    return false;
  }
  auto data = rrsig_signed_data(v.fields, v.signer, owner, dns::rr_class::in, rdatas);
  return verify(dnskey, data, v.signature);
}

}  // namespace zonemesh::dnssec
