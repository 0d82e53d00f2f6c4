#pragma once
// Who may transfer which zone, the TSIG keys, and where NOTIFY goes: read
// from the replicated tables tsig_keys and zone_metadata (kinds as PowerDNS
// names them: ALLOW-AXFR-FROM, TSIG-ALLOW-AXFR, ALSO-NOTIFY), published as an
// immutable snapshot that DNS workers read without locks.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.hpp"
#include "query_processor.hpp"
#include "tsig.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

/// An address prefix: "192.0.2.0/24", "2001:db8::/32" or one address.
struct network {
  bool v6 = false;
  std::array<std::uint8_t, 16> address{};
  std::uint8_t prefix = 0;

  static std::optional<network> parse(std::string_view text);
  [[nodiscard]] bool contains(const query_context& peer) const;
  [[nodiscard]] bool contains(bool peer_v6, const std::uint8_t* peer_address) const;
};

/// A host to send NOTIFY to: "192.0.2.1", "192.0.2.1:5300", "[2001:db8::1]:53".
struct notify_target {
  std::string address;
  std::uint16_t port = 53;
  static std::optional<notify_target> parse(std::string_view text);
};

struct zone_policy {
  std::vector<network> allow_transfer_from;    ///< ALLOW-AXFR-FROM
  std::vector<dns::name> allow_transfer_keys;  ///< TSIG-ALLOW-AXFR: key names
  std::vector<notify_target> also_notify;      ///< ALSO-NOTIFY
  std::vector<network> allow_update_from;      ///< ALLOW-DNSUPDATE-FROM
  std::vector<dns::name> allow_update_keys;    ///< TSIG-ALLOW-DNSUPDATE: key names
  // Secondary zones (zones.kind = 'secondary'):
  bool secondary = false;
  bool expired = false;  ///< X-ZONEMESH-EXPIRED: not refreshed within the SOA expire: SERVFAIL
  std::vector<notify_target> primaries;      ///< PRIMARY: where to pull from, in order
  std::optional<dns::name> primary_key;      ///< AXFR-MASTER-TSIG: the key to pull with
  std::vector<std::string> secondary_sites;  ///< SECONDARY-SITE: which sites pull (none: all)
};

/// One immutable snapshot of keys and per-zone policies.
class transfer_policy {
 public:
  /// The key with this name (any case), or null.
  [[nodiscard]] const tsig::key* find_key(const dns::name& name) const;
  /// The policy of the zone at `apex`, or null when it has no metadata.
  [[nodiscard]] const zone_policy* find_zone(const dns::name& apex) const;
  /// May `peer`, having proven `key` (null: unsigned), transfer `apex`?
  /// The zone's own rules and those of the catalogs (which list every zone).
  [[nodiscard]] bool may_transfer(const dns::name& apex, const query_context& peer,
                                  const dns::name* key) const;
  /// May `peer`, having proven `key` (null: unsigned), UPDATE `apex`
  /// (RFC 2136)? Only when the zone has an update rule; each rule it has
  /// must hold: the address among ALLOW-DNSUPDATE-FROM, the key among
  /// TSIG-ALLOW-DNSUPDATE.
  [[nodiscard]] bool may_update(const dns::name& apex, const query_context& peer,
                                const dns::name* key) const;
  /// Where NOTIFYs for `apex` go: its ALSO-NOTIFY and the catalogs'.
  [[nodiscard]] std::vector<notify_target> notify_targets(const dns::name& apex) const;
  /// The key NOTIFYs for `apex` are signed with (its first TSIG-ALLOW-AXFR
  /// key we have, else a catalog's), or null.
  [[nodiscard]] const tsig::key* notify_key(const dns::name& apex) const;
  /// Is some zone expired (a secondary zone past its SOA expire time)?
  [[nodiscard]] bool any_expired() const;
  /// Is the zone at `apex` expired?
  [[nodiscard]] bool is_expired(const dns::name& apex) const;
  /// Is `peer` one of the primaries of the secondary zone `apex` (NOTIFY in)?
  [[nodiscard]] bool is_primary_of(const dns::name& apex, const query_context& peer) const;
  /// Marks `apex` as a catalog zone (CATALOG-ZONE): call after its rules.
  void add_catalog(const dns::name& apex);
  [[nodiscard]] bool has_catalog_targets() const { return !catalogs_.also_notify.empty(); }

  void add_key(tsig::key k);
  zone_policy& zone(const dns::name& apex);
  [[nodiscard]] std::size_t key_count() const { return keys_.size(); }
  [[nodiscard]] const std::map<std::string, zone_policy>& zones() const { return zones_; }

 private:
  std::map<std::string, tsig::key> keys_;     ///< by lowercase name with trailing dot
  std::map<std::string, zone_policy> zones_;  ///< likewise
  zone_policy catalogs_;                      ///< the catalogs' rules together
};

/// The current snapshot; readers never wait.
class policy_publisher {
 public:
  policy_publisher() : current_(std::make_shared<const transfer_policy>()) {}
  [[nodiscard]] std::shared_ptr<const transfer_policy> current() const {
    return current_.load(std::memory_order_acquire);
  }
  void publish(std::shared_ptr<const transfer_policy> p) {
    expired_.store(p->any_expired(), std::memory_order_release);
    current_.store(std::move(p), std::memory_order_release);
  }
  /// Cheap, for every query: are there expired zones to answer SERVFAIL for?
  [[nodiscard]] bool has_expired_zones() const { return expired_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const transfer_policy>> current_;
  std::atomic<bool> expired_{false};
};

/// Keeps a policy_publisher equal to the database: reloads the two small
/// tables whenever the change-log moves (LISTEN zonemesh_changelog as the
/// wake-up, the change-log position as the truth), reconnecting with backoff.
/// A row that does not parse (a key with bad base64, a network that is not
/// one) is skipped with a log line and counted in
/// zonemesh_transfer_policy_errors_total.
class policy_follower {
 public:
  policy_follower(std::string conninfo, std::shared_ptr<policy_publisher> out,
                  common::metrics::registry& metrics,
                  std::chrono::milliseconds poll_interval = std::chrono::milliseconds(1000));
  ~policy_follower();
  policy_follower(const policy_follower&) = delete;
  policy_follower& operator=(const policy_follower&) = delete;
  void start();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
