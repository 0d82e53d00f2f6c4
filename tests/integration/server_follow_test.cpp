// zonemesh-server against its database: it loads at start, follows SQL edits
// within milliseconds, never serves half a transaction, keeps answering
// through a database outage (and says so on /health), catches up after it,
// skips rows it cannot parse, and stops cleanly.

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using namespace std::chrono_literals;

class ServerFollow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<cluster>(1);
    ASSERT_EQ(sql_error(db(), "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  static const site& s() { return cluster_->at(0); }
  static std::string db() { return cluster_->at(0).pg; }
  static std::string metric(const std::string& name) {
    auto body = http_get(s().http_port, "/metrics").body;
    auto at = body.find("\n" + name + " ");
    if (at == std::string::npos) return "";
    auto end = body.find('\n', at + 1);
    return body.substr(at + name.size() + 2, end - at - name.size() - 2);
  }
  static std::unique_ptr<cluster> cluster_;
};
std::unique_ptr<cluster> ServerFollow::cluster_;

TEST_F(ServerFollow, SqlEditsAreAnsweredAtOnce) {
  ASSERT_EQ(sql_error(db(), "INSERT INTO records (zone, name, type, ttl, content) VALUES "
                            "('example.com', 'www.example.com', 'A', 300, '192.0.2.1')"),
            "");
  EXPECT_EQ(dig_until(s(), "+short www.example.com A", "192.0.2.1"), "192.0.2.1");
  ASSERT_EQ(sql_error(db(), "UPDATE records SET content = '192.0.2.2' WHERE name = 'www.example.com'"), "");
  EXPECT_EQ(dig_until(s(), "+short www.example.com A", "192.0.2.2"), "192.0.2.2");
  ASSERT_EQ(sql_error(db(), "UPDATE records SET disabled = true WHERE name = 'www.example.com'"), "");
  EXPECT_EQ(dig_until(s(), "+short www.example.com A", ""), "");
  EXPECT_NE(dig(s(), "www.example.com A").find("status: NXDOMAIN"), std::string::npos);
  ASSERT_EQ(sql_error(db(), "UPDATE records SET disabled = false WHERE name = 'www.example.com'"), "");
  EXPECT_EQ(dig_until(s(), "+short www.example.com A", "192.0.2.2"), "192.0.2.2");
  ASSERT_EQ(sql_error(db(), "DELETE FROM records WHERE name = 'www.example.com'"), "");
  EXPECT_EQ(dig_until(s(), "+short www.example.com A", ""), "");
}

TEST_F(ServerFollow, ServedSerialIsTheDatabaseSerialAndGrows) {
  auto serial_db = [] { return sql_value(db(), "SELECT zonemesh.zone_serial('example.com')"); };
  auto serial_dns = [] {
    auto soa = dig(s(), "+short example.com SOA");
    auto parts = soa.find(' ', soa.find(' ') + 1);
    return soa.substr(parts + 1, soa.find(' ', parts + 1) - parts - 1);
  };
  // Two changes within one second must still give two serials (+1 each).
  // The serial counts from the newest change's second, so `before` is read
  // just after a change of the same second; a try that straddles a second
  // boundary is made again.
  auto second = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::string before, after;
  for (int attempt = 0; attempt < 5; ++attempt) {
    while (std::chrono::system_clock::now().time_since_epoch() % 1s > 500ms) {
      std::this_thread::sleep_for(10ms);  // start early in a second
    }
    const auto started = second();
    ASSERT_EQ(sql_error(db(), "DELETE FROM records WHERE name = 'serial.example.com';"
                              "INSERT INTO records (zone, name, type, content) VALUES "
                              "('example.com', 'serial.example.com', 'TXT', 'zero')"),
              "");
    before = serial_db();
    ASSERT_EQ(sql_error(db(), "UPDATE records SET content = '\"one\"' WHERE name = 'serial.example.com'"), "");
    ASSERT_EQ(sql_error(db(), "UPDATE records SET content = '\"two\"' WHERE name = 'serial.example.com'"), "");
    after = serial_db();
    if (second() == started) break;
  }
  // Each edit adds one per change it logs (a new content is a replace of
  // the RRset: sql/015), so two edits in one second add at least 2.
  EXPECT_GE(std::stoll(after), std::stoll(before) + 2) << "two changes in the same second";
  EXPECT_LT(std::stoll(after), std::stoll(before) + 10);
  for (int i = 0; i < 200 && serial_dns() != after; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(serial_dns(), after);
}

TEST_F(ServerFollow, NewAndDeletedZones) {
  ASSERT_EQ(sql_error(db(), "SELECT create_zone('new.test', ARRAY['ns1.new.test'])"), "");
  EXPECT_EQ(dig_until(s(), "+short new.test NS", "ns1.new.test."), "ns1.new.test.");
  ASSERT_EQ(sql_error(db(), "DELETE FROM zones WHERE name = 'new.test'"), "");
  for (int i = 0; i < 500 && dig(s(), "new.test NS").find("status: REFUSED") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(dig(s(), "new.test NS").find("status: REFUSED"), std::string::npos);
}

TEST_F(ServerFollow, QueriesNeverSeeHalfATransaction) {
  // One transaction moves an RRset from two A records to two others; a reader
  // querying all along must see the old pair or the new pair, never a mix.
  ASSERT_EQ(sql_error(db(), "SELECT set_rrset('example.com', 'atomic.example.com', 'A', "
                            "ARRAY['192.0.2.1', '192.0.2.2'])"),
            "");
  ASSERT_EQ(dig_until(s(), "+short atomic.example.com A | sort", "192.0.2.1\n192.0.2.2"), "192.0.2.1\n192.0.2.2");
  std::atomic<bool> stop{false};
  std::atomic<int> mixed{0}, seen_new{0}, queries{0};
  std::thread reader([&] {
    while (!stop) {
      auto out = dig(s(), "+short atomic.example.com A | sort | tr '\\n' ' '");
      ++queries;
      if (out == "192.0.2.3 192.0.2.4 ") {
        ++seen_new;
      } else if (out != "192.0.2.1 192.0.2.2 ") {
        ++mixed;
      }
    }
  });
  for (int i = 0; i < 20; ++i) {
    const char* a = i % 2 ? "ARRAY['192.0.2.1', '192.0.2.2']" : "ARRAY['192.0.2.3', '192.0.2.4']";
    ASSERT_EQ(sql_error(db(), std::string("SELECT set_rrset('example.com', 'atomic.example.com', 'A', ") + a + ")"), "");
    std::this_thread::sleep_for(30ms);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(mixed.load(), 0) << "out of " << queries.load();
  EXPECT_GT(seen_new.load(), 0);
}

TEST_F(ServerFollow, AZoneImportedInOneLargeTransactionIsServed) {
  ASSERT_EQ(sql_error(db(), "SELECT create_zone('large.test', ARRAY['ns1.large.test']);"
                            "INSERT INTO records (zone, name, type, content) "
                            "SELECT 'large.test', 'h' || i || '.large.test', 'A', '192.0.2.' || (i % 250 + 1) "
                            "FROM generate_series(1, 30000) i"),
            "");
  // 29999 % 250 + 1 = 250
  EXPECT_EQ(dig_until(s(), "+short h29999.large.test A", "192.0.2.250", 30000), "192.0.2.250");
  // Small edits after it are followed incrementally again.
  ASSERT_EQ(sql_error(db(), "UPDATE records SET content = '192.0.2.1' WHERE name = 'h5.large.test'"), "");
  EXPECT_EQ(dig_until(s(), "+short h5.large.test A", "192.0.2.1"), "192.0.2.1");
}

TEST_F(ServerFollow, UnparsableRowIsSkippedAndCounted) {
  auto before = metric("zonemesh_record_errors_total");
  ASSERT_EQ(sql_error(db(), "INSERT INTO records (zone, name, type, content) VALUES "
                            "('example.com', 'bad.example.com', 'SSHFP', 'not an sshfp record'),"
                            "('example.com', 'good.example.com', 'A', '192.0.2.8')"),
            "");
  EXPECT_EQ(dig_until(s(), "+short good.example.com A", "192.0.2.8"), "192.0.2.8")
      << "the rest of the transaction is served";
  EXPECT_GT(std::stoll(metric("zonemesh_record_errors_total")), std::stoll(before.empty() ? "0" : before));
  std::ifstream log(s().dir + "/server.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("bad.example.com"), std::string::npos) << "the log names the skipped record";
  EXPECT_NE(dig(s(), "example.com SOA").find("status: NOERROR"), std::string::npos);
}

TEST_F(ServerFollow, DatabaseOutageKeepsAnswersAndIsReported) {
  ASSERT_EQ(sql_error(db(), "INSERT INTO records (zone, name, type, content) VALUES "
                            "('example.com', 'outage.example.com', 'A', '192.0.2.5')"),
            "");
  ASSERT_EQ(dig_until(s(), "+short outage.example.com A", "192.0.2.5"), "192.0.2.5");
  EXPECT_EQ(http_get(s().http_port, "/health").status, 200);

  stop_postgres(s());
  EXPECT_EQ(dig(s(), "+short outage.example.com A"), "192.0.2.5") << "answers go on from memory";
  http_result health;
  for (int i = 0; i < 300 && (health = http_get(s().http_port, "/health")).status != 503; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("database unreachable"), std::string::npos) << health.body;
  EXPECT_EQ(metric("zonemesh_database_connected"), "0");
  EXPECT_EQ(dig(s(), "+short outage.example.com A"), "192.0.2.5");

  start_postgres(s());
  for (int i = 0; i < 500 && http_get(s().http_port, "/health").status != 200; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(http_get(s().http_port, "/health").status, 200);
  ASSERT_EQ(sql_error(db(), "UPDATE records SET content = '192.0.2.6' WHERE name = 'outage.example.com'"), "");
  EXPECT_EQ(dig_until(s(), "+short outage.example.com A", "192.0.2.6"), "192.0.2.6") << "caught up";
}

TEST_F(ServerFollow, RestartLoadsEverythingAndSigtermStopsCleanly) {
  ASSERT_EQ(sql_error(db(), "INSERT INTO records (zone, name, type, content) VALUES "
                            "('example.com', 'restart.example.com', 'A', '192.0.2.7')"),
            "");
  ASSERT_EQ(dig_until(s(), "+short restart.example.com A", "192.0.2.7"), "192.0.2.7");
  std::ifstream pidfile(s().dir + "/server.pid");
  int pid = 0;
  pidfile >> pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  for (int i = 0; i < 250 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_NE(kill(pid, 0), 0) << "zonemesh-server did not stop on SIGTERM";
  std::ifstream log(s().dir + "/server.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("stopped"), std::string::npos);

  // Start it again with the same configuration: it loads the zone from the database.
  auto r = run_command("cd '" + s().dir + "' && (" + binary("server/zonemesh-server") +
                       " --config server.conf >> server.log 2>&1 & echo $! > server.pid)");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(dig_until(s(), "+short restart.example.com A", "192.0.2.7"), "192.0.2.7");
  // The records table is large enough by now (large.test) to be read in two
  // parts at once: rows of both halves are served, edits are followed.
  EXPECT_EQ(dig(s(), "+short h1.large.test A"), "192.0.2.2");
  EXPECT_EQ(dig(s(), "+short h29999.large.test A"), "192.0.2.250");
  EXPECT_EQ(dig(s(), "+short h5.large.test A"), "192.0.2.1");
  std::ifstream again(s().dir + "/server.log");
  std::string all((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("in 2 parts"), std::string::npos) << "the restart read the records in parallel";
}

TEST(ServerConfig, BadConfigurationIsAClearError) {
  char path[] = "/tmp/zonemesh-badconf-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "[server]\nnode = site1\nlisten = 127.0.0.1:99999\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  auto r = run_command(binary("server/zonemesh-server") + " --config " + path);
  unlink(path);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find(std::string(path) + ":3"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace zonemesh::test
