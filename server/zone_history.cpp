#include "zone_history.hpp"

namespace zonemesh::server {

void zone_history::observe(const std::shared_ptr<const store::zone_set>& set) {
  std::lock_guard lock(mutex_);
  if (set == last_) return;
  const auto now = set->zones();
  const auto before =
      last_ ? last_->zones() : std::span<const std::shared_ptr<const store::zone_snapshot>>{};
  // Both sets are in canonical order and share unchanged snapshots: walk
  // them side by side and touch only zones that are new, changed or gone.
  std::size_t i = 0, j = 0;
  while (i < now.size() || j < before.size()) {
    const int order = i == now.size()      ? 1
                      : j == before.size() ? -1
                                           : canonical_compare(now[i]->apex(), before[j]->apex());
    if (order > 0) {  // gone
      versions_.erase(before[j]->apex().lowercased().to_string());
      ++j;
      continue;
    }
    const auto& z = now[i];
    if (order < 0 || before[j] != z) {
      auto& list = versions_[z->apex().lowercased().to_string()];
      if (!list.empty() && list.back()->serial() == z->serial())
        list.pop_back();  // same serial: the newest
      list.push_back(z);
      while (list.size() > max_versions_) list.pop_front();
    }
    ++i;
    if (order == 0) ++j;
  }
  last_ = set;
}

std::shared_ptr<const store::zone_snapshot> zone_history::find(const dns::name& apex,
                                                               std::uint32_t serial) const {
  std::lock_guard lock(mutex_);
  auto it = versions_.find(apex.lowercased().to_string());
  if (it == versions_.end()) return nullptr;
  for (auto v = it->second.rbegin(); v != it->second.rend(); ++v) {
    if ((*v)->serial() == serial) return *v;
  }
  return nullptr;
}

}  // namespace zonemesh::server
