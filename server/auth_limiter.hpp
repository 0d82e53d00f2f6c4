#pragma once
// Slows down API key guessing: counts wrong keys per client address and
// refuses an address that sent too many for a while (the API answers 429
// with Retry-After). No I/O; the caller gives the time.

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace zonemesh::server {

struct auth_limiter_options {
  unsigned max_failures = 10;            ///< within `window`; 0 = no limit
  std::chrono::seconds window{60};
  std::chrono::seconds block{60};
  std::size_t max_tracked = 100'000;     ///< addresses remembered at once (oldest dropped)
};

class auth_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit auth_limiter(auth_limiter_options options) : options_(options) {}

  /// Seconds the address must wait (Retry-After), or 0 when it may try.
  [[nodiscard]] long long blocked_for(const std::string& address, clock::time_point now) const;

  /// Notes a wrong key; true when this failure starts a block (log it then).
  bool failed(const std::string& address, clock::time_point now);

  /// Notes a right key: the address's failures are forgotten.
  void succeeded(const std::string& address);

  /// Addresses blocked at `now` (drops expired entries first).
  std::size_t blocked_count(clock::time_point now);

 private:
  struct entry {
    unsigned failures = 0;
    clock::time_point window_start{};
    clock::time_point blocked_until{};
  };
  void prune(clock::time_point now);

  auth_limiter_options options_;
  std::map<std::string, entry> entries_;
};

}  // namespace zonemesh::server
