#pragma once
// Writes the answer, authority and additional sections for an IN query from
// the served zones: referrals, CNAME/DNAME chains, wildcards, negative answers.

#include <array>
#include <cstdint>
#include <span>

#include "dns/name.hpp"
#include "dns/wire.hpp"
#include "store/zone_set.hpp"

namespace zonemesh::server {

/// The reply being written after the question: section counts and outcome.
struct answer_state {
  explicit answer_state(dns::writer& out) : w(out) {}

  dns::writer& w;
  std::uint16_t answers = 0;
  std::uint16_t authorities = 0;
  std::uint16_t additionals = 0;
  std::uint16_t rcode = 0;
  bool authoritative = false;
  bool truncated = false;  ///< answer or authority did not fit: reply with TC and no records
};

struct answer_options {
  bool tcp = false;            ///< full ANY answers over TCP, one RRset over UDP (RFC 8482)
  bool dnssec_ok = false;      ///< DS in referrals from signed zones
  std::size_t max_chain = 12;  ///< CNAME/DNAME hops followed before giving up
};

/// Whether answers from `zone` carry DNSSEC records (RRSIG, NSEC/NSEC3, DS
/// in referrals) when the query has DO=1: true for the snapshots the signer
/// (zone_signer) made.
bool zone_is_signed(const store::zone_snapshot& zone);

/// Answers (qname, qtype) in class IN. The question must already be written.
/// Sets REFUSED when no served zone encloses qname.
void answer_in(const store::zone_set& zones, const dns::name& qname, std::uint16_t qtype,
               const answer_options& options, answer_state& state);

}  // namespace zonemesh::server
