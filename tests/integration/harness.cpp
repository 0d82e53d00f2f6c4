// Test harness: starts real PostgreSQL sites through scripts/cluster.

#include "harness.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <utility>

#include <pqxx/pqxx>

namespace zonemesh::test {

command_result run_command(const std::string& command, bool merge_stderr) {
  command_result r;
  std::string full = merge_stderr ? command + " 2>&1" : command;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(full.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("popen failed for: " + command);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe.get())) > 0) r.output.append(buf, n);
  int status = pclose(pipe.release());
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string binary(const std::string& relative) {
  return std::string(ZONEMESH_BINARY_DIR) + "/" + relative;
}

cluster::cluster(int n, const std::vector<std::string>& extra_args) {
  char tmpl[] = "/tmp/zonemesh-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::string cmd = "ZONEMESH_BUILD_DIR='" + std::string(ZONEMESH_BINARY_DIR) + "' '" +
                    std::string(ZONEMESH_SOURCE_DIR) + "/scripts/cluster' up --fast --sites " +
                    std::to_string(n) + " --dir '" + dir_ + "'";
  for (const auto& a : extra_args) cmd += " " + a;
  // JSON on stdout; progress on stderr goes to a log file we show on failure.
  auto r = run_command(cmd + " 2>'" + dir_ + "/up.log'", false);
  if (r.status != 0) {
    auto log = run_command("cat '" + dir_ + "/up.log'");
    throw std::runtime_error("scripts/cluster up failed:\n" + r.output + log.output);
  }
  json_ = nlohmann::json::parse(r.output);
  for (const auto& s : json_.at("sites")) {
    sites_.push_back({s.at("node").get<std::string>(), s.at("pg").get<std::string>(),
                      s.at("pg_port").get<int>(), s.value("dns_port", 0), s.value("http_port", 0),
                      s.at("dir").get<std::string>(), s.value("api_key", "")});
  }
}

cluster::~cluster() {
  run_command("'" + std::string(ZONEMESH_SOURCE_DIR) + "/scripts/cluster' down --remove --dir '" +
              dir_ + "'");
}

namespace {
std::string pg_ctl(const site& s, const std::string& action) {
  std::string cmd = "/usr/lib/postgresql/15/bin/pg_ctl -w -D '" + s.dir + "/pgdata' -l '" + s.dir +
                    "/postgres.log' " + action;
  if (geteuid() == 0) cmd = "runuser -u postgres -- " + cmd;
  auto r = run_command(cmd);
  if (r.status != 0) throw std::runtime_error("pg_ctl " + action + " failed: " + r.output);
  return r.output;
}
}  // namespace

void stop_postgres(const site& s) { pg_ctl(s, "stop -m fast"); }
void start_postgres(const site& s) { pg_ctl(s, "start"); }

std::string dig(const site& s, const std::string& args) {
  auto r = run_command("dig +time=2 +tries=1 @127.0.0.1 -p " + std::to_string(s.dns_port) + " " + args);
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  return r.output;
}

std::string dig_until(const site& s, const std::string& args, const std::string& expected,
                      int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string out;
  do {
    out = dig(s, args);
    if (out == expected) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return out;
}

http_result http_get(int port, const std::string& path) { return http_call(port, "GET", path); }

http_result http_call(int port, const std::string& method, const std::string& path,
                      const std::string& body, const std::vector<std::string>& header_lines,
                      const std::string& source) {
  http_result result;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return result;
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      close(fd);
      return result;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return result;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : header_lines) req += h + "\r\n";
  if (!body.empty()) {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (send(fd, req.data(), req.size(), 0) < 0) {
    close(fd);
    return result;
  }
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, static_cast<std::size_t>(n));
  close(fd);
  if (resp.size() > 12) result.status = std::atoi(resp.c_str() + 9);
  auto head_end = resp.find("\r\n\r\n");
  if (head_end != std::string::npos) {
    result.body = resp.substr(head_end + 4);
    result.headers = resp.substr(0, head_end);
  }
  return result;
}

std::string sql_value(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c(conninfo);
  pqxx::work w(c);
  auto r = w.exec(sql);
  w.commit();
  if (r.empty() || r[0].empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

std::string sql_error(const std::string& conninfo, const std::string& sql) {
  try {
    pqxx::connection c(conninfo);
    pqxx::work w(c);
    w.exec(sql);
    w.commit();
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

void reset_site(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::work w(c);
  w.exec(
      "SET LOCAL session_replication_role = replica;"
      "TRUNCATE public.zones, public.records, public.zone_metadata, public.tsig_keys,"
      "  public.dnssec_keys, zonemesh.tombstones, zonemesh.changelog, zonemesh.changes,"
      "  zonemesh.vector, zonemesh.received, zonemesh.zone_state, zonemesh.conflicts,"
      "  zonemesh.apply_errors, zonemesh.peers, zonemesh.peer_vector;"
      "UPDATE zonemesh.node SET last_pos = 0, last_seq = 0, clock_offset_ms = 0,"
      "  max_clock_skew_ms = 60000;"
      "SELECT setval('zonemesh.hlc_clock', 0)");
  w.commit();
}

std::string dump_replicated_state(const std::string& conninfo, bool with_tombstones) {
  return sql_value(conninfo, std::string(R"sql(
    SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
      SELECT 'zones ' || to_jsonb(t)::text AS line FROM public.zones t
      UNION ALL SELECT 'records ' || to_jsonb(t)::text FROM public.records t
      UNION ALL SELECT 'zone_metadata ' || to_jsonb(t)::text FROM public.zone_metadata t
      UNION ALL SELECT 'tsig_keys ' || to_jsonb(t)::text FROM public.tsig_keys t
      UNION ALL SELECT 'dnssec_keys ' || to_jsonb(t)::text FROM public.dnssec_keys t
      UNION ALL SELECT 'tombstone ' || jsonb_build_array(tbl, key, hlc, origin, zone)::text
                  FROM zonemesh.tombstones WHERE )sql") + (with_tombstones ? "true" : "false") + R"sql(
      UNION ALL SELECT 'zone_state ' || jsonb_build_array(zone, changes, max_hlc)::text
                  FROM zonemesh.zone_state
    ) s)sql");
}

nlohmann::json ship(const std::string& from, const std::string& to) {
  nlohmann::json totals = {{"applied", 0}, {"duplicate", 0}, {"own", 0}, {"failed", 0}};
  pqxx::connection src(from);
  pqxx::connection dst(to);
  for (;;) {
    nlohmann::json their_vector;
    {
      pqxx::read_transaction tx(dst);
      their_vector = nlohmann::json::parse(tx.exec1("SELECT zonemesh.version_vector()")[0].c_str());
    }
    std::string batch = "[";
    int n = 0;
    {
      pqxx::read_transaction tx(src);
      for (const auto& o : tx.exec("SELECT origin FROM zonemesh.vector")) {
        std::string origin = o[0].c_str();
        long long after = their_vector.value(origin, 0LL);
        for (const auto& row : tx.exec_params("SELECT tx FROM zonemesh.origin_changes($1, $2, 500)",
                                              origin, after)) {
          if (n++) batch += ",";
          batch += row[0].c_str();
        }
      }
    }
    batch += "]";
    if (n == 0) return totals;
    pqxx::work tx(dst);
    auto counts = nlohmann::json::parse(tx.exec_params1("SELECT zonemesh.apply_batch($1::jsonb)", batch)[0].c_str());
    tx.commit();
    for (auto& [k, v] : counts.items()) totals[k] = totals[k].get<long long>() + v.get<long long>();
    if (counts["applied"].get<long long>() == 0) return totals;
  }
}

void exchange_all(const std::vector<std::string>& sites) {
  for (int round = 0; round < 2; ++round) {
    for (const auto& a : sites) {
      for (const auto& b : sites) {
        if (a != b) ship(a, b);
      }
    }
  }
}

std::string cluster_cmd(const cluster& c, const std::string& args) {
  return "ZONEMESH_BUILD_DIR='" + std::string(ZONEMESH_BINARY_DIR) + "' '" + std::string(ZONEMESH_SOURCE_DIR) +
         "/scripts/cluster' " + args + " --dir '" + c.dir() + "'";
}

void stop_process(const cluster& c, const std::string& node, const std::string& process) {
  auto r = run_command(cluster_cmd(c, "stop --site " + node + " --process " + process));
  ASSERT_EQ(r.status, 0) << r.output;
}

void start_process(const cluster& c, const std::string& node, const std::string& process) {
  auto r = run_command(cluster_cmd(c, "start --site " + node + " --process " + process));
  ASSERT_EQ(r.status, 0) << r.output;
}

int process_pid(const site& s, const std::string& process) {
  std::ifstream f(s.dir + "/" + process + ".pid");
  int pid = 0;
  f >> pid;
  return pid;
}

bool converged(const cluster& c, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto first = dump_replicated_state(c.at(0).pg, false);
    bool same = true;
    for (std::size_t i = 1; i < c.sites().size() && same; ++i) {
      same = dump_replicated_state(c.at(i).pg, false) == first;
    }
    if (same) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace zonemesh::test
