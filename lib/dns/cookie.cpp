// DNS cookies: option layout, SipHash-2-4 and RFC 9018 server cookies.
#include "dns/cookie.hpp"

#include <cstring>

namespace zonemesh::dns {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

std::uint64_t load_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct sip_state {
  std::uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  void absorb(std::uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

constexpr std::uint8_t cookie_version = 1;
constexpr std::uint32_t max_age = 3600;    // RFC 9018 4.3
constexpr std::uint32_t renew_age = 1800;  // a new cookie when older than this
constexpr std::uint32_t max_ahead = 300;   // clock skew between sites

/// Constant-time comparison of 8 octets.
bool equal8(const std::uint8_t* a, const std::uint8_t* b) {
  std::uint8_t diff = 0;
  for (int i = 0; i < 8; ++i) diff = static_cast<std::uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

}  // namespace

cookie_status parse_cookie(std::span<const std::uint8_t> data, cookie_view& out) {
  // RFC 7873 4: 8 octets of client cookie, then nothing or 8 to 32 octets.
  if (data.size() == client_cookie_size) {
    out.client = data;
    out.server = {};
    return cookie_status::client_only;
  }
  if (data.size() >= client_cookie_size + 8 && data.size() <= client_cookie_size + 32) {
    out.client = data.first(client_cookie_size);
    out.server = data.subspan(client_cookie_size);
    return cookie_status::with_server;
  }
  return cookie_status::malformed;
}

std::uint64_t siphash24(const cookie_secret& key, std::span<const std::uint8_t> data) {
  const std::uint64_t k0 = load_le64(key.data());
  const std::uint64_t k1 = load_le64(key.data() + 8);
  sip_state s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
              k1 ^ 0x7465646279746573ULL};
  const std::size_t whole = data.size() / 8 * 8;
  for (std::size_t i = 0; i < whole; i += 8) s.absorb(load_le64(data.data() + i));
  std::uint64_t last = static_cast<std::uint64_t>(data.size() & 0xff) << 56;
  for (std::size_t i = whole; i < data.size(); ++i) {
    last |= static_cast<std::uint64_t>(data[i]) << (8 * (i - whole));
  }
  s.absorb(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void make_server_cookie(const cookie_secret& key, std::span<const std::uint8_t> client,
                        std::span<const std::uint8_t> client_address, std::uint32_t timestamp,
                        std::span<std::uint8_t, server_cookie_size> out) {
  // Version, Reserved (3), Timestamp (4), then Hash (8) over
  // Client Cookie | Version | Reserved | Timestamp | Client-IP.
  out[0] = cookie_version;
  out[1] = out[2] = out[3] = 0;
  out[4] = static_cast<std::uint8_t>(timestamp >> 24);
  out[5] = static_cast<std::uint8_t>(timestamp >> 16);
  out[6] = static_cast<std::uint8_t>(timestamp >> 8);
  out[7] = static_cast<std::uint8_t>(timestamp);
  std::uint8_t input[client_cookie_size + 8 + 16] = {};
  const std::size_t address_size = client_address.size() > 16 ? 16 : client_address.size();
  std::memcpy(input, client.data(), client_cookie_size);
  std::memcpy(input + client_cookie_size, out.data(), 8);
  std::memcpy(input + client_cookie_size + 8, client_address.data(), address_size);
  const std::uint64_t hash =
      siphash24(key, std::span<const std::uint8_t>(input, client_cookie_size + 8 + address_size));
  // The hash goes out in SipHash's own (little-endian) byte order.
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<std::uint8_t>(hash >> (8 * i));
}

server_cookie_check check_server_cookie(const cookie_secret& current,
                                        std::span<const cookie_secret> also_accepted,
                                        std::span<const std::uint8_t> client,
                                        std::span<const std::uint8_t> server,
                                        std::span<const std::uint8_t> client_address,
                                        std::uint32_t now) {
  if (client.size() != client_cookie_size || server.size() != server_cookie_size ||
      server[0] != cookie_version || server[1] != 0 || server[2] != 0 || server[3] != 0) {
    return server_cookie_check::invalid;
  }
  const std::uint32_t stamp = (std::uint32_t{server[4]} << 24) | (std::uint32_t{server[5]} << 16) |
                              (std::uint32_t{server[6]} << 8) | server[7];
  // Serial-number arithmetic (RFC 1982): the age may be "negative" (ahead).
  const auto age = static_cast<std::int32_t>(now - stamp);
  if (age > static_cast<std::int32_t>(max_age) || age < -static_cast<std::int32_t>(max_ahead)) {
    return server_cookie_check::invalid;
  }
  std::array<std::uint8_t, server_cookie_size> expected{};
  make_server_cookie(current, client, client_address, stamp, expected);
  if (equal8(expected.data() + 8, server.data() + 8)) {
    return age > static_cast<std::int32_t>(renew_age) ? server_cookie_check::valid_renew
                                                      : server_cookie_check::valid;
  }
  for (const auto& key : also_accepted) {
    make_server_cookie(key, client, client_address, stamp, expected);
    if (equal8(expected.data() + 8, server.data() + 8)) return server_cookie_check::valid_renew;
  }
  return server_cookie_check::invalid;
}

}  // namespace zonemesh::dns
