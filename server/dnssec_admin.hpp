#pragma once
// Managing a zone's DNSSEC keys in the replicated dnssec_keys table: enable,
// disable, list with DNSKEY and DS, and the rollover steps. Shared by
// zonemesh-admin's `dnssec` commands and the API's /cryptokeys. Every change
// is plain SQL in the caller's transaction, so it passes the triggers and
// replicates; the DNS servers sign with whatever the table says.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pqxx {
class transaction_base;
}  // namespace pqxx

namespace zonemesh::admin {

/// One key as operators and the API see it (never its private part, unless
/// asked for with with_private).
struct dnssec_key_info {
  std::string id;  ///< the row's UUID
  std::string zone;
  int flags = 0;
  int algorithm = 0;
  bool active = false;
  bool published = false;
  std::string created;      ///< "2026-11-22 21:30:00+00"
  std::string role;         ///< "ksk", "zsk" or "csk" (a 257 key in a zone without active ZSK)
  std::string dnskey;       ///< "257 3 13 <base64>"
  std::uint16_t tag = 0;
  int bits = 0;
  std::vector<std::string> ds;  ///< for 257 keys: digest types 2 and 4, "tag alg 2 HEX"
  std::string private_key;      ///< only with with_private
  std::string problem;          ///< set when the stored key does not parse (no DNSKEY then)
};

/// A 31-bit number derived from a key's UUID, for clients that expect
/// PowerDNS's integer cryptokey ids.
long long numeric_key_id(const std::string& uuid);

/// The zone's keys, oldest first. Throws std::runtime_error when the zone
/// does not exist.
std::vector<dnssec_key_info> list_dnssec_keys(pqxx::transaction_base& tx, const std::string& zone,
                                              bool with_private = false);

/// The NSEC3PARAM metadata of a zone ("1 0 0 -"), or "" for NSEC.
std::string zone_nsec3param(pqxx::transaction_base& tx, const std::string& zone);

/// Adds a key; generates it unless `private_key` is given. Returns its id.
std::string add_dnssec_key(pqxx::transaction_base& tx, const std::string& zone, int flags,
                           int algorithm, bool active, bool published,
                           const std::optional<std::string>& private_key = std::nullopt);

/// Creates a KSK and a ZSK (or one CSK) of `algorithm` for a zone that has
/// no keys; with `nsec3param`, sets NSEC3 ("1 0 0 -"). Returns the new ids.
std::vector<std::string> enable_dnssec(pqxx::transaction_base& tx, const std::string& zone,
                                       int algorithm, bool csk,
                                       const std::string& nsec3param = "");

/// Deletes the zone's keys and its NSEC3PARAM: the zone is served unsigned.
/// Returns the number of keys removed.
std::size_t disable_dnssec(pqxx::transaction_base& tx, const std::string& zone);

/// Sets (or with "" removes) the zone's NSEC3PARAM metadata.
void set_nsec3param(pqxx::transaction_base& tx, const std::string& zone,
                    const std::string& nsec3param);

/// What a rollover step did, and what the operator does next.
struct rollover_step {
  std::string done;
  std::string next;
};

/// ZSK pre-publish (RFC 6781 4.1.1.1): step 1 publishes a new ZSK, step 2
/// signs with it instead of the old one, step 3 removes the old one.
rollover_step rollover_zsk(pqxx::transaction_base& tx, const std::string& zone, int step);

/// KSK double signature (RFC 6781 4.1.2): step 1 adds a new KSK that signs
/// the DNSKEY RRset beside the old one (hand its DS to the parent), step 2
/// removes the old KSK once the parent serves only the new DS.
rollover_step rollover_ksk(pqxx::transaction_base& tx, const std::string& zone, int step);

}  // namespace zonemesh::admin
