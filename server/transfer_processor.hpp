#pragma once
// The query processor of zonemesh-server: the authoritative answers of
// query_processor_impl plus what the DNS world around it needs: TSIG on any
// request (RFC 8945), and zone transfers out (AXFR, RFC 5936; IXFR, RFC 1995)
// as the zone's metadata allows (IXFR as a difference to a recent version),
// and dynamic UPDATE (RFC 2136) into the
// site's database.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "dns_update.hpp"
#include "query_processor_impl.hpp"
#include "transfer_policy.hpp"
#include "zone_history.hpp"

namespace zonemesh::server {

struct transfer_options {
  /// Size to which transfer messages are filled (RFC 5936 allows 65535; a
  /// smaller message reaches the client sooner and costs less memory).
  std::size_t message_size = 16 * 1024;
  /// Fudge of the signatures we make.
  std::uint16_t fudge = 300;
  /// The clock, seconds since the epoch (tests replace it).
  std::function<std::uint64_t()> now;
  /// A primary notified us about one of our secondary zones (NOTIFY in).
  std::function<void(const dns::name&)> on_notify;
};

class transfer_processor : public query_processor_impl {
 public:
  transfer_processor(std::shared_ptr<const store::zone_publisher> zones,
                     std::shared_ptr<const policy_publisher> policy, server_identity identity,
                     processor_options options = {}, transfer_options transfer = {},
                     std::shared_ptr<update_executor> updates = nullptr,
                     std::shared_ptr<const zone_history> history = nullptr);

  std::size_t process(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                      const query_context& ctx) override;
  std::unique_ptr<message_stream> take_stream() override { return std::move(stream_); }

 private:
  std::shared_ptr<const store::zone_publisher> zones_;
  std::shared_ptr<const policy_publisher> policy_;
  processor_options options_;
  transfer_options transfer_;
  std::shared_ptr<update_executor> updates_;     ///< null: UPDATE is NOTIMP
  std::shared_ptr<const zone_history> history_;  ///< null: IXFR is always answered in full
  std::unique_ptr<message_stream> stream_;
};

}  // namespace zonemesh::server
