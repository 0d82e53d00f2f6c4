// Latest change wins per RRset (issue 14), end to end on a real 3-site
// cluster (PostgreSQL, zonemesh-server, zonemesh-replicator): a site is cut
// off by stopping its replicator, both sides write, the link comes back, and
// every site must then hold the same tables and answer the same RRsets over
// DNS (dig). The rules are in sql/README.md.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// Cuts a site off from the others (its replicator stopped) and brings it
/// back on reconnect() or at the end of the scope, whatever happened between.
class cut_off {
 public:
  cut_off(const cluster& c, std::string node) : c_(c), node_(std::move(node)) {
    stop_process(c_, node_, "replicator");
  }
  ~cut_off() { reconnect(); }
  cut_off(const cut_off&) = delete;
  cut_off& operator=(const cut_off&) = delete;
  void reconnect() {
    if (done_) return;
    done_ = true;
    start_process(c_, node_, "replicator");
  }

 private:
  const cluster& c_;
  std::string node_;
  bool done_ = false;
};

/// "ttl content" of every record dig gets for an RRset, sorted, one a line.
std::string ttl_and_rdata(const std::string& name, const std::string& type) {
  return "+noall +answer " + name + " " + type + " | awk '{$1=\"\"; $3=\"\"; $4=\"\"; print}' | sed 's/^ *//; s/  */ /g' | sort";
}

class RRsetConflict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = std::make_unique<cluster>(3); }
  static void TearDownTestSuite() { cluster_.reset(); }
  static const cluster& c() { return *cluster_; }
  static const site& s1() { return cluster_->at(0); }
  static const site& s2() { return cluster_->at(1); }
  static const site& s3() { return cluster_->at(2); }

  /// Creates a zone at site1 and waits until every site has it.
  static void make_zone(const std::string& zone) {
    ASSERT_EQ(sql_error(s1().pg, "SELECT create_zone('" + zone + "', ARRAY['ns1." + zone + "'])"), "");
    ASSERT_TRUE(converged(c()));
  }

  /// Every site answers `args` (a dig argument list, piped through sort
  /// where it names an RRset with several records) with `expected`.
  static void every_site_answers(const std::string& args, const std::string& expected) {
    for (const auto& s : c().sites()) {
      EXPECT_EQ(dig_until(s, args, expected, 20000), expected) << s.node << ": dig " << args;
    }
  }

  /// The rows of an RRset in a site's records table: "content ttl origin", sorted.
  static std::string rows(const site& s, const std::string& name, const std::string& type) {
    return sql_value(s.pg, "SELECT string_agg(content || ' ' || ttl || ' ' || origin, ',' ORDER BY content) "
                           "FROM records WHERE name = '" + name + "' AND type = '" + type + "'");
  }

  static std::unique_ptr<cluster> cluster_;
};
std::unique_ptr<cluster> RRsetConflict::cluster_;

std::string set_rrset(const std::string& zone, const std::string& name, const std::string& type,
                      const std::vector<std::string>& contents, int ttl) {
  std::string arr = "ARRAY[";
  for (std::size_t i = 0; i < contents.size(); ++i) arr += (i ? ", '" : "'") + contents[i] + "'";
  arr += "]::text[]";
  return "SELECT set_rrset('" + zone + "', '" + name + "', '" + type + "', " + arr + ", " + std::to_string(ttl) + ")";
}

std::string insert(const std::string& zone, const std::string& name, const std::string& type,
                   const std::string& content, int ttl = 300) {
  return "INSERT INTO records (zone, name, type, ttl, content) VALUES ('" + zone + "', '" + name + "', '" + type +
         "', " + std::to_string(ttl) + ", '" + content + "')";
}

// The issue's scenario, step by step.
TEST_F(RRsetConflict, TheLaterReplaceWinsWholeAtEverySite) {
  make_zone("rr.test");
  ASSERT_EQ(sql_error(s1().pg, set_rrset("rr.test", "www.rr.test", "A", {"192.0.2.10", "192.0.2.11"}, 300)), "");
  ASSERT_EQ(dig_until(s3(), "+short www.rr.test A | sort", "192.0.2.10\n192.0.2.11", 20000), "192.0.2.10\n192.0.2.11");
  ASSERT_EQ(dig_until(s2(), "+short www.rr.test A | sort", "192.0.2.10\n192.0.2.11", 20000), "192.0.2.10\n192.0.2.11");
  {
    cut_off link(c(), "site2");
    ASSERT_EQ(sql_error(s1().pg, set_rrset("rr.test", "www.rr.test", "A", {"192.0.2.1", "192.0.2.3"}, 300)), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s2().pg, set_rrset("rr.test", "www.rr.test", "A", {"192.0.2.2"}, 300)), "");
    // While cut off, each side answers its own replace.
    EXPECT_EQ(dig_until(s1(), "+short www.rr.test A | sort", "192.0.2.1\n192.0.2.3"), "192.0.2.1\n192.0.2.3");
    EXPECT_EQ(dig_until(s2(), "+short www.rr.test A | sort", "192.0.2.2"), "192.0.2.2");
  }
  ASSERT_TRUE(converged(c())) << "the sites' tables differ";
  every_site_answers("+short www.rr.test A | sort", "192.0.2.2");
  for (const auto& s : c().sites()) {
    EXPECT_EQ(rows(s, "www.rr.test", "A"), "192.0.2.2 300 site2") << s.node;
  }
  // site1 removed its own rows on receiving site2's newer replace, and says so.
  EXPECT_NE(sql_value(s1().pg, "SELECT count(*) FROM zonemesh.conflicts WHERE kind = 'rrset_replaced' "
                               "AND zone = 'rr.test' AND kept_origin = 'site2' AND lost_origin = 'site1' "
                               "AND (kept_hlc, kept_origin) > (lost_hlc, lost_origin)"),
            "0");
}

// A TTL change at one site against a replace at another: the later whole
// RRset wins, and an RRset is always served with one TTL.
TEST_F(RRsetConflict, ATtlChangeAgainstAReplaceEndsWithTheLaterRRsetAndOneTtl) {
  make_zone("ttl.test");
  for (const char* n : {"a.ttl.test", "b.ttl.test"}) {
    ASSERT_EQ(sql_error(s1().pg, set_rrset("ttl.test", n, "A", {"192.0.2.10", "192.0.2.11"}, 300)), "");
  }
  ASSERT_TRUE(converged(c()));
  {
    cut_off link(c(), "site2");
    // a: the TTL change first (site2), the replace later (site1).
    ASSERT_EQ(sql_error(s2().pg, "UPDATE records SET ttl = 900 WHERE name = 'a.ttl.test' AND content = '192.0.2.10'"), "");
    // Setting one row's TTL sets the RRset's.
    EXPECT_EQ(rows(s2(), "a.ttl.test", "A"), "192.0.2.10 900 site2,192.0.2.11 900 site2");
    EXPECT_EQ(dig_until(s2(), ttl_and_rdata("a.ttl.test", "A"), "900 192.0.2.10\n900 192.0.2.11"),
              "900 192.0.2.10\n900 192.0.2.11");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s1().pg, set_rrset("ttl.test", "a.ttl.test", "A", {"192.0.2.20"}, 600)), "");
    // b: the replace first (site1), the TTL change later (site2).
    ASSERT_EQ(sql_error(s1().pg, set_rrset("ttl.test", "b.ttl.test", "A", {"192.0.2.20"}, 600)), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s2().pg, "UPDATE records SET ttl = 900 WHERE name = 'b.ttl.test' AND content = '192.0.2.10'"), "");
  }
  ASSERT_TRUE(converged(c())) << "the sites' tables differ";
  // a: site1's replace is the newest write of the RRset: it wins whole.
  every_site_answers(ttl_and_rdata("a.ttl.test", "A"), "600 192.0.2.20");
  for (const auto& s : c().sites()) EXPECT_EQ(rows(s, "a.ttl.test", "A"), "192.0.2.20 600 site1") << s.node;
  // b: site2's TTL writes are newer than site1's replace, so its rows stay
  // beside the replace's (writes newer than a replace are kept); the RRset is
  // served with one TTL, the smallest of its rows'.
  for (const auto& s : c().sites()) {
    EXPECT_EQ(rows(s, "b.ttl.test", "A"), "192.0.2.10 900 site2,192.0.2.11 900 site2,192.0.2.20 600 site1") << s.node;
  }
  every_site_answers(ttl_and_rdata("b.ttl.test", "A"), "600 192.0.2.10\n600 192.0.2.11\n600 192.0.2.20");
}

TEST_F(RRsetConflict, ADeleteOfTheRRsetCoversAnEarlierAddButNotALaterOne) {
  make_zone("del.test");
  for (const char* n : {"x.del.test", "y.del.test"}) {
    ASSERT_EQ(sql_error(s1().pg, set_rrset("del.test", n, "A", {"192.0.2.1"}, 300)), "");
  }
  ASSERT_TRUE(converged(c()));
  {
    cut_off link(c(), "site2");
    ASSERT_EQ(sql_error(s2().pg, insert("del.test", "x.del.test", "A", "192.0.2.2")), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s1().pg, "SELECT delete_rrset('del.test', 'x.del.test', 'A')"), "");
    ASSERT_EQ(sql_error(s1().pg, "SELECT delete_rrset('del.test', 'y.del.test', 'A')"), "");
    EXPECT_EQ(dig_until(s1(), "+short x.del.test A", ""), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s2().pg, insert("del.test", "y.del.test", "A", "192.0.2.3")), "");
  }
  ASSERT_TRUE(converged(c())) << "the sites' tables differ";
  // x: the add was made before the delete: gone with the RRset.
  every_site_answers("+short x.del.test A", "");
  // y: the add was made after the delete: it stays, alone (the RRset's old
  // row, older than the delete, does not come back).
  every_site_answers("+short y.del.test A | sort", "192.0.2.3");
  for (const auto& s : c().sites()) {
    EXPECT_EQ(rows(s, "x.del.test", "A"), "") << s.node;
    EXPECT_EQ(rows(s, "y.del.test", "A"), "192.0.2.3 300 site2") << s.node;
  }
  EXPECT_NE(sql_value(s2().pg, "SELECT count(*) FROM zonemesh.conflicts WHERE kind = 'rrset_replaced' "
                               "AND zone = 'del.test' AND kept_origin = 'site1' AND lost_origin = 'site2'"),
            "0");
}

TEST_F(RRsetConflict, AReplaceCoversAnAddMadeBeforeItAndKeepsAnAddMadeAfterIt) {
  make_zone("race.test");
  for (const char* n : {"early.race.test", "late.race.test"}) {
    ASSERT_EQ(sql_error(s1().pg, set_rrset("race.test", n, "A", {"192.0.2.1"}, 300)), "");
  }
  ASSERT_TRUE(converged(c()));
  {
    cut_off link(c(), "site2");
    ASSERT_EQ(sql_error(s2().pg, insert("race.test", "early.race.test", "A", "192.0.2.5")), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s1().pg, set_rrset("race.test", "early.race.test", "A", {"192.0.2.6"}, 300)), "");
    ASSERT_EQ(sql_error(s1().pg, set_rrset("race.test", "late.race.test", "A", {"192.0.2.7"}, 300)), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s2().pg, insert("race.test", "late.race.test", "A", "192.0.2.8")), "");
  }
  ASSERT_TRUE(converged(c())) << "the sites' tables differ";
  every_site_answers("+short early.race.test A | sort", "192.0.2.6");
  every_site_answers("+short late.race.test A | sort", "192.0.2.7\n192.0.2.8");
  for (const auto& s : c().sites()) {
    EXPECT_EQ(rows(s, "early.race.test", "A"), "192.0.2.6 300 site1") << s.node;
    EXPECT_EQ(rows(s, "late.race.test", "A"), "192.0.2.7 300 site1,192.0.2.8 300 site2") << s.node;
  }
}

TEST_F(RRsetConflict, AnIdenticalRecordAddedAtTwoSitesIsOneRowServedAndListedOnce) {
  make_zone("same.test");
  {
    cut_off link(c(), "site2");
    ASSERT_EQ(sql_error(s1().pg, insert("same.test", "www.same.test", "A", "192.0.2.9")), "");
    // The same TXT record, typed differently: stored normalized, so identical.
    ASSERT_EQ(sql_error(s1().pg, insert("same.test", "txt.same.test", "TXT", "hello")), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s2().pg, insert("same.test", "WWW.same.test.", "A", "192.0.2.9")), "");
    ASSERT_EQ(sql_error(s2().pg, insert("same.test", "txt.same.test", "TXT", "\"hello\"")), "");
  }
  ASSERT_TRUE(converged(c())) << "the sites' tables differ";
  const std::string a_id = sql_value(s1().pg, "SELECT md5('zonemesh-rr:same.test www.same.test A 192.0.2.9')::uuid");
  const std::string txt_id = sql_value(s1().pg, "SELECT md5('zonemesh-rr:same.test txt.same.test TXT \"hello\"')::uuid");
  for (const auto& s : c().sites()) {
    EXPECT_EQ(sql_value(s.pg, "SELECT string_agg(id::text, ',') FROM records WHERE name = 'www.same.test'"), a_id)
        << s.node << ": one row, with the id derived from zone, owner, type and content";
    EXPECT_EQ(sql_value(s.pg, "SELECT string_agg(id::text, ',') FROM records WHERE name = 'txt.same.test'"), txt_id)
        << s.node;
    EXPECT_EQ(rows(s, "www.same.test", "A"), "192.0.2.9 300 site2") << s.node << ": the newer write of the row";
  }
  // Served once and listed once by the API, at every site.
  every_site_answers("+short www.same.test A", "192.0.2.9");
  every_site_answers("+short txt.same.test TXT", "\"hello\"");
  for (const auto& s : c().sites()) {
    auto r = http_call(s.http_port, "GET",
                       "/api/v1/servers/localhost/zones/same.test.?rrset_name=www.same.test.&rrset_type=A", "",
                       {"X-API-Key: " + s.api_key});
    ASSERT_EQ(r.status, 200) << s.node << ": " << r.body;
    json zone = json::parse(r.body);
    ASSERT_EQ(zone["rrsets"].size(), 1u) << r.body;
    EXPECT_EQ(zone["rrsets"][0]["records"], json::parse(R"([{"content": "192.0.2.9", "disabled": false}])"))
        << s.node;
  }
}

// Record ids follow from the record when it is added (sql/README.md): an id
// given on INSERT is replaced, an UPDATE keeps the row's id, a CNAME's id is
// its owner's, the SOA's the zone's.
TEST_F(RRsetConflict, RecordIdsAreDerivedFromTheRecord) {
  make_zone("ids.test");
  const std::string& db = s1().pg;
  auto md5 = [&](const std::string& text) { return sql_value(db, "SELECT md5('" + text + "')::uuid"); };
  ASSERT_EQ(sql_error(db, "INSERT INTO records (id, zone, name, type, ttl, content) VALUES "
                          "('00000000-0000-4000-8000-000000000001', 'ids.test', 'a.ids.test', 'A', 60, '192.0.2.1')"),
            "");
  EXPECT_EQ(sql_value(db, "SELECT id FROM records WHERE name = 'a.ids.test'"), md5("zonemesh-rr:ids.test a.ids.test A 192.0.2.1"));
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM records WHERE id = '00000000-0000-4000-8000-000000000001'"), "0");
  EXPECT_EQ(sql_value(db, "SELECT zonemesh.record_id('ids.test', 'a.ids.test', 'A', '192.0.2.1')"),
            md5("zonemesh-rr:ids.test a.ids.test A 192.0.2.1"));
  ASSERT_EQ(sql_error(db, "UPDATE records SET content = '192.0.2.2' WHERE name = 'a.ids.test'"), "");
  EXPECT_EQ(sql_value(db, "SELECT string_agg(id::text || ' ' || content, ',') FROM records WHERE name = 'a.ids.test'"),
            md5("zonemesh-rr:ids.test a.ids.test A 192.0.2.1") + " 192.0.2.2");
  // A record added later with the content the row was given is the same
  // record only if the ids say so: adding it again is refused as a duplicate.
  EXPECT_NE(sql_error(db, insert("ids.test", "a.ids.test", "A", "192.0.2.2")), "");
  // A new record gets its derived id.
  ASSERT_EQ(sql_error(db, insert("ids.test", "a.ids.test", "A", "192.0.2.3")), "");
  EXPECT_EQ(sql_value(db, "SELECT id FROM records WHERE name = 'a.ids.test' AND content = '192.0.2.3'"),
            md5("zonemesh-rr:ids.test a.ids.test A 192.0.2.3"));
  ASSERT_EQ(sql_error(db, insert("ids.test", "c.ids.test", "CNAME", "target.example.net")), "");
  EXPECT_EQ(sql_value(db, "SELECT id FROM records WHERE name = 'c.ids.test'"), md5("zonemesh-rr:ids.test c.ids.test CNAME"));
  ASSERT_EQ(sql_error(db, "UPDATE records SET content = 'other.example.net' WHERE name = 'c.ids.test'"), "");
  EXPECT_EQ(sql_value(db, "SELECT id || ' ' || content FROM records WHERE name = 'c.ids.test'"),
            md5("zonemesh-rr:ids.test c.ids.test CNAME") + " other.example.net");
  EXPECT_EQ(sql_value(db, "SELECT id FROM records WHERE zone = 'ids.test' AND type = 'SOA'"), md5("zonemesh-soa:ids.test"));
  // What every site has and serves.
  ASSERT_TRUE(converged(c()));
  every_site_answers("+short a.ids.test A | sort", "192.0.2.2\n192.0.2.3");
}

TEST_F(RRsetConflict, AZoneCreatedAtTwoSitesHasOneSoaAndTheNewerCreationsNameServers) {
  {
    cut_off link(c(), "site2");
    ASSERT_EQ(sql_error(s1().pg, "SELECT create_zone('twice.test', ARRAY['ns1.twice.test', 'ns2.twice.test'])"), "");
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(sql_error(s2().pg, "SELECT create_zone('twice.test', ARRAY['ns3.twice.test'])"), "");
  }
  ASSERT_TRUE(converged(c())) << "the sites' tables differ";
  every_site_answers("+short twice.test NS | sort", "ns3.twice.test.");
  every_site_answers("+short twice.test SOA | cut -d' ' -f1", "ns3.twice.test.");
  for (const auto& s : c().sites()) {
    EXPECT_EQ(sql_value(s.pg, "SELECT string_agg(type || ' ' || content, ',' ORDER BY type) FROM records "
                              "WHERE zone = 'twice.test' AND type IN ('NS', 'SOA')"),
              "NS ns3.twice.test,SOA ns3.twice.test hostmaster.twice.test 0 10800 3600 604800 3600")
        << s.node;
  }
  // One SOA, served with the same serial everywhere.
  const std::string serial = sql_value(s1().pg, "SELECT serial FROM zone_serials WHERE zone = 'twice.test'");
  every_site_answers("+short twice.test SOA | cut -d' ' -f3", serial);
}

TEST_F(RRsetConflict, DeletingTheApexNsRRsetIsRefused) {
  ASSERT_EQ(sql_error(s1().pg, "SELECT create_zone('val.test', ARRAY['ns1.val.test', 'ns2.val.test'])"), "");
  const std::string& db = s1().pg;
  for (const std::string& sql :
       {std::string("DELETE FROM records WHERE zone = 'val.test' AND name = 'val.test' AND type = 'NS'"),
        std::string("SELECT delete_rrset('val.test', 'val.test', 'NS')"),
        std::string("SELECT set_rrset('val.test', 'val.test', 'NS', ARRAY[]::text[], 3600)")}) {
    auto err = sql_error(db, sql);
    EXPECT_NE(err, "") << sql << " was accepted";
    EXPECT_NE(err.find("val.test"), std::string::npos) << "the error names the zone: " << err;
    EXPECT_NE(err.find("NS"), std::string::npos) << err;
  }
  EXPECT_EQ(sql_value(db, "SELECT count(*) FROM records WHERE zone = 'val.test' AND type = 'NS'"), "2");
  // One of two may go, not the last.
  EXPECT_EQ(sql_error(db, "DELETE FROM records WHERE name = 'val.test' AND type = 'NS' AND content = 'ns2.val.test'"), "");
  EXPECT_NE(sql_error(db, "DELETE FROM records WHERE name = 'val.test' AND type = 'NS' AND content = 'ns1.val.test'"), "");
  // Replacing the apex NS RRset with other servers is not deleting it.
  EXPECT_EQ(sql_error(db, set_rrset("val.test", "val.test", "NS", {"ns9.val.test"}, 3600)), "");
  // NS records below the apex (a delegation) can be deleted.
  ASSERT_EQ(sql_error(db, insert("val.test", "child.val.test", "NS", "ns1.example.net")), "");
  EXPECT_EQ(sql_error(db, "SELECT delete_rrset('val.test', 'child.val.test', 'NS')"), "");
  // Deleting the whole zone is still allowed.
  ASSERT_EQ(sql_error(db, "SELECT create_zone('val2.test', ARRAY['ns1.val2.test'])"), "");
  EXPECT_EQ(sql_error(db, "DELETE FROM zones WHERE name = 'val2.test'"), "");
  ASSERT_TRUE(converged(c()));
  every_site_answers("+short val.test NS", "ns9.val.test.");
  every_site_answers("+short val2.test NS", "");
}

TEST_F(RRsetConflict, ADnameBesideNsBelowTheApexIsRefused) {
  ASSERT_EQ(sql_error(s1().pg, "SELECT create_zone('dname.test', ARRAY['ns1.dname.test'])"), "");
  const std::string& db = s1().pg;
  // DNAME after NS, and NS after DNAME, at a name below the apex.
  ASSERT_EQ(sql_error(db, insert("dname.test", "sub.dname.test", "NS", "ns1.example.net")), "");
  auto err = sql_error(db, insert("dname.test", "sub.dname.test", "DNAME", "target.example.net"));
  EXPECT_NE(err, "") << "DNAME beside NS was accepted";
  EXPECT_NE(err.find("sub.dname.test"), std::string::npos) << "the error names the owner: " << err;
  err = sql_error(db, set_rrset("dname.test", "sub.dname.test", "DNAME", {"target.example.net"}, 300));
  EXPECT_NE(err, "") << "set_rrset of a DNAME beside NS was accepted";
  ASSERT_EQ(sql_error(db, insert("dname.test", "dn.dname.test", "DNAME", "target.example.net")), "");
  err = sql_error(db, insert("dname.test", "dn.dname.test", "NS", "ns1.example.net"));
  EXPECT_NE(err, "") << "NS beside DNAME was accepted";
  EXPECT_NE(err.find("dn.dname.test"), std::string::npos) << "the error names the owner: " << err;
  EXPECT_EQ(sql_value(db, "SELECT string_agg(name || ' ' || type, ',' ORDER BY name, type) FROM records "
                          "WHERE zone = 'dname.test' AND type IN ('NS', 'DNAME') AND name <> zone"),
            "dn.dname.test DNAME,sub.dname.test NS");
  // At the apex a DNAME beside the zone's NS is allowed (RFC 6672; PowerDNS allows it).
  EXPECT_EQ(sql_error(db, insert("dname.test", "dname.test", "DNAME", "target.example.net")), "");
}

}  // namespace
}  // namespace zonemesh::test
