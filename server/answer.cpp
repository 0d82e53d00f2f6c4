// Authoritative answer assembly (RFC 1034 4.3.2, 2308, 4592, 6672, 8482).
#include "answer.hpp"

#include <algorithm>

#include "dns/types.hpp"
#include "dnssec/denial.hpp"

namespace zonemesh::server {
namespace {

namespace t = dns::rr_type;

enum class section : std::uint8_t { answer, authority, additional };

/// Per-response helper; lives on the stack, allocates nothing.
class assembler {
 public:
  assembler(const store::zone_set& zones, const answer_options& options, answer_state& state)
      : zones_(zones), options_(options), st_(state) {}

  void run(const dns::name& qname, std::uint16_t qtype);

 private:
  /// Writes an RRset, whole or not at all; with `sigs` (the node holding
  /// the RRset in a signed zone, DO=1) its RRSIGs follow it.
  bool put(section s, std::span<const std::uint8_t> owner, const store::rrset& set,
           std::uint32_t ttl, const store::node* sigs = nullptr);
  bool put(section s, std::span<const std::uint8_t> owner, const store::rrset& set,
           const store::node* sigs = nullptr) {
    return put(s, owner, set, set.ttl, sigs);
  }
  /// The node whose RRSIGs go with its RRsets: `n` when answering DO=1 from
  /// a signed zone, else null.
  const store::node* sigs(const store::zone_snapshot& zone, const store::node& n) const {
    return options_.dnssec_ok && zone.dnssec() != nullptr ? &n : nullptr;
  }
  bool signing(const store::zone_snapshot& zone) const {
    return options_.dnssec_ok && zone.dnssec() != nullptr;
  }
  // Authenticated denial (RFC 4035 3.1.3, RFC 5155 7.2), all into authority.
  /// The NSEC RRset (and RRSIG) at `n`; false when it does not fit.
  bool put_denial(const store::zone_snapshot& zone, const store::node* n, std::uint16_t type);
  /// NSEC: the NSEC that matches or covers `name`.
  void nsec_covering(const store::zone_snapshot& zone, const dns::name& name);
  /// NSEC3: the NSEC3 whose owner hashes `name` exactly (false when none) or
  /// that covers it.
  bool nsec3_matching(const store::zone_snapshot& zone, const dns::name& name);
  void nsec3_covering(const store::zone_snapshot& zone, const dns::name& name);
  /// NSEC3 closest encloser proof for `name` (RFC 5155 7.2.1): the NSEC3
  /// matching the closest provable encloser and the one covering the next
  /// closer name. Returns the closest encloser.
  dns::name nsec3_closest_encloser(const store::zone_snapshot& zone, const dns::name& name);
  /// Proofs for NXDOMAIN, NODATA, wildcard answers and missing DS.
  void deny_name(const store::zone_snapshot& zone, const dns::name& qname, const store::node* encloser);
  void deny_type(const store::zone_snapshot& zone, const dns::name& qname, const store::node& n);
  void deny_wildcard_type(const store::zone_snapshot& zone, const dns::name& qname,
                          const store::node& wildcard);
  void prove_wildcard_answer(const store::zone_snapshot& zone, const dns::name& qname,
                             const store::node& wildcard);
  void deny_ds(const store::zone_snapshot& zone, const store::node& cut);
  void count(section s, std::size_t n);
  void uncount(section s, std::size_t n);
  void negative(const store::zone_snapshot& zone);
  /// The first RRset of an ANY answer over UDP (RFC 8482): not an RRSIG set.
  static const store::rrset& first_any_rrset(const store::node& n);
  void referral(const store::zone_snapshot& zone, const store::node& cut, bool first_hop);
  void remember_target(std::span<const std::uint8_t> owner, std::uint16_t type,
                       std::span<const std::uint8_t> rdata);
  void add_address_records(const store::zone_snapshot& zone, const store::node& n);
  void additional_processing();
  /// Moves the chase to `target`; false when the chain must stop here.
  bool follow(const dns::name& target, const store::zone_snapshot*& zone, dns::name& current,
              std::size_t& hops);

  const store::zone_set& zones_;
  const answer_options& options_;
  answer_state& st_;
  static constexpr std::size_t max_targets = 32;
  std::array<std::span<const std::uint8_t>, max_targets> targets_{};
  /// Per target, the SVCB or HTTPS type whose RRset at the target goes with
  /// its addresses (RFC 9460 4), or 0.
  std::array<std::uint16_t, max_targets> target_types_{};
  std::size_t target_count_ = 0;
  static constexpr std::size_t max_visited = 16;
  std::array<dns::name, max_visited> visited_{};
  std::size_t visited_count_ = 0;
  // NSEC/NSEC3 nodes already written; only the first denial_count_ are read
  // (left uninitialized: this object is made per query).
  std::array<const store::node*, 8> denials_;
  std::size_t denial_count_ = 0;
};

void assembler::count(section s, std::size_t n) {
  const auto add = static_cast<std::uint16_t>(n);
  switch (s) {
    case section::answer:
      st_.answers = static_cast<std::uint16_t>(st_.answers + add);
      break;
    case section::authority:
      st_.authorities = static_cast<std::uint16_t>(st_.authorities + add);
      break;
    case section::additional:
      st_.additionals = static_cast<std::uint16_t>(st_.additionals + add);
      break;
  }
}

void assembler::uncount(section s, std::size_t n) {
  const auto sub = static_cast<std::uint16_t>(n);
  std::uint16_t& c = s == section::answer ? st_.answers : s == section::authority ? st_.authorities : st_.additionals;
  c = static_cast<std::uint16_t>(c - sub);
}

bool assembler::put(section s, std::span<const std::uint8_t> owner, const store::rrset& set,
                    std::uint32_t ttl, const store::node* sigs) {
  const std::size_t start = st_.w.size();
  for (const store::rr_ref rr : set) {
    if (!st_.w.rr(owner, set.type, dns::rr_class::in, ttl, rr.rdata)) {
      st_.w.rollback(start);  // whole RRsets only (RFC 2181 9)
      if (s != section::additional) st_.truncated = true;
      return false;
    }
  }
  count(s, set.size());
  if (sigs != nullptr && set.type != t::rrsig) {
    // The precomputed RRSIGs covering this type, with the RRset's TTL.
    if (const auto* rrsigs = sigs->find(t::rrsig); rrsigs != nullptr) {
      const std::size_t sig_start = st_.w.size();
      std::size_t n = 0;
      for (const store::rr_ref rr : *rrsigs) {
        if (rr.rdata.size() < 2 || ((rr.rdata[0] << 8) | rr.rdata[1]) != set.type) continue;
        if (!st_.w.rr(owner, t::rrsig, dns::rr_class::in, ttl, rr.rdata)) {
          st_.w.rollback(s == section::additional ? sig_start : start);
          if (s != section::additional) {
            uncount(s, set.size());
            st_.truncated = true;
            return false;
          }
          return true;  // additional data without its RRSIGs (RFC 4035 3.1.1 allows)
        }
        ++n;
      }
      count(s, n);
    }
  }
  if (s == section::answer) {
    for (const store::rr_ref rr : set) remember_target(owner, set.type, rr.rdata);
  }
  return true;
}

void assembler::remember_target(std::span<const std::uint8_t> owner, std::uint16_t type,
                                std::span<const std::uint8_t> rdata) {
  std::span<const std::uint8_t> target;
  std::uint16_t follow_type = 0;
  if (type == t::mx && rdata.size() > 2) {
    target = rdata.subspan(2);
  } else if (type == t::srv && rdata.size() > 6) {
    target = rdata.subspan(6);
  } else if (type == t::ns) {
    target = rdata;
  } else if ((type == t::svcb || type == t::https) && rdata.size() > 2) {
    // RFC 9460 4: SvcPriority, then TargetName. "." is the owner itself in
    // ServiceMode and "no service" in AliasMode.
    const bool alias_mode = rdata[0] == 0 && rdata[1] == 0;
    // The uncompressed TargetName ends at its root label; SvcParams follow.
    std::size_t end = 2;
    while (end < rdata.size() && rdata[end] != 0 && rdata[end] < 64) end += 1 + rdata[end];
    if (end >= rdata.size() || rdata[end] != 0) return;
    target = rdata.subspan(2, end + 1 - 2);
    if (target.size() == 1) {
      if (alias_mode) return;
      target = owner;
    }
    follow_type = type;
  } else {
    return;
  }
  for (std::size_t i = 0; i < target_count_; ++i) {
    if (dns::wire_names_equal(targets_[i], target)) return;
  }
  if (target_count_ < max_targets) {
    target_types_[target_count_] = follow_type;
    targets_[target_count_++] = target;
  }
}

void assembler::negative(const store::zone_snapshot& zone) {
  // RFC 2308 3 and 5: the zone's SOA, TTL = min(SOA TTL, SOA MINIMUM).
  (void)put(section::authority, zone.apex().wire(), zone.soa(), zone.negative_ttl(),
            sigs(zone, zone.apex_node()));
}

const store::rrset& assembler::first_any_rrset(const store::node& n) {
  for (const auto& set : n.rrsets()) {
    if (set.type != t::rrsig) return set;
  }
  return n.rrsets().front();
}

bool assembler::put_denial(const store::zone_snapshot& zone, const store::node* n, std::uint16_t type) {
  if (n == nullptr) return false;
  const auto* set = n->find(type);
  if (set == nullptr) return false;
  // Once per answer: the same NSEC may prove two things.
  for (std::size_t i = 0; i < denial_count_; ++i) {
    if (denials_[i] == n) return true;
  }
  if (denial_count_ < denials_.size()) denials_[denial_count_++] = n;
  return put(section::authority, n->owner_wire(), *set, sigs(zone, *n));
}

void assembler::nsec_covering(const store::zone_snapshot& zone, const dns::name& name) {
  (void)put_denial(zone, zone.find_at_or_before(name, t::nsec), t::nsec);
}

namespace {
/// The position of `hash` among the zone's sorted NSEC3 hashes: exact match
/// or the one before it (wrapping to the last).
std::size_t nsec3_index(const store::zone_dnssec& info, const dnssec::nsec3_hash& hash, bool& exact) {
  const auto& hashes = info.nsec3_hashes;
  auto it = std::upper_bound(hashes.begin(), hashes.end(), hash);
  exact = it != hashes.begin() && *(it - 1) == hash;
  if (it == hashes.begin()) return hashes.size() - 1;
  return static_cast<std::size_t>(it - hashes.begin()) - 1;
}

dnssec::nsec3_params params_of(const store::zone_dnssec& info) {
  dnssec::nsec3_params p;
  p.flags = info.nsec3_flags;
  p.iterations = info.nsec3_iterations;
  p.salt = info.nsec3_salt;
  return p;
}
}  // namespace

bool assembler::nsec3_matching(const store::zone_snapshot& zone, const dns::name& name) {
  const auto& info = *zone.dnssec();
  if (info.nsec3_hashes.empty()) return false;
  bool exact = false;
  const auto hash = dnssec::hash_name(name, params_of(info));
  const std::size_t i = nsec3_index(info, hash, exact);
  if (!exact) return false;
  return put_denial(zone, zone.find(dnssec::nsec3_owner(info.nsec3_hashes[i], zone.apex())), t::nsec3);
}

void assembler::nsec3_covering(const store::zone_snapshot& zone, const dns::name& name) {
  const auto& info = *zone.dnssec();
  if (info.nsec3_hashes.empty()) return;
  bool exact = false;
  const auto hash = dnssec::hash_name(name, params_of(info));
  const std::size_t i = nsec3_index(info, hash, exact);
  (void)put_denial(zone, zone.find(dnssec::nsec3_owner(info.nsec3_hashes[i], zone.apex())), t::nsec3);
}

dns::name assembler::nsec3_closest_encloser(const store::zone_snapshot& zone, const dns::name& name) {
  // Walk up from the name's parent to the first ancestor with an NSEC3.
  dns::name next_closer = name;
  dns::name encloser = name.parent();
  const auto& info = *zone.dnssec();
  const auto p = params_of(info);
  while (encloser.is_subdomain_of(zone.apex())) {
    bool exact = false;
    const std::size_t i = nsec3_index(info, dnssec::hash_name(encloser, p), exact);
    if (exact) {
      (void)put_denial(zone, zone.find(dnssec::nsec3_owner(info.nsec3_hashes[i], zone.apex())), t::nsec3);
      nsec3_covering(zone, next_closer);
      return encloser;
    }
    if (encloser.equals(zone.apex())) break;
    next_closer = encloser;
    encloser = encloser.parent();
  }
  return zone.apex();
}

void assembler::deny_name(const store::zone_snapshot& zone, const dns::name& qname, const store::node* encloser) {
  if (!signing(zone)) return;
  dns::name wildcard = encloser != nullptr ? encloser->owner() : zone.apex();
  if (zone.dnssec()->nsec3) {
    wildcard = nsec3_closest_encloser(zone, qname);
    if (wildcard.prepend_label("*") == dns::name_status::ok) nsec3_covering(zone, wildcard);
    return;
  }
  nsec_covering(zone, qname);
  if (wildcard.prepend_label("*") == dns::name_status::ok) nsec_covering(zone, wildcard);
}

void assembler::deny_type(const store::zone_snapshot& zone, const dns::name& qname, const store::node& n) {
  if (!signing(zone)) return;
  if (zone.dnssec()->nsec3) {
    if (!nsec3_matching(zone, qname)) (void)nsec3_closest_encloser(zone, qname);  // opt-out DS
    return;
  }
  if (!put_denial(zone, &n, t::nsec)) nsec_covering(zone, qname);  // empty non-terminal
}

void assembler::deny_wildcard_type(const store::zone_snapshot& zone, const dns::name& qname,
                                   const store::node& wildcard) {
  if (!signing(zone)) return;
  if (zone.dnssec()->nsec3) {
    (void)nsec3_closest_encloser(zone, qname);
    (void)nsec3_matching(zone, wildcard.owner());
    return;
  }
  nsec_covering(zone, qname);
  (void)put_denial(zone, &wildcard, t::nsec);
}

void assembler::prove_wildcard_answer(const store::zone_snapshot& zone, const dns::name& qname,
                                      const store::node& wildcard) {
  if (!signing(zone)) return;
  if (zone.dnssec()->nsec3) {
    // The next closer name does not exist (RFC 5155 7.2.6): the closest
    // encloser is the wildcard's parent, known from the RRSIG labels.
    const dns::name encloser = wildcard.owner().parent();
    dns::name next_closer = qname;
    next_closer.strip_left(qname.label_count() - encloser.label_count() - 1);
    nsec3_covering(zone, next_closer);
    return;
  }
  nsec_covering(zone, qname);
}

void assembler::deny_ds(const store::zone_snapshot& zone, const store::node& cut) {
  if (!signing(zone)) return;
  const dns::name owner = cut.owner();
  if (zone.dnssec()->nsec3) {
    if (!nsec3_matching(zone, owner)) (void)nsec3_closest_encloser(zone, owner);  // opt-out
    return;
  }
  (void)put_denial(zone, &cut, t::nsec);
}

void assembler::add_address_records(const store::zone_snapshot& zone, const store::node& n) {
  // Authoritative data (not glue): with its RRSIGs when DO=1 and they fit
  // (RFC 4035 3.1.1); put() keeps the RRset and drops its RRSIGs otherwise.
  for (const std::uint16_t type : {t::a, t::aaaa}) {
    if (const auto* set = n.find(type); set != nullptr) {
      (void)put(section::additional, n.owner_wire(), *set, sigs(zone, n));
    }
  }
}

void assembler::referral(const store::zone_snapshot& zone, const store::node& cut, bool first_hop) {
  if (first_hop) st_.authoritative = false;
  const auto* ns = cut.find(t::ns);
  if (!put(section::authority, cut.owner_wire(), *ns)) return;
  // DS goes with its RRSIG (RFC 4035 3.1.4), which only a signed zone has:
  // an unsigned zone refers with NS only, as Knot and NSD do. An explicit DS
  // query at the cut is still answered from the parent (see run()). Without
  // a DS, a signed zone proves there is none (insecure delegation).
  if (options_.dnssec_ok && zone_is_signed(zone)) {
    if (const auto* ds = cut.find(t::ds); ds != nullptr) {
      if (!put(section::authority, cut.owner_wire(), *ds, &cut)) return;
    } else {
      deny_ds(zone, cut);
      if (st_.truncated) return;
    }
  }
  // Glue: addresses of name servers inside this zone. Those below the cut
  // are required for the referral to work (RFC 9471): if they do not fit,
  // the reply is truncated; sibling glue is optional.
  const dns::name cut_owner = cut.owner();
  for (const store::rr_ref rr : *ns) {
    dns::name target;
    if (dns::name::from_wire(rr.rdata, target) != dns::name_status::ok) continue;
    if (!target.is_subdomain_of(zone.apex())) continue;
    const auto* n = zone.find(target);
    if (n == nullptr) continue;
    const bool required = target.is_subdomain_of(cut_owner);
    for (const std::uint16_t type : {t::a, t::aaaa}) {
      const auto* set = n->find(type);
      if (set == nullptr) continue;
      if (!put(section::additional, n->owner_wire(), *set) && required) {
        st_.truncated = true;
        return;
      }
    }
  }
}

bool assembler::follow(const dns::name& target, const store::zone_snapshot*& zone,
                       dns::name& current, std::size_t& hops) {
  if (++hops > options_.max_chain) return false;
  for (std::size_t i = 0; i < visited_count_; ++i) {
    if (visited_[i].equals(target)) return false;  // loop: the answer already has it
  }
  if (visited_count_ < max_visited) visited_[visited_count_++] = target;
  const store::zone_snapshot* next = zones_.find_zone(target);
  if (next == nullptr) return false;  // leaves the served data: the resolver continues
  zone = next;
  current = target;
  return true;
}

void assembler::additional_processing() {
  for (std::size_t i = 0; i < target_count_; ++i) {
    dns::name target;
    if (dns::name::from_wire(targets_[i], target) != dns::name_status::ok) continue;
    const store::zone_snapshot* zone = zones_.find_zone(target);
    if (zone == nullptr) continue;
    const auto found = zone->lookup(target);
    if (found.what != store::lookup_result::kind::exact) continue;
    // A SVCB/HTTPS target's own RRset of that type (an AliasMode chain or
    // ServiceMode records), unless it is already in the answer.
    if (const std::uint16_t type = target_types_[i]; type != 0) {
      const auto* set = found.node->find(type);
      bool answered = false;
      for (std::size_t j = 0; j < visited_count_; ++j) answered |= visited_[j].equals(target);
      if (set != nullptr && !answered) {
        (void)put(section::additional, found.node->owner_wire(), *set, sigs(*zone, *found.node));
      }
    }
    add_address_records(*zone, *found.node);
  }
}

void assembler::run(const dns::name& qname, std::uint16_t qtype) {
  const store::zone_snapshot* zone = zones_.find_zone(qname);
  // DS lives in the parent (RFC 4035 3.1.4.1): ask the parent when we serve it.
  if (zone != nullptr && qtype == t::ds && zone->apex().equals(qname) && !qname.is_root()) {
    // Only when the parent really delegates here; otherwise the child answers.
    const auto* parent = zones_.find_zone(qname.parent());
    if (parent != nullptr) {
      const auto cut = parent->lookup(qname);
      if (cut.what == store::lookup_result::kind::delegation && cut.at_cut) zone = parent;
    }
  }
  if (zone == nullptr) {
    st_.rcode = dns::rcode::refused;
    return;
  }
  st_.authoritative = true;
  dns::name current = qname;
  visited_[visited_count_++] = qname;
  std::size_t hops = 0;
  using kind = store::lookup_result::kind;
  while (!st_.truncated) {
    const auto found = zone->lookup(current);
    switch (found.what) {
      case kind::exact:
      case kind::wildcard: {
        // Wildcard answers are synthesized with the query name as owner (RFC 4592 3.3.1).
        const auto owner = current.wire();
        const store::node& n = *found.node;
        const bool wildcard = found.what == kind::wildcard;
        const store::node* with_sigs = sigs(*zone, n);
        if (qtype == t::any) {
          if (n.empty_non_terminal()) {
            negative(*zone);
            deny_type(*zone, current, n);
          } else if (zone->dnssec() == nullptr) {
            if (options_.tcp) {
              for (const auto& set : n.rrsets()) {
                if (!put(section::answer, owner, set)) break;
              }
            } else {
              (void)put(section::answer, owner, n.rrsets().front());  // RFC 8482 4.1
            }
          } else if (options_.tcp) {
            // Signed: RRSIGs go with their RRsets (DO=1) or not at all.
            for (const auto& set : n.rrsets()) {
              if (set.type == t::rrsig) continue;
              if (!put(section::answer, owner, set, with_sigs)) break;
            }
          } else {
            (void)put(section::answer, owner, first_any_rrset(n), with_sigs);
          }
          if (wildcard && !n.empty_non_terminal()) prove_wildcard_answer(*zone, current, n);
          additional_processing();
          return;
        }
        if (const auto* set = n.find(qtype); set != nullptr) {
          if (put(section::answer, owner, *set, with_sigs)) {
            if (wildcard) prove_wildcard_answer(*zone, current, n);
            additional_processing();
          }
          return;
        }
        const auto* cname = n.find(t::cname);
        if (cname == nullptr) {
          negative(*zone);  // NODATA (RFC 2308 2.2), empty non-terminals included
          if (wildcard) {
            deny_wildcard_type(*zone, current, n);
          } else {
            deny_type(*zone, current, n);
          }
          return;
        }
        if (!put(section::answer, owner, *cname, with_sigs)) return;
        if (wildcard) prove_wildcard_answer(*zone, current, n);
        dns::name target;
        if (dns::name::from_wire(cname->front().rdata, target) != dns::name_status::ok ||
            !follow(target, zone, current, hops)) {
          return;
        }
        continue;
      }
      case kind::delegation: {
        const store::node& cut = *found.node;
        if (found.at_cut && qtype == t::ds) {
          // The parent side of the cut answers DS authoritatively.
          if (const auto* ds = cut.find(t::ds); ds != nullptr) {
            (void)put(section::answer, current.wire(), *ds, sigs(*zone, cut));
          } else {
            negative(*zone);
            deny_ds(*zone, cut);
          }
          return;
        }
        referral(*zone, cut, hops == 0);
        return;
      }
      case kind::dname: {
        const store::node& owner = *found.node;
        const auto* dname_set = owner.find(t::dname);
        if (!put(section::answer, owner.owner_wire(), *dname_set, sigs(*zone, owner))) return;
        dns::name dname_target;
        dns::name synthesized;
        if (dns::name::from_wire(dname_set->front().rdata, dname_target) != dns::name_status::ok) {
          return;
        }
        if (current.replace_suffix(owner.owner(), dname_target, synthesized) !=
            dns::name_status::ok) {
          st_.rcode = dns::rcode::yxdomain;  // RFC 6672 2.2
          return;
        }
        // The synthesized CNAME carries the DNAME's TTL (RFC 6672 3.1).
        if (!st_.w.rr(current.wire(), t::cname, dns::rr_class::in, dname_set->ttl,
                      synthesized.wire())) {
          st_.truncated = true;
          return;
        }
        count(section::answer, 1);
        if (!follow(synthesized, zone, current, hops)) return;
        continue;
      }
      case kind::nxdomain:
        st_.rcode = dns::rcode::nxdomain;  // of the last name in a chain (RFC 6604)
        negative(*zone);
        deny_name(*zone, current, found.closest_encloser);
        return;
    }
  }
}

}  // namespace

bool zone_is_signed(const store::zone_snapshot& zone) { return zone.dnssec() != nullptr; }

void answer_in(const store::zone_set& zones, const dns::name& qname, std::uint16_t qtype,
               const answer_options& options, answer_state& state) {
  assembler a(zones, options, state);
  a.run(qname, qtype);
}

}  // namespace zonemesh::server
