// The SQL write path: every local write to a replicated table is validated,
// normalized, stamped and logged, from any session (sql/002, sql/003).

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

class SqlValidation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<cluster>(1, std::vector<std::string>{"--no-server"});
    db_ = cluster_->at(0).pg;
    ASSERT_EQ(sql_error(db_, "SELECT create_zone('example.com', ARRAY['ns1.example.net'])"), "");
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  static std::string insert(const std::string& name, const std::string& type,
                            const std::string& content, const std::string& zone = "example.com",
                            const std::string& ttl = "3600") {
    pqxx::connection c(db_);
    return sql_error(db_, "INSERT INTO records (zone, name, type, ttl, content) VALUES (" +
                              c.quote(zone) + ", " + c.quote(name) + ", " + c.quote(type) + ", " +
                              ttl + ", " + c.quote(content) + ")");
  }
  static std::string stored(const std::string& name, const std::string& type) {
    return sql_value(db_, "SELECT string_agg(content, '|' ORDER BY content) FROM records WHERE name = '" +
                              name + "' AND type = '" + type + "'");
  }

  static std::unique_ptr<cluster> cluster_;
  static std::string db_;
};
std::unique_ptr<cluster> SqlValidation::cluster_;
std::string SqlValidation::db_;

TEST_F(SqlValidation, TablesAreOnTheSearchPath) {
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM zones WHERE name = 'example.com'"), "1");
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM records WHERE zone = 'example.com'"), "2");
  for (const char* t : {"zone_metadata", "tsig_keys", "dnssec_keys"}) {
    EXPECT_EQ(sql_error(db_, std::string("SELECT * FROM ") + t), "") << t;
  }
}

TEST_F(SqlValidation, NamesAreLowercasedAndLoseTheTrailingDot) {
  ASSERT_EQ(insert("WWW.Example.COM.", "a", "192.0.2.1", "EXAMPLE.com."), "");
  EXPECT_EQ(sql_value(db_, "SELECT zone || ' ' || name || ' ' || type FROM records WHERE content = '192.0.2.1'"),
            "example.com www.example.com A");
}

TEST_F(SqlValidation, BadNamesAreRefusedWithTheName) {
  std::string long_label(64, 'a');
  auto err = insert(long_label + ".example.com", "A", "192.0.2.2");
  EXPECT_NE(err.find("at most 63"), std::string::npos) << err;
  EXPECT_NE(err.find(long_label), std::string::npos) << err;

  std::string long_name;
  for (int i = 0; i < 30; ++i) long_name += "abcdefgh.";
  err = insert(long_name + "example.com", "A", "192.0.2.2");
  EXPECT_NE(err.find("at most 253"), std::string::npos) << err;

  err = insert("a..example.com", "A", "192.0.2.2");
  EXPECT_NE(err.find("empty label"), std::string::npos) << err;
  err = insert("bad name.example.com", "A", "192.0.2.2");
  EXPECT_NE(err.find("characters other than"), std::string::npos) << err;
  err = insert("a.*.example.com", "A", "192.0.2.2");
  EXPECT_NE(err.find("leftmost"), std::string::npos) << err;
  EXPECT_EQ(insert("*.wild.example.com", "A", "192.0.2.2"), "");
}

TEST_F(SqlValidation, OwnerMustBeInsideItsZone) {
  auto err = insert("www.example.org", "A", "192.0.2.3");
  EXPECT_NE(err.find("www.example.org"), std::string::npos) << err;
  EXPECT_NE(err.find("not inside zone example.com"), std::string::npos) << err;
  err = insert("notexample.com", "A", "192.0.2.3");
  EXPECT_NE(err.find("not inside zone"), std::string::npos) << err;
  err = insert("www.nosuchzone.test", "A", "192.0.2.3", "nosuchzone.test");
  EXPECT_NE(err.find("zone \"nosuchzone.test\" does not exist"), std::string::npos) << err;
}

TEST_F(SqlValidation, TtlRangeAndKnownTypes) {
  auto err = insert("ttl.example.com", "A", "192.0.2.4", "example.com", "-1");
  EXPECT_NE(err.find("TTL -1 is out of range"), std::string::npos) << err;
  err = insert("t.example.com", "BOGUS", "x");
  EXPECT_NE(err.find("unknown record type \"BOGUS\""), std::string::npos) << err;
  err = insert("t.example.com", "RRSIG", "x");
  EXPECT_NE(err.find("made by the DNSSEC signer"), std::string::npos) << err;
  EXPECT_EQ(insert("ttl.example.com", "A", "192.0.2.4", "example.com", "0"), "");
}

TEST_F(SqlValidation, ContentIsCheckedPerType) {
  struct bad_case {
    const char* type;
    const char* content;
    const char* message;
  };
  const bad_case bad[] = {
      {"A", "192.0.2", "not an IPv4 address"},
      {"A", "192.0.2.256", "not an IPv4 address"},
      {"A", "2001:db8::1", "not an IPv4 address"},
      {"AAAA", "192.0.2.1", "not an IPv6 address"},
      {"AAAA", "2001:db8::zz", "not an IPv6 address"},
      {"NS", "ns1 example.com", "single domain name"},
      {"CNAME", "bad..target", "empty label"},
      {"PTR", "", "is empty"},
      {"MX", "mail.example.com", "preference exchange"},
      {"MX", "70000 mail.example.com", "0 to 65535"},
      {"SRV", "10 5 sip.example.com", "priority weight port target"},
      {"SRV", "10 5 99999 sip.example.com", "port"},
      {"TXT", "\"unterminated", "unterminated"},
      {"TXT", "\"a\" b", "outside quotes"},
      {"CAA", "0 issue", "flags tag value"},
      {"CAA", "300 issue \"ca.example\"", "0 to 255"},
      {"SOA", "ns1 hostmaster 1 2 3", "mname rname serial"},
  };
  for (const auto& c : bad) {
    auto err = insert("content.example.com", c.type, c.content);
    EXPECT_NE(err.find(c.message), std::string::npos) << c.type << " " << c.content << ": " << err;
    EXPECT_NE(err.find("content.example.com"), std::string::npos) << err;
  }
  // RFC 3597 generic data: the length must match the hex.
  const bad_case generic[] = {
      {"TYPE65534", "\\# 3 0102", "does not match"},
      {"TYPE65534", "\\# 2 010", "odd number"},
      {"TYPE65534", "010203", "not RFC 3597 generic data"},
      {"TYPE65534", "\\# 70000 00", "above 65535"},
      {"A", "\\# 4 c00002", "does not match"},
      {"TYPE1", "\\# 4 c0000201", "write the type as A"},
      {"SOA", "\\# 1 00", "usual form"},
      {"EUI48", "00-00-5e-00-53", "EUI-48"},
      {"EUI64", "00-00-5e-00-53-2a", "EUI-64"},
  };
  for (const auto& c : generic) {
    auto err = insert("content.example.com", c.type, c.content);
    EXPECT_NE(err.find(c.message), std::string::npos) << c.type << " " << c.content << ": " << err;
  }
  for (const char* t : {"TYPE0", "TYPE41", "TYPE46", "TYPE128", "TYPE255", "TYPE65536"}) {
    auto err = insert("content.example.com", t, "\\# 0");
    EXPECT_NE(err.find("unknown record type"), std::string::npos) << t << ": " << err;
  }
}

TEST_F(SqlValidation, GenericTypesAndNewTypesAreStored) {
  ASSERT_EQ(insert("g.example.com", "type65534", "\\# 3 01 02 0A"), "");
  EXPECT_EQ(stored("g.example.com", "TYPE65534"), "\\# 3 01020a");
  ASSERT_EQ(insert("g.example.com", "TYPE65280", "\\# 0"), "");
  EXPECT_EQ(stored("g.example.com", "TYPE65280"), "\\# 0");
  ASSERT_EQ(insert("g.example.com", "A", "\\# 4 C0000201"), "");
  EXPECT_EQ(stored("g.example.com", "A"), "\\# 4 c0000201");
  ASSERT_EQ(insert("g.example.com", "EUI48", "00-00-5E-00-53-2A"), "");
  EXPECT_EQ(stored("g.example.com", "EUI48"), "00-00-5e-00-53-2a");
  ASSERT_EQ(insert("g.example.com", "EUI64", "00-00-5e-ef-10-00-00-2a"), "");
  for (const auto& [type, content] : std::vector<std::pair<std::string, std::string>>{
           {"L32", "10 10.1.2.0"},
           {"L64", "10 2001:0db8:1140:1000"},
           {"LP", "10 lp.example.com."},
           {"NID", "10 0014:4fff:ff20:ee64"},
           {"KX", "10 kx.example.com."},
           {"APL", "1:192.168.32.0/21 !1:192.168.38.0/28"},
           {"RT", "10 relay.example.com."},
           {"IPSECKEY", "10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ=="},
           {"ZONEMD",
            "2018031500 1 1 "
            "FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F2"
            "2C6BD647DE"},
           {"MINFO", "a.example.com. b.example.com."}}) {
    EXPECT_EQ(insert("types.example.com", type, content), "") << type;
  }
}

TEST_F(SqlValidation, LongTxtStringsAreSplit) {
  // As BIND and Knot load them: 255-octet strings.
  const std::string long_txt = "\"" + std::string(300, 'x') + "\"";
  ASSERT_EQ(insert("longtxt.example.com", "TXT", long_txt), "");
  EXPECT_EQ(stored("longtxt.example.com", "TXT"),
            "\"" + std::string(255, 'x') + "\" \"" + std::string(45, 'x') + "\"");
  // Unquoted, and with escapes (one octet each) across the boundary.
  ASSERT_EQ(insert("longtxt2.example.com", "TXT", std::string(256, 'y')), "");
  EXPECT_EQ(stored("longtxt2.example.com", "TXT"), "\"" + std::string(255, 'y') + "\" \"y\"");
  ASSERT_EQ(insert("longtxt3.example.com", "TXT", "\"" + std::string(254, 'z') + "\\065\\066\""),
            "");
  EXPECT_EQ(stored("longtxt3.example.com", "TXT"),
            "\"" + std::string(254, 'z') + "\\065\" \"\\066\"");
}

TEST_F(SqlValidation, RootAsCnameAndNsTarget) {
  ASSERT_EQ(insert("croot.example.com", "CNAME", "."), "");
  EXPECT_EQ(stored("croot.example.com", "CNAME"), ".");
  ASSERT_EQ(insert("nsroot.example.com", "NS", "."), "");
  EXPECT_EQ(stored("nsroot.example.com", "NS"), ".");
  auto err = insert("proot.example.com", "PTR", ".");
  EXPECT_NE(err.find("the root"), std::string::npos) << err;
}

TEST_F(SqlValidation, ContentIsNormalized) {
  ASSERT_EQ(insert("n.example.com", "AAAA", "2001:DB8:0:0::1"), "");
  EXPECT_EQ(stored("n.example.com", "AAAA"), "2001:db8::1");
  ASSERT_EQ(insert("n.example.com", "MX", "10 Mail.Example.COM."), "");
  EXPECT_EQ(stored("n.example.com", "MX"), "10 mail.example.com");
  ASSERT_EQ(insert("n.example.com", "TXT", "v=spf1 -all"), "");
  EXPECT_EQ(stored("n.example.com", "TXT"), "\"v=spf1 -all\"");
  ASSERT_EQ(insert("n.example.com", "CAA", "0 ISSUE \"letsencrypt.org\""), "");
  EXPECT_EQ(stored("n.example.com", "CAA"), "0 issue \"letsencrypt.org\"");
  ASSERT_EQ(insert("_sip._tcp.example.com", "SRV", "10 5 5060 sip.example.com."), "");
  EXPECT_EQ(stored("_sip._tcp.example.com", "SRV"), "10 5 5060 sip.example.com");
  ASSERT_EQ(insert("n2.example.com", "MX", "0 ."), "");  // null MX, RFC 7505
  ASSERT_EQ(insert("n.example.com", "PTR", "host.example.net."), "");
  EXPECT_EQ(stored("n.example.com", "PTR"), "host.example.net");
  ASSERT_EQ(insert("n3.example.com", "TXT", "\"two\" \"strings\""), "");
  EXPECT_EQ(stored("n3.example.com", "TXT"), "\"two\" \"strings\"");
}

TEST_F(SqlValidation, CnameNeverBesideOtherData) {
  ASSERT_EQ(insert("alias.example.com", "CNAME", "target.example.com"), "");
  auto err = insert("alias.example.com", "A", "192.0.2.5");
  EXPECT_NE(err.find("CNAME cannot coexist"), std::string::npos) << err;
  // A name holds one CNAME: a second is refused, naming the first.
  err = insert("alias.example.com", "CNAME", "other.example.com");
  EXPECT_NE(err.find("already has a CNAME record (\"target.example.com\")"), std::string::npos) << err;
  ASSERT_EQ(insert("host.example.com", "A", "192.0.2.6"), "");
  err = insert("host.example.com", "CNAME", "target.example.com");
  EXPECT_NE(err.find("there is A \"192.0.2.6\""), std::string::npos) << err;
  // A disabled record does not count, as in PowerDNS.
  ASSERT_EQ(sql_error(db_, "UPDATE records SET disabled = true WHERE name = 'host.example.com'"), "");
  EXPECT_EQ(insert("host.example.com", "CNAME", "target.example.com"), "");
}

TEST_F(SqlValidation, ConcurrentSessionsCannotBreakTheCnameRule) {
  // Each statement passes on its own (neither sees the other's uncommitted
  // row); the one committing second is refused at COMMIT.
  pqxx::connection c1(db_), c2(db_);
  pqxx::work t1(c1);
  t1.exec("INSERT INTO records (zone, name, type, content) VALUES ('example.com', 'race.example.com', 'CNAME', 'x.example.com')");
  {
    pqxx::work t2(c2);
    t2.exec("INSERT INTO records (zone, name, type, content) VALUES ('example.com', 'race.example.com', 'A', '192.0.2.9')");
    t2.commit();
  }
  std::string err;
  try {
    t1.commit();
  } catch (const std::exception& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("CNAME cannot coexist"), std::string::npos) << err;
  EXPECT_EQ(stored("race.example.com", "CNAME"), "");
  EXPECT_EQ(stored("race.example.com", "A"), "192.0.2.9");
}

TEST_F(SqlValidation, ALargeZoneLoadsInOneTransaction) {
  // No lock per owner name: 20,000 names in one transaction work with
  // PostgreSQL's default lock table.
  ASSERT_EQ(sql_error(db_, "SELECT create_zone('big.test', ARRAY['ns1.big.test']);"
                           "INSERT INTO records (zone, name, type, content) "
                           "SELECT 'big.test', 'h' || i || '.big.test', 'A', '192.0.2.' || (i % 250 + 1) "
                           "FROM generate_series(1, 20000) i"),
            "");
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM records WHERE zone = 'big.test' AND type = 'A'"), "20000");
}

TEST_F(SqlValidation, ExactlyOneSoaAtTheApex) {
  auto err = insert("sub.example.com", "SOA", "ns1.example.net h.example.com 1 2 3 4 5");
  EXPECT_NE(err.find("zone apex"), std::string::npos) << err;
  err = insert("example.com", "SOA", "ns1.example.net h.example.com 1 2 3 4 5");
  EXPECT_NE(err.find("already has a SOA"), std::string::npos) << err;
  err = sql_error(db_, "DELETE FROM records WHERE zone = 'example.com' AND type = 'SOA'");
  EXPECT_NE(err.find("zone example.com has no SOA record"), std::string::npos) << err;
  err = sql_error(db_, "INSERT INTO zones (name) VALUES ('nosoa.test')");
  EXPECT_NE(err.find("zone nosoa.test has no SOA record"), std::string::npos) << err;
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM zones WHERE name = 'nosoa.test'"), "0");
  // Zone and SOA in one transaction, with plain INSERTs.
  EXPECT_EQ(sql_error(db_,
                      "INSERT INTO zones (name) VALUES ('plain.test');"
                      "INSERT INTO records (zone, name, type, content) VALUES "
                      "('plain.test', 'plain.test', 'SOA', 'ns1.plain.test hostmaster.plain.test 1 7200 900 1209600 300')"),
            "");
  // Replacing the SOA inside one transaction is fine.
  EXPECT_EQ(sql_error(db_, "SELECT set_rrset('plain.test', 'plain.test', 'SOA', "
                           "ARRAY['ns2.plain.test hostmaster.plain.test 1 7200 900 1209600 300'])"),
            "");
  EXPECT_EQ(stored("plain.test", "SOA"), "ns2.plain.test hostmaster.plain.test 1 7200 900 1209600 300");
}

TEST_F(SqlValidation, TruncateIsRefused) {
  for (const char* t : {"zones", "records", "zone_metadata", "tsig_keys", "dnssec_keys"}) {
    auto err = sql_error(db_, std::string("TRUNCATE ") + t + " CASCADE");
    EXPECT_NE(err.find("TRUNCATE of replicated table"), std::string::npos) << t << ": " << err;
  }
  EXPECT_NE(sql_value(db_, "SELECT count(*) FROM records"), "0");
}

TEST_F(SqlValidation, OtherReplicatedTablesAreValidated) {
  auto err = sql_error(db_, "INSERT INTO tsig_keys (name, algorithm, secret) VALUES ('k1', 'hmac-sha999', 'c2VjcmV0c2VjcmV0')");
  EXPECT_NE(err.find("hmac-sha999"), std::string::npos) << err;
  err = sql_error(db_, "INSERT INTO tsig_keys (name, algorithm, secret) VALUES ('k1', 'hmac-sha256', 'not base64!')");
  EXPECT_NE(err.find("not valid base64"), std::string::npos) << err;
  EXPECT_EQ(sql_error(db_, "INSERT INTO tsig_keys (name, algorithm, secret) VALUES ('K1.', 'HMAC-SHA256', 'c2VjcmV0c2VjcmV0c2VjcmV0')"), "");
  EXPECT_EQ(sql_value(db_, "SELECT name || ' ' || algorithm FROM tsig_keys"), "k1 hmac-sha256");
  err = sql_error(db_, "INSERT INTO dnssec_keys (zone, flags, algorithm, private_key) VALUES ('example.com', 12, 13, 'x')");
  EXPECT_NE(err.find("flags 12"), std::string::npos) << err;
  err = sql_error(db_, "INSERT INTO zone_metadata (zone, kind, content) VALUES ('nozone.test', 'ALLOW-AXFR-FROM', '192.0.2.0/24')");
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
  EXPECT_EQ(sql_error(db_, "INSERT INTO zone_metadata (zone, kind, content) VALUES ('example.com', 'allow-axfr-from', '192.0.2.0/24')"), "");
  EXPECT_EQ(sql_value(db_, "SELECT kind FROM zone_metadata"), "ALLOW-AXFR-FROM");
}

TEST_F(SqlValidation, EveryWriteIsStampedAndLogged) {
  auto before = std::stoll(sql_value(db_, "SELECT last_pos FROM zonemesh.node"));
  ASSERT_EQ(insert("stamp.example.com", "A", "192.0.2.7"), "");
  auto id = sql_value(db_, "SELECT id FROM records WHERE name = 'stamp.example.com'");
  ASSERT_EQ(sql_error(db_, "UPDATE records SET ttl = 60 WHERE name = 'stamp.example.com'"), "");
  ASSERT_EQ(sql_error(db_, "DELETE FROM records WHERE name = 'stamp.example.com'"), "");
  EXPECT_EQ(std::stoll(sql_value(db_, "SELECT last_pos FROM zonemesh.node")), before + 3);
  EXPECT_EQ(sql_value(db_,
                      "SELECT string_agg(c.op::text, '' ORDER BY l.pos) FROM zonemesh.changelog l "
                      "JOIN zonemesh.changes c USING (entry) WHERE l.pos > " + std::to_string(before)),
            "UUD");
  EXPECT_EQ(sql_value(db_, "SELECT origin FROM zonemesh.tombstones WHERE tbl = 'records' AND key ->> 'id' = '" + id + "'"),
            "site1");
  // Stamps grow with each write of the row and carry this site's id.
  EXPECT_EQ(sql_value(db_,
                      "SELECT bool_and(c.hlc > 0) AND count(DISTINCT c.hlc) = 3 FROM zonemesh.changelog l "
                      "JOIN zonemesh.changes c USING (entry) WHERE l.pos > " + std::to_string(before)),
            "t");
  EXPECT_EQ(sql_value(db_, "SELECT DISTINCT origin FROM records"), "site1");
}

TEST_F(SqlValidation, DeletingAZoneTakesItsRowsAndLogsOneChange) {
  ASSERT_EQ(sql_error(db_, "SELECT create_zone('gone.test', ARRAY['ns1.gone.test'])"), "");
  ASSERT_EQ(insert("www.gone.test", "A", "192.0.2.8", "gone.test"), "");
  auto before = sql_value(db_, "SELECT last_pos FROM zonemesh.node");
  ASSERT_EQ(sql_error(db_, "DELETE FROM zones WHERE name = 'gone.test'"), "");
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM records WHERE zone = 'gone.test'"), "0");
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM zonemesh.changelog l JOIN zonemesh.changes c USING (entry) "
                           "WHERE l.pos > " + before),
            "1");
}

}  // namespace
}  // namespace zonemesh::test
