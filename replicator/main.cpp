// zonemesh-replicator: ships this site's changes to its peers and applies
// theirs; also the `status` command.

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/logging.hpp"
#include "common/metrics.hpp"
#include "config.hpp"
#include "http_server.hpp"
#include "node.hpp"
#include "signals.hpp"

namespace {

void usage(std::FILE* to) {
  std::fputs(
      "usage: zonemesh-replicator --config FILE          run\n"
      "       zonemesh-replicator --check-config FILE\n"
      "       zonemesh-replicator --example-config       print a documented configuration\n"
      "       zonemesh-replicator status --db CONNINFO [--json]\n"
      "                                                  per peer: link, last contact, lag,\n"
      "                                                  plus conflicts and kept errors\n",
      to);
}

int status(const std::string& conninfo, bool as_json) {
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);
  auto node = tx.exec1("SELECT zonemesh.node_id(), zonemesh.version_vector()::text, "
                       "(SELECT count(*) FROM zonemesh.conflicts), (SELECT count(*) FROM zonemesh.apply_errors)");
  auto peers = tx.exec(
      "SELECT peer, connected, to_char(last_contact, 'YYYY-MM-DD HH24:MI:SS'), changes_behind, "
      "round(seconds_behind::numeric, 1), coalesce(clock_offset_ms::text, ''), coalesce(last_error, '') "
      "FROM zonemesh.peer_status ORDER BY peer");
  if (as_json) {
    nlohmann::json out = {{"node", node[0].c_str()},
                          {"vector", nlohmann::json::parse(node[1].c_str())},
                          {"conflicts", node[2].as<long long>()},
                          {"apply_errors", node[3].as<long long>()},
                          {"peers", nlohmann::json::array()}};
    for (const auto& p : peers) {
      out["peers"].push_back({{"peer", p[0].c_str()},
                              {"connected", p[1].as<bool>()},
                              {"last_contact", p[2].is_null() ? "" : p[2].c_str()},
                              {"changes_behind", p[3].as<long long>()},
                              {"seconds_behind", p[4].as<double>()},
                              {"clock_offset_ms", p[5].c_str()},
                              {"last_error", p[6].c_str()}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("node %s  vector %s  conflicts %s  apply errors %s\n", node[0].c_str(), node[1].c_str(),
              node[2].c_str(), node[3].c_str());
  std::printf("%-12s %-9s %-19s %8s %8s %8s  %s\n", "PEER", "LINK", "LAST CONTACT", "BEHIND", "SECONDS",
              "CLOCK", "LAST ERROR");
  for (const auto& p : peers) {
    std::printf("%-12s %-9s %-19s %8s %8s %8s  %s\n", p[0].c_str(), p[1].as<bool>() ? "up" : "down",
                p[2].is_null() ? "-" : p[2].c_str(), p[3].c_str(), p[4].c_str(), p[5].c_str(), p[6].c_str());
  }
  return 0;
}

int run(const zonemesh::replicator::replicator_config& cfg) {
  using namespace zonemesh;
  server::stop_signals signals;
  common::metrics::registry metrics;
  replicator::node node(cfg, metrics);
  server::http_router router;
  server::add_metrics_route(router, metrics);
  server::add_health_route(router, [&] {
    auto reason = node.health();
    return server::health_status{reason.empty(), reason};
  });
  server::http_server http(cfg.http.address, cfg.http.port, router);
  node.start();
  http.start();
  spdlog::info("HTTP on {}:{}", cfg.http.address, http.port());
  int sig = signals.wait();
  spdlog::info("stopping ({})", sig ? strsignal(sig) : "requested");
  http.stop();
  node.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zonemesh;
  try {
    if (argc == 2 && std::strcmp(argv[1], "--example-config") == 0) {
      std::fwrite(replicator::example_replicator_config().data(), 1, replicator::example_replicator_config().size(),
                  stdout);
      return 0;
    }
    if (argc >= 4 && std::strcmp(argv[1], "status") == 0 && std::strcmp(argv[2], "--db") == 0) {
      return status(argv[3], argc == 5 && std::strcmp(argv[4], "--json") == 0);
    }
    if (argc != 3 || (std::strcmp(argv[1], "--config") != 0 && std::strcmp(argv[1], "--check-config") != 0)) {
      usage(stderr);
      return 2;
    }
    replicator::replicator_config cfg;
    try {
      cfg = replicator::load_replicator_config(argv[2]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zonemesh-replicator: %s\n", e.what());
      return 2;
    }
    if (std::strcmp(argv[1], "--check-config") == 0) {
      std::printf("%s: ok\n", argv[2]);
      return 0;
    }
    common::setup_logging(cfg.log_level, "zonemesh-replicator");
    return run(cfg);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    std::fprintf(stderr, "zonemesh-replicator: %s\n", e.what());
    return 1;
  }
}
