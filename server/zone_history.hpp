#pragma once
// The last versions of each served zone, kept so that IXFR (RFC 1995) can
// answer a secondary with only what changed since its serial. Versions are
// the immutable snapshots the server published (they share their unchanged
// parts), so keeping a few costs little; a serial older than what is kept,
// or from before a restart, is answered with the whole zone.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store/zone_set.hpp"

namespace zonemesh::server {

class zone_history {
 public:
  explicit zone_history(std::size_t versions_per_zone = 32) : max_versions_(versions_per_zone) {}

  /// Records the zones of `set` that changed since the last set observed.
  void observe(const std::shared_ptr<const store::zone_set>& set);
  /// The version of the zone at `apex` that served `serial`, or null.
  [[nodiscard]] std::shared_ptr<const store::zone_snapshot> find(const dns::name& apex,
                                                                 std::uint32_t serial) const;

 private:
  std::size_t max_versions_;
  mutable std::mutex mutex_;
  std::shared_ptr<const store::zone_set> last_;
  std::map<std::string, std::deque<std::shared_ptr<const store::zone_snapshot>>> versions_;
};

}  // namespace zonemesh::server
