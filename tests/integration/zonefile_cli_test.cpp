// zonemesh-admin import-zone and export-zone (server/zone_import.*) against a
// real PostgreSQL site: what lands in `records`, round trips, minimal diffs,
// and refusals that write nothing.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

class ZoneFileCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<cluster>(1, std::vector<std::string>{"--no-server"});
    db_ = cluster_->at(0).pg;
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  void SetUp() override { reset_site(db_); }

  static command_result admin(const std::string& args) {
    return run_command("'" + binary("server/zonemesh-admin") + "' " + args);
  }
  static std::string db_arg() { return "--db '" + db_ + "'"; }
  static std::string data(const std::string& name) {
    return std::string(ZONEMESH_SOURCE_DIR) + "/tests/data/zones/" + name;
  }
  /// A scratch file in the cluster's directory.
  static std::string scratch(const std::string& name, const std::string& text = {}) {
    std::string path = cluster_->dir() + "/" + name;
    if (!text.empty()) std::ofstream(path) << text;
    return path;
  }
  static command_result import(const std::string& zone, const std::string& file,
                               const std::string& extra = "") {
    return admin("import-zone " + db_arg() + " --zone " + zone + " --file '" + file + "' " + extra);
  }
  /// The zone's records, one "name type ttl content" per line, sorted.
  static std::string records(const std::string& zone) {
    return sql_value(db_,
                     "SELECT string_agg(name || ' ' || type || ' ' || ttl || ' ' || content, "
                     "E'\\n' ORDER BY name, type, content) FROM records WHERE zone = '" +
                         zone + "'");
  }
  static std::string changelog_size() {
    return sql_value(db_, "SELECT count(*) FROM zonemesh.changelog");
  }

  static std::unique_ptr<cluster> cluster_;
  static std::string db_;
};
std::unique_ptr<cluster> ZoneFileCli::cluster_;
std::string ZoneFileCli::db_;

// Every row tests/data/zones/example.com.zone must produce: relative names
// completed, $ORIGIN and $TTL honoured, names lowercased, content in the
// database's form.
const char* const example_rows =
    "*.apps.example.com A 3600 192.0.2.80\n"
    "_sip._tcp.example.com SRV 600 10 60 5060 sipserver.example.com\n"
    "api.dev.example.com A 3600 192.0.2.200\n"
    "example.com A 3600 192.0.2.1\n"
    "example.com AAAA 3600 2001:db8::1\n"
    "example.com CAA 3600 0 issue \"letsencrypt.org\"\n"
    "example.com CAA 3600 128 iodef \"mailto:security@example.com\"\n"
    "example.com MX 3600 10 mail.example.com\n"
    "example.com MX 3600 20 mail.backup.example.org\n"
    "example.com NS 3600 ns1.example.com\n"
    "example.com NS 3600 ns2.example.net\n"
    "example.com SOA 3600 ns1.example.com hostmaster.example.com 2024010101 7200 3600 1209600 300\n"
    "example.com TXT 3600 \"first string with spaces\" \"second string\"\n"
    "example.com TXT 3600 \"v=spf1 mx -all\"\n"
    "ftp.example.com CNAME 3600 www.example.com\n"
    "mail.example.com A 300 192.0.2.25\n"
    "ns1.example.com A 3600 192.0.2.53\n"
    "ns1.sub.example.com A 3600 192.0.2.100\n"
    "sub.example.com NS 3600 ns.example.net\n"
    "sub.example.com NS 3600 ns1.sub.example.com\n"
    "test.dev.example.com AAAA 60 2001:db8::200\n"
    "www.example.com CNAME 3600 example.com";

TEST_F(ZoneFileCli, ImportsARealisticZoneInOneTransaction) {
  const auto before = std::stoll(changelog_size());
  auto r = import("example.com", data("example.com.zone"), "--kind primary");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("imported example.com: 22 records (added 22, removed 0, updated 0)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(records("example.com"), example_rows);
  EXPECT_EQ(sql_value(db_, "SELECT kind FROM zones WHERE name = 'example.com'"), "primary");
  // One transaction: one change-log entry holding the zone row and 22
  // records, and a replace of each apex RRset (written with the zone).
  EXPECT_EQ(std::stoll(changelog_size()), before + 1);
  EXPECT_EQ(sql_value(db_,
                      "SELECT count(*) FILTER (WHERE tbl <> 'rrsets') || ' ' || "
                      "string_agg(key ->> 'type', ',' ORDER BY key ->> 'type') FILTER (WHERE tbl = 'rrsets') "
                      "FROM zonemesh.changes WHERE entry = (SELECT entry FROM "
                      "zonemesh.changelog ORDER BY pos DESC LIMIT 1)"),
            "23 " + sql_value(db_, "SELECT string_agg(DISTINCT type, ',' ORDER BY type) FROM records "
                                   "WHERE zone = 'example.com' AND name = 'example.com'"));
  EXPECT_EQ(sql_value(db_,
                      "SELECT id = zonemesh.soa_id('example.com') FROM records WHERE type = "
                      "'SOA' AND zone = 'example.com'"),
            "t");
}

TEST_F(ZoneFileCli, ExportThenReimportChangesNothing) {
  ASSERT_EQ(import("example.com", data("example.com.zone")).status, 0);
  const std::string rows = records("example.com");
  const std::string serial = sql_value(db_, "SELECT zonemesh.zone_serial('example.com')");
  ASSERT_NE(serial, "2024010101");

  const std::string file = scratch("export.zone");
  auto e = admin("export-zone " + db_arg() + " --zone example.com --file '" + file + "'");
  ASSERT_EQ(e.status, 0) << e.output;
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // SOA first (after the comment and $ORIGIN), carrying the served serial.
  auto soa = text.find("IN\tSOA\t");
  ASSERT_NE(soa, std::string::npos) << text;
  EXPECT_EQ(text.find("\tIN\t"), soa - 1) << text;
  EXPECT_NE(text.find("ns1.example.com. hostmaster.example.com. " + serial + " 7200 3600"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("2024010101"), std::string::npos) << text;
  EXPECT_NE(text.find("\"first string with spaces\" \"second string\""), std::string::npos);

  // The same text on stdout when --file is left out.
  auto out = run_command("'" + binary("server/zonemesh-admin") + "' export-zone " + db_arg() +
                             " --zone example.com 2>/dev/null",
                         false);
  ASSERT_EQ(out.status, 0);
  EXPECT_EQ(out.output, text);

  const auto before = changelog_size();
  auto r = import("example.com", file, "--replace");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("imported example.com: 22 records (added 0, removed 0, updated 0)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(records("example.com"), rows);
  EXPECT_EQ(changelog_size(), before);
  EXPECT_EQ(sql_value(db_, "SELECT zonemesh.zone_serial('example.com')"), serial);
}

TEST_F(ZoneFileCli, ReplaceWritesTheMinimalDiff) {
  ASSERT_EQ(import("example.com", data("example.com.zone")).status, 0);
  auto id_of = [](const std::string& name, const std::string& type) {
    return sql_value(
        db_, "SELECT id FROM records WHERE name = '" + name + "' AND type = '" + type + "'");
  };
  const std::string soa_id = id_of("example.com", "SOA");
  const std::string mail_id = id_of("mail.example.com", "A");
  const std::string www_id = id_of("www.example.com", "CNAME");

  auto r = import("example.com", data("example.com.edited.zone"), "--replace");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("imported example.com: 22 records (added 2, removed 2, updated 2)"),
            std::string::npos)
      << r.output;

  std::string expected = example_rows;
  auto swap = [&](const std::string& from, const std::string& to) {
    auto at = expected.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    expected.replace(at, from.size(), to);
  };
  swap("api.dev.example.com A 3600 192.0.2.200", "api.dev.example.com A 3600 192.0.2.201");
  swap("ftp.example.com CNAME 3600 www.example.com\n", "");
  swap("mail.example.com A 300", "mail.example.com A 600");
  swap("2024010101 7200 3600", "2024010102 7200 1800");
  swap("www.example.com CNAME 3600 example.com",
       "www.example.com CNAME 3600 example.com\n"
       "www2.example.com A 3600 192.0.2.2");
  EXPECT_EQ(records("example.com"), expected);

  // Rows kept keep their ids: the SOA and the TTL change were updates.
  EXPECT_EQ(id_of("example.com", "SOA"), soa_id);
  EXPECT_EQ(id_of("mail.example.com", "A"), mail_id);
  EXPECT_EQ(id_of("www.example.com", "CNAME"), www_id);
  // And the one transaction holds exactly those changes: a replace of each
  // RRset the file changed (sql/015), with its rows, and the SOA's update.
  EXPECT_EQ(
      sql_value(db_,
                "SELECT string_agg(CASE tbl WHEN 'rrsets' THEN 'R' ELSE op::text END || ' ' || "
                "coalesce(data ->> 'name', old ->> 'name') || ' ' || "
                "coalesce(data ->> 'type', old ->> 'type'), ', ' ORDER BY op, "
                "coalesce(data ->> 'name', old ->> 'name')) FROM zonemesh.changes WHERE entry = (SELECT entry FROM "
                "zonemesh.changelog ORDER BY pos DESC LIMIT 1)"),
      "R api.dev.example.com A, R ftp.example.com CNAME, R mail.example.com A, R www2.example.com A, "
      "U api.dev.example.com A, U example.com SOA, U mail.example.com A, U www2.example.com A");
}

TEST_F(ZoneFileCli, SyntaxErrorNamesTheLineAndWritesNothing) {
  const auto before = changelog_size();
  auto r = import("broken.test", data("syntax-error.zone"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("syntax-error.zone: line 5:"), std::string::npos) << r.output;
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM zones"), "0");
  EXPECT_EQ(changelog_size(), before);
}

TEST_F(ZoneFileCli, RecordRefusedByTheTriggersFailsTheWholeImport) {
  const auto before = changelog_size();
  auto r = import("conflict.test", data("cname-conflict.zone"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("www.conflict.test CNAME ns1.conflict.test"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("a CNAME cannot coexist with other data at the same name (there is A "
                          "\"192.0.2.10\")"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM zones"), "0");
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM records"), "0");
  EXPECT_EQ(changelog_size(), before);

  // The same refusal with --replace into an existing zone leaves it as it was.
  ASSERT_EQ(import("example.com", data("example.com.zone")).status, 0);
  const auto rows = records("example.com");
  const auto kept = changelog_size();
  const auto bad = scratch("bad-replace.zone",
                           "$ORIGIN example.com.\n"
                           "@ 3600 SOA ns1 hostmaster 5 7200 3600 1209600 300\n"
                           "@ 3600 NS ns1\n"
                           "ns1 3600 A 192.0.2.53\n"
                           "ns1 3600 CNAME www\n");
  r = import("example.com", bad, "--replace");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("a CNAME cannot coexist"), std::string::npos) << r.output;
  EXPECT_EQ(records("example.com"), rows);
  EXPECT_EQ(changelog_size(), kept);
}

TEST_F(ZoneFileCli, NamesOutsideTheZoneAreSkippedWithTheLine) {
  // As Knot loads a zone: the record is left out, the rest imported.
  const auto file = scratch("outside.zone",
                            "$TTL 300\n"
                            "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                            "@ NS ns1\n"
                            "ns1 A 192.0.2.53\n"
                            "www.elsewhere.test. A 192.0.2.9\n"
                            "www A 192.0.2.10\n"
                            "Other.Test. TXT \"x\"\n");
  auto r = import("inside.test", file);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(
      r.output.find(file + ":5: record www.elsewhere.test A 192.0.2.9 skipped: owner is outside "
                           "zone inside.test"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(file + ":7: record Other.Test TXT"), std::string::npos) << r.output;
  EXPECT_NE(
      r.output.find("imported inside.test: 4 records (added 4, removed 0, updated 0; skipped 2 "
                    "outside the zone)"),
      std::string::npos)
      << r.output;
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM records WHERE zone = 'inside.test'"), "4");
}

TEST_F(ZoneFileCli, EveryTypeRoundTripsThroughImportAndExport) {
  // tests/data/zones/types.test.zone: every type Knot 3.2 loads, and RFC 3597
  // generic forms, which come out in their usual form where the type is known.
  auto r = import("types.test", data("types.test.zone"));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string rows = records("types.test");
  EXPECT_NE(rows.find("generic.types.test TYPE65534 3600 \\# 3 010203"), std::string::npos) << rows;
  EXPECT_NE(rows.find("generic.types.test TYPE65280 3600 \\# 0"), std::string::npos) << rows;
  EXPECT_NE(rows.find("generic-a.types.test A 3600 192.0.2.2"), std::string::npos) << rows;
  EXPECT_NE(rows.find("generic-mx.types.test MX 3600 10 foo.types.test"), std::string::npos)
      << rows;
  EXPECT_NE(rows.find("generic-eui48.types.test EUI48 3600 00-00-5e-00-53-2b"), std::string::npos)
      << rows;
  EXPECT_NE(rows.find("cname-root.types.test CNAME 3600 ."), std::string::npos) << rows;
  EXPECT_NE(rows.find("nsroot.types.test NS 3600 ."), std::string::npos) << rows;
  for (const char* t : {" HINFO ", " MINFO ", " RP ",     " AFSDB ",      " RT ",    " LOC ",
                        " NAPTR ", " KX ",    " CERT ",   " APL ",        " SSHFP ", " IPSECKEY ",
                        " DHCID ", " TLSA ",  " SMIMEA ", " OPENPGPKEY ", " CSYNC ", " ZONEMD ",
                        " SVCB ",  " HTTPS ", " SPF ",    " NID ",        " L32 ",   " L64 ",
                        " LP ",    " EUI48 ", " EUI64 ",  " URI ",        " CAA "}) {
    EXPECT_NE(rows.find(t), std::string::npos) << t << " missing from\n" << rows;
  }
  const std::string file = scratch("types-export.zone");
  auto e = admin("export-zone " + db_arg() + " --zone types.test --file '" + file + "'");
  ASSERT_EQ(e.status, 0) << e.output;
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("TYPE65534\t\\# 3 010203"), std::string::npos) << text;
  EXPECT_NE(text.find("EUI64\t00-00-5e-ef-10-00-00-2a"), std::string::npos) << text;
  // Re-importing the export changes nothing.
  r = import("types.test", file, "--replace");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("(added 0, removed 0, updated 0)"), std::string::npos) << r.output;
  EXPECT_EQ(records("types.test"), rows);
}

TEST_F(ZoneFileCli, LongTxtStringsAreSplitOnImport) {
  const std::string a300(300, 'a');
  const auto file = scratch("long.zone",
                            "$TTL 300\n"
                            "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                            "@ NS ns1\n"
                            "ns1 A 192.0.2.53\n"
                            "t TXT \"" +
                                a300 + "\" ; a comment \"" + a300 +
                                "\"\n"
                                "c CAA 0 issue \"ca.example.net\"\n");
  auto r = import("long.test", file);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(sql_value(db_, "SELECT content FROM records WHERE name = 't.long.test'"),
            "\"" + std::string(255, 'a') + "\" \"" + std::string(45, 'a') + "\"");
  const std::string out = scratch("long-export.zone");
  ASSERT_EQ(admin("export-zone " + db_arg() + " --zone long.test --file '" + out + "'").status, 0);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"" + std::string(255, 'a') + "\" \"" + std::string(45, 'a') + "\""),
            std::string::npos)
      << text;
}

TEST_F(ZoneFileCli, ImportIntoAnExistingZoneNeedsReplace) {
  ASSERT_EQ(import("example.com", data("example.com.zone")).status, 0);
  const auto before = changelog_size();
  auto r = import("example.com", data("example.com.edited.zone"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("zone example.com exists already; use --replace"), std::string::npos)
      << r.output;
  EXPECT_EQ(records("example.com"), example_rows);
  EXPECT_EQ(changelog_size(), before);
}

TEST_F(ZoneFileCli, SignerRecordsAreSkippedWithAWarning) {
  auto r = import("signed.test", data("signed.zone"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("warning: skipped 1 NSEC record(s)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("imported signed.test: 3 records (added 3, removed 0, updated 0)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(sql_value(db_, "SELECT count(*) FROM records WHERE type = 'NSEC'"), "0");
}

TEST_F(ZoneFileCli, ExportOfAnUnknownZoneFails) {
  const auto file = scratch("unknown.zone");
  auto r = admin("export-zone " + db_arg() + " --zone nope.test --file '" + file + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("zone nope.test does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(std::ifstream(file).good());
}

TEST_F(ZoneFileCli, OlderCommandsStillWork) {
  auto r = admin("schema-version " + db_arg());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("database "), std::string::npos) << r.output;
  r = admin("import-zone " + db_arg() + " --zone example.com");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--file PATH is required"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace zonemesh::test
