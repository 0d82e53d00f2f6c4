#pragma once
// Secondary zones: a zone of kind 'secondary' is pulled by IXFR or AXFR (TSIG)
// from its external primaries (zone metadata PRIMARY, AXFR-MASTER-TSIG) by
// the sites its SECONDARY-SITE rows name (every site when there is none),
// written to the database as the difference to what is there, and so
// replicated to every other site: one pull serves the whole cluster.
// Refresh and retry follow the primary's SOA; a NOTIFY from a primary
// triggers a pull at once.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/name.hpp"
#include "transfer_policy.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

/// One RR of a transfer, RDATA uncompressed.
struct transfer_rr {
  dns::name owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

/// The primary's SOA serial, asked over TCP (signed when `key` is given).
/// nullopt with `error` set when it could not be had.
std::optional<std::uint32_t> fetch_serial(const notify_target& primary, const dns::name& zone,
                                          const tsig::key* key, std::chrono::milliseconds timeout,
                                          std::string& error);

/// One IXFR difference: what went and what came.
struct transfer_diff {
  std::vector<transfer_rr> deleted;
  std::vector<transfer_rr> added;
};

/// What a zone transfer brought.
struct transfer_result {
  bool ok = false;
  bool up_to_date = false;         ///< IXFR: nothing newer than `since`
  bool incremental = false;        ///< IXFR answered with differences (`diffs`)
  transfer_rr soa;                 ///< the primary's current SOA
  std::vector<transfer_rr> whole;  ///< the zone without its SOA (AXFR, or IXFR in AXFR form)
  std::vector<transfer_diff> diffs;
};

/// AXFR, or IXFR from serial `since` when given (RFC 1995). Every message
/// must be signed when `key` is given. `ok` false with `error` set on any
/// failure; a partial transfer is never returned as ok.
transfer_result fetch_transfer(const notify_target& primary, const dns::name& zone,
                               const tsig::key* key, std::optional<std::uint32_t> since,
                               std::chrono::milliseconds timeout, std::string& error);

struct secondary_options {
  std::chrono::seconds min_refresh{5};       ///< floor on the SOA's refresh and retry
  std::chrono::milliseconds timeout{10000};  ///< per SOA query or transfer step
};

/// Metrics: zonemesh_secondary_pulls_total{result}, zonemesh_secondary_zones_expired.
class secondary_puller {
 public:
  secondary_puller(std::string conninfo, std::string node,
                   std::shared_ptr<const policy_publisher> policy,
                   common::metrics::registry& metrics, secondary_options options = {});
  ~secondary_puller();
  secondary_puller(const secondary_puller&) = delete;
  secondary_puller& operator=(const secondary_puller&) = delete;
  void start();
  void stop();
  /// A primary notified us about `zone`: check it now (any thread).
  void notify(const dns::name& zone);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
