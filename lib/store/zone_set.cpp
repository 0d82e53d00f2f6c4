// Zone set lookup and publication.
#include "store/zone_set.hpp"

#include <algorithm>

namespace zonemesh::store {

const zone_snapshot* zone_set::find_key(std::string_view key) const {
  auto it = std::lower_bound(
      keys_.begin(), keys_.end(), key,
      [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  if (it == keys_.end() || *it != key) return nullptr;
  return zones_[static_cast<std::size_t>(it - keys_.begin())].get();
}

const zone_snapshot* zone_set::find_zone(const dns::name& qname) const {
  if (zones_.empty()) return nullptr;
  const lookup_key key(qname);
  for (std::size_t labels = key.label_count() + 1; labels-- > 0;) {
    if (const zone_snapshot* z = find_key(key.prefix(labels)); z != nullptr) return z;
  }
  return nullptr;
}

std::shared_ptr<const zone_snapshot> zone_set::find_exact(const dns::name& apex) const {
  const lookup_key key(apex);
  auto it = std::lower_bound(
      keys_.begin(), keys_.end(), key.full(),
      [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  if (it == keys_.end() || *it != key.full()) return nullptr;
  return zones_[static_cast<std::size_t>(it - keys_.begin())];
}

std::shared_ptr<const zone_set> zone_set::with_zone(
    std::shared_ptr<const zone_snapshot> zone) const {
  auto next = std::make_shared<zone_set>(*this);
  const lookup_key key(zone->apex());
  auto it = std::lower_bound(
      next->keys_.begin(), next->keys_.end(), key.full(),
      [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  const auto index = it - next->keys_.begin();
  if (it != next->keys_.end() && *it == key.full()) {
    next->zones_[static_cast<std::size_t>(index)] = std::move(zone);
  } else {
    next->keys_.insert(it, std::string(key.full()));
    next->zones_.insert(next->zones_.begin() + index, std::move(zone));
  }
  return next;
}

std::shared_ptr<const zone_set> zone_set::without_zone(const dns::name& apex) const {
  auto next = std::make_shared<zone_set>(*this);
  const lookup_key key(apex);
  auto it = std::lower_bound(
      next->keys_.begin(), next->keys_.end(), key.full(),
      [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  if (it != next->keys_.end() && *it == key.full()) {
    next->zones_.erase(next->zones_.begin() + (it - next->keys_.begin()));
    next->keys_.erase(it);
  }
  return next;
}

zone_publisher::zone_publisher() : current_(std::make_shared<const zone_set>()) {}

void zone_publisher::publish(std::shared_ptr<const zone_set> set) {
  std::lock_guard lock(writers_);
  current_.store(std::move(set), std::memory_order_release);
  notify();
}

void zone_publisher::put_zone(std::shared_ptr<const zone_snapshot> zone) {
  std::lock_guard lock(writers_);
  current_.store(current_.load()->with_zone(std::move(zone)), std::memory_order_release);
  notify();
}

void zone_publisher::remove_zone(const dns::name& apex) {
  std::lock_guard lock(writers_);
  current_.store(current_.load()->without_zone(apex), std::memory_order_release);
  notify();
}

std::string zone_publisher::apply(const dns::name& apex, std::span<const record_change> changes,
                                  std::uint32_t serial) {
  std::lock_guard lock(writers_);
  const auto set = current_.load();
  const auto base = set->find_exact(apex);
  if (base == nullptr) return "zone " + apex.to_string() + " is not loaded";
  auto built = apply_changes(*base, changes, serial);
  if (!built) return built.error;
  current_.store(set->with_zone(std::move(built.zone)), std::memory_order_release);
  notify();
  return {};
}

}  // namespace zonemesh::store
