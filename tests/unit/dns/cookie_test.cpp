// Tests for lib/dns/cookie.*: the COOKIE option's layout, SipHash-2-4 and
// RFC 9018 server cookies (the RFC's own test vectors).
#include "dns/cookie.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zonemesh::dns {
namespace {

std::vector<std::uint8_t> hex(const std::string& text) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
  }
  return out;
}

cookie_secret secret(const std::string& text) {
  cookie_secret s{};
  const auto bytes = hex(text);
  std::copy(bytes.begin(), bytes.end(), s.begin());
  return s;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

const std::vector<std::uint8_t> ipv4_client = {198, 51, 100, 100};

TEST(Cookie, SipHashReferenceVector) {
  // The SipHash paper's vector: key 00..0f, message 00..0e.
  cookie_secret key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  std::vector<std::uint8_t> msg(15);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(siphash24(key, msg), 0xa129ca6149be45e5ULL);
  EXPECT_EQ(siphash24(key, {}), 0x726fdb47dd0e0e31ULL);
}

TEST(Cookie, Rfc9018VectorsA1AndA2) {
  const auto key = secret("e5e973e5a6b2a43f48e7dc849e37bfcf");
  const auto client = hex("2464c4abcf10c957");
  std::array<std::uint8_t, server_cookie_size> out{};
  make_server_cookie(key, client, ipv4_client, 1559731985, out);
  EXPECT_EQ(to_hex(out), "010000005cf79f111f8130c3eee29480");
  make_server_cookie(key, client, ipv4_client, 1559734385, out);
  EXPECT_EQ(to_hex(out), "010000005cf7a871d4a564a1442aca77");
}

TEST(Cookie, OptionLengths) {
  cookie_view v;
  for (std::size_t n : {0u, 1u, 7u, 9u, 15u, 41u, 60u}) {
    std::vector<std::uint8_t> data(n, 1);
    EXPECT_EQ(parse_cookie(data, v), cookie_status::malformed) << n;
  }
  std::vector<std::uint8_t> data(8, 1);
  ASSERT_EQ(parse_cookie(data, v), cookie_status::client_only);
  EXPECT_EQ(v.client.size(), 8u);
  EXPECT_TRUE(v.server.empty());
  for (std::size_t n : {16u, 24u, 40u}) {
    data.assign(n, 2);
    ASSERT_EQ(parse_cookie(data, v), cookie_status::with_server) << n;
    EXPECT_EQ(v.server.size(), n - 8);
  }
}

TEST(Cookie, CheckAcceptsOwnCookiesAndRefusesOthers) {
  const auto key = secret("e5e973e5a6b2a43f48e7dc849e37bfcf");
  const auto other = secret("445536bcd2513298075a5d379663c962");
  const auto client = hex("2464c4abcf10c957");
  const std::uint32_t t = 1559731985;
  std::array<std::uint8_t, server_cookie_size> cookie{};
  make_server_cookie(key, client, ipv4_client, t, cookie);
  const std::span<const cookie_secret> none;
  EXPECT_EQ(check_server_cookie(key, none, client, cookie, ipv4_client, t + 10),
            server_cookie_check::valid);
  EXPECT_EQ(check_server_cookie(key, none, client, cookie, ipv4_client, t + 2400),
            server_cookie_check::valid_renew);  // older than half an hour
  EXPECT_EQ(check_server_cookie(key, none, client, cookie, ipv4_client, t + 3700),
            server_cookie_check::invalid);  // older than an hour
  EXPECT_EQ(check_server_cookie(key, none, client, cookie, ipv4_client, t - 600),
            server_cookie_check::invalid);  // too far ahead
  const std::vector<std::uint8_t> elsewhere = {198, 51, 100, 101};
  EXPECT_EQ(check_server_cookie(key, none, client, cookie, elsewhere, t),
            server_cookie_check::invalid);
  const auto other_client = hex("2464c4abcf10c958");
  EXPECT_EQ(check_server_cookie(key, none, other_client, cookie, ipv4_client, t),
            server_cookie_check::invalid);
  // Rotation: a cookie made with the old key is accepted (and renewed)
  // while the old key is still listed.
  const cookie_secret old_keys[] = {key};
  EXPECT_EQ(check_server_cookie(other, none, client, cookie, ipv4_client, t),
            server_cookie_check::invalid);
  EXPECT_EQ(check_server_cookie(other, old_keys, client, cookie, ipv4_client, t),
            server_cookie_check::valid_renew);
  // A flipped bit in the hash, or a wrong version.
  auto bad = cookie;
  bad[15] ^= 1;
  EXPECT_EQ(check_server_cookie(key, none, client, bad, ipv4_client, t),
            server_cookie_check::invalid);
  bad = cookie;
  bad[0] = 2;
  EXPECT_EQ(check_server_cookie(key, none, client, bad, ipv4_client, t),
            server_cookie_check::invalid);
  // IPv6 clients hash all 16 octets.
  std::vector<std::uint8_t> v6(16, 0x20);
  make_server_cookie(key, client, v6, t, cookie);
  EXPECT_EQ(check_server_cookie(key, none, client, cookie, v6, t), server_cookie_check::valid);
  v6[15] = 0x21;
  EXPECT_EQ(check_server_cookie(key, none, client, cookie, v6, t), server_cookie_check::invalid);
}

}  // namespace
}  // namespace zonemesh::dns
