#pragma once
// The set of served zones and its RCU-style publication: readers take a
// shared_ptr to an immutable zone_set and never wait for writers.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "store/zone.hpp"

namespace zonemesh::store {

/// All served zones, immutable. Changing it makes a new set that shares the
/// unchanged zones.
class zone_set {
 public:
  /// The zone whose apex is the longest match for `qname`, or null (no allocation).
  const zone_snapshot* find_zone(const dns::name& qname) const;
  /// The zone with exactly this apex, or null.
  std::shared_ptr<const zone_snapshot> find_exact(const dns::name& apex) const;

  /// A copy with `zone` added or replacing the zone with the same apex.
  std::shared_ptr<const zone_set> with_zone(std::shared_ptr<const zone_snapshot> zone) const;
  /// A copy without the zone at `apex` (the same contents when absent).
  std::shared_ptr<const zone_set> without_zone(const dns::name& apex) const;

  std::size_t size() const { return zones_.size(); }
  std::span<const std::shared_ptr<const zone_snapshot>> zones() const { return zones_; }

 private:
  const zone_snapshot* find_key(std::string_view key) const;
  std::vector<std::shared_ptr<const zone_snapshot>> zones_;  ///< sorted by apex key
  std::vector<std::string> keys_;                            ///< lookup keys of the apexes
};

/// Publishes the current zone_set. Readers call current() (lock-free in the
/// sense that matters: they never wait for a writer building a zone); writers
/// are serialised among themselves so that read-modify-write loses nothing.
class zone_publisher {
 public:
  zone_publisher();

  std::shared_ptr<const zone_set> current() const {
    return current_.load(std::memory_order_acquire);
  }

  /// Replaces the whole set (initial load).
  void publish(std::shared_ptr<const zone_set> set);
  /// Adds or replaces one zone.
  void put_zone(std::shared_ptr<const zone_snapshot> zone);
  void remove_zone(const dns::name& apex);
  /// Applies a change batch to the zone at `apex` and publishes the result.
  /// Returns an error string (nothing is published) or an empty string.
  std::string apply(const dns::name& apex, std::span<const record_change> changes,
                    std::uint32_t serial);
  /// Called after every publication (on the writer's thread, writers held):
  /// lets a consumer such as the DNSSEC signer wake up. Set it before any
  /// writer starts; it must be quick and must not publish here.
  void on_publish(std::function<void()> callback) { on_publish_ = std::move(callback); }

 private:
  void notify() const {
    if (on_publish_) on_publish_();
  }
  std::atomic<std::shared_ptr<const zone_set>> current_;
  std::mutex writers_;
  std::function<void()> on_publish_;
};

}  // namespace zonemesh::store
