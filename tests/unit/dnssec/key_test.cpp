// Tests of lib/dnssec/key.*: keys made by ldns-keygen and dnssec-keygen
// parse and give the DNSKEY and key tag those tools printed; our signatures
// verify; bad private texts get clear errors.

#include "dnssec/key.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "dns/name.hpp"

namespace zonemesh::dnssec {
namespace {

struct tool_key {
  const char* private_text;
  const char* dnskey_text;  // "flags proto alg base64" as the tool printed it
  std::uint16_t tag;
};

// ldns-keygen -a ECDSAP256SHA256 example.com (writes v1.2)
const tool_key ldns_p256{
    "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\n"
    "PrivateKey: 1gnRZtTXer5ve7XnwB2LresOKApl1tvkoHah0XvyFeQ=\n",
    "256 3 13 GD8uWCT0hE0on9Snpn3Axk+gICPeYheJr7gpOHXQkuLJ7kwKI/YRGakCA1mReQdh98gH9mWhzCnGlQf+P4qp7w==", 6555};
// ldns-keygen -a ED25519 -k example.com
const tool_key ldns_ed25519{
    "Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\n"
    "PrivateKey: n8VhgXfCoaU9AYR1zvMmo4U9XoQrlkQcxvuK5rtrG8I=\n",
    "257 3 15 NW8VhYc4ZwgN0YRNs4VL5/IB59qhqSx6Ul41Ka08D+w=", 48001};
// dnssec-keygen -a ECDSAP256SHA256 example.org (v1.3 with timing lines)
const tool_key bind_p256{
    "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\n"
    "PrivateKey: hYSzjpoJDArda6wUnN+ELhrcvWnc/2Dt0o0yP6fo0Ak=\n"
    "Created: 20261122211636\nPublish: 20261122211636\nActivate: 20261122211636\n",
    "256 3 13 ls95PxPdQ5G7vuCwmyY0s0LAMTXu8T2HmFu09aY4EogndoJT+7I7ClE0xUkHcZgtFCMRJz8OjmgITBPf/NqyHg==", 53981};
// dnssec-keygen -a RSASHA256 -b 1024 example.org
const tool_key bind_rsa{
    "Private-key-format: v1.3\nAlgorithm: 8 (RSASHA256)\n"
    "Modulus: 3kLbL6E1qL4N6NSN3BR7Yl49AT0fnG8pqwcvcaVG5tuN6VDX9u1Skb4sEy3TyEnX5LQeEs82WlOx8IyggaDzEjF2MEPG9U+dXN+4MeDQRYCwcyAUKiPsLkSbWe/NiV1gRCkrVM2JZn+bUDoyK7VLkwlYU/B9gtikbHFNsRvg1nU=\n"
    "PublicExponent: AQAB\n"
    "PrivateExponent: OIcQcAC0QQJ1Ty4gFkUvTEljgpklHQg4tMLTEjhS3Awi/6AMDUU2ptKTKx2Qq3P8cLJOo8IHtNlsfB2IBPAGYbS6i+taxbu3hfFpOAOzPDAX0f80J2sQJfti5NRFS/71ck107BxZD4QD6wF+rGPLslZiEzyStE5i1SW8dCZy6AE=\n"
    "Prime1: +JYKA+dxrGytmm0Qpd3XLdvYM5f9xYbSbtuVbJrZGJc7aFHthCmkJ7DauGnQhMKUT6L5/lPHjIDg2VI03MYE9Q==\n"
    "Prime2: 5OPTWCj5TxD1akpPK2panPuF3dSZfU3vl+6T7h+zdZqhnuM1gTNX+5ZuTB+/2AF/dh+b8q+liFvD+3uMa7ibgQ==\n"
    "Exponent1: Rs4dvizvQOiXrjPAmS4N+17yPwfc3aVgTPk4n32ftpRk9HrZh1qBClkig4KIRThTHDfUsy9T2F5hLSVwLy4r/Q==\n"
    "Exponent2: QyFCeefCftr1b1AN+ii+HK50K4RP4/04mPHC9yLbClHotuXials5obMT9EWXiW2fCXDp1vqG7QAk8ZvhqjJBgQ==\n"
    "Coefficient: oYHptl4qKLlTSeoMtCY6LYb8d5DDnLTXp9rFVtgRj7ysPn8biPvXrS+ZV0L204uDvVskgDuodY7Pt4+ZYYflbA==\n"
    "Created: 20261122211636\n",
    "256 3 8 AwEAAd5C2y+hNai+DejUjdwUe2JePQE9H5xvKasHL3GlRubbjelQ1/btUpG+LBMt08hJ1+S0HhLPNlpTsfCMoIGg8xIxdjBDxvVPnVzfuDHg0EWAsHMgFCoj7C5Em1nvzYldYEQpK1TNiWZ/m1A6Miu1S5MJWFPwfYLYpGxxTbEb4NZ1",
    17473};

std::uint16_t flags_of(const tool_key& k) { return static_cast<std::uint16_t>(std::atoi(k.dnskey_text)); }

void expect_tool_key(const tool_key& k) {
  signing_key key = parse_private_key(k.private_text);
  auto rdata = key.dnskey_rdata(flags_of(k));
  EXPECT_EQ(dnskey_to_text(rdata), k.dnskey_text);
  EXPECT_EQ(key_tag(rdata), k.tag);
  EXPECT_EQ(key.key_tag(flags_of(k)), k.tag);
  const std::string msg = "example.com. 3600 IN A 192.0.2.1 signed data";
  std::vector<std::uint8_t> data(msg.begin(), msg.end());
  auto sig = key.sign(data);
  EXPECT_TRUE(verify(rdata, data, sig));
  data.back() ^= 1;
  EXPECT_FALSE(verify(rdata, data, sig));
  // The text we write back parses to the same key.
  signing_key again = parse_private_key(key.to_private_text());
  EXPECT_EQ(again.dnskey_rdata(flags_of(k)), rdata);
}

TEST(DnssecKey, LdnsKeygenP256) { expect_tool_key(ldns_p256); }
TEST(DnssecKey, LdnsKeygenEd25519) { expect_tool_key(ldns_ed25519); }
TEST(DnssecKey, BindKeygenP256) { expect_tool_key(bind_p256); }
TEST(DnssecKey, BindKeygenRsaSha256) { expect_tool_key(bind_rsa); }

TEST(DnssecKey, SignatureSizes) {
  std::vector<std::uint8_t> data{1, 2, 3};
  EXPECT_EQ(parse_private_key(ldns_p256.private_text).sign(data).size(), 64u);
  EXPECT_EQ(parse_private_key(ldns_ed25519.private_text).sign(data).size(), 64u);
  EXPECT_EQ(parse_private_key(bind_rsa.private_text).sign(data).size(), 128u);
}

TEST(DnssecKey, DsMatchesLdnsKeygen) {
  // ldns-keygen -k wrote: example.com. IN DS 48001 15 2 0c37fc90...
  signing_key key = parse_private_key(ldns_ed25519.private_text);
  dns::name owner;
  ASSERT_EQ(dns::name::from_text("Example.COM.", owner), dns::name_status::ok);
  auto ds = ds_rdata(owner.wire(), key.dnskey_rdata(257));
  EXPECT_EQ(ds_to_text(ds), "48001 15 2 0C37FC90420BE9A58534CA7CC793263167275D80B212E710AE87D21E3B82DFE4");
  EXPECT_THROW(ds_rdata(owner.wire(), key.dnskey_rdata(257), 3), std::invalid_argument);
}

TEST(DnssecKey, GeneratedKeysRoundTripAndSign) {
  for (int alg : {13, 15, 8}) {
    std::string text = generate_private_key(alg);
    EXPECT_EQ(text.rfind("Private-key-format: v1.3\nAlgorithm: " + std::to_string(alg) + " (", 0), 0u) << alg;
    signing_key key = parse_private_key(text);
    EXPECT_EQ(key.algorithm(), alg);
    std::vector<std::uint8_t> data{'x', 'y'};
    EXPECT_TRUE(verify(key.dnskey_rdata(257), data, key.sign(data))) << alg;
  }
  EXPECT_NE(generate_private_key(13), generate_private_key(13));
}

// Runs a command; returns its stdout.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  pclose(p);
  return out;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A key made right now by ldns-keygen: same DNSKEY, tag and DS as it printed.
TEST(DnssecKey, FreshLdnsKeygenKeysMatch) {
  if (run("command -v ldns-keygen").empty()) GTEST_SKIP() << "ldns-keygen not installed (ldnsutils)";
  auto dir = std::filesystem::temp_directory_path() / ("zm-keygen-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* alg : {"ECDSAP256SHA256", "ED25519"}) {
    std::string base = run("cd " + dir.string() + " && ldns-keygen -k -a " + alg + " Zone.Example.");
    while (!base.empty() && (base.back() == '\n')) base.pop_back();
    ASSERT_FALSE(base.empty());
    signing_key key = parse_private_key(read_file(dir / (base + ".private")));
    std::string key_line = read_file(dir / (base + ".key"));
    auto rdata = key.dnskey_rdata(257);
    EXPECT_NE(key_line.find(dnskey_to_text(rdata)), std::string::npos) << key_line;
    EXPECT_NE(key_line.find("id = " + std::to_string(key_tag(rdata))), std::string::npos) << key_line;
    dns::name owner;
    ASSERT_EQ(dns::name::from_text("zone.example.", owner), dns::name_status::ok);
    std::string ds_text = ds_to_text(ds_rdata(owner.wire(), rdata));
    std::string ds_line = read_file(dir / (base + ".ds"));
    std::string lower;
    for (char c : ds_text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    EXPECT_NE(ds_line.find(lower), std::string::npos) << ds_line << " vs " << lower;
  }
  std::filesystem::remove_all(dir);
}

TEST(DnssecKey, BadPrivateTextsSayWhy) {
  auto message = [](std::string_view text) {
    try {
      (void)parse_private_key(text);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("").find("Private-key-format"), std::string::npos);
  EXPECT_NE(message("Private-key-format: v2.0\nAlgorithm: 13\nPrivateKey: AAAA\n").find("v2.0"), std::string::npos);
  EXPECT_NE(message("Private-key-format: v1.3\nPrivateKey: AAAA\n").find("Algorithm"), std::string::npos);
  EXPECT_NE(message("Private-key-format: v1.3\nAlgorithm: 5 (RSASHA1)\nPrivateKey: AAAA\n").find("not supported"),
            std::string::npos);
  EXPECT_NE(message("Private-key-format: v1.3\nAlgorithm: 13\n").find("PrivateKey"), std::string::npos);
  EXPECT_NE(message("Private-key-format: v1.3\nAlgorithm: 13\nPrivateKey: !!!!\n").find("base64"), std::string::npos);
  std::string short_key = "Private-key-format: v1.3\nAlgorithm: 13\nPrivateKey: c2VjcmV0\n";
  std::string m = message(short_key);
  EXPECT_NE(m.find("32 octets"), std::string::npos) << m;
  EXPECT_EQ(m.find("c2VjcmV0"), std::string::npos) << "the key material must not be quoted";
  // Zero is not a P-256 private key.
  EXPECT_NE(message("Private-key-format: v1.3\nAlgorithm: 13\nPrivateKey: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
                .find("not a valid P-256"),
            std::string::npos);
  EXPECT_NE(message("garbage").find("Name: value"), std::string::npos);
}

TEST(DnssecKey, KeyTagOfRfc4034Example) {
  // RFC 4034 5.4: the DNSKEY of dskey.example.com. has key tag 60485.
  auto rdata = std::vector<std::uint8_t>{1, 0, 3, 5};
  auto pub = base64_decode(
      "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvx"
      "egXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==");
  rdata.insert(rdata.end(), pub.begin(), pub.end());
  EXPECT_EQ(key_tag(rdata), 60485);
  dns::name owner;
  ASSERT_EQ(dns::name::from_text("dskey.example.com.", owner), dns::name_status::ok);
  EXPECT_EQ(ds_to_text(ds_rdata(owner.wire(), rdata, 1)), "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118");
}

TEST(DnssecKey, AlgorithmNames) {
  EXPECT_EQ(algorithm_from_string("ecdsap256"), 13);
  EXPECT_EQ(algorithm_from_string("ED25519"), 15);
  EXPECT_EQ(algorithm_from_string("13"), 13);
  EXPECT_EQ(algorithm_from_string("5"), 0);
  EXPECT_EQ(algorithm_from_string("dsa"), 0);
  EXPECT_EQ(algorithm_name(13), "ECDSAP256SHA256");
}

}  // namespace
}  // namespace zonemesh::dnssec
