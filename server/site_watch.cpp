#include "site_watch.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/metrics.hpp"

namespace zonemesh::server {

struct site_watch::impl {
  impl(std::string conninfo_, common::metrics::registry& metrics, std::chrono::milliseconds interval_,
       std::chrono::milliseconds degraded_after_)
      : conninfo(std::move(conninfo_)),
        interval(interval_),
        degraded_after(degraded_after_),
        waiting(metrics.add_gauge("zonemesh_writes_waiting_on_apply_lock",
                                  "Local write transactions waiting for the apply lock (sql/017)")),
        longest_wait(metrics.add_gauge("zonemesh_apply_lock_longest_wait_seconds",
                                       "How long the longest-waiting local write has waited for the apply lock")),
        held(metrics.add_gauge("zonemesh_apply_lock_held_seconds",
                               "How long the transaction holding the apply lock has been open (0: free)")),
        hlc_ahead(metrics.add_gauge("zonemesh_hlc_ahead_seconds",
                                    "How far this site's HLC is ahead of its physical clock")),
        apply_errors(metrics.add_gauge("zonemesh_apply_errors",
                                       "Peers' source transactions kept aside in zonemesh.apply_errors")),
        apply_errors_alarm(metrics.add_gauge("zonemesh_apply_errors_alarm",
                                             "1 while zonemesh.apply_errors is not empty and grew in the last minute")) {}

  void run();
  /// One reading; returns the reason /health is degraded, or "".
  std::string read(pqxx::connection& conn);
  std::string read_apply_lock(pqxx::transaction_base& tx);
  std::string read_clock_and_errors(pqxx::transaction_base& tx);

  std::string conninfo;
  std::chrono::milliseconds interval;
  std::chrono::milliseconds degraded_after;
  common::metrics::gauge& waiting;
  common::metrics::gauge& longest_wait;
  common::metrics::gauge& held;
  common::metrics::gauge& hlc_ahead;
  common::metrics::gauge& apply_errors;
  common::metrics::gauge& apply_errors_alarm;

  mutable std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::string reason;  ///< under mutex
  std::thread thread;
};

std::string site_watch::impl::read(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
  std::string reasons;
  for (const auto& r : {read_apply_lock(tx), read_clock_and_errors(tx)}) {
    if (!r.empty()) reasons += (reasons.empty() ? "" : "; ") + r;
  }
  return reasons;
}

std::string site_watch::impl::read_apply_lock(pqxx::transaction_base& tx) {
  const auto r = tx.exec1(
      "SELECT waiting, longest_wait_s, coalesce(holder_pid, 0), coalesce(holder_state, ''), "
      "coalesce(nullif(holder_application, ''), 'unnamed'), coalesce(holder_xact_s, 0), "
      "coalesce(holder_state_s, 0), (SELECT local_write_wait_ms FROM zonemesh.node) "
      "FROM zonemesh.apply_lock_status()");
  const int n = r[0].as<int>();
  const double wait_s = r[1].as<double>();
  const int pid = r[2].as<int>();
  const std::string state = r[3].as<std::string>();
  const std::string who = r[4].as<std::string>();
  const double xact_s = r[5].as<double>();
  const double idle_s = r[6].as<double>();
  waiting.set(n);
  longest_wait.set(wait_s);
  held.set(pid ? xact_s : 0);
  const double bound_s = static_cast<double>(degraded_after.count()) / 1000;
  const std::string holder =
      pid ? fmt::format("pid {} ({}, {}, transaction open {:.1f} s)", pid, who, state, xact_s) : "nobody";
  if (n > 0 && wait_s > bound_s) {
    return fmt::format("{} local write(s) waiting {:.1f} s for the apply lock (writes give up after {} ms), held by {}",
                       n, wait_s, r[7].as<long long>(), holder);
  }
  if (pid && state == "idle in transaction" && idle_s > bound_s) {
    return fmt::format("the apply lock is held by a transaction idle for {:.1f} s: {} (a stalled replicator?)",
                       idle_s, holder);
  }
  return "";
}

std::string site_watch::impl::read_clock_and_errors(pqxx::transaction_base& tx) {
  const auto r = tx.exec1(
      "SELECT hlc_ahead_ms, max_clock_skew_ms, apply_errors, coalesce(newest_apply_error_s, -1), "
      "ahead_of_peers_ms FROM zonemesh.write_health()");
  const auto ahead_ms = r[0].as<long long>();
  const auto bound_ms = r[1].as<long long>();
  const auto errors = r[2].as<long long>();
  const double newest_s = r[3].as<double>();
  hlc_ahead.set(static_cast<double>(ahead_ms) / 1000);
  apply_errors.set(static_cast<double>(errors));
  const bool growing = errors > 0 && newest_s >= 0 && newest_s < 60;
  apply_errors_alarm.set(growing ? 1 : 0);
  const auto ahead_of_peers_ms = r[4].as<long long>();
  std::string out;
  if (ahead_of_peers_ms > 0) {
    out = fmt::format("this site's clock is {:.1f} s ahead of its peers', beyond the {} ms bound: local writes are "
                      "refused (see docs/operations.md, \"Clock jumps\")",
                      static_cast<double>(ahead_of_peers_ms) / 1000, bound_ms);
  } else if (ahead_ms > bound_ms) {
    out = fmt::format("this site's clock (HLC) is {:.1f} s ahead of its physical clock, beyond the {} ms bound: "
                      "local writes are refused (see docs/operations.md, \"Clock jumps\")",
                      static_cast<double>(ahead_ms) / 1000, bound_ms);
  }
  if (growing) {
    out += fmt::format("{}{} peers' transaction(s) kept aside in zonemesh.apply_errors, the newest {:.0f} s ago",
                       out.empty() ? "" : "; ", errors, newest_s);
  }
  return out;
}

void site_watch::impl::run() {
  std::unique_ptr<pqxx::connection> conn;
  std::string last_logged;
  while (true) {
    std::string now;
    try {
      if (!conn || !conn->is_open()) conn = std::make_unique<pqxx::connection>(conninfo);
      now = read(*conn);
    } catch (const std::exception& e) {
      conn.reset();  // the zone follower reports an unreachable database
    }
    if (now != last_logged) {
      if (!now.empty()) spdlog::warn("{}", now);
      else if (!last_logged.empty()) spdlog::info("local writes no longer wait on the apply lock");
      last_logged = now;
    }
    std::unique_lock lock(mutex);
    reason = now;
    if (cv.wait_for(lock, interval, [&] { return stopping; })) return;
  }
}

site_watch::site_watch(std::string conninfo, common::metrics::registry& metrics,
                                   std::chrono::milliseconds interval, std::chrono::milliseconds degraded_after)
    : impl_(std::make_unique<impl>(std::move(conninfo), metrics, interval, degraded_after)) {}

site_watch::~site_watch() { stop(); }

void site_watch::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void site_watch::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

site_health site_watch::health() const {
  std::lock_guard lock(impl_->mutex);
  return {impl_->reason.empty(), impl_->reason};
}

}  // namespace zonemesh::server
