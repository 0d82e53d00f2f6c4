// Response rate limiting: a fixed table of token buckets keyed by client
// prefix and response kind.
#include "rrl.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "common/metrics.hpp"
#include "dns/types.hpp"
#include "dns/wire.hpp"

namespace zonemesh::server {
namespace {

constexpr std::string_view kind_names[response_kind_count] = {"answer", "nodata", "nxdomain",
                                                              "referral", "error"};

std::uint16_t u16_at(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

/// FNV-1a over the prefix, its family and the kind.
std::uint64_t bucket_hash(const std::array<std::uint8_t, 8>& prefix, std::uint8_t family,
                          std::uint8_t kind) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const std::uint8_t b : prefix) h = (h ^ b) * 1099511628211ULL;
  h = (h ^ family) * 1099511628211ULL;
  h = (h ^ kind) * 1099511628211ULL;
  return h ^ (h >> 29);
}

std::string prefix_text(const std::array<std::uint8_t, 8>& prefix, bool v6, unsigned bits) {
  char text[INET6_ADDRSTRLEN] = {};
  std::uint8_t full[16] = {};
  std::memcpy(full, prefix.data(), v6 ? 8 : 4);
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, full, text, sizeof text);
  return std::string(text) + "/" + std::to_string(bits);
}

}  // namespace

response_kind classify_response(std::span<const std::uint8_t> reply) {
  if (reply.size() < dns::header_size) return response_kind::error;
  const std::uint16_t flags = u16_at(reply, 2);
  const std::uint16_t rcode = flags & 0xf;
  if (rcode == dns::rcode::nxdomain) return response_kind::nxdomain;
  if (rcode != dns::rcode::noerror) return response_kind::error;
  if (u16_at(reply, 6) > 0) return response_kind::answer;
  if ((flags & dns::flag::aa) == 0 && u16_at(reply, 8) > 0) return response_kind::referral;
  return response_kind::nodata;
}

rate_limiter::rate_limiter(rrl_options options, common::metrics::registry& metrics)
    : options_(std::move(options)) {
  std::size_t size = 1024;
  while (size < options_.table_size && size < (std::size_t{1} << 24)) size <<= 1;
  table_.resize(size);
  mask_ = size - 1;
  auto& dropped = metrics.add_counter_family(
      "zonemesh_rrl_dropped_total",
      "UDP responses not sent because their client prefix exceeded the rate (RRL)", {"kind"});
  auto& slipped = metrics.add_counter_family(
      "zonemesh_rrl_slipped_total",
      "UDP responses over the rate sent truncated (TC=1) instead of dropped (RRL slip)", {"kind"});
  for (std::size_t k = 0; k < response_kind_count; ++k) {
    dropped_[k] = &dropped.with({kind_names[k]});
    slipped_[k] = &slipped.with({kind_names[k]});
  }
  exempt_ = &metrics.add_counter(
      "zonemesh_rrl_exempt_total",
      "UDP responses not rate limited because the client is whitelisted or sent a valid cookie");
}

rate_limiter::~rate_limiter() = default;

rrl_verdict rate_limiter::check(const query_context& ctx, response_kind kind,
                                std::uint64_t now_ms) {
  for (const auto& n : options_.whitelist) {
    if (n.contains(ctx)) {
      exempt_->inc();
      return rrl_verdict::send;
    }
  }
  std::array<std::uint8_t, 8> prefix{};
  const unsigned bits = ctx.peer_is_ipv6 ? options_.ipv6_prefix : options_.ipv4_prefix;
  const unsigned bytes = ctx.peer_is_ipv6 ? 8 : 4;
  for (unsigned i = 0; i < bytes; ++i) {
    const unsigned keep = bits >= (i + 1) * 8 ? 8 : (bits > i * 8 ? bits - i * 8 : 0);
    const auto m = static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
    prefix[i] = static_cast<std::uint8_t>(ctx.peer_address[i] & m);
  }
  const std::uint8_t family = ctx.peer_is_ipv6 ? 6 : 4;
  const auto k = static_cast<std::uint8_t>(kind);
  const std::size_t index = bucket_hash(prefix, family, k) & mask_;
  const std::int64_t capacity = std::int64_t{options_.responses_per_second} * 1000;

  std::unique_lock lock(locks_[index % stripes]);
  bucket& b = table_[index];
  if (b.family != family || b.kind != k || b.prefix != prefix) {
    // A new client prefix (or a collision, which starts the other one afresh).
    b = bucket{prefix, family, k, now_ms, capacity, 0, 0};
  } else if (now_ms > b.time_ms) {
    const std::uint64_t elapsed = std::min<std::uint64_t>(now_ms - b.time_ms, 1000);
    b.tokens_milli = std::min<std::int64_t>(
        capacity,
        b.tokens_milli + static_cast<std::int64_t>(elapsed * options_.responses_per_second));
    b.time_ms = now_ms;
  }
  if (b.tokens_milli >= 1000) {
    b.tokens_milli -= 1000;
    return rrl_verdict::send;
  }
  const std::uint32_t dropped = ++b.dropped;
  const bool log = b.logged_s != now_ms / 1000;
  if (log) b.logged_s = now_ms / 1000;
  lock.unlock();

  if (log) {
    // At most once per second per prefix and kind.
    spdlog::warn("RRL: {} responses to {} over {}/s, dropping (slip {})", kind_names[k],
                 prefix_text(prefix, ctx.peer_is_ipv6, bits), options_.responses_per_second,
                 options_.slip);
  }
  if (options_.slip != 0 && dropped % options_.slip == 0) {
    slipped_[k]->inc();
    return rrl_verdict::slip;
  }
  dropped_[k]->inc();
  return rrl_verdict::drop;
}

rate_limited_processor::rate_limited_processor(std::unique_ptr<query_processor> inner,
                                               std::shared_ptr<rate_limiter> limiter)
    : inner_(std::move(inner)), limiter_(std::move(limiter)) {}

std::size_t rate_limited_processor::process(std::span<const std::uint8_t> query,
                                            std::span<std::uint8_t> reply,
                                            const query_context& ctx) {
  const std::size_t n = inner_->process(query, reply, ctx);
  if (n == 0 || ctx.proto != transport::udp || inner_->client_verified()) return n;
  const auto now_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  const auto verdict = limiter_->check(ctx, classify_response(reply.first(n)), now_ms);
  if (verdict == rrl_verdict::send) return n;
  if (verdict == rrl_verdict::drop) return 0;
  // Slip: the header and the question, TC=1, nothing else.
  std::size_t end = dns::header_size;
  if (u16_at(reply, 4) == 1) {
    while (end < n && reply[end] != 0 && (reply[end] & 0xc0) == 0) end += 1 + reply[end];
    end += 1 + 4;  // the root label, QTYPE, QCLASS
    if (end > n) end = dns::header_size;
  }
  const bool has_question = end > dns::header_size;
  reply[2] = static_cast<std::uint8_t>(reply[2] | (dns::flag::tc >> 8));
  reply[4] = 0;
  reply[5] = has_question ? 1 : 0;
  std::memset(reply.data() + 6, 0, 6);
  return end;
}

}  // namespace zonemesh::server
