// zonemesh-healthcheck: announces the site's anycast service address through
// BIRD while the local zonemesh-server answers correctly, withdraws it when it
// fails (rise/fall counts, hold-down), and tells local failures from shared
// ones by asking the peers (policy in healthcheck.hpp and docs/operations.md).

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/logging.hpp"
#include "common/metrics.hpp"
#include "dns/types.hpp"
#include "healthcheck.hpp"
#include "http_server.hpp"

namespace {

using namespace zonemesh;
using namespace zonemesh::healthcheck;

void usage(std::FILE* to) {
  std::fputs(
      "usage: zonemesh-healthcheck --config FILE         run: announce or withdraw through BIRD\n"
      "       zonemesh-healthcheck --once --config FILE  one check; prints the verdict, exit 0 "
      "when\n"
      "                                                  it would announce, 1 when not; BIRD "
      "untouched\n"
      "       zonemesh-healthcheck --check-config FILE\n"
      "       zonemesh-healthcheck --example-config      print a documented configuration file\n",
      to);
}

site_probe probe_site(const common::listen_address& dns, const std::optional<http_url>& health,
                      const settings& s) {
  site_probe p;
  p.dns = probe_dns(dns, s.query_name, s.query_type, s.expect, s.timeout);
  if (health) p.health = probe_http(*health, s.timeout);
  return p;
}

check_outcome check_once(const settings& s) {
  const auto local = probe_site(s.dns, s.health, s);
  std::vector<site_probe> peers;
  if (!local.fully_healthy()) {
    for (const auto& peer : s.peers) {
      peers.push_back(probe_site(peer.dns, peer.health, s));
      spdlog::debug(
          "peer {}: DNS {} ({}), /health {}", peer.label,
          peers.back().dns.correct ? "correct" : "wrong", peers.back().dns.detail,
          peers.back().health ? std::to_string(peers.back().health->status) : "not asked");
    }
  }
  return evaluate(local, peers);
}

// Blocks the stop signals so that sigtimedwait() can sleep on them.
sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Sleeps up to `ms`; returns the signal that ended the sleep, or 0.
int sleep_or_signal(const sigset_t& set, std::chrono::milliseconds ms) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ms.count() / 1000);
  ts.tv_nsec = static_cast<long>((ms.count() % 1000) * 1'000'000);
  for (;;) {
    const int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return sig;
    if (errno == EINTR) continue;
    return 0;
  }
}

// What /metrics and /health report.
struct checker_metrics {
  explicit checker_metrics(common::metrics::registry& r)
      : announced(r.add_gauge("zonemesh_healthcheck_announced",
                              "1 while the include announces the service address, else 0")),
        maintenance(
            r.add_gauge("zonemesh_healthcheck_maintenance", "1 while the maintenance file exists")),
        checks(r.add_counter_family("zonemesh_healthcheck_checks_total", "Checks by verdict",
                                    {"verdict"})),
        changes(r.add_counter_family("zonemesh_healthcheck_route_changes_total",
                                     "Announcements and withdrawals written to the include",
                                     {"to"})),
        configure_failures(r.add_counter("zonemesh_healthcheck_bird_configure_failures_total",
                                         "birdc configure runs that failed")) {}
  common::metrics::gauge& announced;
  common::metrics::gauge& maintenance;
  common::metrics::counter_family& checks;
  common::metrics::counter_family& changes;
  common::metrics::counter& configure_failures;
  std::mutex mutex;
  std::string bird_error;  ///< the last birdc failure while it lasts
};

class bird_link {
 public:
  bird_link(const settings& s, checker_metrics& m) : s_(s), m_(m) {}

  // Makes the include say `announce` and has BIRD read it (retried by sync()).
  void want(bool announce) {
    if (written_ && *written_ == announce) return;
    write_include(s_.include_file, s_.symbol, announce);
    written_ = announce;
    configured_ = false;
    m_.announced.set(announce ? 1 : 0);
    m_.changes.with({announce ? "announced" : "withdrawn"}).inc();
    spdlog::info("{} the service address ({} = {} in {})", announce ? "announcing" : "withdrawing",
                 s_.symbol, announce ? 1 : 0, s_.include_file.string());
    sync();
  }

  // Runs `birdc configure` until it has succeeded once for the current file.
  void sync() {
    if (configured_) return;
    std::string error;
    if (bird_configure(s_, error)) {
      configured_ = true;
      if (failing_) spdlog::info("birdc configure works again");
      failing_ = false;
      std::lock_guard lock(m_.mutex);
      m_.bird_error.clear();
      return;
    }
    m_.configure_failures.inc();
    if (!failing_) spdlog::error("birdc configure failed (retrying every check): {}", error);
    failing_ = true;
    std::lock_guard lock(m_.mutex);
    m_.bird_error = error;
  }

 private:
  const settings& s_;
  checker_metrics& m_;
  std::optional<bool> written_;
  bool configured_ = false;
  bool failing_ = false;
};

int run(const settings& s) {
  const auto signals = stop_signal_set();
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  common::metrics::registry registry;
  checker_metrics metrics(registry);
  server::http_router router;
  std::unique_ptr<server::http_server> http;
  if (s.http) {
    server::add_metrics_route(router, registry);
    server::add_health_route(router, [&metrics] {
      std::lock_guard lock(metrics.mutex);
      if (metrics.bird_error.empty()) return server::health_status{true, ""};
      return server::health_status{false, "birdc configure fails: " + metrics.bird_error};
    });
    http = std::make_unique<server::http_server>(s.http->address, s.http->port, router);
    http->start();
    spdlog::info("HTTP on {}:{} (/metrics, /health)", s.http->address, http->port());
  }
  bird_link bird(s, metrics);
  // The route starts withdrawn until the first healthy checks.
  bird.want(false);
  announce_state state(s.rise, s.fall, s.hold_down);
  std::string last_reason;
  verdict last_verdict = verdict::pass;
  spdlog::info("checking {} {} at {} every {} ms (rise {}, fall {}, hold-down {} ms, {} peer(s))",
               s.query_name, dns::type_to_string(s.query_type), s.dns.to_string(),
               s.interval.count(), s.rise, s.fall, s.hold_down.count(), s.peers.size());
  int sig = 0;
  while (sig == 0) {
    const auto started = std::chrono::steady_clock::now();
    const bool maintenance =
        !s.maintenance_file.empty() && std::filesystem::exists(s.maintenance_file);
    if (maintenance != state.in_maintenance()) {
      spdlog::info("maintenance file {} {}", s.maintenance_file.string(),
                   maintenance ? "present: withdrawing" : "gone");
      state.set_maintenance(maintenance);
      metrics.maintenance.set(maintenance ? 1 : 0);
    }
    if (!maintenance) {
      const auto outcome = check_once(s);
      if (outcome.result != last_verdict || outcome.reason != last_reason) {
        const auto level =
            outcome.result == verdict::pass ? spdlog::level::info : spdlog::level::warn;
        spdlog::log(level, "check {}: {}",
                    outcome.result == verdict::pass          ? "passed"
                    : outcome.result == verdict::pass_shared ? "failed everywhere (shared)"
                                                             : "failed",
                    outcome.reason);
        last_reason = outcome.reason;
        last_verdict = outcome.result;
      }
      metrics.checks
          .with({outcome.result == verdict::pass          ? "pass"
                 : outcome.result == verdict::pass_shared ? "pass_shared"
                                                          : "fail"})
          .inc();
      state.record(outcome.result, std::chrono::steady_clock::now());
    }
    try {
      bird.want(state.announced());
      bird.sync();
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    sig = sleep_or_signal(signals,
                          spent < s.interval ? s.interval - spent : std::chrono::milliseconds(1));
  }
  spdlog::info("stopping ({}): withdrawing the service address", strsignal(sig));
  int rc = 0;
  try {
    bird.want(false);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    rc = 1;
  }
  if (http) http->stop();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--example-config") {
    const auto text = example_settings();
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  bool once = false;
  bool check_only = false;
  std::string config_path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--once") {
      once = true;
    } else if ((args[i] == "--config" || args[i] == "--check-config") && i + 1 < args.size()) {
      check_only = args[i] == "--check-config";
      config_path = args[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty() || (once && check_only)) {
    usage(stderr);
    return 2;
  }
  settings s;
  try {
    s = load_settings(config_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zonemesh-healthcheck: %s\n", e.what());
    return 2;
  }
  if (check_only) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  common::setup_logging(s.log_level, "zonemesh-healthcheck");
  if (once) {
    const auto outcome = check_once(s);
    std::printf("%s: %s\n", outcome.result == verdict::fail ? "fail" : "pass",
                outcome.reason.c_str());
    return outcome.result == verdict::fail ? 1 : 0;
  }
  try {
    return run(s);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
