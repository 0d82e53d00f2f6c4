#pragma once
// Dynamic UPDATE (RFC 2136): a parsed UPDATE message, and the executor that
// checks its prerequisites and applies its changes in one transaction of the
// site's database, through the same tables, validation and change-log as
// SQL, so the change is served here at once and replicates everywhere.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dns/name.hpp"

namespace zonemesh::server {

/// One RR of the prerequisite or update section, as sent.
struct update_rr {
  dns::name owner;
  std::uint16_t type = 0;
  std::uint16_t rrclass = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;  ///< uncompressed wire
};

struct update_message {
  dns::name zone;
  std::vector<update_rr> prerequisites;
  std::vector<update_rr> updates;
};

/// The RDATA of an RR of `message` with its names (RFC 1035 types, which
/// may be compressed) written out uncompressed, as the store and the
/// database hold it; false when it does not fit its type's layout.
bool uncompressed_rdata(std::span<const std::uint8_t> message, std::uint16_t type,
                        std::span<const std::uint8_t> rdata, std::vector<std::uint8_t>& out);

/// A name as the database's tables hold it: lowercase, no trailing dot.
std::string database_name(const dns::name& n);

/// Reads the zone, prerequisite and update sections of an UPDATE and checks
/// them as RFC 2136 3.1, 3.2 and 3.4.1 ask (classes, TTLs, types, names
/// inside the zone). Returns NOERROR, FORMERR or NOTZONE.
std::uint16_t parse_update(std::span<const std::uint8_t> message, update_message& out);

/// Applies UPDATEs to one database, one at a time (its own connection,
/// reconnected when lost). Prerequisites are checked inside the transaction
/// that applies the changes, with the zone locked against other UPDATEs.
class update_executor {
 public:
  explicit update_executor(std::string conninfo);
  ~update_executor();
  update_executor(const update_executor&) = delete;
  update_executor& operator=(const update_executor&) = delete;

  /// Returns the rcode: NOERROR, NXDOMAIN, YXDOMAIN, NXRRSET, YXRRSET,
  /// NOTAUTH (zone not in the database or not ours to change), REFUSED
  /// (the database's validation refused a record; `message` says why),
  /// SERVFAIL (database unavailable).
  std::uint16_t apply(const update_message& update, std::string& message);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
