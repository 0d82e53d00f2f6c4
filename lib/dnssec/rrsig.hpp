#pragma once
// RRSIG over an RRset in canonical form (RFC 4034 3.1.8.1, 6.2, 6.3):
// lowercased owner and embedded names, RDATA sorted and de-duplicated, the
// original TTL, the labels count of wildcard owners (RFC 4035 5.3.2).

#include <cstdint>
#include <span>
#include <vector>

#include "dns/name.hpp"
#include "dnssec/key.hpp"

namespace zonemesh::dnssec {

/// The RRSIG RDATA fields before the signer's name and the signature.
struct rrsig_fields {
  std::uint16_t type_covered = 0;
  std::uint8_t algorithm = 0;
  std::uint8_t labels = 0;
  std::uint32_t original_ttl = 0;
  std::uint32_t expiration = 0;  ///< seconds since the epoch, mod 2^32 (RFC 4034 3.1.5)
  std::uint32_t inception = 0;
  std::uint16_t key_tag = 0;
};

/// RDATA with the domain names of the RFC 4034 6.2 types (as amended by RFC
/// 6840 5.1: not NSEC, not HINFO) lowercased; other RDATA unchanged.
std::vector<std::uint8_t> canonical_rdata(std::uint16_t type, std::span<const std::uint8_t> rdata);

/// RRSIG labels field for an owner: its label count, "*" not counted.
std::uint8_t rrsig_labels(const dns::name& owner);

/// The data an RRSIG signs (RFC 4034 3.1.8.1): RRSIG RDATA without the
/// signature, then each RR in canonical form and order. `owner` may be the
/// wildcard owner ("*.example.") or, when verifying a synthesized answer, the
/// expanded name: labels beyond fields.labels are replaced by "*".
std::vector<std::uint8_t> rrsig_signed_data(const rrsig_fields& fields, const dns::name& signer,
                                            const dns::name& owner, std::uint16_t rrclass,
                                            std::span<const std::span<const std::uint8_t>> rdatas);

/// Signs one RRset: the full RRSIG RDATA (fields, signer in lowercase, signature).
std::vector<std::uint8_t> sign_rrset(const signing_key& key, std::uint16_t key_tag,
                                     const dns::name& signer, const dns::name& owner,
                                     std::uint16_t type, std::uint32_t ttl,
                                     std::span<const std::span<const std::uint8_t>> rdatas,
                                     std::uint32_t inception, std::uint32_t expiration);

/// RRSIG RDATA parsed back (for verification and tests); false when malformed.
struct rrsig_view {
  rrsig_fields fields;
  dns::name signer;
  std::span<const std::uint8_t> signature;
};
bool parse_rrsig(std::span<const std::uint8_t> rdata, rrsig_view& out);

/// Checks an RRSIG RDATA over an RRset with a DNSKEY RDATA (our verifier;
/// does not check the validity period). False on any mismatch.
bool verify_rrset(std::span<const std::uint8_t> dnskey_rdata, std::span<const std::uint8_t> rrsig_rdata,
                  const dns::name& owner, std::uint16_t type,
                  std::span<const std::span<const std::uint8_t>> rdatas);

}  // namespace zonemesh::dnssec
