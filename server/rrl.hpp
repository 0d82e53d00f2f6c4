#pragma once
// Response rate limiting (RRL), as Knot and NSD do it: UDP responses of one
// kind (answer, NODATA, NXDOMAIN, referral, error) to one client prefix (/24
// for IPv4, /56 for IPv6) beyond a rate per second are dropped, and every
// slip-th of the dropped ones is sent truncated (TC=1, no records) so that a
// real client behind the prefix retries over TCP. A forged-source flood thus
// cannot turn a site into a reflector. TCP is never limited.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "query_processor.hpp"
#include "transfer_policy.hpp"

namespace zonemesh::common::metrics {
class registry;
class counter;
}  // namespace zonemesh::common::metrics

namespace zonemesh::server {

struct rrl_options {
  bool enabled = false;
  std::uint32_t responses_per_second =
      200;                 ///< per prefix and kind; bursts up to one second's worth
  std::uint32_t slip = 2;  ///< 0: drop all; 1: truncate all; N: every N-th truncated
  std::uint8_t ipv4_prefix = 24;
  std::uint8_t ipv6_prefix = 56;
  std::vector<network> whitelist;  ///< clients never limited
  std::size_t table_size = 65536;  ///< buckets (a power of two is used)
};

enum class response_kind : std::uint8_t { answer, nodata, nxdomain, referral, error };
inline constexpr std::size_t response_kind_count = 5;

enum class rrl_verdict : std::uint8_t { send, drop, slip };

/// The kind of a response, from its header.
[[nodiscard]] response_kind classify_response(std::span<const std::uint8_t> reply);

/// One per server, shared by every worker thread. check() takes one striped
/// lock and allocates nothing.
class rate_limiter {
 public:
  rate_limiter(rrl_options options, common::metrics::registry& metrics);
  ~rate_limiter();

  /// Whether to send a response of `kind` to the client in `ctx`, at
  /// `now_ms` (a monotonic clock in milliseconds).
  [[nodiscard]] rrl_verdict check(const query_context& ctx, response_kind kind,
                                  std::uint64_t now_ms);

  [[nodiscard]] const rrl_options& options() const { return options_; }

 private:
  struct bucket {
    std::array<std::uint8_t, 8> prefix{};  ///< the masked address (IPv6 /56 fits in 8)
    std::uint8_t family = 0;               ///< 0 unused, 4 or 6
    std::uint8_t kind = 0;
    std::uint64_t time_ms = 0;      ///< last refill
    std::int64_t tokens_milli = 0;  ///< tokens * 1000
    std::uint32_t dropped = 0;      ///< since the bucket was last under the rate
    std::uint64_t logged_s = 0;     ///< second of the last log line
  };
  static constexpr std::size_t stripes = 64;

  rrl_options options_;
  std::vector<bucket> table_;
  std::size_t mask_ = 0;
  std::array<std::mutex, stripes> locks_;
  std::array<common::metrics::counter*, response_kind_count> dropped_{};
  std::array<common::metrics::counter*, response_kind_count> slipped_{};
  common::metrics::counter* exempt_ = nullptr;
};

/// A query processor that passes UDP responses through a rate_limiter:
/// a dropped response is not sent (process() returns 0), a slipped one is
/// cut to its header and question with TC=1.
class rate_limited_processor : public query_processor {
 public:
  rate_limited_processor(std::unique_ptr<query_processor> inner,
                         std::shared_ptr<rate_limiter> limiter);

  std::size_t process(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                      const query_context& ctx) override;
  std::unique_ptr<message_stream> take_stream() override { return inner_->take_stream(); }
  bool client_verified() const override { return inner_->client_verified(); }

 private:
  std::unique_ptr<query_processor> inner_;
  std::shared_ptr<rate_limiter> limiter_;
};

}  // namespace zonemesh::server
