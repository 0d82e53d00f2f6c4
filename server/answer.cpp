// Authoritative answer assembly (RFC 1034 4.3.2, 2308, 4592, 6672, 8482).
#include "answer.hpp"

#include "dns/types.hpp"

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
  bool put(section s, std::span<const std::uint8_t> owner, const store::rrset& set,
           std::uint32_t ttl);
  bool put(section s, std::span<const std::uint8_t> owner, const store::rrset& set) {
    return put(s, owner, set, set.ttl);
  }
  void count(section s, std::size_t n);
  void negative(const store::zone_snapshot& zone);
  void referral(const store::zone_snapshot& zone, const store::node& cut, bool first_hop);
  void remember_target(std::uint16_t type, std::span<const std::uint8_t> rdata);
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
  std::size_t target_count_ = 0;
  static constexpr std::size_t max_visited = 16;
  std::array<dns::name, max_visited> visited_{};
  std::size_t visited_count_ = 0;
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

bool assembler::put(section s, std::span<const std::uint8_t> owner, const store::rrset& set,
                    std::uint32_t ttl) {
  const std::size_t start = st_.w.size();
  for (const store::rr_ref rr : set) {
    if (!st_.w.rr(owner, set.type, dns::rr_class::in, ttl, rr.rdata)) {
      st_.w.rollback(start);  // whole RRsets only (RFC 2181 9)
      if (s != section::additional) st_.truncated = true;
      return false;
    }
  }
  count(s, set.size());
  if (s == section::answer) {
    for (const store::rr_ref rr : set) remember_target(set.type, rr.rdata);
  }
  return true;
}

void assembler::remember_target(std::uint16_t type, std::span<const std::uint8_t> rdata) {
  std::span<const std::uint8_t> target;
  if (type == t::mx && rdata.size() > 2) {
    target = rdata.subspan(2);
  } else if (type == t::srv && rdata.size() > 6) {
    target = rdata.subspan(6);
  } else if (type == t::ns) {
    target = rdata;
  } else {
    return;
  }
  for (std::size_t i = 0; i < target_count_; ++i) {
    if (dns::wire_names_equal(targets_[i], target)) return;
  }
  if (target_count_ < max_targets) targets_[target_count_++] = target;
}

void assembler::negative(const store::zone_snapshot& zone) {
  // RFC 2308 3 and 5: the zone's SOA, TTL = min(SOA TTL, SOA MINIMUM).
  (void)put(section::authority, zone.apex().wire(), zone.soa(), zone.negative_ttl());
}

void assembler::add_address_records(const store::zone_snapshot& zone, const store::node& n) {
  (void)zone;
  for (const std::uint16_t type : {t::a, t::aaaa}) {
    if (const auto* set = n.find(type); set != nullptr) {
      (void)put(section::additional, n.owner_wire(), *set);
    }
  }
}

void assembler::referral(const store::zone_snapshot& zone, const store::node& cut, bool first_hop) {
  if (first_hop) st_.authoritative = false;
  const auto* ns = cut.find(t::ns);
  if (!put(section::authority, cut.owner_wire(), *ns)) return;
  // DS goes with its RRSIG (RFC 4035 3.1.4), which only a signed zone has:
  // an unsigned zone refers with NS only, as Knot and NSD do. An explicit DS
  // query at the cut is still answered from the parent (see run()).
  if (options_.dnssec_ok && zone_is_signed(zone)) {
    if (const auto* ds = cut.find(t::ds); ds != nullptr) {
      if (!put(section::authority, cut.owner_wire(), *ds)) return;
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
        if (qtype == t::any) {
          if (n.empty_non_terminal()) {
            negative(*zone);
          } else if (options_.tcp) {
            for (const auto& set : n.rrsets()) {
              if (!put(section::answer, owner, set)) break;
            }
          } else {
            (void)put(section::answer, owner, n.rrsets().front());  // RFC 8482 4.1
          }
          additional_processing();
          return;
        }
        if (const auto* set = n.find(qtype); set != nullptr) {
          if (put(section::answer, owner, *set)) additional_processing();
          return;
        }
        const auto* cname = n.find(t::cname);
        if (cname == nullptr) {
          negative(*zone);  // NODATA (RFC 2308 2.2), empty non-terminals included
          return;
        }
        if (!put(section::answer, owner, *cname)) return;
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
            (void)put(section::answer, current.wire(), *ds);
          } else {
            negative(*zone);
          }
          return;
        }
        referral(*zone, cut, hops == 0);
        return;
      }
      case kind::dname: {
        const store::node& owner = *found.node;
        const auto* dname_set = owner.find(t::dname);
        if (!put(section::answer, owner.owner_wire(), *dname_set)) return;
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
        return;
    }
  }
}

}  // namespace

bool zone_is_signed(const store::zone_snapshot& zone) {
  (void)zone;
  return false;  // no zone signing yet (DNSSEC is still to come)
}

void answer_in(const store::zone_set& zones, const dns::name& qname, std::uint16_t qtype,
               const answer_options& options, answer_state& state) {
  assembler a(zones, options, state);
  a.run(qname, qtype);
}

}  // namespace zonemesh::server
