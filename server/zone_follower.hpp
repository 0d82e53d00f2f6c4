#pragma once
// Keeps the in-memory zones equal to the site's database: loads every zone at
// start, then follows the change-log (LISTEN wakes it, zonemesh.changes_since
// is the truth) and publishes each batch of committed transactions at once.
// Survives database outages by serving the last good data and reconnecting.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "store/zone_set.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

struct follower_options {
  std::chrono::milliseconds poll_interval{250};  ///< re-read the log even without NOTIFY
  std::chrono::milliseconds min_backoff{100};    ///< first reconnect delay
  std::chrono::milliseconds max_backoff{5000};
  /// /health turns 503 when the change-log was not read for this long.
  std::chrono::milliseconds stale_after{5000};
  /// Called (on the follower's thread) when it gives up for good: the
  /// database's schema is not one this binary can serve.
  std::function<void(const std::string&)> on_fatal;
};

struct follower_health {
  bool ok = false;
  std::string reason;  ///< why not ok, for /health
};

/// Follows one database into one zone_publisher, on its own thread with its
/// own connections (one for queries, one for LISTEN). A full load of a
/// records table larger than 2 MiB also opens, for the load's duration, a
/// third connection that reads half of the table in the same snapshot.
///
/// Metrics: zonemesh_zones, zonemesh_records, zonemesh_changelog_position,
/// zonemesh_database_connected, zonemesh_changelog_entries_total,
/// zonemesh_record_errors_total, zonemesh_zone_errors_total,
/// zonemesh_database_errors_total.
class zone_follower {
 public:
  zone_follower(std::string conninfo, std::shared_ptr<store::zone_publisher> zones,
                common::metrics::registry& metrics, follower_options options = {});
  ~zone_follower();  ///< stops
  zone_follower(const zone_follower&) = delete;
  zone_follower& operator=(const zone_follower&) = delete;

  void start();
  void stop();

  [[nodiscard]] follower_health health() const;
  /// The last change-log position whose changes are being served.
  [[nodiscard]] std::int64_t position() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Splits one line of COPY text output (as the follower reads records) into
/// `fields`, undoing COPY's backslash escapes in place. False when the line
/// holds another number of fields, a NULL or a broken escape.
bool split_copy_line(std::string& line, std::span<std::string_view> fields);

}  // namespace zonemesh::server
