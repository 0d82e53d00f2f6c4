// Replication end to end: real sites (PostgreSQL, zonemesh-server,
// zonemesh-replicator over mutual TLS on loopback), writes made with SQL,
// answers checked with dig. Each test starts its own cluster.

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using namespace std::chrono_literals;

void kill_replicator(const site& s) {
  const int pid = process_pid(s, "replicator");
  ASSERT_GT(pid, 0);
  kill(pid, SIGKILL);
  for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(10ms);
}

/// When sites do not converge: what each holds, written under
/// /tmp/zonemesh-diag-<pid>-<n>/ with the sites' logs, so a failed run can be
/// read afterwards (which site differs, which rows, the vectors, the errors).
std::string keep_diagnostics(const cluster& c) {
  static int n = 0;
  std::string dir = "/tmp/zonemesh-diag-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  run_command("mkdir -p '" + dir + "'");
  for (std::size_t i = 0; i < c.sites().size(); ++i) {
    const auto& s = c.at(i);
    std::ofstream(dir + "/" + s.node + ".state") << dump_replicated_state(s.pg, true) << "\n";
    std::ofstream(dir + "/" + s.node + ".replication") << sql_value(s.pg, R"sql(
      SELECT concat_ws(E'\n',
        'vector ' || zonemesh.version_vector()::text,
        (SELECT string_agg('peer_vector ' || to_jsonb(p)::text, E'\n') FROM zonemesh.peer_vector p),
        (SELECT string_agg('received ' || to_jsonb(r)::text, E'\n') FROM zonemesh.received r),
        (SELECT string_agg('apply_error ' || to_jsonb(e)::text, E'\n') FROM zonemesh.apply_errors e),
        (SELECT string_agg('peer_status ' || to_jsonb(p)::text, E'\n') FROM zonemesh.peer_status p),
        (SELECT string_agg('changelog ' || to_jsonb(l)::text, E'\n' ORDER BY l.pos) FROM zonemesh.changelog l),
        (SELECT string_agg('change ' || jsonb_build_array(l.pos, l.origin, l.origin_seq, l.committed_at, c.n, c.tbl, c.op,
                                                          c.key, c.hlc, c.applied, c.data ->> 'content',
                                                          c.old ->> 'hlc', c.old ->> 'origin')::text,
                           E'\n' ORDER BY l.pos, c.n)
           FROM zonemesh.changelog l JOIN zonemesh.changes c ON c.entry = l.entry),
        (SELECT string_agg('conflict ' || to_jsonb(x)::text, E'\n' ORDER BY x.id) FROM zonemesh.conflicts x))
    )sql") << "\n";
    run_command("for f in '" + s.dir + "'/*.log; do cp \"$f\" '" + dir +
                "/" + s.node + "-'\"$(basename \"$f\")\"; done");
  }
  return dir;
}

std::string insert_a(const std::string& zone, const std::string& label, const std::string& ip) {
  return "INSERT INTO records (zone, name, type, ttl, content) VALUES ('" + zone + "', '" + label + "." + zone +
         "', 'A', 60, '" + ip + "')";
}

std::string metric(int port, const std::string& line_prefix) {
  auto body = http_get(port, "/metrics").body;
  auto at = body.find(line_prefix);
  if (at == std::string::npos) return "";
  auto end = body.find('\n', at);
  return body.substr(at + line_prefix.size(), end - at - line_prefix.size());
}

int replicator_http_port(const cluster& c, std::size_t i) {
  return c.json()["sites"][i].value("replicator_http_port", 0);
}

TEST(Replication, AWriteAtAnySiteIsAnsweredAtEveryOtherSite) {
  cluster c(3);
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  for (std::size_t i = 0; i < 3; ++i) {
    std::string ip = "192.0.2." + std::to_string(10 + i);
    std::string label = "from" + std::to_string(i + 1);
    // The zone itself must have arrived before a site can write into it.
    for (int t = 0; t < 500 && sql_value(c.at(i).pg, "SELECT count(*) FROM zones") != "1"; ++t) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(sql_error(c.at(i).pg, insert_a("example.com", label, ip)), "");
    for (std::size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(dig_until(c.at(j), "+short " + label + ".example.com A", ip), ip)
          << "written at site" << i + 1 << ", asked at site" << j + 1;
    }
  }
  // Every replicated table, not only records.
  ASSERT_EQ(sql_error(c.at(1).pg, "INSERT INTO tsig_keys (name, secret) VALUES ('xfr', 'c2VjcmV0c2VjcmV0c2VjcmV0')"), "");
  ASSERT_EQ(sql_error(c.at(2).pg, "INSERT INTO zone_metadata (zone, kind, content) VALUES ('example.com', 'ALLOW-AXFR-FROM', '192.0.2.0/24')"), "");
  // A usable key (sql/010_dnssec.sql refuses any other): example.com is signed from here on.
  ASSERT_EQ(sql_error(c.at(0).pg, "INSERT INTO dnssec_keys (zone, flags, algorithm, private_key) VALUES ('example.com', 257, 13, "
                                  "E'Private-key-format: v1.3\\nAlgorithm: 13 (ECDSAP256SHA256)\\n"
                                  "PrivateKey: HC0fl5jWnCG2pGAfpnbsE7I2ndzGV4LxTVq53YJWg0w=\\n')"), "");
  EXPECT_TRUE(converged(c));
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_EQ(sql_value(c.at(j).pg, "SELECT count(*) FROM tsig_keys") + sql_value(c.at(j).pg, "SELECT count(*) FROM zone_metadata") +
                  sql_value(c.at(j).pg, "SELECT count(*) FROM dnssec_keys"),
              "111");
  }
  // The served serial is the same everywhere.
  auto serial = dig(c.at(0), "+short example.com SOA");
  EXPECT_EQ(dig(c.at(1), "+short example.com SOA"), serial);
  EXPECT_EQ(dig(c.at(2), "+short example.com SOA"), serial);
}

TEST(Replication, ACutOffSiteKeepsTakingWritesAndEverySiteConvergesAfter) {
  cluster c(3);
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_TRUE(converged(c));
  stop_process(c, "site3", "replicator");
  for (int k = 0; k < 20; ++k) {
    for (std::size_t i = 0; i < 3; ++i) {
      ASSERT_EQ(sql_error(c.at(i).pg, insert_a("example.com", "p" + std::to_string(k) + "s" + std::to_string(i + 1),
                                               "192.0.2." + std::to_string(k + 1))),
                "");
    }
  }
  // site3 answers its own writes at once, the others' not yet.
  EXPECT_EQ(dig_until(c.at(2), "+short p0s3.example.com A", "192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(dig(c.at(2), "+short p0s1.example.com A"), "");
  EXPECT_EQ(dig(c.at(0), "+short p0s3.example.com A"), "");
  // The others see site3 as behind while it is cut off.
  for (int t = 0; t < 100 && metric(replicator_http_port(c, 0), "zonemesh_replicator_peer_changes_behind{peer=\"site3\"} ") == "0"; ++t) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(metric(replicator_http_port(c, 0), "zonemesh_replicator_peer_changes_behind{peer=\"site3\"} "), "0");
  auto status = run_command(binary("replicator/zonemesh-replicator") + " status --db '" + c.at(0).pg + "'");
  EXPECT_NE(status.output.find("site3        down"), std::string::npos) << status.output;

  start_process(c, "site3", "replicator");
  ASSERT_TRUE(converged(c));
  for (const char* name : {"p19s1", "p19s2", "p19s3", "p7s3"}) {
    auto expected = dig(c.at(0), std::string("+short ") + name + ".example.com A");
    EXPECT_FALSE(expected.empty());
    EXPECT_EQ(dig_until(c.at(1), std::string("+short ") + name + ".example.com A", expected), expected);
    EXPECT_EQ(dig_until(c.at(2), std::string("+short ") + name + ".example.com A", expected), expected);
  }
}

TEST(Replication, ConflictingWritesConvergeOnTheSameWinnerEverywhere) {
  cluster c(3);
  const auto &s1 = c.at(0), &s2 = c.at(1);
  ASSERT_EQ(sql_error(s1.pg, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_EQ(sql_error(s1.pg, "SELECT create_zone('doomed.test', ARRAY['ns1.doomed.test'])"), "");
  ASSERT_EQ(sql_error(s1.pg, insert_a("example.com", "same", "192.0.2.1") + ";" +
                                 insert_a("example.com", "delupd", "192.0.2.2") + ";" +
                                 insert_a("example.com", "upddel", "192.0.2.3")),
            "");
  ASSERT_TRUE(converged(c));
  // Partition site2 from the others.
  stop_process(c, "site2", "replicator");
  ASSERT_EQ(sql_error(s1.pg, "UPDATE records SET content = '192.0.2.11' WHERE name = 'same.example.com'"), "");
  ASSERT_EQ(sql_error(s1.pg, "DELETE FROM records WHERE name = 'delupd.example.com'"), "");
  ASSERT_EQ(sql_error(s2.pg, "UPDATE records SET content = '192.0.2.33' WHERE name = 'upddel.example.com'"), "");
  ASSERT_EQ(sql_error(s1.pg, "DELETE FROM zones WHERE name = 'doomed.test'"), "");
  ASSERT_EQ(sql_error(s1.pg, "SELECT create_zone('twice.test', ARRAY['ns1.twice.test'])"), "");
  std::this_thread::sleep_for(5ms);
  ASSERT_EQ(sql_error(s2.pg, "UPDATE records SET content = '192.0.2.22' WHERE name = 'same.example.com'"), "");
  ASSERT_EQ(sql_error(s2.pg, "UPDATE records SET ttl = 7 WHERE name = 'delupd.example.com'"), "");
  ASSERT_EQ(sql_error(s1.pg, "SELECT delete_rrset('example.com', 'upddel.example.com', 'A')"), "");
  ASSERT_EQ(sql_error(s2.pg, insert_a("doomed.test", "late", "192.0.2.44")), "");
  ASSERT_EQ(sql_error(s2.pg, "SELECT create_zone('twice.test', ARRAY['ns2.twice.test'])"), "");
  start_process(c, "site2", "replicator");
  ASSERT_TRUE(converged(c));
  for (const auto& s : c.sites()) {
    // site2 wrote "same" last: its new content wins, whole (a one-record
    // RRset's new content is a replace); the later update of delupd brings
    // it back; the later deletion of the upddel RRset removes it, site2's
    // earlier new content included.
    EXPECT_EQ(dig_until(s, "+short same.example.com A", "192.0.2.22"), "192.0.2.22") << s.node;
    EXPECT_EQ(dig_until(s, "+short delupd.example.com A", "192.0.2.2"), "192.0.2.2") << s.node;
    EXPECT_EQ(dig_until(s, "+short upddel.example.com A", ""), "") << s.node;
    // The record written into doomed.test after its deletion is kept but the
    // zone stays deleted; twice.test is one zone with one SOA and the newer
    // creation's NS RRset.
    EXPECT_EQ(sql_value(s.pg, "SELECT count(*) FROM zones WHERE name = 'doomed.test'"), "0");
    EXPECT_NE(dig(s, "late.doomed.test A").find("status: REFUSED"), std::string::npos);
    EXPECT_EQ(sql_value(s.pg, "SELECT count(*) FROM records WHERE zone = 'twice.test' AND type = 'SOA'"), "1");
    EXPECT_EQ(dig_until(s, "+short twice.test NS | sort", "ns2.twice.test."), "ns2.twice.test.");
  }
  EXPECT_NE(sql_value(s1.pg, "SELECT count(*) FROM zonemesh.conflicts"), "0");
}

TEST(Replication, AChainForwardsWithTheOriginIntact) {
  cluster c(3, {"--topology", "chain"});
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_EQ(sql_error(c.at(0).pg, insert_a("example.com", "a", "192.0.2.1")), "");
  EXPECT_EQ(dig_until(c.at(2), "+short a.example.com A", "192.0.2.1"), "192.0.2.1");
  for (int t = 0; t < 500 && sql_value(c.at(2).pg, "SELECT count(*) FROM zones") != "1"; ++t) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(sql_error(c.at(2).pg, insert_a("example.com", "c", "192.0.2.3")), "");
  EXPECT_EQ(dig_until(c.at(0), "+short c.example.com A", "192.0.2.3"), "192.0.2.3");
  EXPECT_TRUE(converged(c));
  // site1 and site3 never talked: site3 holds site1's transactions with site1's seqs.
  EXPECT_EQ(sql_value(c.at(0).pg, "SELECT string_agg(node, ',') FROM zonemesh.peers"), "site2");
  EXPECT_EQ(sql_value(c.at(2).pg, "SELECT string_agg(origin || ':' || origin_seq, ',' ORDER BY origin, origin_seq) "
                                  "FROM zonemesh.changelog WHERE origin = 'site1'"),
            "site1:1,site1:2");
}

TEST(Replication, KilledReplicatorsAndARestartedDatabaseLoseNothingAndApplyNothingTwice) {
  cluster c(3);
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_TRUE(converged(c));
  std::atomic<bool> done{false};
  std::string writer_error;
  std::thread writer([&] {
    try {
      pqxx::connection conn(c.at(0).pg);
      for (int t = 0; t < 60; ++t) {
        pqxx::work tx(conn);
        for (int r = 0; r < 50; ++r) {
          tx.exec(insert_a("example.com", "t" + std::to_string(t) + "r" + std::to_string(r), "192.0.2.1"));
        }
        tx.commit();
        std::this_thread::sleep_for(20ms);
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
    done = true;
  });
  std::this_thread::sleep_for(200ms);
  kill_replicator(c.at(1));
  std::this_thread::sleep_for(300ms);
  start_process(c, "site2", "replicator");
  stop_process(c, "site3", "postgres");
  std::this_thread::sleep_for(300ms);
  start_process(c, "site3", "postgres");
  std::this_thread::sleep_for(200ms);
  kill_replicator(c.at(1));
  start_process(c, "site2", "replicator");
  writer.join();
  ASSERT_EQ(writer_error, "");
  ASSERT_TRUE(converged(c, 120000));
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(sql_value(c.at(i).pg, "SELECT count(*) FROM records WHERE type = 'A'"), "3000");
    // Applied exactly once: a transaction applied twice would count twice in
    // the zone's change count, which converged() compares.
    EXPECT_EQ(sql_value(c.at(i).pg, "SELECT zonemesh.version_vector() ->> 'site1'"), "61");
  }
  EXPECT_EQ(dig(c.at(2), "+short t59r49.example.com A"), "192.0.2.1");
}

TEST(Replication, ClockSkewBeyondTheBoundIsRefusedWithAnAlarmAndCausalityHoldsWithinIt) {
  cluster c(2);
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  ASSERT_EQ(sql_error(c.at(0).pg, insert_a("example.com", "x", "192.0.2.1")), "");
  ASSERT_TRUE(converged(c));

  // site2 runs 30 s fast (inside the 60 s bound): it writes x; site1 sees it and
  // writes x again; site1's write came after, so it wins everywhere although
  // its clock reads 30 s less.
  ASSERT_EQ(sql_error(c.at(1).pg, "UPDATE zonemesh.node SET clock_offset_ms = 30000"), "");
  ASSERT_EQ(sql_error(c.at(1).pg, "UPDATE records SET content = '192.0.2.2' WHERE name = 'x.example.com'"), "");
  ASSERT_EQ(dig_until(c.at(0), "+short x.example.com A", "192.0.2.2"), "192.0.2.2");
  ASSERT_EQ(sql_error(c.at(0).pg, "UPDATE records SET content = '192.0.2.3' WHERE name = 'x.example.com'"), "");
  EXPECT_EQ(dig_until(c.at(1), "+short x.example.com A", "192.0.2.3"), "192.0.2.3");
  ASSERT_TRUE(converged(c));

  // An hour fast: the link is refused and the alarm raised on both sides.
  ASSERT_EQ(sql_error(c.at(1).pg, "UPDATE zonemesh.node SET clock_offset_ms = 3600000"), "");
  stop_process(c, "site2", "replicator");
  start_process(c, "site2", "replicator");
  std::string alarm;
  for (int t = 0; t < 200 && alarm != "1"; ++t) {
    alarm = metric(replicator_http_port(c, 0), "zonemesh_replicator_clock_skew_alarm{peer=\"site2\"} ");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(alarm, "1");
  // site2 takes no local write its peer would refuse (sql/018): refused, with
  // the reason, while its peer says its clock is ahead.
  // (Its replicator records the peer's verdict right after the hello; a
  // write made before that is stamped ahead: docs/operations.md.)
  std::string ahead;
  for (int t = 0; t < 200 && ahead != "t"; ++t) {
    ahead = sql_value(c.at(1).pg, "SELECT ahead_of_peers_ms > 0 FROM zonemesh.node");
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(ahead, "t");
  const std::string refused = sql_error(c.at(1).pg, insert_a("example.com", "fast", "192.0.2.9"));
  EXPECT_NE(refused.find("ahead of its peers' (measured when they refused its links"), std::string::npos)
      << refused;
  EXPECT_NE(refused.find("local writes are refused until the clock is fixed"), std::string::npos) << refused;
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(dig(c.at(0), "+short fast.example.com A"), "") << "nothing crosses a refused link";
  std::ifstream log(c.at(0).dir + "/replicator.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("ALARM: node site2 clock"), std::string::npos);

  // The clock fixed, the next hello agrees: site2 takes writes again at once
  // (nothing was stamped in the future) and they cross.
  ASSERT_EQ(sql_error(c.at(1).pg, "UPDATE zonemesh.node SET clock_offset_ms = 0"), "");
  stop_process(c, "site2", "replicator");
  start_process(c, "site2", "replicator");
  std::string error = "not tried";
  for (int t = 0; t < 300 && !error.empty(); ++t) {
    std::this_thread::sleep_for(100ms);
    error = sql_error(c.at(1).pg, insert_a("example.com", "fixed", "192.0.2.10"));
  }
  EXPECT_EQ(error, "");
  EXPECT_EQ(dig_until(c.at(0), "+short fixed.example.com A", "192.0.2.10"), "192.0.2.10");
}

TEST(Replication, ANewSiteBootstrapsFromASnapshotAndThenStreams) {
  cluster c(2);
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('example.com', ARRAY['ns1.example.com'])"), "");
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(sql_error(c.at(0).pg, insert_a("example.com", "n" + std::to_string(i), "192.0.2.1")), "");
  }
  ASSERT_EQ(sql_error(c.at(0).pg, "DELETE FROM records WHERE name = 'n7.example.com'"), "");
  ASSERT_TRUE(converged(c));
  // Once every peer has acknowledged the history it is pruned, so a site
  // joining later cannot be sent it and starts from a snapshot.
  for (const auto& s : c.sites()) {
    for (int t = 0; t < 200 && sql_value(s.pg, "SELECT count(*) FROM zonemesh.peer_status WHERE changes_behind > 0") != "0"; ++t) {
      std::this_thread::sleep_for(50ms);
    }
  }
  for (const auto& s : c.sites()) ASSERT_EQ(sql_error(s.pg, "SELECT zonemesh.prune()"), "");
  ASSERT_EQ(sql_value(c.at(1).pg, "SELECT count(*) FROM zonemesh.changelog WHERE origin = 'site1'"), "0");
  auto r = run_command(cluster_cmd(c, "add-site --fast --via site2") + " 2>/dev/null", false);
  ASSERT_EQ(r.status, 0) << r.output;
  auto all = nlohmann::json::parse(r.output);
  const auto& j3 = all["sites"][2];
  site s3{"site3", j3["pg"].get<std::string>(), j3["pg_port"].get<int>(), j3["dns_port"].get<int>(),
          j3["http_port"].get<int>(), j3["dir"].get<std::string>()};
  // Tables and per-zone state equal everywhere; tombstones equal to the
  // snapshot's source (the other site may not have pruned its copies yet).
  for (int t = 0; t < 500 && dump_replicated_state(s3.pg, false) != dump_replicated_state(c.at(0).pg, false); ++t) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(dump_replicated_state(s3.pg, false), dump_replicated_state(c.at(0).pg, false)) << "tables and serial state";
  EXPECT_EQ(dump_replicated_state(s3.pg), dump_replicated_state(c.at(1).pg)) << "tombstones as the source had them";
  EXPECT_EQ(dig_until(s3, "+short n49.example.com A", "192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(dig(s3, "+short example.com SOA"), dig(c.at(0), "+short example.com SOA"));
  std::ifstream log(c.at(1).dir + "/replicator.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("snapshot of"), std::string::npos);
  // And then it streams both ways.
  ASSERT_EQ(sql_error(s3.pg, insert_a("example.com", "from3", "192.0.2.3")), "");
  EXPECT_EQ(dig_until(c.at(0), "+short from3.example.com A", "192.0.2.3"), "192.0.2.3");
  ASSERT_EQ(sql_error(c.at(0).pg, insert_a("example.com", "to3", "192.0.2.4")), "");
  EXPECT_EQ(dig_until(s3, "+short to3.example.com A", "192.0.2.4"), "192.0.2.4");
}

TEST(Replication, PeersWithoutAValidCertificateOrWithAnotherNodesIdAreRefused) {
  cluster c(2);
  int port = c.json()["sites"][0]["replicator_port"];
  std::string tls = c.dir() + "/tls";
  // A certificate from another CA.
  auto r = run_command("'" + std::string(ZONEMESH_SOURCE_DIR) + "/scripts/make-certs' '" + c.dir() + "/rogue' site2");
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command("timeout 5 openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -cert '" + c.dir() +
                  "/rogue/site2.pem' -key '" + c.dir() + "/rogue/site2.key' -CAfile '" + tls + "/ca.pem' </dev/null");
  // No certificate at all.
  r = run_command("timeout 5 openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile '" + tls +
                  "/ca.pem' </dev/null");
  // site2's real certificate, but a hello claiming to be site5.
  std::string hello = R"({"protocol":1,"node":"site5","vector":{},"clock_ms":0})";
  char header[32];
  // Octal escapes: popen's /bin/sh printf has no \x.
  std::snprintf(header, sizeof header, "\\000\\000\\000\\%03o\\001", static_cast<unsigned>(hello.size() + 1));
  r = run_command("(printf '" + std::string(header) + "%s' '" + hello + "'; sleep 1) | timeout 5 openssl s_client -quiet -connect 127.0.0.1:" +
                  std::to_string(port) + " -cert '" + tls + "/site2.pem' -key '" + tls + "/site2.key' -CAfile '" + tls +
                  "/ca.pem'");
  std::this_thread::sleep_for(300ms);
  std::ifstream log(c.at(0).dir + "/replicator.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("TLS handshake failed"), std::string::npos) << text;
  EXPECT_NE(text.find("says it is site5 but its certificate is site2's"), std::string::npos) << text;
  EXPECT_EQ(sql_value(c.at(0).pg, "SELECT count(*) FROM zonemesh.peers WHERE node = 'site5'"), "0");
}

TEST(Replication, RandomWritesPartitionsAndKillsConvergeEverywhere) {
  cluster c(4);
  std::mt19937 rng(20261122);
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('a.test', ARRAY['ns1.a.test'])"), "");
  ASSERT_EQ(sql_error(c.at(0).pg, "SELECT create_zone('b.test', ARRAY['ns1.b.test'])"), "");
  ASSERT_TRUE(converged(c));
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0}, refused{0}, replaces{0};
  // Per shared RRset, the stamp (hlc, origin) of the newest replace that
  // committed, as the rows it wrote carry it.
  std::mutex replaced_mutex;
  std::map<std::string, std::pair<long long, std::string>> newest_replace;
  std::vector<std::thread> writers;
  for (std::size_t i = 0; i < 4; ++i) {
    writers.emplace_back([&, i] {
      std::mt19937 r(static_cast<unsigned>(i * 7919));
      pqxx::connection conn(c.at(i).pg);
      while (!stop && writes < 2000) {
        std::string zone = r() % 2 ? "a.test" : "b.test";
        std::string name = "h" + std::to_string(r() % 40) + "." + zone;
        std::string ip = "192.0.2." + std::to_string(1 + r() % 250);
        // A few RRsets every site writes all the time, with a few possible
        // addresses each: replaces, adds, TTL changes and deletes of them race.
        std::string shared = "s" + std::to_string(r() % 4) + "." + zone;
        std::string shared_ip = "192.0.2." + std::to_string(1 + r() % 6);
        std::string sql;
        bool replace = false;
        switch (r() % 9) {
          case 0:
          case 1:
            sql = "SELECT set_rrset('" + zone + "', '" + name + "', 'A', ARRAY['" + ip + "'], 60)";
            break;
          case 2:
            sql = "UPDATE records SET content = '" + ip + "' WHERE name = '" + name + "' AND type = 'A'";
            break;
          case 3:
            sql = "DELETE FROM records WHERE name = '" + name + "'";
            break;
          case 4:
          case 5: {
            std::string contents = "'" + shared_ip + "'";
            for (unsigned k = r() % 3; k > 0; --k) contents += ", '192.0.2." + std::to_string(1 + r() % 6) + "'";
            contents = "SELECT DISTINCT unnest(ARRAY[" + contents + "])";
            sql = "SELECT set_rrset('" + zone + "', '" + shared + "', 'A', ARRAY(" + contents + "), " +
                  std::to_string(60 * (1 + r() % 3)) + ")";
            replace = true;
            break;
          }
          case 6:
            sql = "INSERT INTO records (zone, name, type, ttl, content) VALUES ('" + zone + "', '" + shared + "', 'A', " +
                  std::to_string(60 * (1 + r() % 3)) + ", '" + shared_ip + "')";
            break;
          case 7:
            sql = "UPDATE records SET ttl = " + std::to_string(60 * (1 + r() % 3)) + " WHERE name = '" + shared +
                  "' AND type = 'A' AND content = '" + shared_ip + "'";
            break;
          default:
            sql = "SELECT delete_rrset('" + zone + "', '" + shared + "', 'A')";
        }
        try {
          pqxx::work tx(conn);
          tx.exec(sql);
          std::pair<long long, std::string> stamp;
          if (replace) {
            // The rows a replace writes carry its stamp.
            auto row = tx.exec1("SELECT hlc, origin FROM records WHERE name = '" + shared +
                                "' AND type = 'A' ORDER BY hlc, origin COLLATE \"C\" LIMIT 1");
            stamp = {row[0].as<long long>(), row[1].c_str()};
          }
          tx.commit();
          ++writes;
          if (replace) {
            ++replaces;
            std::lock_guard<std::mutex> lock(replaced_mutex);
            auto& newest = newest_replace[shared];
            if (stamp.first > newest.first || (stamp.first == newest.first && stamp.second > newest.second)) {
              newest = stamp;
            }
          }
        } catch (const std::exception&) {
          ++refused;  // e.g. a concurrent local write of the same name; never silent data loss
        }
      }
    });
  }
  // Chaos: cut sites off, kill replicators, bring them back.
  for (int round = 0; round < 6; ++round) {
    std::string victim = "site" + std::to_string(1 + rng() % 4);
    if (rng() % 2) {
      stop_process(c, victim, "replicator");
    } else {
      kill_replicator(c.at(static_cast<std::size_t>(victim.back() - '1')));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 700));
    start_process(c, victim, "replicator");
  }
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_GT(writes.load(), 500);
  EXPECT_GT(replaces.load(), 50);
  bool same = converged(c, 120000);
  ASSERT_TRUE(same) << "kept in " << keep_diagnostics(c);
  // Every site serves the same RRsets, with their TTLs, and each RRset with
  // one TTL.
  std::vector<std::string> names;
  for (int h = 0; h < 40; ++h) names.push_back("h" + std::to_string(h));
  for (int k = 0; k < 4; ++k) names.push_back("s" + std::to_string(k));
  for (const auto& label : names) {
    for (const char* zone : {"a.test", "b.test"}) {
      std::string q = "+noall +answer " + label + "." + zone + " A | awk '{print $2, $5}' | sort";
      auto expected = dig(c.at(0), q);
      for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(dig_until(c.at(i), q, expected), expected) << q;
      std::set<std::string> ttls;
      std::istringstream lines(expected);
      for (std::string line; std::getline(lines, line);) ttls.insert(line.substr(0, line.find(' ')));
      EXPECT_LE(ttls.size(), 1u) << q << " is served with mixed TTLs:\n" << expected;
    }
  }
  // A replace wins whole: no site keeps a row of a shared RRset older than
  // the newest replace of it that committed anywhere.
  for (const auto& [rrset, stamp] : newest_replace) {
    for (const auto& s : c.sites()) {
      EXPECT_EQ(sql_value(s.pg, "SELECT coalesce(string_agg(content || ' ' || hlc || ' ' || origin, ', '), '') "
                                "FROM records WHERE name = '" + rrset + "' AND type = 'A' "
                                "AND zonemesh.newer(" + std::to_string(stamp.first) + ", '" + stamp.second +
                                "', hlc, origin)"),
                "")
          << s.node << ": rows of " << rrset << " older than its newest replace (" << stamp.first << ", "
          << stamp.second << ")";
    }
  }
  // And none older than a replace it holds the tombstone of.
  for (const auto& s : c.sites()) {
    EXPECT_EQ(sql_value(s.pg, R"sql(
        SELECT count(*) FROM records r JOIN zonemesh.tombstones t
            ON t.tbl = 'rrsets' AND t.key = jsonb_build_object('zone', r.zone, 'name', r.name, 'type', r.type)
         WHERE zonemesh.newer(t.hlc, t.origin, r.hlc, r.origin))sql"),
              "0")
        << s.node;
  }
  auto serial = dig(c.at(0), "+short a.test SOA");
  for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(dig_until(c.at(i), "+short a.test SOA", serial), serial);
  // A transaction that failed once (e.g. two links applying the same rows)
  // is retried within seconds; none stays kept aside.
  for (std::size_t i = 0; i < 4; ++i) {
    std::string kept;
    for (int t = 0; t < 300 && (kept = sql_value(c.at(i).pg, "SELECT count(*) FROM zonemesh.apply_errors")) != "0"; ++t) {
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(kept, "0") << c.at(i).node << ": "
                         << sql_value(c.at(i).pg, "SELECT string_agg(error, '; ') FROM zonemesh.apply_errors");
  }
}

}  // namespace
}  // namespace zonemesh::test
