// Watching the apply lock that local writes wait on, for /health and /metrics.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

struct apply_lock_health {
  bool ok = true;
  std::string reason;  ///< why not ok, for /health
};

/// Every `interval`, on a thread and a connection of its own, reads
/// zonemesh.apply_lock_status(): how many local writes wait for the apply
/// lock (sql/017) and for how long, and who holds it. /health turns
/// degraded while a write has waited longer than `degraded_after`, or while
/// the lock is held by a transaction idle for longer than that (a stalled
/// replicator). Metrics: zonemesh_writes_waiting_on_apply_lock,
/// zonemesh_apply_lock_longest_wait_seconds, zonemesh_apply_lock_held_seconds.
class apply_lock_watch {
 public:
  apply_lock_watch(std::string conninfo, common::metrics::registry& metrics,
                   std::chrono::milliseconds interval = std::chrono::milliseconds(1000),
                   std::chrono::milliseconds degraded_after = std::chrono::milliseconds(2000));
  ~apply_lock_watch();
  apply_lock_watch(const apply_lock_watch&) = delete;
  apply_lock_watch& operator=(const apply_lock_watch&) = delete;

  void start();
  void stop();
  [[nodiscard]] apply_lock_health health() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
