// Applying peers' changes (architecture.md rules 3-12): last-writer-wins per
// row by (hlc, origin), tombstones, idempotence, forwarding with the origin
// intact, the conflicts LWW alone does not settle, the clock and the serial.
// Changes travel between real sites through zonemesh.origin_changes and
// zonemesh.apply_batch, exactly as the replicator will move them.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

class Apply : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Changes move between the sites only when a test ships them.
    cluster_ = std::make_unique<cluster>(3, std::vector<std::string>{"--no-server", "--no-replicator"});
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  void SetUp() override {
    a_ = cluster_->at(0).pg;
    b_ = cluster_->at(1).pg;
    c_ = cluster_->at(2).pg;
    for (const auto& db : {a_, b_, c_}) reset_site(db);
  }

  void converge() { exchange_all({a_, b_, c_}); }
  void expect_identical() {
    auto da = dump_replicated_state(a_);
    EXPECT_EQ(da, dump_replicated_state(b_));
    EXPECT_EQ(da, dump_replicated_state(c_));
  }
  static std::string content(const std::string& db, const std::string& name, const std::string& type = "A") {
    return sql_value(db, "SELECT string_agg(content, ',' ORDER BY content) FROM records WHERE name = '" +
                             name + "' AND type = '" + type + "'");
  }
  static std::string apply(const std::string& db, const std::string& txs) {
    return sql_value(db, "SELECT zonemesh.apply_batch('" + txs + "'::jsonb)");
  }
  /// apply(), with the set-based path taken however small the frame.
  static std::string apply_set_based(const std::string& db, const std::string& txs) {
    return sql_value(db, "SET zonemesh.bulk_min_changes = 1; SELECT zonemesh.apply_batch('" + txs + "'::jsonb)");
  }

  /// The last source transaction made at db by origin, as a frame of one.
  static std::string last_tx(const std::string& db, const std::string& origin) {
    return "[" + sql_value(db, "SELECT tx FROM zonemesh.origin_changes('" + origin + "', 0, 100000) ORDER BY 1 DESC LIMIT 1") + "]";
  }

  static std::unique_ptr<cluster> cluster_;
  std::string a_, b_, c_;
};
std::unique_ptr<cluster> Apply::cluster_;

TEST_F(Apply, LocalWritesReachPeersWithOriginAndSeqIntact) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('example.com', 'www.example.com', 'A', '192.0.2.1')"),
            "");
  ASSERT_EQ(sql_error(a_, "INSERT INTO tsig_keys (name, secret) VALUES ('k', 'c2VjcmV0c2VjcmV0c2VjcmV0')"), "");
  // A chain: a -> b -> c. c only ever hears from b.
  auto r1 = ship(a_, b_);
  EXPECT_EQ(r1["applied"], 3);
  auto r2 = ship(b_, c_);
  EXPECT_EQ(r2["applied"], 3);
  expect_identical();
  EXPECT_EQ(content(c_, "www.example.com"), "192.0.2.1");
  EXPECT_EQ(sql_value(c_, "SELECT string_agg(origin || ':' || origin_seq, ',' ORDER BY pos) FROM zonemesh.changelog"),
            "site1:1,site1:2,site1:3");
  EXPECT_EQ(sql_value(c_, "SELECT zonemesh.version_vector()"), "{\"site1\": 3}");
  // Rows keep their stamps: no site restamps what it forwards.
  EXPECT_EQ(sql_value(c_, "SELECT origin || hlc FROM records WHERE name = 'www.example.com'"),
            sql_value(a_, "SELECT origin || hlc FROM records WHERE name = 'www.example.com'"));
  // Shipping again changes nothing: apply is idempotent.
  auto again = ship(a_, c_);
  EXPECT_EQ(again["applied"], 0);
  expect_identical();
  // A site's own changes coming back are recognised.
  std::string tx = sql_value(a_, "SELECT tx FROM zonemesh.origin_changes('site1', 0, 1)");
  EXPECT_EQ(nlohmann::json::parse(apply(a_, "[" + tx + "]"))["own"], 1);
}

TEST_F(Apply, ConcurrentUpdatesOfOneRowConvergeOnTheNewerStamp) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('example.com', 'www.example.com', 'A', '192.0.2.1')"),
            "");
  converge();
  // Each site updates the same row without having seen the others.
  ASSERT_EQ(sql_error(a_, "UPDATE records SET content = '192.0.2.10' WHERE name = 'www.example.com'"), "");
  ASSERT_EQ(sql_error(b_, "UPDATE records SET content = '192.0.2.20' WHERE name = 'www.example.com'"), "");
  ASSERT_EQ(sql_error(c_, "UPDATE records SET content = '192.0.2.30' WHERE name = 'www.example.com'"), "");
  converge();
  expect_identical();
  auto winner = content(a_, "www.example.com");
  EXPECT_EQ(winner, content(b_, "www.example.com"));
  // The winner is the write with the greatest (hlc, origin) among the three.
  EXPECT_EQ(sql_value(a_, "SELECT count(*) FROM zonemesh.conflicts WHERE kind IN ('write_lost', 'rrset_replaced')") != "0" ||
                sql_value(b_, "SELECT count(*) FROM zonemesh.conflicts WHERE kind IN ('write_lost', 'rrset_replaced')") != "0",
            true);
  EXPECT_EQ(sql_value(a_, "SELECT hlc = (SELECT max(hlc) FROM zonemesh.changes WHERE tbl = 'records' "
                          "AND key = jsonb_build_object('id', r.id)) FROM records r WHERE name = 'www.example.com'"),
            "t");
}

TEST_F(Apply, EqualClockReadingsAreSettledByOriginEverywhere) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  converge();
  // Two peers, "pa" and "pb", replace the same RRset with the same hlc:
  // the greater origin wins, whole, in either order.
  std::string stamp = sql_value(a_, "SELECT zonemesh.physical_hlc() - (1000::bigint << 16)");
  auto tx = [&](const std::string& origin, const std::string& ip) {
    std::string id = sql_value(a_, "SELECT zonemesh.record_id('example.com', 'tie.example.com', 'A', '" + ip + "')");
    return R"({"origin": ")" + origin + R"(", "seq": 1, "changes": [
             {"tbl": "rrsets", "op": "D", "hlc": )" + stamp + R"(, "zone": "example.com",
              "key": {"name": "tie.example.com", "type": "A", "zone": "example.com"}},
             {"tbl": "records", "op": "U", "hlc": )" + stamp + R"(, "zone": "example.com", "key": {"id": ")" + id +
           R"("}, "data": {"id": ")" + id + R"(", "zone": "example.com",
                      "name": "tie.example.com", "type": "A", "ttl": 60, "content": ")" + ip + R"(",
                      "disabled": false, "modified": "2026-01-01T00:00:00+00:00", "hlc": )" + stamp +
           R"(, "origin": ")" + origin + R"("}}]})";
  };
  apply(a_, "[" + tx("pa", "192.0.2.1") + "," + tx("pb", "192.0.2.2") + "]");
  apply(b_, "[" + tx("pb", "192.0.2.2") + "," + tx("pa", "192.0.2.1") + "]");
  EXPECT_EQ(content(a_, "tie.example.com"), "192.0.2.2");
  EXPECT_EQ(content(b_, "tie.example.com"), "192.0.2.2");
  EXPECT_EQ(dump_replicated_state(a_), dump_replicated_state(b_));
}

TEST_F(Apply, DeleteAgainstUpdateAndNoResurrection) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('example.com', 'x.example.com', 'A', '192.0.2.1'), "
                          "('example.com', 'y.example.com', 'A', '192.0.2.2')"),
            "");
  converge();
  // x: updated at b, deleted later at a -> gone. y: deleted at a, updated later at b -> kept.
  ASSERT_EQ(sql_error(b_, "UPDATE records SET ttl = 1 WHERE name = 'x.example.com'"), "");
  ASSERT_EQ(sql_error(a_, "DELETE FROM records WHERE name = 'x.example.com'"), "");
  ASSERT_EQ(sql_error(a_, "DELETE FROM records WHERE name = 'y.example.com'"), "");
  ASSERT_EQ(sql_error(b_, "UPDATE records SET ttl = 2 WHERE name = 'y.example.com'"), "");
  converge();
  expect_identical();
  EXPECT_EQ(content(c_, "x.example.com"), "");
  EXPECT_EQ(sql_value(c_, "SELECT ttl FROM records WHERE name = 'y.example.com'"), "2");

  // An old insert of x arriving late (from an origin that had been cut off)
  // must not bring it back: the tombstone is newer.
  std::string id = sql_value(a_, "SELECT key ->> 'id' FROM zonemesh.tombstones WHERE tbl = 'records'");
  std::string old_stamp = sql_value(a_, "SELECT hlc - 1000 FROM zonemesh.tombstones WHERE tbl = 'records'");
  std::string late = R"([{"origin": "late", "seq": 1, "changes": [{"tbl": "records", "op": "U", "hlc": )" +
                     old_stamp + R"(, "zone": "example.com", "key": {"id": ")" + id + R"("},
      "data": {"id": ")" + id + R"(", "zone": "example.com", "name": "x.example.com", "type": "A", "ttl": 5,
               "content": "192.0.2.1", "disabled": false, "modified": "2026-01-01T00:00:00+00:00",
               "hlc": )" + old_stamp + R"(, "origin": "late"}}]}])";
  apply(a_, late);
  EXPECT_EQ(content(a_, "x.example.com"), "");
}

// A tombstone must outlive every older write of its row that can still
// arrive. Here a's insert reaches b, b deletes the row, and c hears of the
// delete (from b) before the insert (from a: held back, or its link down).
// Every peer of c has the delete, so c prunes its change-log; if the
// tombstone went with it, a's insert would then bring the row back at c
// alone, while a and b have it deleted: the sites would never converge.
TEST_F(Apply, APrunedDeleteStillStopsAnOlderWriteThatArrivesLater) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  converge();
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('example.com', 'late.example.com', 'A', '192.0.2.1')"),
            "");
  ship(a_, b_);
  ASSERT_EQ(sql_error(b_, "DELETE FROM records WHERE name = 'late.example.com'"), "");
  // c gets b's own transactions only (the delete), not a's insert.
  std::string after = sql_value(c_, "SELECT coalesce((zonemesh.version_vector() ->> 'site2')::bigint, 0)");
  std::string b_txs = sql_value(b_, "SELECT jsonb_agg(tx ORDER BY origin_seq) FROM zonemesh.origin_changes('site2', " +
                                        after + ", 1000)");
  ASSERT_EQ(nlohmann::json::parse(apply(c_, b_txs))["applied"], 1);
  ship(b_, a_);  // a has the delete too
  // c's peers have acknowledged the delete, as the replicator records it:
  // each peer's version vector (a's includes its own insert).
  auto record_acks = [&] {
    ASSERT_EQ(sql_error(c_, "INSERT INTO zonemesh.peers (node) VALUES ('site1'), ('site2') ON CONFLICT DO NOTHING"), "");
    for (const auto& [peer, db] : {std::pair{std::string("site1"), a_}, std::pair{std::string("site2"), b_}}) {
      ASSERT_EQ(sql_error(c_, "INSERT INTO zonemesh.peer_vector (peer, origin, seq) SELECT '" + peer +
                                  "', key, value::bigint FROM jsonb_each_text('" +
                                  sql_value(db, "SELECT zonemesh.version_vector()") +
                                  "'::jsonb) ON CONFLICT (peer, origin) DO UPDATE SET seq = EXCLUDED.seq"),
                "");
    }
  };
  record_acks();
  ASSERT_EQ(sql_error(c_, "SELECT zonemesh.prune()"), "");
  ASSERT_EQ(sql_value(c_, "SELECT count(*) FROM zonemesh.changelog WHERE origin = 'site2'"), "0")
      << "every peer has b's delete: its change-log entry goes";
  // a's insert arrives at last: older than the delete, it must stay out.
  ship(a_, c_);
  EXPECT_EQ(content(c_, "late.example.com"), "");
  converge();
  expect_identical();
  EXPECT_EQ(content(c_, "late.example.com"), "");
  // Once c has everything its peers have, the tombstone goes too.
  record_acks();
  ASSERT_EQ(sql_error(c_, "SELECT zonemesh.prune()"), "");
  EXPECT_EQ(sql_value(c_, "SELECT count(*) FROM zonemesh.tombstones WHERE tbl = 'records'"), "0");
}

// Two links apply at once: one a delete of a row this site does not have
// yet, the other the row's (older) insert. Nothing here locks a row that is
// not there, so each used to read "no row, no tombstone" and both
// committed: the row stayed here, next to a tombstone newer than it, while
// every other site had it deleted. Applying a change now waits for any
// other transaction applying a change to the same key.
TEST_F(Apply, ADeleteAndAnOlderInsertAppliedAtOnceByTwoLinksLeaveTheRowDeleted) {
  for (const bool set_based : {false, true}) {
    SCOPED_TRACE(set_based ? "set-based" : "one at a time");
    for (const auto& db : {a_, b_, c_}) reset_site(db);
    ASSERT_EQ(sql_error(a_, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
    converge();
    ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                            "('example.com', 'race.example.com', 'A', '192.0.2.1')"),
              "");
    ship(a_, b_);
    ASSERT_EQ(sql_error(b_, "DELETE FROM records WHERE name = 'race.example.com'"), "");
    std::string del = last_tx(b_, "site2"), ins = last_tx(a_, "site1");
    ASSERT_NE(del.find("\"D\""), std::string::npos) << del;
    std::string setting = set_based ? "1" : "1000000";
    pqxx::connection first(c_), second(c_);
    for (auto* conn : {&first, &second}) {
      pqxx::nontransaction nt(*conn);
      nt.exec("SET zonemesh.bulk_min_changes = " + setting);
    }
    // The delete is applied, not yet committed, when the insert comes in.
    pqxx::work deleting(first);
    EXPECT_EQ(nlohmann::json::parse(deleting.exec_params1("SELECT zonemesh.apply_batch($1::jsonb)::text", del)[0].c_str())["applied"], 1);
    std::atomic<bool> inserted{false};
    std::thread inserting([&] {
      pqxx::work w(second);
      w.exec_params1("SELECT zonemesh.apply_batch($1::jsonb)", ins);
      w.commit();
      inserted = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    deleting.commit();
    inserting.join();
    EXPECT_TRUE(inserted.load());
    EXPECT_EQ(content(c_, "race.example.com"), "") << "the older insert must lose to the delete";
    converge();
    expect_identical();
  }
}

// A local write at c committed at the same moment as the apply of a peer's
// newer change that c has not seen yet: the apply waits for the local
// transaction (013), then sees what it wrote, and every site ends the same.
// Without the wait each side saw "nothing there" and c kept a row that every
// other site had deleted.
TEST_F(Apply, LocalWritesRacingAPeersNewerDeleteConvergeEverywhere) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('zb.test', ARRAY['ns1.zb.test'])"), "");
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('zc.test', ARRAY['ns1.zc.test'])"), "");
  converge();
  // Runs local_sql at c in a transaction left open, applies the peer's frame
  // at c from another session meanwhile, then commits the local transaction.
  auto race = [&](const std::string& local_sql, const std::function<std::string()>& peer_frame) {
    pqxx::connection local_conn(c_), apply_conn(c_);
    pqxx::work local(local_conn);
    local.exec(local_sql);
    const std::string frame = peer_frame();
    std::string apply_error = "did not run";
    std::thread applying([&] {
      try {
        pqxx::work w(apply_conn);
        auto counts = nlohmann::json::parse(w.exec_params1("SELECT zonemesh.apply_batch($1::jsonb)::text", frame)[0].c_str());
        w.commit();
        apply_error = counts["failed"] == 0 ? "" : counts.dump();
      } catch (const std::exception& e) {
        apply_error = e.what();
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::string commit_error;
    try {
      local.commit();
    } catch (const std::exception& e) {
      commit_error = e.what();  // the apply goes on once the transaction is gone
    }
    applying.join();
    EXPECT_EQ(commit_error, "");
    EXPECT_EQ(apply_error, "");
  };

  // A key c does not have (a TSIG key): inserted at c; meanwhile b inserts
  // and deletes it, newer, and the delete comes in.
  race("INSERT INTO tsig_keys (name, secret) VALUES ('race-key', 'c2VjcmV0c2VjcmV0c2VjcmV0')", [&] {
    EXPECT_EQ(sql_error(b_, "INSERT INTO tsig_keys (name, secret) VALUES ('race-key', 'c2VjcmV0c2VjcmV0c2VjcmV0')"), "");
    EXPECT_EQ(sql_error(b_, "DELETE FROM tsig_keys WHERE name = 'race-key'"), "");
    return last_tx(b_, "site2");
  });
  EXPECT_EQ(sql_value(c_, "SELECT count(*) FROM tsig_keys WHERE name = 'race-key'"), "0")
      << "the older insert must lose to the newer delete";

  // A record inserted at c into a zone whose (newer) deletion comes in.
  race("INSERT INTO records (zone, name, type, content) VALUES ('zb.test', 'new.zb.test', 'A', '192.0.2.7')", [&] {
    EXPECT_EQ(sql_error(b_, "DELETE FROM zones WHERE name = 'zb.test'"), "");
    return last_tx(b_, "site2");
  });
  EXPECT_EQ(sql_value(c_, "SELECT count(*) FROM records WHERE zone = 'zb.test'"), "0")
      << "the zone's deletion takes the record made before it";

  // A zone deleted at c while an older record for it, made at b, comes in.
  ASSERT_EQ(sql_error(b_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('zc.test', 'new.zc.test', 'A', '192.0.2.8')"),
            "");
  const std::string older_record = last_tx(b_, "site2");
  race("DELETE FROM zones WHERE name = 'zc.test'", [&] { return older_record; });
  EXPECT_EQ(sql_value(c_, "SELECT count(*) FROM records WHERE zone = 'zc.test'"), "0")
      << "a record older than its zone's deletion does not outlive it";

  converge();
  expect_identical();
  for (const auto& db : {a_, b_, c_}) {
    EXPECT_EQ(sql_value(db, "SELECT count(*) FROM tsig_keys WHERE name = 'race-key'"), "0");
    EXPECT_EQ(sql_value(db, "SELECT count(*) FROM records WHERE zone IN ('zb.test', 'zc.test')"), "0");
  }
}

TEST_F(Apply, ZoneDeleteRacingRecordInsertsElsewhere) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('race.test', ARRAY['ns1.race.test'])"), "");
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('race.test', 'old.race.test', 'A', '192.0.2.1')"),
            "");
  converge();
  // b adds a record (not having seen the delete); a deletes the zone after.
  ASSERT_EQ(sql_error(b_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('race.test', 'new.race.test', 'A', '192.0.2.2')"),
            "");
  ASSERT_EQ(sql_error(a_, "DELETE FROM zones WHERE name = 'race.test'"), "");
  converge();
  expect_identical();
  // The deletion is newer than everything in the zone: the zone and all its
  // records are gone at every site, whichever order things arrived in.
  for (const auto& db : {a_, b_, c_}) {
    EXPECT_EQ(sql_value(db, "SELECT count(*) FROM zones WHERE name = 'race.test'"), "0");
    EXPECT_EQ(sql_value(db, "SELECT count(*) FROM records WHERE zone = 'race.test'"), "0");
  }
  EXPECT_NE(sql_value(a_, "SELECT count(*) FROM zonemesh.conflicts WHERE kind = 'zone_deleted'"), "0")
      << "a write arriving for a deleted zone is logged";

  // Created again later: a fresh zone, none of the old records come back.
  ASSERT_EQ(sql_error(c_, "SELECT create_zone('race.test', ARRAY['ns1.race.test'])"), "");
  converge();
  expect_identical();
  EXPECT_EQ(sql_value(b_, "SELECT string_agg(type, ',' ORDER BY type) FROM records WHERE zone = 'race.test'"), "NS,SOA");
}

TEST_F(Apply, OneZoneCreatedAtTwoSitesAtOnce) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('twice.test', ARRAY['ns1.twice.test'], 'a.twice.test')"), "");
  ASSERT_EQ(sql_error(b_, "SELECT create_zone('twice.test', ARRAY['ns2.twice.test'], 'b.twice.test')"), "");
  ASSERT_EQ(sql_error(b_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('twice.test', 'www.twice.test', 'A', '192.0.2.1')"),
            "");
  converge();
  expect_identical();
  // One zone, one SOA (its id is derived from the zone name, so both
  // creations wrote the same row and the newer one won), one apex NS RRset
  // (the newer creation's: apex RRsets written with a zone are replaces),
  // and the other records of both.
  for (const auto& db : {a_, b_, c_}) {
    EXPECT_EQ(sql_value(db, "SELECT count(*) FROM zones WHERE name = 'twice.test'"), "1");
    EXPECT_EQ(sql_value(db, "SELECT count(*) FROM records WHERE zone = 'twice.test' AND type = 'SOA'"), "1");
    EXPECT_EQ(sql_value(db, "SELECT string_agg(content, ',' ORDER BY content) FROM records "
                            "WHERE zone = 'twice.test' AND type = 'NS'"),
              "ns2.twice.test");
    EXPECT_EQ(sql_value(db, "SELECT content FROM records WHERE name = 'www.twice.test'"), "192.0.2.1");
  }
  EXPECT_EQ(sql_value(a_, "SELECT split_part(content, ' ', 2) FROM records WHERE zone = 'twice.test' AND type = 'SOA'"),
            "b.twice.test")
      << "site2 created it later, so its SOA wins";
  EXPECT_NE(sql_value(a_, "SELECT count(*) FROM zonemesh.conflicts WHERE kind = 'zone_created_twice'"), "0");
}

TEST_F(Apply, RecordArrivingBeforeItsZoneIsKeptAndServedOnceTheZoneArrives) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('late.test', ARRAY['ns1.late.test'])"), "");
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('late.test', 'www.late.test', 'A', '192.0.2.1')"),
            "");
  // Apply seq 2 (the record) before seq 1 (the zone).
  auto tx2 = sql_value(a_, "SELECT tx FROM zonemesh.origin_changes('site1', 1, 1)");
  auto tx1 = sql_value(a_, "SELECT tx FROM zonemesh.origin_changes('site1', 0, 1)");
  apply(b_, "[" + tx2 + "]");
  EXPECT_EQ(sql_value(b_, "SELECT zonemesh.version_vector()"), "{\"site1\": 0}");
  EXPECT_EQ(content(b_, "www.late.test"), "192.0.2.1");
  apply(b_, "[" + tx1 + "]");
  EXPECT_EQ(sql_value(b_, "SELECT zonemesh.version_vector()"), "{\"site1\": 2}");
  EXPECT_EQ(dump_replicated_state(a_), dump_replicated_state(b_));
}

TEST_F(Apply, ClockAdvancesPastRemoteStampsAndSkewBeyondTheBoundIsRefused) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('clock.test', ARRAY['ns1.clock.test'])"), "");
  converge();
  // site2's clock runs 30 s fast (inside the default 60 s bound).
  ASSERT_EQ(sql_error(b_, "UPDATE zonemesh.node SET clock_offset_ms = 30000"), "");
  ASSERT_EQ(sql_error(b_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('clock.test', 'www.clock.test', 'A', '192.0.2.1')"),
            "");
  ship(b_, a_);
  // site1 has seen it: its next write to the row is stamped after it, so it wins everywhere.
  ASSERT_EQ(sql_error(a_, "UPDATE records SET content = '192.0.2.2' WHERE name = 'www.clock.test'"), "");
  converge();
  expect_identical();
  EXPECT_EQ(content(b_, "www.clock.test"), "192.0.2.2");

  // An hour fast: refused, kept in apply_errors, nothing else blocked.
  ASSERT_EQ(sql_error(c_, "UPDATE zonemesh.node SET clock_offset_ms = 3600000"), "");
  ASSERT_EQ(sql_error(c_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('clock.test', 'fast.clock.test', 'A', '192.0.2.3')"),
            "");
  auto counts = ship(c_, a_);
  EXPECT_EQ(counts["failed"], 1);
  EXPECT_EQ(content(a_, "fast.clock.test"), "");
  EXPECT_NE(sql_value(a_, "SELECT error FROM zonemesh.apply_errors").find("ahead of this site's clock"),
            std::string::npos);
  ASSERT_EQ(sql_error(b_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('clock.test', 'other.clock.test', 'A', '192.0.2.4')"),
            "");
  ship(b_, a_);
  EXPECT_EQ(content(a_, "other.clock.test"), "192.0.2.4") << "other changes still flow";
  // Once the bound allows it, the kept transaction applies.
  ASSERT_EQ(sql_error(a_, "UPDATE zonemesh.node SET max_clock_skew_ms = 7200000"), "");
  EXPECT_EQ(nlohmann::json::parse(sql_value(a_, "SELECT zonemesh.retry_apply_errors()"))["applied"], 1);
  EXPECT_EQ(content(a_, "fast.clock.test"), "192.0.2.3");
  EXPECT_EQ(sql_value(a_, "SELECT count(*) FROM zonemesh.apply_errors"), "0");
}

TEST_F(Apply, ABadTransactionIsKeptAsideAndTheRestApplies) {
  std::string good = sql_value(a_, "SELECT '{\"origin\":\"px\",\"seq\":2,\"changes\":[]}'");
  auto counts = nlohmann::json::parse(apply(b_,
      R"([{"origin": "px", "seq": 1, "changes": [{"tbl": "no_such_table", "op": "U", "hlc": 1, "key": {}, "data": {}}]},)" +
      good + "]"));
  EXPECT_EQ(counts["failed"], 1);
  EXPECT_EQ(counts["applied"], 1);
  EXPECT_NE(sql_value(b_, "SELECT error FROM zonemesh.apply_errors WHERE origin = 'px'").find("no_such_table"),
            std::string::npos);
  // The vector stays honest: seq 1 is still missing.
  EXPECT_EQ(sql_value(b_, "SELECT zonemesh.version_vector() ->> 'px'"), "0");
  // It arrives intact through another peer: the kept copy is done with, and
  // a retry finds it a duplicate instead of failing again.
  counts = nlohmann::json::parse(apply(b_, R"([{"origin": "px", "seq": 1, "changes": []}])"));
  EXPECT_EQ(counts["applied"], 1);
  EXPECT_EQ(sql_value(b_, "SELECT zonemesh.version_vector() ->> 'px'"), "2");
  ASSERT_EQ(sql_error(b_, "INSERT INTO zonemesh.apply_errors (origin, origin_seq, tx, error) VALUES "
                          "('px', 2, '{\"origin\": \"px\", \"seq\": 2, \"changes\": []}', 'transient')"),
            "");
  EXPECT_EQ(nlohmann::json::parse(sql_value(b_, "SELECT zonemesh.retry_apply_errors()"))["duplicate"], 1);
  EXPECT_EQ(sql_value(b_, "SELECT count(*) FROM zonemesh.apply_errors"), "0");
}

// A frame of plain transactions takes the set-based path (sql/006); a change
// that cannot be written makes that path roll back and apply the frame one
// transaction at a time, so only the transaction holding it is kept aside.
TEST_F(Apply, ABatchWithAChangeThatCannotBeWrittenAppliesEverythingElse) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('bulk.test', ARRAY['ns1.bulk.test'])"), "");
  converge();
  std::string stamp = sql_value(a_, "SELECT zonemesh.physical_hlc() - (1000::bigint << 16)");
  // Ids as every site derives them (sql/015); the null content keeps a fixed one.
  auto record = [&](int seq, int n, const std::string& content, int ttl = 60) {
    std::string name = "r" + std::to_string(n) + ".bulk.test";
    std::string id = content == "null" ? "00000000-0000-4000-8000-000000000099"
                                       : sql_value(a_, "SELECT zonemesh.record_id('bulk.test', '" + name +
                                                           "', 'A', " + "'" + content.substr(1, content.size() - 2) + "')");
    std::string h = std::to_string(std::stoll(stamp) + 10 * seq + n);
    return R"({"tbl": "records", "op": "U", "hlc": )" + h + R"(, "zone": "bulk.test", "key": {"id": ")" + id +
           R"("}, "data": {"id": ")" + id + R"(", "zone": "bulk.test", "name": ")" + name +
           R"(", "type": "A", "ttl": )" + std::to_string(ttl) + R"(, "content": )" + content +
           R"(, "disabled": false, "modified": "2026-01-01T00:00:00+00:00", "hlc": )" + h +
           R"(, "origin": "px"}})";
  };
  auto tx = [&](int seq, const std::string& changes) {
    return R"({"origin": "px", "seq": )" + std::to_string(seq) + R"(, "changes": [)" + changes + "]}";
  };
  // Transaction 2's second row has no content: NOT NULL refuses it at write time.
  std::string t1 = tx(1, record(1, 1, "\"192.0.2.1\"") + "," + record(1, 2, "\"192.0.2.2\""));
  std::string t2 = tx(2, record(2, 3, "\"192.0.2.3\"") + "," + record(2, 4, "null"));
  std::string t3 = tx(3, record(3, 5, "\"192.0.2.5\"") + "," + record(3, 1, "\"192.0.2.1\"", 120));
  auto counts = nlohmann::json::parse(apply_set_based(b_, "[" + t1 + "," + t2 + "," + t3 + "]"));
  EXPECT_EQ(counts["applied"], 2);
  EXPECT_EQ(counts["failed"], 1);
  EXPECT_EQ(sql_value(b_, "SELECT string_agg(name || '=' || content, ',' ORDER BY name) FROM records "
                          "WHERE zone = 'bulk.test' AND type = 'A'"),
            "r1.bulk.test=192.0.2.1,r2.bulk.test=192.0.2.2,r5.bulk.test=192.0.2.5");
  EXPECT_EQ(sql_value(b_, "SELECT origin_seq FROM zonemesh.apply_errors WHERE origin = 'px'"), "2");
  EXPECT_NE(sql_value(b_, "SELECT error FROM zonemesh.apply_errors WHERE origin = 'px'").find("content"),
            std::string::npos);
  EXPECT_EQ(sql_value(b_, "SELECT zonemesh.version_vector() ->> 'px'"), "1");
  EXPECT_EQ(sql_value(b_, "SELECT string_agg(origin_seq::text, ',' ORDER BY pos) FROM zonemesh.changelog "
                          "WHERE origin = 'px'"),
            "1,3");
  // Each applied change is logged with the row it replaced, as one by one.
  EXPECT_EQ(sql_value(b_, "SELECT c.old ->> 'ttl' FROM zonemesh.changelog l JOIN zonemesh.changes c "
                          "ON c.entry = l.entry WHERE l.origin = 'px' AND l.origin_seq = 3 "
                          "AND c.data ->> 'name' = 'r1.bulk.test'"),
            "60");

  // The same frame again: what is here is a duplicate, the bad one fails again.
  counts = nlohmann::json::parse(apply_set_based(b_, "[" + t1 + "," + t2 + "," + t3 + "," + t1 + "]"));
  EXPECT_EQ(counts["applied"], 0);
  EXPECT_EQ(counts["duplicate"], 3);
  EXPECT_EQ(counts["failed"], 1);
  EXPECT_EQ(sql_value(b_, "SELECT attempts FROM zonemesh.apply_errors WHERE origin = 'px'"), "2");
  EXPECT_EQ(sql_value(b_, "SELECT count(*) FROM zonemesh.changelog WHERE origin = 'px'"), "2");

  // A good copy of it (sent twice in one frame) closes the gap; nothing else moves.
  std::string before = dump_replicated_state(b_);
  std::string fixed = tx(2, record(2, 3, "\"192.0.2.3\"") + "," + record(2, 4, "\"192.0.2.4\""));
  counts = nlohmann::json::parse(apply_set_based(b_, "[" + fixed + "," + t3 + "," + fixed + "]"));
  EXPECT_EQ(counts["applied"], 1);
  EXPECT_EQ(counts["duplicate"], 2);
  EXPECT_EQ(sql_value(b_, "SELECT zonemesh.version_vector() ->> 'px'"), "3");
  EXPECT_EQ(sql_value(b_, "SELECT count(*) FROM zonemesh.apply_errors"), "0");
  EXPECT_EQ(sql_value(b_, "SELECT string_agg(name || '=' || content, ',' ORDER BY name) FROM records "
                          "WHERE zone = 'bulk.test' AND type = 'A'"),
            "r1.bulk.test=192.0.2.1,r2.bulk.test=192.0.2.2,r3.bulk.test=192.0.2.3,r4.bulk.test=192.0.2.4,"
            "r5.bulk.test=192.0.2.5");
  EXPECT_NE(before, dump_replicated_state(b_));
}

// The set-based path must do exactly what applying one transaction at a
// time does (004's apply_batch, kept as zonemesh.apply_batch_each): same
// rows, tombstones, change-log (with each change's "old" row and whether it
// applied), conflicts and vector, for a history full of conflicts: the same
// rows written at two sites, deletes racing updates, a zone deleted while
// the other site writes into it, frames in random order with duplicates.
TEST_F(Apply, SetBasedApplyDoesWhatOneAtATimeDoes) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('one.test', ARRAY['ns1.one.test'])"), "");
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('two.test', ARRAY['ns1.two.test'])"), "");
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) SELECT z, 'h' || i || '.' || z, "
                          "'A', '10.0.0.' || i FROM generate_series(1, 30) i, (VALUES ('one.test'), "
                          "('two.test')) v(z)"),
            "");
  ship(a_, c_);
  std::mt19937 rng(20261122);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(1, n)(rng); };
  for (int round = 0; round < 8; ++round) {
    for (const auto& site : {a_, c_}) {
      for (int k = 0; k < 4; ++k) {
        std::string zone = pick(4) == 1 ? "two.test" : "one.test";
        int h = pick(30);
        std::string name = "h" + std::to_string(h) + "." + zone;
        switch (pick(4)) {
          case 1:
            sql_error(site, "DELETE FROM records WHERE name = '" + name + "'");
            break;
          case 2:
            sql_error(site, "INSERT INTO records (zone, name, type, content) VALUES ('" + zone + "', '" + name +
                                "', 'A', '10.1." + std::to_string(round) + "." + std::to_string(pick(250)) + "')");
            break;
          default:
            sql_error(site, "BEGIN; UPDATE records SET content = '10.2." + std::to_string(round) + "." +
                                std::to_string(pick(250)) + "' WHERE name = '" + name +
                                "' AND type = 'A'; UPDATE records SET ttl = " + std::to_string(pick(999)) +
                                " WHERE name = 'h" + std::to_string(pick(30)) + "." + zone + "'; COMMIT");
        }
      }
    }
    if (round == 3) {
      ASSERT_EQ(sql_error(c_, "DELETE FROM zones WHERE name = 'two.test'"), "");
    }
    if (round % 3 == 1) ship(a_, c_);
    if (round % 3 == 2) ship(c_, a_);
  }
  // Every source transaction of both origins, from the origins themselves.
  std::vector<std::string> txs;
  for (const auto& [db, origin] : {std::pair{a_, std::string("site1")}, std::pair{c_, std::string("site3")}}) {
    pqxx::connection conn(db);
    pqxx::read_transaction t(conn);
    for (const auto& row : t.exec_params("SELECT tx::text FROM zonemesh.origin_changes($1, 0, 100000)", origin)) {
      txs.emplace_back(row[0].c_str());
    }
  }
  ASSERT_GT(txs.size(), 40u);
  // Frames: an interleaving of both origins in order, cut at random, plus
  // a few transactions sent again.
  std::vector<std::string> order = txs;
  std::shuffle(order.begin(), order.end(), rng);
  for (int k = 0; k < 10; ++k) order.insert(order.begin() + pick(static_cast<int>(order.size())), txs[pick(20) - 1]);
  // Then a history without conflicts (the common case, which the
  // set-based path takes a shorter way): one site rewrites a few rows many
  // times, deleting some and writing them again under the same key, sent in
  // order, several versions of a row per frame.
  for (int k = 0; k < 30; ++k) {
    std::string sql = "BEGIN;";
    for (int j = 0; j < 4; ++j) {
      sql += " UPDATE records SET ttl = " + std::to_string(100 + 10 * k + j) + " WHERE zone = 'one.test' AND name = 'h" +
             std::to_string(pick(6)) + ".one.test' AND type = 'A';";
    }
    if (k % 5 == 2) {
      sql += " DELETE FROM records WHERE id = '00000000-0000-4000-8000-00000000aaaa';";
    } else {
      sql += " INSERT INTO records (id, zone, name, type, content) VALUES ('00000000-0000-4000-8000-00000000aaaa', "
             "'one.test', 'again.one.test', 'TXT', 'v" + std::to_string(k) + "') ON CONFLICT (id) DO UPDATE "
             "SET content = EXCLUDED.content;";
    }
    ASSERT_EQ(sql_error(a_, sql + " COMMIT"), "");
  }
  std::vector<std::string> phase2;
  {
    pqxx::connection conn(a_);
    pqxx::read_transaction t(conn);
    for (const auto& row : t.exec("SELECT tx::text FROM zonemesh.origin_changes('site1', "
                                  "(SELECT max(origin_seq) FROM zonemesh.changelog WHERE origin = 'site1') - 30, 100)")) {
      phase2.emplace_back(row[0].c_str());
    }
  }
  ASSERT_EQ(phase2.size(), 30u);
  txs.insert(txs.end(), phase2.begin(), phase2.end());
  std::vector<std::string> frames;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(pick(12)), order.size() - i);
    std::string f = "[";
    for (std::size_t j = 0; j < n; ++j) f += (j ? "," : "") + order[i + j];
    frames.push_back(f + "]");
    i += n;
  }
  for (std::size_t i = 0; i < phase2.size(); i += 10) {
    std::string f = "[";
    for (std::size_t j = i; j < i + 10; ++j) f += (j > i ? "," : "") + phase2[j];
    frames.push_back(f + "]");
  }
  auto run = [&](const std::string& fn) {
    reset_site(b_);
    pqxx::connection conn(b_);
    {
      pqxx::nontransaction nt(conn);
      nt.exec("SET zonemesh.bulk_min_changes = 1");
    }
    long long applied = 0;
    for (const auto& f : frames) {
      pqxx::work w(conn);
      applied += nlohmann::json::parse(
                     w.exec_params1("SELECT zonemesh." + fn + "($1::jsonb)::text", f)[0].c_str())["applied"]
                     .get<long long>();
      w.commit();
    }
    EXPECT_EQ(applied, static_cast<long long>(txs.size())) << fn;
    return dump_replicated_state(b_) + "\n" +
           sql_value(b_, R"sql(
             SELECT string_agg(line, E'\n' ORDER BY line) FROM (
               SELECT 'change ' || jsonb_build_array(l.origin, l.origin_seq, c.tbl, c.op, c.key, c.data, c.old,
                                                     c.hlc, c.zone, c.applied)::text
                        || ' #' || row_number() OVER (PARTITION BY l.entry ORDER BY c.n) AS line
                 FROM zonemesh.changelog l JOIN zonemesh.changes c ON c.entry = l.entry
               UNION ALL SELECT 'conflict ' || jsonb_build_array(kind, tbl, key, zone, kept_hlc, kept_origin,
                                                                 lost_hlc, lost_origin, detail)::text
                 FROM zonemesh.conflicts
               UNION ALL SELECT 'vector ' || zonemesh.version_vector()::text
               UNION ALL SELECT 'errors ' || count(*) FROM zonemesh.apply_errors) s)sql");
  };
  std::string set_based = run("apply_batch");
  std::string one_by_one = run("apply_batch_each");
  EXPECT_EQ(set_based, one_by_one);
  EXPECT_NE(set_based.find("conflict [\"write_lost\""), std::string::npos) << "the history has conflicts";
  EXPECT_NE(set_based.find("conflict [\"zone_deleted\""), std::string::npos);
  // And both converge with the sites that made the history.
  exchange_all({a_, c_});
  EXPECT_EQ(dump_replicated_state(a_), dump_replicated_state(c_));
}

TEST_F(Apply, SerialIsTheSameEverywhereAndGrowsWithEveryChange) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('serial.test', ARRAY['ns1.serial.test'])"), "");
  converge();
  auto serial = [](const std::string& db) {
    return std::stoll(sql_value(db, "SELECT zonemesh.zone_serial('serial.test')"));
  };
  long long s0 = serial(a_);
  EXPECT_EQ(s0, serial(b_));
  EXPECT_EQ(s0, serial(c_));
  // Two changes in the same second: the serial moves each time.
  ASSERT_EQ(sql_error(a_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('serial.test', 'a.serial.test', 'A', '192.0.2.1')"),
            "");
  long long s1 = serial(a_);
  ASSERT_EQ(sql_error(a_, "UPDATE records SET ttl = 5 WHERE name = 'a.serial.test'"), "");
  long long s2 = serial(a_);
  EXPECT_GT(s1, s0);
  EXPECT_GT(s2, s1);
  // A site with a slow clock writes concurrently: every site's serial still grows
  // when its content changes, and all end equal.
  ASSERT_EQ(sql_error(c_, "UPDATE zonemesh.node SET clock_offset_ms = -30000"), "");
  ASSERT_EQ(sql_error(c_, "INSERT INTO records (zone, name, type, content) VALUES "
                          "('serial.test', 'slow.serial.test', 'A', '192.0.2.9')"),
            "");
  ship(a_, b_);
  long long before = serial(b_);
  ship(c_, b_);
  EXPECT_GT(serial(b_), before) << "a change stamped in the past still raises the serial";
  converge();
  EXPECT_EQ(serial(a_), serial(b_));
  EXPECT_EQ(serial(a_), serial(c_));
  EXPECT_LT(serial(a_) - s0, 1LL << 31) << "RFC 1982: an increase";
}

// Upgrading to derived record ids (sql/015): rows with the random ids of
// before, the same record twice among them (added at two sites), take their
// derived ids, identically at every site whatever order the rows were
// written in; a change still on its way with an old id finds its row.
TEST_F(Apply, UpgradeGivesRecordsTheirDerivedIdsIdenticallyAtEverySite) {
  ASSERT_EQ(sql_error(a_, "SELECT create_zone('upgrade.test', ARRAY['ns1.upgrade.test'])"), "");
  converge();
  const std::string cols = "(id, zone, name, type, ttl, content, disabled, modified, hlc, origin)";
  const std::string www1 =
      "('00000000-0000-4000-8000-0000000000a1', 'upgrade.test', 'www.upgrade.test', 'A', 300, '192.0.2.1', false, "
      "'2026-01-01', 1000, 'site1')";
  const std::string www2 =
      "('00000000-0000-4000-8000-0000000000b1', 'upgrade.test', 'www.upgrade.test', 'A', 60, '192.0.2.1', false, "
      "'2026-01-01', 2000, 'site2')";
  const std::string mail =
      "('00000000-0000-4000-8000-0000000000c1', 'upgrade.test', 'mail.upgrade.test', 'A', 300, '192.0.2.9', false, "
      "'2026-01-01', 1500, 'site1')";
  auto before_015 = [&](const std::string& db, const std::string& rows) {
    return sql_error(db, "SET LOCAL zonemesh.applying = on; INSERT INTO records " + cols + " VALUES " + rows +
                             "; SET LOCAL zonemesh.applying = off; SELECT zonemesh.rekey_records()");
  };
  ASSERT_EQ(before_015(a_, www1 + "," + www2 + "," + mail), "");
  ASSERT_EQ(before_015(b_, mail + "," + www2 + "," + www1), "");
  for (const auto& db : {a_, b_}) {
    EXPECT_EQ(sql_value(db, "SELECT count(*) || ' ' || ttl || ' ' || origin || ' ' || "
                            "bool_and(id = zonemesh.record_id(zone, name, type, content)) FROM records "
                            "WHERE name = 'www.upgrade.test' GROUP BY ttl, origin"),
              "1 60 site2 true")
        << "one row, the newer version";
    EXPECT_EQ(sql_value(db, "SELECT id = zonemesh.record_id(zone, name, type, content) FROM records "
                            "WHERE name = 'mail.upgrade.test'"),
              "t");
    EXPECT_EQ(sql_value(db, "SELECT lost_origin || ' ' || kept_origin FROM zonemesh.conflicts "
                            "WHERE kind = 'duplicate_merged' AND zone = 'upgrade.test'"),
              "site1 site2");
  }
  EXPECT_EQ(dump_replicated_state(a_), dump_replicated_state(b_));
  // A delete made before the upgrade, with the old id, arrives afterwards.
  const std::string late = R"([{"origin": "pold", "seq": 1, "changes": [{"tbl": "records", "op": "D",
      "hlc": 3000, "zone": "upgrade.test", "key": {"id": "00000000-0000-4000-8000-0000000000c1"}}]}])";
  EXPECT_EQ(nlohmann::json::parse(apply(a_, late))["applied"], 1);
  EXPECT_EQ(sql_value(a_, "SELECT count(*) FROM records WHERE name = 'mail.upgrade.test'"), "0");
}

}  // namespace
}  // namespace zonemesh::test
