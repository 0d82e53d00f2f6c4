#include "apply_lock_watch.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/metrics.hpp"

namespace zonemesh::server {

struct apply_lock_watch::impl {
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
                               "How long the transaction holding the apply lock has been open (0: free)")) {}

  void run();
  /// One reading; returns the reason /health is degraded, or "".
  std::string read(pqxx::connection& conn);

  std::string conninfo;
  std::chrono::milliseconds interval;
  std::chrono::milliseconds degraded_after;
  common::metrics::gauge& waiting;
  common::metrics::gauge& longest_wait;
  common::metrics::gauge& held;

  mutable std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::string reason;  ///< under mutex
  std::thread thread;
};

std::string apply_lock_watch::impl::read(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
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

void apply_lock_watch::impl::run() {
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

apply_lock_watch::apply_lock_watch(std::string conninfo, common::metrics::registry& metrics,
                                   std::chrono::milliseconds interval, std::chrono::milliseconds degraded_after)
    : impl_(std::make_unique<impl>(std::move(conninfo), metrics, interval, degraded_after)) {}

apply_lock_watch::~apply_lock_watch() { stop(); }

void apply_lock_watch::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void apply_lock_watch::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

apply_lock_health apply_lock_watch::health() const {
  std::lock_guard lock(impl_->mutex);
  return {impl_->reason.empty(), impl_->reason};
}

}  // namespace zonemesh::server
