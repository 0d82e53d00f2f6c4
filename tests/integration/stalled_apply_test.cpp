// A stalled apply never holds a site's local writes for long (issue
// "Faults that still hurt", 1; sql/017): a local write waits for the apply
// lock at most zonemesh.node.local_write_wait_ms and then fails with an
// error naming the holder, /health and /metrics say writes are waiting, and
// a replicator frozen inside its apply transaction has that transaction
// ended by PostgreSQL, so the write goes through, and nothing is lost once
// the replicator runs again.

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

/// Polls `get` until it returns something containing `needle` (or times out).
template <typename Get>
std::string wait_for_text(Get get, const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  std::string last;
  while (steady::now() < deadline) {
    last = get();
    if (last.find(needle) != std::string::npos) return last;
    std::this_thread::sleep_for(200ms);
  }
  return last;
}

/// A local write; the statement timeout only keeps a failing test from
/// waiting forever (without the bound, the write waited as long as the lock
/// was held).
std::string insert_a(const std::string& name, const std::string& ip) {
  return "SET LOCAL statement_timeout = '30s'; "
         "INSERT INTO records (zone, name, type, ttl, content) VALUES ('stall.test', '" + name +
         ".stall.test', 'A', 300, '" + ip + "')";
}

TEST(StalledApply, ALocalWriteWaitsForAHeldApplyLockOnlyUpToTheBound) {
  cluster c(1);
  const auto& s = c.at(0);
  ASSERT_EQ(sql_error(s.pg, "SELECT create_zone('stall.test', ARRAY['ns1.stall.test'])"), "");

  // Something holds the apply lock and does nothing (as a frozen replicator).
  pqxx::connection holder_conn(s.pg);
  pqxx::work holder(holder_conn);
  holder.exec("SELECT zonemesh.lock_apply()");

  const auto started = steady::now();
  auto write = std::async(std::launch::async, [&] { return sql_error(s.pg, insert_a("www", "192.0.2.1")); });
  // While it waits: /health degraded, and the wait counted in /metrics.
  auto health = wait_for_text([&] { return http_get(s.http_port, "/health").body; }, "apply lock", 4500ms);
  EXPECT_NE(health.find("waiting"), std::string::npos) << health;
  EXPECT_EQ(http_get(s.http_port, "/health").status, 503);
  EXPECT_NE(http_get(s.http_port, "/metrics").body.find("zonemesh_writes_waiting_on_apply_lock 1"),
            std::string::npos);

  const std::string error = write.get();
  const double waited = seconds_since(started);
  EXPECT_NE(error.find("waited 5000 ms for the apply lock, held by pid"), std::string::npos) << error;
  EXPECT_GE(waited, 4.5);
  EXPECT_LT(waited, 15.0) << "the write waited far past the bound";
  EXPECT_EQ(sql_value(s.pg, "SELECT count(*) FROM records WHERE name = 'www.stall.test'"), "0")
      << "nothing was written";

  // Once the lock is free, writes go through and /health recovers.
  holder.abort();
  EXPECT_EQ(sql_error(s.pg, insert_a("www", "192.0.2.1")), "");
  auto recovered = steady::now() + 10s;
  while (http_get(s.http_port, "/health").status != 200 && steady::now() < recovered) std::this_thread::sleep_for(200ms);
  EXPECT_EQ(http_get(s.http_port, "/health").status, 200) << http_get(s.http_port, "/health").body;
}

TEST(StalledApply, AReplicatorFrozenInsideItsApplyDoesNotHoldLocalWrites) {
  cluster c(2);
  const auto &s1 = c.at(0), &s2 = c.at(1);
  ASSERT_EQ(sql_error(s2.pg, "SELECT create_zone('stall.test', ARRAY['ns1.stall.test'])"), "");
  ASSERT_TRUE(converged(c));
  // A long catch-up for site1, so that its replicator spends most of its
  // time inside apply transactions.
  stop_process(c, "site1", "replicator");
  {
    pqxx::connection writer(s2.pg);
    pqxx::nontransaction(writer).exec(R"(DO $$ BEGIN
      FOR b IN 0..399 LOOP
        INSERT INTO records (zone, name, type, ttl, content)
        SELECT 'stall.test', 'h' || (b * 100 + i) || '.stall.test', 'A', 60, '10.0.0.1'
          FROM generate_series(0, 99) i;
        COMMIT;
      END LOOP; END $$)");
  }
  start_process(c, "site1", "replicator");
  const int pid = process_pid(s1, "replicator");
  ASSERT_GT(pid, 0);

  // Freeze it until it is caught holding the apply lock (idle in
  // transaction: its current statement done, the transaction open).
  bool caught = false;
  for (int i = 0; i < 200 && !caught; ++i) {
    kill(pid, SIGSTOP);
    std::this_thread::sleep_for(150ms);
    caught = sql_value(s1.pg, "SELECT holder_mode = 'ExclusiveLock' AND holder_state = 'idle in transaction' "
                              "FROM zonemesh.apply_lock_status()") == "t";
    if (!caught) {
      kill(pid, SIGCONT);
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + 7 * (i % 10)));
    }
  }
  ASSERT_TRUE(caught) << "the replicator was never frozen inside an apply transaction";

  // A local write at site1 goes through within the stall bound (5 s), not
  // whenever the replicator is resumed.
  const auto started = steady::now();
  EXPECT_EQ(sql_error(s1.pg, insert_a("local", "192.0.2.7")), "");
  EXPECT_LT(seconds_since(started), 12.0);
  EXPECT_EQ(sql_value(s1.pg, "SELECT coalesce(holder_state, 'free') FROM zonemesh.apply_lock_status()") ==
                "idle in transaction",
            false)
      << "the frozen apply transaction was not ended";

  // Resumed, it reconnects and applies everything: nothing was lost.
  kill(pid, SIGCONT);
  EXPECT_TRUE(converged(c, 180000));
  EXPECT_EQ(sql_value(s1.pg, "SELECT count(*) FROM records WHERE zone = 'stall.test' AND name LIKE 'h%'"), "40000");
  EXPECT_EQ(sql_value(s2.pg, "SELECT content FROM records WHERE name = 'local.stall.test'"), "192.0.2.7");
}

}  // namespace
}  // namespace zonemesh::test
