// API key guessing limits per client address.

#include "auth_limiter.hpp"

namespace zonemesh::server {

long long auth_limiter::blocked_for(const std::string& address, clock::time_point now) const {
  auto it = entries_.find(address);
  if (it == entries_.end() || it->second.blocked_until <= now) return 0;
  auto left = std::chrono::duration_cast<std::chrono::seconds>(it->second.blocked_until - now).count();
  return left < 1 ? 1 : left;
}

bool auth_limiter::failed(const std::string& address, clock::time_point now) {
  if (options_.max_failures == 0) return false;
  auto it = entries_.find(address);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_tracked) prune(now);
    if (entries_.size() >= options_.max_tracked) return false;  // an address flood: stay bounded
    it = entries_.emplace(address, entry{}).first;
  }
  auto& e = it->second;
  if (e.blocked_until > now) return false;  // refused already
  if (e.failures == 0 || now - e.window_start >= options_.window) {
    e.failures = 0;
    e.window_start = now;
  }
  if (++e.failures < options_.max_failures) return false;
  e.failures = 0;
  e.blocked_until = now + options_.block;
  return true;
}

void auth_limiter::succeeded(const std::string& address) { entries_.erase(address); }

std::size_t auth_limiter::blocked_count(clock::time_point now) {
  prune(now);
  std::size_t n = 0;
  for (const auto& [address, e] : entries_) {
    if (e.blocked_until > now) ++n;
  }
  return n;
}

void auth_limiter::prune(clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const auto& e = it->second;
    if (e.blocked_until <= now && (e.failures == 0 || now - e.window_start >= options_.window)) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace zonemesh::server
