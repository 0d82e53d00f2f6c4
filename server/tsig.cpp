#include "tsig.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>

#include "dns/types.hpp"

namespace zonemesh::server::tsig {
namespace {

struct algorithm_info {
  algorithm alg;
  const char* text;    // as configured and in the tsig_keys table
  const char* domain;  // as carried in the TSIG RR
  const char* digest;  // OpenSSL digest name
  std::size_t length;
};

constexpr std::array<algorithm_info, 6> algorithms{{
    {algorithm::hmac_md5, "hmac-md5", "hmac-md5.sig-alg.reg.int", "MD5", 16},
    {algorithm::hmac_sha1, "hmac-sha1", "hmac-sha1", "SHA1", 20},
    {algorithm::hmac_sha224, "hmac-sha224", "hmac-sha224", "SHA224", 28},
    {algorithm::hmac_sha256, "hmac-sha256", "hmac-sha256", "SHA256", 32},
    {algorithm::hmac_sha384, "hmac-sha384", "hmac-sha384", "SHA384", 48},
    {algorithm::hmac_sha512, "hmac-sha512", "hmac-sha512", "SHA512", 64},
}};

const algorithm_info& info(algorithm a) { return algorithms.at(static_cast<std::size_t>(a)); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return dns::to_lower(static_cast<std::uint8_t>(x)) ==
                  dns::to_lower(static_cast<std::uint8_t>(y));
         });
}

/// Incremental HMAC over the pieces the MAC covers.
class hmac {
 public:
  hmac(const key& k) {
    std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr),
                                                          EVP_MAC_free);
    if (!mac) throw std::runtime_error("OpenSSL has no HMAC");
    ctx_ = EVP_MAC_CTX_new(mac.get());
    if (ctx_ == nullptr) throw std::runtime_error("EVP_MAC_CTX_new failed");
    const auto& i = info(k.alg);
    std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(i.digest), 0),
        OSSL_PARAM_construct_end()};
    // An empty secret is legal HMAC input but OpenSSL wants a non-null pointer.
    static const unsigned char no_secret = 0;
    if (EVP_MAC_init(ctx_, k.secret.empty() ? &no_secret : k.secret.data(), k.secret.size(),
                     params.data()) != 1) {
      EVP_MAC_CTX_free(ctx_);
      throw std::runtime_error(std::string("HMAC init failed for ") + i.text);
    }
  }
  hmac(const hmac&) = delete;
  hmac& operator=(const hmac&) = delete;
  ~hmac() { EVP_MAC_CTX_free(ctx_); }

  void update(std::span<const std::uint8_t> data) {
    if (!data.empty()) EVP_MAC_update(ctx_, data.data(), data.size());
  }
  void u16(std::uint16_t v) {
    const std::array<std::uint8_t, 2> b{static_cast<std::uint8_t>(v >> 8),
                                        static_cast<std::uint8_t>(v)};
    update(b);
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void u48(std::uint64_t v) {
    u16(static_cast<std::uint16_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void canonical_name(const dns::name& n) { update(n.lowercased().wire()); }

  std::vector<std::uint8_t> finish() {
    std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
    std::size_t len = 0;
    if (EVP_MAC_final(ctx_, out.data(), &len, out.size()) != 1)
      throw std::runtime_error("HMAC final failed");
    out.resize(len);
    return out;
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

/// The MAC over prior MAC, message and TSIG variables (RFC 8945 4.3).
std::vector<std::uint8_t> compute(const key& k, std::span<const std::uint8_t> prior_mac,
                                  std::span<const std::uint8_t> message, const dns::name& key_name,
                                  const dns::name& alg_name, std::uint64_t time_signed,
                                  std::uint16_t fudge, std::uint16_t err,
                                  std::span<const std::uint8_t> other, bool timers_only) {
  hmac h(k);
  if (!prior_mac.empty()) {
    h.u16(static_cast<std::uint16_t>(prior_mac.size()));
    h.update(prior_mac);
  }
  h.update(message);
  if (timers_only) {
    h.u48(time_signed);
    h.u16(fudge);
    return h.finish();
  }
  h.canonical_name(key_name);
  h.u16(dns::rr_class::any);
  h.u32(0);
  h.canonical_name(alg_name);
  h.u48(time_signed);
  h.u16(fudge);
  h.u16(err);
  h.u16(static_cast<std::uint16_t>(other.size()));
  h.update(other);
  return h.finish();
}

/// The TSIG RR, uncompressed, into `out`; returns its length or 0 if too big.
std::size_t make_rr(std::span<std::uint8_t> out, const dns::name& key_name,
                    const dns::name& alg_name, const sign_params& p,
                    std::span<const std::uint8_t> mac, std::uint16_t original_id) {
  dns::writer w(out);
  bool ok =
      w.name(key_name, false) && w.u16(dns::rr_type::tsig) && w.u16(dns::rr_class::any) && w.u32(0);
  const std::size_t rdlength_at = w.size();
  ok = ok && w.u16(0) && w.name(alg_name, false) &&
       w.u16(static_cast<std::uint16_t>(p.time_signed >> 32)) &&
       w.u32(static_cast<std::uint32_t>(p.time_signed)) && w.u16(p.fudge) &&
       w.u16(static_cast<std::uint16_t>(mac.size())) && w.bytes(mac) && w.u16(original_id) &&
       w.u16(p.error) && w.u16(static_cast<std::uint16_t>(p.other.size())) && w.bytes(p.other);
  if (!ok) return 0;
  w.patch_u16(rdlength_at, static_cast<std::uint16_t>(w.size() - rdlength_at - 2));
  return w.size();
}

std::uint16_t read_u16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

/// Appends the RR to the message in `w` and counts it in ARCOUNT.
bool append(dns::writer& w, const dns::name& key_name, const dns::name& alg_name,
            const sign_params& p, std::span<const std::uint8_t> mac) {
  std::array<std::uint8_t, 1024> rr{};  // two names, fixed fields, a MAC, a short Other
  const auto message = w.data();
  const std::size_t n = make_rr(rr, key_name, alg_name, p, mac, read_u16(message, 0));
  const auto arcount = read_u16(message, 10);
  if (n == 0 || !w.bytes(std::span(rr).first(n))) return false;
  w.patch_u16(10, static_cast<std::uint16_t>(arcount + 1));
  return true;
}

}  // namespace

std::optional<algorithm> algorithm_from_text(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  for (const auto& i : algorithms) {
    if (iequals(text, i.text) || iequals(text, i.domain)) return i.alg;
  }
  return std::nullopt;
}

std::optional<algorithm> algorithm_from_name(const dns::name& n) {
  for (const auto& i : algorithms) {
    if (n == algorithm_name(i.alg)) return i.alg;
  }
  return std::nullopt;
}

const dns::name& algorithm_name(algorithm a) {
  static const std::array<dns::name, algorithms.size()> names = [] {
    std::array<dns::name, algorithms.size()> out;
    for (std::size_t i = 0; i < algorithms.size(); ++i) {
      (void)dns::name::from_text(algorithms[i].domain, out[i]);
    }
    return out;
  }();
  return names.at(static_cast<std::size_t>(a));
}

std::size_t mac_length(algorithm a) { return info(a).length; }

key make_key(std::string_view name, std::string_view algorithm_text,
             std::string_view secret_base64) {
  key k;
  if (dns::name::from_text(name, k.name) != dns::name_status::ok || k.name.is_root()) {
    throw std::invalid_argument("TSIG key name '" + std::string(name) +
                                "' is not a valid domain name");
  }
  auto alg = algorithm_from_text(algorithm_text);
  if (!alg) {
    throw std::invalid_argument(
        "TSIG key " + std::string(name) + ": unknown algorithm '" + std::string(algorithm_text) +
        "' (hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)");
  }
  k.alg = *alg;
  auto secret = base64_decode(secret_base64);
  if (!secret || secret->empty()) {
    throw std::invalid_argument("TSIG key " + std::string(name) +
                                ": the secret is not valid base64");
  }
  k.secret = std::move(*secret);
  return k;
}

find_status find(std::span<const std::uint8_t> message, record& out) {
  dns::reader r(message);
  dns::header h;
  if (r.header(h) != dns::read_status::ok) return find_status::malformed;
  for (unsigned i = 0; i < h.qdcount; ++i) {
    dns::name q;
    if (r.name(q) != dns::read_status::ok || r.skip(4) != dns::read_status::ok)
      return find_status::malformed;
  }
  const unsigned total = unsigned{h.ancount} + h.nscount + h.arcount;
  for (unsigned i = 0; i < total; ++i) {
    const std::size_t at = r.position();
    dns::name owner;
    dns::rr_header f;
    std::span<const std::uint8_t> rdata;
    if (r.rr(owner, f, rdata) != dns::read_status::ok) return find_status::malformed;
    if (f.type != dns::rr_type::tsig) continue;
    // RFC 8945 5.1: exactly one, the last record of the additional section.
    const bool in_additional = i >= unsigned{h.ancount} + h.nscount;
    if (!in_additional || i + 1 != total || r.remaining() != 0 || f.rrclass != dns::rr_class::any ||
        f.ttl != 0) {
      return find_status::malformed;
    }
    out.key_name = owner;
    out.offset = at;
    dns::reader rd(message);
    const std::size_t rdata_at = static_cast<std::size_t>(rdata.data() - message.data());
    if (rd.skip(rdata_at) != dns::read_status::ok ||
        rd.name(out.algorithm_name) != dns::read_status::ok) {
      return find_status::malformed;
    }
    std::uint16_t hi = 0, mac_size = 0, other_len = 0;
    std::uint32_t lo = 0;
    std::span<const std::uint8_t> mac, other;
    if (rd.u16(hi) != dns::read_status::ok || rd.u32(lo) != dns::read_status::ok ||
        rd.u16(out.fudge) != dns::read_status::ok || rd.u16(mac_size) != dns::read_status::ok ||
        rd.bytes(mac_size, mac) != dns::read_status::ok ||
        rd.u16(out.original_id) != dns::read_status::ok ||
        rd.u16(out.error) != dns::read_status::ok || rd.u16(other_len) != dns::read_status::ok ||
        rd.bytes(other_len, other) != dns::read_status::ok ||
        rd.position() != rdata_at + rdata.size()) {
      return find_status::malformed;
    }
    out.time_signed = (std::uint64_t{hi} << 32) | lo;
    out.mac.assign(mac.begin(), mac.end());
    out.other.assign(other.begin(), other.end());
    return find_status::found;
  }
  return r.remaining() == 0 ? find_status::absent : find_status::malformed;
}

std::vector<std::uint8_t> strip(std::span<const std::uint8_t> message, const record& rec) {
  std::vector<std::uint8_t> out(message.begin(),
                                message.begin() + static_cast<std::ptrdiff_t>(rec.offset));
  out[0] = static_cast<std::uint8_t>(rec.original_id >> 8);
  out[1] = static_cast<std::uint8_t>(rec.original_id);
  const auto arcount = static_cast<std::uint16_t>(((out[10] << 8) | out[11]) - 1);
  out[10] = static_cast<std::uint8_t>(arcount >> 8);
  out[11] = static_cast<std::uint8_t>(arcount);
  return out;
}

verdict verify(std::span<const std::uint8_t> message, const record& rec, const key& k,
               std::uint64_t now, std::span<const std::uint8_t> prior_mac, bool timers_only) {
  verdict v;
  const std::size_t full = mac_length(k.alg);
  // RFC 8945 5.2.2.1: longer than the hash, or shorter than both 10 octets
  // and half the hash, is malformed.
  if (rec.mac.size() > full || rec.mac.size() < std::max<std::size_t>(10, full / 2)) {
    v.formerr = true;
    v.error = error::badsig;
    return v;
  }
  const auto covered = strip(message, rec);
  const auto expected = compute(k, prior_mac, covered, rec.key_name, rec.algorithm_name,
                                rec.time_signed, rec.fudge, rec.error, rec.other, timers_only);
  if (CRYPTO_memcmp(expected.data(), rec.mac.data(), rec.mac.size()) != 0) {
    v.error = error::badsig;
    return v;
  }
  const std::uint64_t skew = now > rec.time_signed ? now - rec.time_signed : rec.time_signed - now;
  if (skew > rec.fudge) {
    v.error = error::badtime;
    return v;
  }
  v.ok = true;
  return v;
}

bool sign(dns::writer& w, const key& k, const sign_params& params,
          std::span<const std::uint8_t> prior_mac, std::vector<std::uint8_t>& mac_out) {
  const auto message = w.data();
  if (message.size() < dns::header_size) return false;
  const auto& alg = algorithm_name(k.alg);
  if (params.empty_mac) {
    mac_out.clear();
  } else {
    mac_out = compute(k, prior_mac, message, k.name, alg, params.time_signed, params.fudge,
                      params.error, params.other, params.timers_only);
  }
  return append(w, k.name, alg, params, mac_out);
}

namespace {
/// Appends the RR after the `length` octets of the message in `buffer`.
std::size_t append_in_place(std::span<std::uint8_t> buffer, std::size_t length,
                            const dns::name& key_name, const dns::name& alg_name,
                            const sign_params& params, std::span<const std::uint8_t> mac) {
  const std::size_t n =
      make_rr(buffer.subspan(length), key_name, alg_name, params, mac, read_u16(buffer, 0));
  if (n == 0) return 0;
  const auto arcount = static_cast<std::uint16_t>(read_u16(buffer, 10) + 1);
  buffer[10] = static_cast<std::uint8_t>(arcount >> 8);
  buffer[11] = static_cast<std::uint8_t>(arcount);
  return length + n;
}
}  // namespace

std::size_t sign_in_place(std::span<std::uint8_t> buffer, std::size_t length, const key& k,
                          const sign_params& params, std::span<const std::uint8_t> prior_mac,
                          std::vector<std::uint8_t>& mac_out) {
  if (length < dns::header_size || length > buffer.size()) return 0;
  const auto& alg = algorithm_name(k.alg);
  if (params.empty_mac) {
    mac_out.clear();
  } else {
    mac_out = compute(k, prior_mac, buffer.first(length), k.name, alg, params.time_signed,
                      params.fudge, params.error, params.other, params.timers_only);
  }
  return append_in_place(buffer, length, k.name, alg, params, mac_out);
}

std::size_t sign_unkeyed_in_place(std::span<std::uint8_t> buffer, std::size_t length,
                                  const dns::name& key_name, const dns::name& algorithm_name,
                                  const sign_params& params) {
  if (length < dns::header_size || length > buffer.size()) return 0;
  return append_in_place(buffer, length, key_name, algorithm_name, params, {});
}

bool sign_unkeyed(dns::writer& w, const dns::name& key_name, const dns::name& alg_name,
                  const sign_params& params) {
  if (w.size() < dns::header_size) return false;
  return append(w, key_name, alg_name, params, {});
}

std::size_t rr_size(const dns::name& key_name, const dns::name& alg_name, std::size_t mac_size,
                    std::size_t other_size) {
  // owner, type, class, TTL, RDLENGTH; algorithm, time, fudge, MAC size, MAC,
  // original ID, error, other length, other.
  return key_name.wire_length() + 10 + alg_name.wire_length() + 6 + 2 + 2 + mac_size + 2 + 2 + 2 +
         other_size;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t padding = 0, symbols = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = value(c);
    if (v < 0 || padding > 0) return std::nullopt;  // bad symbol, or data after padding
    ++symbols;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
    }
  }
  if (padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0) || symbols % 4 == 1)
    return std::nullopt;
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-zero trailing bits
  return out;
}

std::string base64_encode(std::span<const std::uint8_t> data) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{data[i]} << 16) |
                            (i + 1 < data.size() ? std::uint32_t{data[i + 1]} << 8 : 0) |
                            (i + 2 < data.size() ? std::uint32_t{data[i + 2]} : 0);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? alphabet[n & 63] : '=';
  }
  return out;
}

}  // namespace zonemesh::server::tsig
