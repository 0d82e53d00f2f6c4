// Tests for server/tsig.*: messages signed by dnspython 2.3 (Debian's
// python3-dnspython, an independent implementation) verify here, and what we
// sign verifies the same way; tampering, skew and bad MAC sizes are caught.
#include "tsig.hpp"

#include <gtest/gtest.h>

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

namespace zonemesh::server::tsig {
namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Secret: the 32 octets 0x00..0x1f. The messages below were made with
//   q = dns.message.make_query('example.', 'SOA'); q.id = ...
//   q.use_tsig(dns.tsigkeyring.from_text({'test-key.': (alg, secret)}), keyname='test-key.')
//   q.to_wire()
// at time_signed 1795371574; the response with dns.message.make_response(q).
constexpr std::string_view secret_b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr std::uint64_t signed_at = 1795371574;

constexpr std::string_view query_sha256 =
    "123401000001000000000001076578616d706c65000006000108746573742d6b65790000fa00ff00000000003d0b68"
    "6d61632d7368"
    "613235360000006b033236012c00206c05c0cbef368f0b2dad400f8f360412b5abc1a1d1fc486f936d2e3923c33254"
    "123400000000";
constexpr std::string_view query_sha512 =
    "123401000001000000000001076578616d706c65000006000108746573742d6b65790000fa00ff00000000005d0b68"
    "6d61632d7368"
    "613531320000006b033236012c0040f0e0738514a39e4802323aa7bddd65f16ce27ccd62b9987555490a7a1a27cbc5"
    "7bb7412d9dd5"
    "03ca7a3ec91275de3fcbf8ece47d90d24aef29a90e95ec17a1ee123400000000";
constexpr std::string_view query_sha1 =
    "123401000001000000000001076578616d706c65000006000108746573742d6b65790000fa00ff00000000002f0968"
    "6d61632d7368"
    "61310000006b033236012c0014498155c05de64aba063816537a7f3238e4b641c7123400000000";
// id 7, and dnspython's signed response to it.
constexpr std::string_view request7 =
    "000701000001000000000001076578616d706c65000006000108746573742d6b65790000fa00ff00000000003d0b68"
    "6d61632d7368"
    "613235360000006b033236012c00206de3eebb6e1db50c94cf421a92b0fc46ca3807fbad93cd719fd31a5e134bc81a"
    "000700000000";
constexpr std::string_view response7 =
    "000781000001000000000001076578616d706c65000006000108746573742d6b65790000fa00ff00000000003d0b68"
    "6d61632d7368"
    "613235360000006b033236012c002062585557f17b98b2cdfef966c71534f5043e48dfb79c070a4392cacf967be902"
    "000700000000";

record found(const std::vector<std::uint8_t>& wire) {
  record rec;
  EXPECT_EQ(find(wire, rec), find_status::found);
  return rec;
}

TEST(Tsig, VerifiesDnspythonQueriesForEachAlgorithm) {
  for (auto [hex, alg] :
       {std::pair{query_sha256, "hmac-sha256"}, std::pair{query_sha512, "hmac-sha512"},
        std::pair{query_sha1, "hmac-sha1"}}) {
    const auto wire = from_hex(hex);
    const auto rec = found(wire);
    EXPECT_EQ(rec.key_name.to_string(), "test-key.");
    EXPECT_EQ(rec.time_signed, signed_at);
    EXPECT_EQ(rec.fudge, 300);
    EXPECT_EQ(rec.original_id, 0x1234);
    const auto k = make_key("test-key", alg, secret_b64);
    ASSERT_EQ(algorithm_from_name(rec.algorithm_name), k.alg) << alg;
    const auto v = verify(wire, rec, k, signed_at + 10);
    EXPECT_TRUE(v.ok) << alg << " error " << v.error;
  }
}

TEST(Tsig, RejectsATamperedMessageOrAnotherSecret) {
  auto wire = from_hex(query_sha256);
  const auto k = make_key("test-key.", "hmac-sha256", secret_b64);
  auto tampered = wire;
  tampered[13] ^= 0x20;  // "example" -> "Example": the MAC covers the exact bytes
  auto v = verify(tampered, found(tampered), k, signed_at);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.error, error::badsig);

  const auto other =
      make_key("test-key.", "hmac-sha256", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh4=");
  v = verify(wire, found(wire), other, signed_at);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.error, error::badsig);
}

TEST(Tsig, OutsideTheFudgeIsBadtime) {
  const auto wire = from_hex(query_sha256);
  const auto k = make_key("test-key.", "hmac-sha256", secret_b64);
  EXPECT_TRUE(verify(wire, found(wire), k, signed_at + 300).ok);
  EXPECT_TRUE(verify(wire, found(wire), k, signed_at - 300).ok);
  auto v = verify(wire, found(wire), k, signed_at + 301);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.error, error::badtime);
  v = verify(wire, found(wire), k, signed_at - 3600);
  EXPECT_EQ(v.error, error::badtime);
}

TEST(Tsig, OurResponseEqualsDnspythonsForTheSameRequest) {
  const auto request = from_hex(request7);
  const auto k = make_key("test-key.", "hmac-sha256", secret_b64);
  const auto req = found(request);
  ASSERT_TRUE(verify(request, req, k, signed_at).ok);

  // The same response dnspython made: header with QR, the question.
  std::array<std::uint8_t, 512> buf{};
  dns::writer w(buf);
  const auto expected = from_hex(response7);
  ASSERT_TRUE(w.bytes(std::span(expected).first(req.offset)));
  w.patch_u16(10, 0);  // dnspython's ARCOUNT counted the TSIG
  sign_params p;
  p.time_signed = signed_at;
  p.fudge = 300;
  std::vector<std::uint8_t> mac;
  ASSERT_TRUE(sign(w, k, p, req.mac, mac));
  EXPECT_EQ(std::vector<std::uint8_t>(w.data().begin(), w.data().end()), expected);

  // And verifying it as a client does, with the request's MAC first.
  const std::vector<std::uint8_t> ours(w.data().begin(), w.data().end());
  EXPECT_TRUE(verify(ours, found(ours), k, signed_at, req.mac).ok);
  EXPECT_FALSE(verify(ours, found(ours), k, signed_at).ok)
      << "the request MAC is part of the response MAC";
}

TEST(Tsig, StreamsChainMacsWithTimersOnly) {
  const auto k = make_key("xfr.", "hmac-sha512", secret_b64);
  std::array<std::uint8_t, 512> buf{};
  std::vector<std::uint8_t> prior{1, 2, 3};
  for (int i = 0; i < 3; ++i) {
    dns::writer w(buf);
    dns::header h;
    h.id = 99;
    h.flags = dns::flag::qr;
    ASSERT_TRUE(w.header(h));
    sign_params p;
    p.time_signed = signed_at + static_cast<std::uint64_t>(i);
    p.timers_only = i > 0;
    std::vector<std::uint8_t> mac;
    ASSERT_TRUE(sign(w, k, p, prior, mac));
    const std::vector<std::uint8_t> msg(w.data().begin(), w.data().end());
    EXPECT_TRUE(verify(msg, found(msg), k, signed_at, prior, p.timers_only).ok) << i;
    EXPECT_FALSE(verify(msg, found(msg), k, signed_at, prior, !p.timers_only).ok) << i;
    prior = mac;
  }
}

TEST(Tsig, MacSizeRulesOfRfc8945) {
  const auto k = make_key("test-key.", "hmac-sha256", secret_b64);
  auto rec = found(from_hex(query_sha256));
  const auto wire = from_hex(query_sha256);
  rec.mac.resize(16);  // half of SHA-256: allowed, compared truncated
  EXPECT_TRUE(verify(wire, rec, k, signed_at).ok);
  rec.mac.resize(15);  // shorter than half: malformed
  EXPECT_TRUE(verify(wire, rec, k, signed_at).formerr);
  rec.mac.assign(33, 0);  // longer than the hash: malformed
  EXPECT_TRUE(verify(wire, rec, k, signed_at).formerr);
}

TEST(Tsig, FindsOnlyALastAdditionalTsig) {
  auto wire = from_hex(query_sha256);
  record rec;
  // No TSIG: the message without it.
  const auto stripped = strip(wire, found(wire));
  EXPECT_EQ(find(stripped, rec), find_status::absent);
  // The TSIG moved to the answer section (ANCOUNT 1, ARCOUNT 0): malformed.
  auto moved = wire;
  moved[7] = 1;
  moved[11] = 0;
  EXPECT_EQ(find(moved, rec), find_status::malformed);
  // A truncated TSIG: malformed.
  auto cut = wire;
  cut.resize(cut.size() - 3);
  EXPECT_EQ(find(cut, rec), find_status::malformed);
  // Trailing garbage after the last RR: malformed.
  auto extra = wire;
  extra.push_back(0);
  EXPECT_EQ(find(extra, rec), find_status::malformed);
}

TEST(Tsig, UnkeyedRepliesCarryNoMac) {
  std::array<std::uint8_t, 512> buf{};
  dns::writer w(buf);
  dns::header h;
  h.id = 5;
  ASSERT_TRUE(w.header(h));
  dns::name key_name;
  ASSERT_EQ(dns::name::from_text("unknown.key.", key_name), dns::name_status::ok);
  sign_params p;
  p.time_signed = signed_at;
  p.error = error::badkey;
  ASSERT_TRUE(sign_unkeyed(w, key_name, algorithm_name(algorithm::hmac_sha256), p));
  const std::vector<std::uint8_t> msg(w.data().begin(), w.data().end());
  const auto rec = found(msg);
  EXPECT_TRUE(rec.mac.empty());
  EXPECT_EQ(rec.error, error::badkey);
  EXPECT_EQ(rec.original_id, 5);
}

TEST(Tsig, KeysFromTableTextAreChecked) {
  EXPECT_EQ(make_key("k.", "HMAC-SHA256.", secret_b64).alg, algorithm::hmac_sha256);
  EXPECT_EQ(make_key("k.", "hmac-md5.sig-alg.reg.int", secret_b64).alg, algorithm::hmac_md5);
  EXPECT_THROW(make_key("k.", "hmac-sha3", secret_b64), std::invalid_argument);
  EXPECT_THROW(make_key("k.", "hmac-sha256", "not base64!"), std::invalid_argument);
  EXPECT_THROW(make_key("k.", "hmac-sha256", ""), std::invalid_argument);
  EXPECT_THROW(make_key("a..b", "hmac-sha256", secret_b64), std::invalid_argument);
}

TEST(Tsig, Base64RoundTrips) {
  for (std::size_t n = 0; n < 40; ++n) {
    std::vector<std::uint8_t> data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::uint8_t>(i * 37 + 11);
    const auto text = base64_encode(data);
    EXPECT_EQ(text.size() % 4, 0u);
    EXPECT_EQ(base64_decode(text), data) << text;
  }
  EXPECT_EQ(base64_decode("Zm9v"), (std::vector<std::uint8_t>{'f', 'o', 'o'}));
  EXPECT_EQ(base64_decode("Zm9vYg"), (std::vector<std::uint8_t>{'f', 'o', 'o', 'b'}));  // unpadded
  EXPECT_FALSE(base64_decode("Zm9vY").has_value());
  EXPECT_FALSE(base64_decode("Zm=9v").has_value());
  EXPECT_FALSE(base64_decode("Zh==").has_value());  // non-zero trailing bits
}

}  // namespace
}  // namespace zonemesh::server::tsig
