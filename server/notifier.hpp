#pragma once
// NOTIFY out (RFC 1996): whenever a served zone's serial changes at this
// site, whatever made the change (SQL, the API, UPDATE, replication), the
// zone's ALSO-NOTIFY targets are told, with retries until they answer.
// NOTIFYs are signed with the zone's first TSIG-ALLOW-AXFR key, as the
// secondaries will use that key to transfer.

#include <chrono>
#include <memory>

#include "store/zone_set.hpp"
#include "transfer_policy.hpp"
#include "zone_history.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

struct notifier_options {
  std::chrono::milliseconds check_interval{20};    ///< how often published serials are compared
  std::chrono::milliseconds retry_interval{2000};  ///< resend when a target did not answer
  unsigned attempts = 5;                           ///< then give up (logged and counted)
};

/// It also records each published zone version in `history` (for IXFR).
/// Metrics: zonemesh_notify_total{result="acknowledged"|"failed"|"error"}.
class notifier {
 public:
  notifier(std::shared_ptr<const store::zone_publisher> zones,
           std::shared_ptr<const policy_publisher> policy, common::metrics::registry& metrics,
           notifier_options options = {}, std::shared_ptr<zone_history> history = nullptr);
  ~notifier();
  notifier(const notifier&) = delete;
  notifier& operator=(const notifier&) = delete;
  void start();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
