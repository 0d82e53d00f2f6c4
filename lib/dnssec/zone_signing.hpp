#pragma once
// Signs a whole zone snapshot: DNSKEY/CDS/CDNSKEY/NSEC3PARAM at the apex,
// RRSIG over every authoritative RRset (DS at delegations, never NS or glue),
// and the NSEC or NSEC3 chain; the result is a new snapshot holding all of
// it as records (so AXFR/IXFR carry it) and marked signed (zone_dnssec).
// Signatures are reused from a cache keyed by the RRset's content and the
// key, until they come within the refresh margin of their expiration.

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnssec/denial.hpp"
#include "dnssec/key.hpp"
#include "store/zone.hpp"

namespace zonemesh::dnssec {

/// One row of dnssec_keys, parsed.
struct zone_key {
  signing_key key;
  std::uint16_t flags = key_flags::zsk;  ///< 257 = KSK/CSK, 256 = ZSK
  bool published = true;                 ///< in the DNSKEY RRset
  bool active = true;                    ///< signs
  std::vector<std::uint8_t> dnskey;      ///< DNSKEY RDATA
  std::uint16_t tag = 0;

  zone_key(signing_key k, std::uint16_t f, bool pub, bool act);
  bool ksk() const { return (flags & 1) != 0; }
};

struct zone_signing_policy {
  std::vector<zone_key> keys;
  std::optional<nsec3_params> nsec3;  ///< NSEC when empty
  std::uint32_t validity = 14 * 86400;  ///< expiration = now + validity
  std::uint32_t refresh = 7 * 86400;    ///< re-sign when less than this remains
  std::uint32_t inception_offset = 3600;  ///< inception = now - this
  /// A zone is signed when it has at least one active key.
  bool signs() const;
};

/// Signatures made for one zone, reusable while their RRset, key and
/// validity allow. Not thread-safe: one signer thread per cache.
class signature_cache {
 public:
  /// The RRSIG RDATA for (RRset digest, key), or null when none usable at `now`.
  const std::vector<std::uint8_t>* find(const std::string& id, std::int64_t now, std::uint32_t refresh);
  void put(const std::string& id, std::vector<std::uint8_t> rrsig, std::int64_t expiration);
  /// Drops the entries not used since the last sweep (call after a pass).
  void sweep();
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    std::vector<std::uint8_t> rrsig;
    std::int64_t expiration = 0;
    bool used = true;
  };
  std::unordered_map<std::string, entry> entries_;
};

struct sign_stats {
  std::size_t signatures_made = 0;
  std::size_t signatures_reused = 0;
  std::size_t denial_records = 0;
  /// The earliest expiration among the signatures served (epoch seconds).
  std::int64_t earliest_expiration = 0;
};

/// Signs `zone` with `policy` at time `now` (epoch seconds). The result
/// keeps the zone's serial. Fails (build_result::error) when the policy has
/// no active key or the snapshot cannot be built.
store::build_result sign_zone(const store::zone_snapshot& zone, const zone_signing_policy& policy,
                              signature_cache& cache, std::int64_t now, sign_stats& stats);

/// Outcome of an incremental signing: a zone, or `fallback` with the reason
/// why the whole zone must be signed instead (sign_zone()).
struct incremental_result {
  std::shared_ptr<const store::zone_snapshot> zone;
  std::string fallback;
};

/// Signs `new_raw` from `old_signed` (the signing of `old_raw` with the same
/// policy and cache): only the names that differ between the two unsigned
/// versions, and the NSEC/NSEC3 records around them, are signed again; the
/// rest of `old_signed` is shared. Falls back (never guesses) when a change
/// touches a zone cut, a DNAME, names below them, the apex key records, or
/// more than `max_names` names.
incremental_result sign_zone_incremental(const store::zone_snapshot& old_raw, const store::zone_snapshot& old_signed,
                                         const store::zone_snapshot& new_raw, const zone_signing_policy& policy,
                                         signature_cache& cache, std::int64_t now, sign_stats& stats,
                                         std::size_t max_names = 2000);

}  // namespace zonemesh::dnssec
