#pragma once
// Authenticated denial records: NSEC (RFC 4034 4) and NSEC3 (RFC 5155):
// type bitmaps, NSEC3 hashing, base32hex owner labels, NSEC3PARAM.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.hpp"

namespace zonemesh::dnssec {

/// Type bitmap (RFC 4034 4.1.2) of `types` (any order, duplicates allowed).
std::vector<std::uint8_t> type_bitmap(std::span<const std::uint16_t> types);
/// True when a type bitmap has `type` set.
bool bitmap_has(std::span<const std::uint8_t> bitmap, std::uint16_t type);

/// NSEC RDATA: next owner name (lowercase) and the bitmap of `types`.
std::vector<std::uint8_t> nsec_rdata(const dns::name& next, std::span<const std::uint16_t> types);

/// NSEC3 parameters (RFC 5155 3.1, 4.1); PowerDNS's NSEC3PARAM metadata text
/// "1 0 0 -" is "<alg> <flags> <iterations> <salt hex | ->".
struct nsec3_params {
  std::uint8_t algorithm = 1;  ///< SHA-1, the only one defined
  std::uint8_t flags = 0;      ///< 1 = opt-out (in NSEC3 RRs; NSEC3PARAM is served with 0)
  std::uint16_t iterations = 0;
  std::vector<std::uint8_t> salt;
  bool opt_out() const { return (flags & 1) != 0; }
  bool operator==(const nsec3_params&) const = default;
};
/// Parses "<alg> <flags> <iterations> <salt|->"; nullopt with `error` set
/// when malformed (algorithm other than 1, iterations above 500, salt not hex
/// or longer than 255 octets).
std::optional<nsec3_params> parse_nsec3param(std::string_view text, std::string& error);
/// NSEC3PARAM RDATA (flags 0, as RFC 5155 4.1.2 wants for the served record).
std::vector<std::uint8_t> nsec3param_rdata(const nsec3_params& p);

using nsec3_hash = std::array<std::uint8_t, 20>;
/// RFC 5155 5: IH(salt, owner, iterations) of the lowercased name.
nsec3_hash hash_name(const dns::name& owner, const nsec3_params& p);
/// RFC 4648 base32hex, lowercase, no padding (20 octets give 32 characters).
std::string base32hex(std::span<const std::uint8_t> data);
/// The NSEC3 owner "<base32hex(hash)>.<apex>".
dns::name nsec3_owner(const nsec3_hash& hash, const dns::name& apex);
/// The hash back from an NSEC3 owner's first label; nullopt when it is not one.
std::optional<nsec3_hash> hash_from_owner(const dns::name& owner);

/// NSEC3 RDATA with the bitmap of `types`.
std::vector<std::uint8_t> nsec3_rdata(const nsec3_params& p, const nsec3_hash& next,
                                      std::span<const std::uint16_t> types);

}  // namespace zonemesh::dnssec
