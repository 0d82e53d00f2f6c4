// Watching what makes a site's writes fail or stall, for /health and /metrics:
// the apply lock local writes wait on, the clock, peers' changes kept aside.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

struct site_health {
  bool ok = true;
  std::string reason;  ///< why not ok, for /health
};

/// Every `interval`, on a thread and a connection of its own, reads
/// zonemesh.apply_lock_status() (sql/017) and zonemesh.write_health() (sql/018).
/// /health turns degraded while:
/// - a local write has waited for the apply lock longer than
///   `degraded_after`, or the lock is held by a transaction idle for longer
///   than that (a stalled replicator);
/// - this site's HLC is ahead of its physical clock by more than the skew
///   bound (the clock went back: local writes are refused);
/// - zonemesh.apply_errors holds source transactions and gained one within
///   the last minute (peers' changes that cannot be applied here).
/// Metrics: zonemesh_writes_waiting_on_apply_lock,
/// zonemesh_apply_lock_longest_wait_seconds, zonemesh_apply_lock_held_seconds,
/// zonemesh_hlc_ahead_seconds, zonemesh_apply_errors, zonemesh_apply_errors_alarm.
class site_watch {
 public:
  site_watch(std::string conninfo, common::metrics::registry& metrics,
                   std::chrono::milliseconds interval = std::chrono::milliseconds(1000),
                   std::chrono::milliseconds degraded_after = std::chrono::milliseconds(2000));
  ~site_watch();
  site_watch(const site_watch&) = delete;
  site_watch& operator=(const site_watch&) = delete;

  void start();
  void stop();
  [[nodiscard]] site_health health() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
