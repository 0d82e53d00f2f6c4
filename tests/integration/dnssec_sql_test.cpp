// DNSSEC keys and NSEC3 parameters written with plain SQL (sql/010_dnssec.sql):
// bad keys are refused at the write with an error that names the zone and the
// problem and never the key material; the views show keys without it.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

// Test keys made with dnssec-keygen for this test only.
const std::string ecdsa_key =
    "Private-key-format: v1.3\n"
    "Algorithm: 13 (ECDSAP256SHA256)\n"
    "PrivateKey: HC0fl5jWnCG2pGAfpnbsE7I2ndzGV4LxTVq53YJWg0w=\n";
const std::string ed25519_key =
    "Private-key-format: v1.3\r\n"
    "Algorithm: 15 (ED25519)\r\n"
    "PrivateKey: gVfSeqQACRavA3kS5Ekjks/D+3LPN1G9kSpYQBI2HQE=\r\n"
    "Created: 20261122211647\r\n";

class DnssecSql : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<cluster>(1, std::vector<std::string>{"--no-server"});
    db_ = cluster_->at(0).pg;
    ASSERT_EQ(sql_error(db_, "SELECT create_zone('example.com', ARRAY['ns1.example.net'])"), "");
    ASSERT_EQ(sql_error(db_, "SELECT create_zone('other.test', ARRAY['ns1.example.net'])"), "");
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  static std::string add_key(const std::string& zone, int flags, int algorithm,
                             const std::string& key) {
    pqxx::connection c(db_);
    return sql_error(db_, "INSERT INTO dnssec_keys (zone, flags, algorithm, private_key) VALUES (" +
                              c.quote(zone) + ", " + std::to_string(flags) + ", " +
                              std::to_string(algorithm) + ", " + c.quote(key) + ")");
  }
  static std::string add_meta(const std::string& zone, const std::string& kind,
                              const std::string& content) {
    pqxx::connection c(db_);
    return sql_error(db_, "INSERT INTO zone_metadata (zone, kind, content) VALUES (" +
                              c.quote(zone) + ", " + c.quote(kind) + ", " + c.quote(content) + ")");
  }

  static std::unique_ptr<cluster> cluster_;
  static std::string db_;
};
std::unique_ptr<cluster> DnssecSql::cluster_;
std::string DnssecSql::db_;

TEST_F(DnssecSql, GoodKeysAreStoredAndTheZoneIsSigned) {
  EXPECT_EQ(sql_value(db_, "SELECT zone_is_signed('example.com')"), "f");
  ASSERT_EQ(add_key("Example.COM.", 257, 13, ecdsa_key), "");
  ASSERT_EQ(add_key("example.com", 256, 15, ed25519_key), "");
  EXPECT_EQ(sql_value(db_, "SELECT zone_is_signed('example.com')"), "t");
  // Stored in one spelling: no carriage returns, one final newline.
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM dnssec_keys WHERE private_key LIKE '%' || chr(13) || '%'"),
            "0");
  EXPECT_EQ(sql_value(db_, "SELECT right(private_key, 1) = chr(10) AND right(private_key, 2) <> chr(10) || chr(10) "
                           "FROM dnssec_keys WHERE algorithm = 15"),
            "t");
  EXPECT_EQ(sql_value(db_, "SELECT string_agg(role || ' ' || state || ' ' || in_cds, '|' ORDER BY flags) "
                           "FROM dnssec_key_states WHERE zone = 'example.com'"),
            "ZSK published, signing false|KSK published, signing true");
  EXPECT_EQ(sql_value(db_, "SELECT signed || ' ' || denial || ' ' || keys FROM dnssec_zones WHERE zone = 'example.com'"),
            "true NSEC 2");
  // The views never show the private key.
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'private_key' "
                           "AND table_name IN ('dnssec_key_states', 'dnssec_zones')"),
            "0");
}

TEST_F(DnssecSql, AKeyWithoutZskIsACskAndRolesFollowTheActiveFlag) {
  ASSERT_EQ(add_key("other.test", 257, 13, ecdsa_key), "");
  EXPECT_EQ(sql_value(db_, "SELECT role || ': ' || signs FROM dnssec_key_states WHERE zone = 'other.test'"),
            "CSK: every RRset");
  ASSERT_EQ(sql_error(db_, "UPDATE dnssec_keys SET active = false WHERE zone = 'other.test'"), "");
  EXPECT_EQ(sql_value(db_, "SELECT state FROM dnssec_key_states WHERE zone = 'other.test'"),
            "published, not signing");
  EXPECT_EQ(sql_value(db_, "SELECT zone_is_signed('other.test')"), "f");
  ASSERT_EQ(sql_error(db_, "DELETE FROM dnssec_keys WHERE zone = 'other.test'"), "");
}

TEST_F(DnssecSql, BadKeysAreRefusedWithoutQuotingTheKey) {
  struct bad {
    int algorithm;
    std::string text;
    std::string message;
  };
  const bad cases[] = {
      {13, "garbage", "does not start with \"Private-key-format: v1.3\""},
      {15, ecdsa_key, "is for algorithm \"13 (ECDSAP256SHA256)\", the row says algorithm 15"},
      {13, "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\n", "no \"PrivateKey:\" field"},
      {13, "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: !!!!\n",
       "PrivateKey is not valid base64"},
      {13, "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: c2VjcmV0\n",
       "PrivateKey is 6 octets; algorithm 13 keys have 32"},
      {8, "Private-key-format: v1.3\nAlgorithm: 8 (RSASHA256)\nModulus: AQAB\n", "no \"PublicExponent:\""},
      {13, "Private-key-format: v1.3\nAlgorithm 13\n", "without \"Field: value\""},
  };
  for (const auto& c : cases) {
    const auto err = add_key("example.com", 256, c.algorithm, c.text);
    EXPECT_NE(err.find("DNSSEC key of zone example.com"), std::string::npos) << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << err;
    EXPECT_EQ(err.find("c2VjcmV0"), std::string::npos) << "the key material is in the error: " << err;
    EXPECT_EQ(err.find("HC0fl5"), std::string::npos) << "the key material is in the error: " << err;
  }
  // flags and algorithm are still checked by 003_capture
  EXPECT_NE(add_key("example.com", 255, 13, ecdsa_key).find("flags 255 must be 256"), std::string::npos);
  EXPECT_NE(add_key("nowhere.test", 256, 13, ecdsa_key).find("does not exist"), std::string::npos);
  // Changing the state of a key does not need the key again; changing the key is checked.
  EXPECT_EQ(sql_error(db_, "UPDATE dnssec_keys SET published = true WHERE zone = 'example.com'"), "");
  EXPECT_NE(sql_error(db_, "UPDATE dnssec_keys SET private_key = 'x' WHERE zone = 'example.com'")
                .find("does not start with"),
            std::string::npos);
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM dnssec_keys WHERE zone = 'example.com'"), "2");
}

TEST_F(DnssecSql, Nsec3ParamIsCheckedNormalizedAndOnePerZone) {
  EXPECT_NE(add_meta("example.com", "NSEC3PARAM", "1 0 0").find("use \"<algorithm> <flags>"),
            std::string::npos);
  EXPECT_NE(add_meta("example.com", "NSEC3PARAM", "2 0 0 -").find("hash algorithm 2 is not 1"),
            std::string::npos);
  EXPECT_NE(add_meta("example.com", "NSEC3PARAM", "1 2 0 -").find("flags must be 0, or 1"),
            std::string::npos);
  EXPECT_NE(add_meta("example.com", "NSEC3PARAM", "1 0 500 -").find("500 iterations"),
            std::string::npos);
  EXPECT_NE(add_meta("example.com", "NSEC3PARAM", "1 0 0 abc").find("use \"<algorithm>"),
            std::string::npos);
  ASSERT_EQ(add_meta("example.com", "nsec3param", " 1  1 00 ABCD "), "");
  EXPECT_EQ(sql_value(db_, "SELECT content FROM zone_metadata WHERE zone = 'example.com' AND kind = 'NSEC3PARAM'"),
            "1 1 0 abcd");
  EXPECT_EQ(sql_value(db_, "SELECT denial FROM dnssec_zones WHERE zone = 'example.com'"), "NSEC3 1 1 0 abcd");
  EXPECT_NE(add_meta("example.com", "NSEC3PARAM", "1 0 0 -").find("has NSEC3PARAM already"),
            std::string::npos);
  // Replaced in one transaction.
  EXPECT_EQ(sql_error(db_, "DELETE FROM zone_metadata WHERE zone = 'example.com' AND kind = 'NSEC3PARAM'; "
                           "INSERT INTO zone_metadata (zone, kind, content) VALUES ('example.com', 'NSEC3PARAM', '1 0 0 -')"),
            "");
  EXPECT_EQ(sql_value(db_, "SELECT denial FROM dnssec_zones WHERE zone = 'example.com'"), "NSEC3 1 0 0 -");
  // Other metadata is untouched by the check.
  EXPECT_EQ(add_meta("example.com", "ALLOW-AXFR-FROM", "127.0.0.1"), "");
}

}  // namespace
}  // namespace zonemesh::test
