// zonemesh-server: authoritative DNS from the site's PostgreSQL, with the
// HTTP API, the web UI, /metrics and /health over HTTP.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "api.hpp"
#include "site_watch.hpp"
#include "common/config.hpp"
#include "common/logging.hpp"
#include "common/metrics.hpp"
#include "dns_listener.hpp"
#include "http_server.hpp"
#include "notifier.hpp"
#include "query_processor_impl.hpp"
#include "rrl.hpp"
#include "secondary.hpp"
#include "signals.hpp"
#include "transfer_policy.hpp"
#include "transfer_processor.hpp"
#include "zone_follower.hpp"
#include "zone_signer.hpp"

namespace {

void usage(std::FILE* to) {
  std::fputs(
      "usage: zonemesh-server --config FILE     run\n"
      "       zonemesh-server --check-config FILE\n"
      "       zonemesh-server --example-config  print a documented configuration file\n",
      to);
}

int serve(const zonemesh::common::config& cfg) {
  using namespace zonemesh;
  server::stop_signals signals;
  common::metrics::registry metrics;
  // The follower publishes the zones as the database holds them into
  // `unsigned_zones`; the signer publishes what is served into `zones`:
  // zones without an active DNSSEC key as they are, the others once signed.
  auto unsigned_zones = std::make_shared<store::zone_publisher>();
  auto zones = std::make_shared<store::zone_publisher>();
  server::signer_options signing;
  signing.validity = cfg.server.dnssec_signature_validity;
  signing.refresh = cfg.server.dnssec_signature_refresh;
  server::zone_signer signer(cfg.database.conninfo, unsigned_zones, zones, metrics, signing);
  signer.start();

  std::atomic<bool> fatal{false};
  server::follower_options follow;
  follow.on_fatal = [&](const std::string&) {
    fatal = true;
    signals.request_stop();
  };
  server::zone_follower follower(cfg.database.conninfo, unsigned_zones, metrics, follow);
  follower.start();

  auto policy = std::make_shared<server::policy_publisher>();
  server::policy_follower policy_follower(cfg.database.conninfo, policy, metrics);
  policy_follower.start();
  auto history = std::make_shared<server::zone_history>();
  server::notifier notifier(zones, policy, metrics, {}, history);
  notifier.start();

  auto updates = std::make_shared<server::update_executor>(cfg.database.conninfo);
  server::secondary_puller secondaries(cfg.database.conninfo, cfg.server.node, policy, metrics);
  secondaries.start();
  server::transfer_options transfer;
  transfer.on_notify = [&secondaries](const zonemesh::dns::name& zone) { secondaries.notify(zone); };

  server::server_identity identity;
  identity.hostname = cfg.server.hostname;
  identity.version = cfg.server.version;
  if (!cfg.server.nsid.empty()) identity.nsid = cfg.server.nsid;
  server::processor_options processing;
  if (cfg.cookies.enabled) {
    auto keys = std::make_shared<server::cookie_keys>();
    if (cfg.cookies.secret.size() == keys->current.size()) {
      std::copy(cfg.cookies.secret.begin(), cfg.cookies.secret.end(), keys->current.begin());
    } else {
      if (RAND_bytes(keys->current.data(), static_cast<int>(keys->current.size())) != 1) {
        throw std::runtime_error("cannot make a random DNS cookie secret");
      }
      spdlog::warn(
          "no [cookies] secret: server cookies are valid at this site only, until it restarts");
    }
    for (const auto& other : cfg.cookies.also_accept) {
      dns::cookie_secret k{};
      std::copy(other.begin(), other.end(), k.begin());
      keys->also_accept.push_back(k);
    }
    processing.cookies = std::move(keys);
  }
  std::shared_ptr<server::rate_limiter> limiter;
  if (cfg.rrl.enabled) {
    server::rrl_options rrl;
    rrl.enabled = true;
    rrl.responses_per_second = cfg.rrl.responses_per_second;
    rrl.slip = cfg.rrl.slip;
    rrl.ipv4_prefix = cfg.rrl.ipv4_prefix;
    rrl.ipv6_prefix = cfg.rrl.ipv6_prefix;
    rrl.table_size = cfg.rrl.table_size;
    for (const auto& text : cfg.rrl.whitelist) {
      auto net = server::network::parse(text);
      if (!net) throw std::runtime_error("[rrl] whitelist: bad prefix " + text);
      rrl.whitelist.push_back(*net);
    }
    limiter = std::make_shared<server::rate_limiter>(std::move(rrl), metrics);
    spdlog::info("RRL on: {} responses/s per prefix and kind, slip {}",
                 cfg.rrl.responses_per_second, cfg.rrl.slip);
  }
  server::dns_listener_set dns(
      server::dns_listener_options::from_config(cfg.server),
      [&](unsigned) -> std::unique_ptr<server::query_processor> {
        auto p = std::make_unique<server::transfer_processor>(zones, policy, identity, processing,
                                                              transfer, updates, history);
        if (!limiter) return p;
        return std::make_unique<server::rate_limited_processor>(std::move(p), limiter);
      },
      metrics);

  server::http_router router;
  server::add_metrics_route(router, metrics);
  server::site_watch watch(cfg.database.conninfo, metrics);
  watch.start();
  server::add_health_route(router, [&] {
    auto h = follower.health();
    if (!h.ok) return server::health_status{h.ok, h.reason};
    auto w = watch.health();
    return server::health_status{w.ok, w.reason};
  });
  server::api api({cfg.database.conninfo, cfg.http.api_key, cfg.server.node,
                   {cfg.http.api_auth_max_failures, cfg.http.api_auth_window, cfg.http.api_auth_block}},
                  metrics);
  api.add_routes(router);
  server::add_web_ui_routes(router);
  if (cfg.http.api_key.empty()) spdlog::warn("no [http] api_key: every /api request gets 401");
  server::http_server http(cfg.http.listen.address, cfg.http.listen.port, router);

  dns.start();
  http.start();
  for (const auto& a : dns.bound_addresses()) {
    spdlog::info("DNS on {} (udp {}, tcp {})", a.configured.to_string(), a.udp_port, a.tcp_port);
  }
  spdlog::info("HTTP on {}:{}", cfg.http.listen.address, http.port());
  int sig = signals.wait();
  spdlog::info("stopping ({})", sig ? strsignal(sig) : "fatal error");
  http.stop();
  dns.stop();
  notifier.stop();
  secondaries.stop();
  policy_follower.stop();
  follower.stop();
  signer.stop();
  spdlog::info("stopped");
  return fatal ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zonemesh;
  if (argc == 2 && std::strcmp(argv[1], "--example-config") == 0) {
    std::fwrite(common::example_config().data(), 1, common::example_config().size(), stdout);
    return 0;
  }
  if (argc != 3 || (std::strcmp(argv[1], "--config") != 0 && std::strcmp(argv[1], "--check-config") != 0)) {
    usage(stderr);
    return 2;
  }
  common::config cfg;
  try {
    cfg = common::load_config(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zonemesh-server: %s\n", e.what());
    return 2;
  }
  if (std::strcmp(argv[1], "--check-config") == 0) {
    std::printf("%s: ok\n", argv[2]);
    return 0;
  }
  common::setup_logging(cfg.log.level, "zonemesh-server");
  try {
    return serve(cfg);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
