// NSEC and NSEC3 RDATA, type bitmaps, NSEC3 hashing.
#include "dnssec/denial.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

namespace zonemesh::dnssec {

std::vector<std::uint8_t> type_bitmap(std::span<const std::uint16_t> types_in) {
  std::vector<std::uint16_t> types(types_in.begin(), types_in.end());
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  std::vector<std::uint8_t> out;
  std::size_t i = 0;
  while (i < types.size()) {
    const unsigned window = types[i] >> 8;
    std::array<std::uint8_t, 32> bits{};
    std::size_t used = 0;
    for (; i < types.size() && (types[i] >> 8) == window; ++i) {
      const unsigned low = types[i] & 0xff;
      bits[low / 8] = static_cast<std::uint8_t>(bits[low / 8] | (0x80 >> (low % 8)));
      used = low / 8 + 1;
    }
    out.push_back(static_cast<std::uint8_t>(window));
    out.push_back(static_cast<std::uint8_t>(used));
    out.insert(out.end(), bits.begin(), bits.begin() + static_cast<std::ptrdiff_t>(used));
  }
  return out;
}

bool bitmap_has(std::span<const std::uint8_t> bm, std::uint16_t type) {
  std::size_t at = 0;
  while (at + 2 <= bm.size()) {
    const unsigned window = bm[at];
    const std::size_t len = bm[at + 1];
    if (at + 2 + len > bm.size()) return false;
    if (window == (type >> 8u)) {
      const unsigned low = type & 0xff;
      return low / 8 < len && (bm[at + 2 + low / 8] & (0x80 >> (low % 8))) != 0;
    }
    at += 2 + len;
  }
  return false;
}

std::vector<std::uint8_t> nsec_rdata(const dns::name& next, std::span<const std::uint16_t> types) {
  const auto n = next.lowercased();
  std::vector<std::uint8_t> out(n.wire().begin(), n.wire().end());
  const auto bm = type_bitmap(types);
  out.insert(out.end(), bm.begin(), bm.end());
  return out;
}

std::optional<nsec3_params> parse_nsec3param(std::string_view text, std::string& error) {
  std::vector<std::string_view> parts;
  std::size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n')) ++at;
    std::size_t end = at;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t' && text[end] != '\n') ++end;
    if (end > at) parts.push_back(text.substr(at, end - at));
    at = end;
  }
  if (parts.size() != 4) {
    error = "NSEC3PARAM must be '<algorithm> <flags> <iterations> <salt|->', e.g. '1 0 0 -'";
    return std::nullopt;
  }
  auto number = [&](std::string_view s, unsigned max, unsigned& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && p == s.data() + s.size() && v <= max;
  };
  nsec3_params p;
  unsigned alg = 0, flags = 0, iterations = 0;
  if (!number(parts[0], 255, alg) || alg != 1) {
    error = "NSEC3PARAM algorithm must be 1 (SHA-1), not '" + std::string(parts[0]) + "'";
    return std::nullopt;
  }
  if (!number(parts[1], 1, flags)) {
    error = "NSEC3PARAM flags must be 0 or 1 (opt-out), not '" + std::string(parts[1]) + "'";
    return std::nullopt;
  }
  if (!number(parts[2], 500, iterations)) {
    error = "NSEC3PARAM iterations must be 0-500 (0 is recommended, RFC 9276), not '" + std::string(parts[2]) + "'";
    return std::nullopt;
  }
  if (parts[3] != "-") {
    const auto s = parts[3];
    if (s.size() % 2 != 0 || s.size() > 510) {
      error = "NSEC3PARAM salt must be '-' or an even number of hex digits (at most 255 octets)";
      return std::nullopt;
    }
    for (std::size_t i = 0; i < s.size(); i += 2) {
      unsigned v = 0;
      auto [ptr, ec] = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
      if (ec != std::errc{} || ptr != s.data() + i + 2) {
        error = "NSEC3PARAM salt '" + std::string(s) + "' is not hex";
        return std::nullopt;
      }
      p.salt.push_back(static_cast<std::uint8_t>(v));
    }
  }
  p.algorithm = static_cast<std::uint8_t>(alg);
  p.flags = static_cast<std::uint8_t>(flags);
  p.iterations = static_cast<std::uint16_t>(iterations);
  return p;
}

std::vector<std::uint8_t> nsec3param_rdata(const nsec3_params& p) {
  std::vector<std::uint8_t> out{p.algorithm, 0, static_cast<std::uint8_t>(p.iterations >> 8),
                                static_cast<std::uint8_t>(p.iterations),
                                static_cast<std::uint8_t>(p.salt.size())};
  out.insert(out.end(), p.salt.begin(), p.salt.end());
  return out;
}

nsec3_hash hash_name(const dns::name& owner, const nsec3_params& p) {
  const auto lower = owner.lowercased();
  nsec3_hash h{};
  // One digest context per thread: NSEC3 proofs hash names per query, and
  // this keeps that free of allocations after a thread's first use.
  struct ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, ctx_free> tls_ctx(EVP_MD_CTX_new());
  struct md_free {
    void operator()(EVP_MD* m) const { EVP_MD_free(m); }
  };
  thread_local std::unique_ptr<EVP_MD, md_free> tls_sha1(EVP_MD_fetch(nullptr, "SHA1", nullptr));
  EVP_MD_CTX* ctx = tls_ctx.get();
  const EVP_MD* sha1 = tls_sha1.get();
  unsigned int len = 0;
  auto round = [&](std::span<const std::uint8_t> data) {
    EVP_DigestInit_ex(ctx, sha1, nullptr);
    EVP_DigestUpdate(ctx, data.data(), data.size());
    if (!p.salt.empty()) EVP_DigestUpdate(ctx, p.salt.data(), p.salt.size());
    EVP_DigestFinal_ex(ctx, h.data(), &len);
  };
  round(lower.wire());
  for (unsigned i = 0; i < p.iterations; ++i) {
    const nsec3_hash prev = h;
    round(prev);
  }
  return h;
}

std::string base32hex(std::span<const std::uint8_t> data) {
  static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (auto c : data) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(alphabet[(acc >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (5 - bits)) & 31]);
  return out;
}

dns::name nsec3_owner(const nsec3_hash& hash, const dns::name& apex) {
  dns::name out = apex.lowercased();
  (void)out.prepend_label(base32hex(hash));
  return out;
}

std::optional<nsec3_hash> hash_from_owner(const dns::name& owner) {
  const auto w = owner.wire();
  if (w.size() < 33 || w[0] != 32) return std::nullopt;
  nsec3_hash h{};
  std::uint64_t acc = 0;
  int bits = 0;
  std::size_t out = 0;
  for (std::size_t i = 1; i <= 32; ++i) {
    const std::uint8_t c = dns::to_lower(w[i]);
    unsigned v = 0;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'v') {
      v = 10u + (c - 'a');
    } else {
      return std::nullopt;
    }
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      h[out++] = static_cast<std::uint8_t>(acc >> bits);
    }
  }
  return h;
}

std::vector<std::uint8_t> nsec3_rdata(const nsec3_params& p, const nsec3_hash& next,
                                      std::span<const std::uint16_t> types) {
  std::vector<std::uint8_t> out{p.algorithm, p.flags, static_cast<std::uint8_t>(p.iterations >> 8),
                                static_cast<std::uint8_t>(p.iterations),
                                static_cast<std::uint8_t>(p.salt.size())};
  out.insert(out.end(), p.salt.begin(), p.salt.end());
  out.push_back(static_cast<std::uint8_t>(next.size()));
  out.insert(out.end(), next.begin(), next.end());
  const auto bm = type_bitmap(types);
  out.insert(out.end(), bm.begin(), bm.end());
  return out;
}

}  // namespace zonemesh::dnssec
