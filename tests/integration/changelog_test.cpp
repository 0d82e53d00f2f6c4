// The change-log contract (architecture.md rules 2 and 4): positions and
// origin seqs are gap-free and in commit order, so a reader following the
// log never skips a transaction that started early and committed late; and
// NOTIFY wakes listeners at commit.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using namespace std::chrono_literals;

class Changelog : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<cluster>(1, std::vector<std::string>{"--no-server"});
    db_ = cluster_->at(0).pg;
    ASSERT_EQ(sql_error(db_, "SELECT create_zone('order.test', ARRAY['ns1.order.test'])"), "");
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  static long long last_pos() { return std::stoll(sql_value(db_, "SELECT last_pos FROM zonemesh.node")); }

  static std::unique_ptr<cluster> cluster_;
  static std::string db_;
};
std::unique_ptr<cluster> Changelog::cluster_;
std::string Changelog::db_;

std::string insert_a(const std::string& label) {
  return "INSERT INTO records (zone, name, type, content) VALUES ('order.test', '" + label +
         ".order.test', 'A', '192.0.2.1')";
}

// What a follower sees: every entry after its position, in order.
struct follower_log {
  std::vector<long long> positions;
  std::vector<long long> seqs;
  std::vector<std::string> names;  // owner of each entry's first change
};

TEST_F(Changelog, ReaderNeverSkipsALongTransactionThatCommitsLast) {
  const int others = 8;
  const long long start = last_pos();
  std::atomic<bool> stop{false};
  std::atomic<int> seen{0};
  follower_log log;
  std::string reader_error;

  std::thread reader([&] {
    try {
      pqxx::connection c(db_);
      long long pos = start;
      while (!stop) {
        pqxx::read_transaction tx(c);
        auto rows = tx.exec_params("SELECT pos, origin_seq, tx FROM zonemesh.changes_since($1)", pos);
        for (const auto& row : rows) {
          long long p = row[0].as<long long>();
          if (p != pos + 1) reader_error = "position jumped from " + std::to_string(pos) + " to " + std::to_string(p);
          pos = p;
          auto j = nlohmann::json::parse(row[2].c_str());
          log.positions.push_back(p);
          log.seqs.push_back(row[1].as<long long>());
          log.names.push_back(j["changes"][0]["data"]["name"].get<std::string>());
          ++seen;
        }
        std::this_thread::sleep_for(1ms);
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
    }
  });

  // T1 writes first and holds its transaction open.
  pqxx::connection c1(db_);
  auto t1 = std::make_unique<pqxx::work>(c1);
  t1->exec(insert_a("t1"));

  // T2..Tn write and commit while T1 is open; the reader sees each of them.
  for (int i = 2; i <= others + 1; ++i) {
    ASSERT_EQ(sql_error(db_, insert_a("t" + std::to_string(i))), "");
  }
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       seen < others && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(seen.load(), others) << "the reader should see T2..Tn while T1 is open";

  t1->commit();
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       seen < others + 1 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(5ms);
  }
  stop = true;
  reader.join();

  EXPECT_EQ(reader_error, "");
  ASSERT_EQ(log.names.size(), static_cast<std::size_t>(others + 1)) << "T1 was skipped";
  EXPECT_EQ(log.names.back(), "t1.order.test") << "T1 committed last, so it is numbered last";
  for (std::size_t i = 0; i < log.positions.size(); ++i) {
    EXPECT_EQ(log.positions[i], start + 1 + static_cast<long long>(i));
    if (i > 0) {
      EXPECT_EQ(log.seqs[i], log.seqs[i - 1] + 1) << "origin seqs must be gap-free";
    }
  }
}

TEST_F(Changelog, ManyConcurrentWritersLeaveNoGaps) {
  const long long start = last_pos();
  const int writers = 6, each = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      pqxx::connection c(db_);
      for (int i = 0; i < each; ++i) {
        try {
          pqxx::work tx(c);
          tx.exec(insert_a("w" + std::to_string(w) + "-" + std::to_string(i)));
          if (i % 5 == 4) {
            tx.abort();  // rolled back: must not leave a hole
            continue;
          }
          tx.commit();
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const int committed = writers * (each - each / 5);
  EXPECT_EQ(last_pos(), start + committed);
  EXPECT_EQ(sql_value(db_, "SELECT count(*) = max(pos) AND min(pos) = 1 FROM zonemesh.changelog"), "t");
  EXPECT_EQ(sql_value(db_, "SELECT count(*) = max(origin_seq) FROM zonemesh.changelog WHERE origin = 'site1'"), "t");
}

TEST_F(Changelog, FailedCommitLeavesNoGap) {
  const long long start = last_pos();
  // Refused at commit by the SOA check, after the row triggers ran.
  auto err = sql_error(db_, "INSERT INTO zones (name) VALUES ('nosoa.test')");
  ASSERT_NE(err.find("no SOA record"), std::string::npos) << err;
  // Rolled back inside a savepoint: the outer transaction still logs its own write.
  ASSERT_EQ(sql_error(db_,
                      "SAVEPOINT a; " + insert_a("sp1") + "; ROLLBACK TO SAVEPOINT a; " + insert_a("sp2")),
            "");
  EXPECT_EQ(last_pos(), start + 1);
  EXPECT_EQ(sql_value(db_, "SELECT string_agg(c.data ->> 'name', ',') FROM zonemesh.changelog l "
                           "JOIN zonemesh.changes c USING (entry) WHERE l.pos = " + std::to_string(start + 1)),
            "sp2.order.test");
}

class notification_log : public pqxx::notification_receiver {
 public:
  notification_log(pqxx::connection_base& c, const std::string& channel)
      : pqxx::notification_receiver(c, channel) {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

TEST_F(Changelog, NotifyWakesListenersAtCommitNotBefore) {
  pqxx::connection listener(db_);
  notification_log received(listener, "zonemesh_changelog");
  listener.get_notifs();  // LISTEN is issued now

  pqxx::connection writer(db_);
  pqxx::work tx(writer);
  tx.exec(insert_a("notify"));
  EXPECT_EQ(listener.await_notification(0, 300000), 0) << "no wake-up before commit";
  tx.commit();
  int n = 0;
  for (int i = 0; i < 50 && n == 0; ++i) n = listener.await_notification(0, 100000);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(received.payloads.at(0), std::to_string(last_pos())) << "payload is the new position";
}

TEST_F(Changelog, WritesFromAnySessionAreCaptured) {
  // psql, the way an operator edits.
  const long long start = last_pos();
  auto host = cluster_->json()["sites"][0]["dir"].get<std::string>();
  auto port = std::to_string(cluster_->at(0).pg_port);
  auto r = run_command("psql -X -v ON_ERROR_STOP=1 -h '" + host + "' -p " + port +
                       " -U postgres -d zonemesh -c \"" + insert_a("psql") + "\"");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(last_pos(), start + 1);
}

}  // namespace
}  // namespace zonemesh::test
