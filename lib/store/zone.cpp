// Zone snapshots: building, copy-on-write changes, lookup.
#include "store/zone.hpp"

#include <algorithm>
#include <cstring>

#include "dns/types.hpp"

namespace zonemesh::store {
namespace {

constexpr std::uint16_t class_in = 1;

std::uint32_t load_u32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
}

void store_u32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

/// Offset of the 20 fixed octets in SOA RDATA, or 0 when malformed.
std::size_t soa_fixed_offset(std::span<const std::uint8_t> rdata) {
  dns::name n;
  std::size_t a = 0, b = 0;
  if (dns::name::from_wire_prefix(rdata, n, a) != dns::name_status::ok) return 0;
  if (dns::name::from_wire_prefix(rdata.subspan(a), n, b) != dns::name_status::ok) return 0;
  if (rdata.size() != a + b + 20) return 0;
  return a + b;
}

/// Checks the RDATA layout of the types the lookup interprets.
bool rdata_layout_ok(std::uint16_t type, std::span<const std::uint8_t> rdata) {
  dns::name n;
  switch (type) {
    case dns::rr_type::ns:
    case dns::rr_type::cname:
    case dns::rr_type::dname:
    case dns::rr_type::ptr:
      return dns::name::from_wire(rdata, n) == dns::name_status::ok;
    case dns::rr_type::mx:
      return rdata.size() >= 3 && dns::name::from_wire(rdata.subspan(2), n) == dns::name_status::ok;
    case dns::rr_type::srv:
      return rdata.size() >= 7 && dns::name::from_wire(rdata.subspan(6), n) == dns::name_status::ok;
    case dns::rr_type::soa:
      return soa_fixed_offset(rdata) != 0;
    case dns::rr_type::a:
      return rdata.size() == 4;
    case dns::rr_type::aaaa:
      return rdata.size() == 16;
    default:
      return rdata.size() <= 0xffff;
  }
}

bool singleton_type(std::uint16_t type) {
  return type == dns::rr_type::soa || type == dns::rr_type::cname || type == dns::rr_type::dname;
}

void recompute(node& n, const dns::name& apex) {
  for (auto& set : n.rrsets) {
    set.ttl = set.ttls.empty() ? 0 : *std::min_element(set.ttls.begin(), set.ttls.end());
  }
  n.delegation = !n.owner.equals(apex) && n.find(dns::rr_type::ns) != nullptr;
}

}  // namespace

const rrset* node::find(std::uint16_t type) const {
  for (const auto& set : rrsets) {
    if (set.type == type) return &set;
  }
  return nullptr;
}

lookup_key::lookup_key(const dns::name& n) {
  std::array<std::uint8_t, dns::max_labels + 1> offsets{};
  labels_ = dns::label_offsets(n.wire(), offsets);
  const auto wire = n.wire();
  std::size_t len = 0;
  ends_[0] = 0;
  for (std::size_t i = labels_; i-- > 0;) {
    const std::size_t at = offsets[i];
    const std::uint8_t label_len = wire[at];
    for (std::size_t k = 1; k <= label_len; ++k) {
      const std::uint8_t c = dns::to_lower(wire[at + k]);
      if (c <= 1) {
        key_[len++] = 1;
        key_[len++] = static_cast<std::uint8_t>(c + 1);
      } else {
        key_[len++] = c;
      }
    }
    key_[len++] = 0;
    ends_[labels_ - i] = static_cast<std::uint16_t>(len);
  }
}

/// Nodes in key order, never empty; a snapshot's runs follow each other.
struct node_run {
  std::vector<std::shared_ptr<const node>> nodes;
  std::vector<std::uint64_t> prefixes;  ///< zone_snapshot::key_prefix() of each node
};

namespace {

/// Runs are cut to this many nodes; a run that grows past twice this is cut
/// again. Small enough that a change copies little, large enough that the
/// array of runs is small too.
constexpr std::size_t run_size = 256;

bool key_less(const std::shared_ptr<const node>& n, std::string_view key) {
  return std::string_view(n->key) < key;
}

}  // namespace

std::uint64_t zone_snapshot::key_prefix(std::string_view key, std::size_t apex_key_size) {
  std::uint64_t v = 0;
  std::size_t i = 0;
  for (; i < 8 && apex_key_size + i < key.size(); ++i) {
    v = (v << 8) | static_cast<std::uint8_t>(key[apex_key_size + i]);
  }
  return i == 0 ? 0 : i == 8 ? v : v << (8 * (8 - i));
}

zone_snapshot::run_position zone_snapshot::position_of(std::string_view key) const {
  // The first run that reaches the key's prefix; nodes sharing it may go on
  // in the runs after it.
  const std::uint64_t prefix = key_prefix(key, apex_key_size_);
  auto run = static_cast<std::size_t>(
      std::lower_bound(run_last_prefixes_.begin(), run_last_prefixes_.end(), prefix) -
      run_last_prefixes_.begin());
  for (; run < runs_.size(); ++run) {
    const node_run& r = *runs_[run];
    const auto lo = std::lower_bound(r.prefixes.begin(), r.prefixes.end(), prefix);
    const auto hi = std::upper_bound(lo, r.prefixes.end(), prefix);
    const auto at = std::lower_bound(r.nodes.begin() + (lo - r.prefixes.begin()),
                                     r.nodes.begin() + (hi - r.prefixes.begin()), key, key_less);
    if (at != r.nodes.end()) return {run, static_cast<std::size_t>(at - r.nodes.begin())};
  }
  return {runs_.size(), 0};
}

const node* zone_snapshot::find(std::string_view key) const {
  // Every key in the zone starts with the apex key, so only the rest is
  // searched: first on the contiguous prefixes, then on the few full keys
  // that share one.
  if (apex_node_ == nullptr || key.size() < apex_key_size_ ||
      key.substr(0, apex_key_size_) !=
          std::string_view(apex_node_->key).substr(0, apex_key_size_)) {
    return nullptr;
  }
  const run_position at = position_of(key);
  if (at.run == runs_.size()) return nullptr;
  const node_run& r = *runs_[at.run];
  // Most misses show in the prefix, without a look at the node.
  if (r.prefixes[at.index] != key_prefix(key, apex_key_size_)) return nullptr;
  const node* n = r.nodes[at.index].get();
  return n->key == key ? n : nullptr;
}

const node* zone_snapshot::find(const dns::name& n) const {
  const lookup_key key(n);
  return find(key.full());
}

lookup_result zone_snapshot::lookup(const dns::name& qname) const {
  const lookup_key key(qname);
  const std::size_t apex_labels = apex_.label_count();
  const std::size_t labels = key.label_count();
  lookup_result r;
  if (labels < apex_labels) return r;  // caller's bug: not in this zone
  const node* encloser = apex_node_;
  std::size_t depth = apex_labels;
  if (labels > apex_labels && apex_node_->find(dns::rr_type::dname) != nullptr) {
    r.what = lookup_result::kind::dname;
    r.node = r.closest_encloser = apex_node_;
    return r;
  }
  while (depth < labels) {
    const node* n = find(key.prefix(depth + 1));
    if (n == nullptr) break;
    encloser = n;
    ++depth;
    if (n->delegation) {
      r.what = lookup_result::kind::delegation;
      r.node = r.closest_encloser = n;
      r.at_cut = depth == labels;
      return r;
    }
    if (depth < labels && n->find(dns::rr_type::dname) != nullptr) {
      r.what = lookup_result::kind::dname;
      r.node = r.closest_encloser = n;
      return r;
    }
  }
  r.closest_encloser = encloser;
  if (depth == labels) {
    r.what = lookup_result::kind::exact;
    r.node = encloser;
    return r;
  }
  // RFC 4592 3.3.1: the source of synthesis is "*" below the closest encloser.
  std::array<char, 2 * dns::max_name_length + 2> wild{};
  const std::string_view base = key.prefix(depth);
  if (base.size() + 2 <= wild.size()) {
    std::memcpy(wild.data(), base.data(), base.size());
    wild[base.size()] = '*';
    wild[base.size() + 1] = '\0';
    if (const node* w = find(std::string_view(wild.data(), base.size() + 2)); w != nullptr) {
      r.what = lookup_result::kind::wildcard;
      r.node = w;
      return r;
    }
  }
  r.what = lookup_result::kind::nxdomain;
  return r;
}

std::vector<record> zone_snapshot::records() const {
  std::vector<record> out;
  out.reserve(record_count_);
  for (const auto& run : runs_) {
    for (const auto& n : run->nodes) {
      for (const auto& set : n->rrsets) {
        for (std::size_t i = 0; i < set.rdatas.size(); ++i) {
          out.push_back(record{n->owner, set.type, class_in, set.ttls[i], set.rdatas[i]});
        }
      }
    }
  }
  return out;
}

std::vector<std::shared_ptr<const node>> zone_snapshot::nodes() const {
  std::vector<std::shared_ptr<const node>> out;
  out.reserve(node_count_);
  for (const auto& run : runs_) out.insert(out.end(), run->nodes.begin(), run->nodes.end());
  return out;
}

void zone_snapshot::add_runs(node_run&& nodes) {
  for (std::size_t at = 0; at < nodes.nodes.size(); at += run_size) {
    const std::size_t end = std::min(nodes.nodes.size(), at + run_size);
    auto run = std::make_shared<node_run>();
    run->nodes.assign(
        std::make_move_iterator(nodes.nodes.begin() + static_cast<std::ptrdiff_t>(at)),
        std::make_move_iterator(nodes.nodes.begin() + static_cast<std::ptrdiff_t>(end)));
    run->prefixes.assign(nodes.prefixes.begin() + static_cast<std::ptrdiff_t>(at),
                         nodes.prefixes.begin() + static_cast<std::ptrdiff_t>(end));
    add_run(std::move(run));
  }
}

void zone_snapshot::add_run(std::shared_ptr<const node_run> run) {
  node_count_ += run->nodes.size();
  run_last_prefixes_.push_back(run->prefixes.back());
  runs_.push_back(std::move(run));
}

// ---------------------------------------------------------------------------

zone_builder::zone_builder(const dns::name& apex) : apex_(apex.lowercased()) {}

zone_builder::zone_builder(const zone_snapshot& base) : apex_(base.apex()) {
  base_ = base.weak_from_this().lock();
  // Not owned by a shared_ptr (never the case for a built snapshot): the
  // caller keeps it alive.
  if (base_ == nullptr)
    base_ = std::shared_ptr<const zone_snapshot>(&base, [](const zone_snapshot*) {});
}

const node* zone_builder::base_node(std::string_view key) const {
  if (base_ == nullptr) return nullptr;
  const node* n = base_->find(key);
  return n == nullptr || n->empty_non_terminal() ? nullptr : n;
}

node& zone_builder::mutable_node(const dns::name& owner) {
  const dns::name lower = owner.lowercased();
  const lookup_key key(lower);
  if (auto it = touched_.find(key.full()); it != touched_.end()) return *it->second;
  std::shared_ptr<node> copy;
  if (const node* n = base_node(key.full()); n != nullptr) {
    copy = std::make_shared<node>(*n);
  } else {
    copy = std::make_shared<node>();
    copy->owner = lower;
    copy->key = std::string(key.full());
  }
  touched_.emplace(copy->key, copy);
  return *copy;
}

std::string zone_builder::check(const record& rr) const {
  if (!rr.owner.is_subdomain_of(apex_)) {
    return rr.owner.to_string() + " is outside zone " + apex_.to_string();
  }
  if (rr.rrclass != class_in) return "only class IN is served";
  if (dns::is_meta_type(rr.type))
    return "type " + dns::type_to_string(rr.type) + " cannot be stored";
  if (rr.type == dns::rr_type::soa && !rr.owner.equals(apex_)) return "SOA outside the zone apex";
  if (!rdata_layout_ok(rr.type, rr.rdata)) {
    return "malformed " + dns::type_to_string(rr.type) + " RDATA at " + rr.owner.to_string();
  }
  return {};
}

std::string zone_builder::add(const record& rr) {
  if (auto error = check(rr); !error.empty()) return error;
  node& n = mutable_node(rr.owner);
  auto it = std::lower_bound(n.rrsets.begin(), n.rrsets.end(), rr.type,
                             [](const rrset& s, std::uint16_t t) { return s.type < t; });
  if (it == n.rrsets.end() || it->type != rr.type) {
    it = n.rrsets.insert(it, rrset{rr.type, rr.ttl, {}, {}});
  }
  auto same = std::find(it->rdatas.begin(), it->rdatas.end(), rr.rdata);
  if (same != it->rdatas.end()) {
    it->ttls[static_cast<std::size_t>(same - it->rdatas.begin())] = rr.ttl;
  } else if (singleton_type(rr.type) && !it->rdatas.empty()) {
    it->rdatas.assign(1, rr.rdata);
    it->ttls.assign(1, rr.ttl);
  } else {
    it->rdatas.push_back(rr.rdata);
    it->ttls.push_back(rr.ttl);
  }
  recompute(n, apex_);
  return {};
}

std::string zone_builder::apply(const record_change& change) {
  if (change.what == record_change::action::upsert) return add(change.rr);
  if (!change.rr.owner.is_subdomain_of(apex_)) {
    return change.rr.owner.to_string() + " is outside zone " + apex_.to_string();
  }
  const lookup_key key(change.rr.owner);
  if (!touched_.contains(key.full()) && base_node(key.full()) == nullptr) {
    return {};  // nothing to remove
  }
  node& n = mutable_node(change.rr.owner);
  switch (change.what) {
    case record_change::action::remove_name:
      n.rrsets.clear();
      break;
    case record_change::action::remove_rrset:
      std::erase_if(n.rrsets, [&](const rrset& s) { return s.type == change.rr.type; });
      break;
    case record_change::action::remove:
      for (auto& s : n.rrsets) {
        if (s.type != change.rr.type) continue;
        for (std::size_t i = 0; i < s.rdatas.size(); ++i) {
          if (s.rdatas[i] == change.rr.rdata) {
            s.rdatas.erase(s.rdatas.begin() + static_cast<std::ptrdiff_t>(i));
            s.ttls.erase(s.ttls.begin() + static_cast<std::ptrdiff_t>(i));
            break;
          }
        }
      }
      std::erase_if(n.rrsets, [](const rrset& s) { return s.rdatas.empty(); });
      break;
    case record_change::action::upsert:
      break;
  }
  recompute(n, apex_);
  return {};
}

std::string zone_builder::check_soa(const node* apex) const {
  const rrset* soa = apex == nullptr ? nullptr : apex->find(dns::rr_type::soa);
  if (soa == nullptr || soa->rdatas.empty()) {
    return "zone " + apex_.to_string() + " has no SOA at its apex";
  }
  if (soa->rdatas.size() != 1) return "zone " + apex_.to_string() + " has more than one SOA";
  return {};
}

std::shared_ptr<node> zone_builder::serve_apex(const node& apex, std::uint32_t serial,
                                               zone_snapshot& zone) const {
  // The apex gets its own copy with the serial written into the SOA.
  auto copy = std::make_shared<node>(apex);
  for (auto& set : copy->rrsets) {
    if (set.type != dns::rr_type::soa) continue;
    auto& rdata = set.rdatas.front();
    const std::size_t fixed = soa_fixed_offset(rdata);
    store_u32(rdata.data() + fixed, serial);
    const std::uint32_t minimum = load_u32(rdata.data() + fixed + 16);
    zone.negative_ttl_ = std::min(set.ttl, minimum);
  }
  zone.apex_ = apex_;
  zone.serial_ = serial;
  zone.apex_node_ = copy.get();
  zone.apex_key_size_ = copy->key.size();
  return copy;
}

build_result zone_builder::build(std::uint32_t serial) const {
  return base_ == nullptr ? build_from_records(serial) : build_from_base(serial);
}

build_result zone_builder::build_from_records(std::uint32_t serial) const {
  build_result result;
  const lookup_key apex_key(apex_);
  auto apex_it = touched_.find(apex_key.full());
  if (auto error = check_soa(apex_it == touched_.end() ? nullptr : apex_it->second.get());
      !error.empty()) {
    result.error = std::move(error);
    return result;
  }
  auto zone = std::make_shared<zone_snapshot>();
  auto apex = serve_apex(*apex_it->second, serial, *zone);

  std::map<std::string_view, std::shared_ptr<const node>> all;
  for (const auto& [key, n] : touched_) {
    if (!n->empty_non_terminal()) all.emplace(n->key, n);
  }
  all[apex->key] = apex;
  // Empty non-terminals: every missing ancestor between a node and the apex.
  std::vector<std::shared_ptr<const node>> ents;
  const std::size_t apex_labels = apex_.label_count();
  for (const auto& [key, n] : touched_) {
    if (n->empty_non_terminal()) continue;
    dns::name ancestor = n->owner;
    for (std::size_t labels = ancestor.label_count(); labels > apex_labels + 1; --labels) {
      ancestor.strip_left(1);
      const lookup_key k(ancestor);
      if (all.find(k.full()) != all.end()) break;
      auto ent = std::make_shared<node>();
      ent->owner = ancestor;
      ent->key = std::string(k.full());
      ents.push_back(ent);
      all.emplace(ents.back()->key, ents.back());
    }
  }
  node_run sorted;
  sorted.nodes.reserve(all.size());
  sorted.prefixes.reserve(all.size());
  for (auto& entry : all) {
    for (const auto& set : entry.second->rrsets) zone->record_count_ += set.rdatas.size();
    sorted.prefixes.push_back(zone_snapshot::key_prefix(entry.first, zone->apex_key_size_));
    sorted.nodes.push_back(entry.second);
  }
  zone->add_runs(std::move(sorted));
  result.zone = std::move(zone);
  return result;
}

namespace {
bool is_descendant_key(std::string_view key, std::string_view ancestor) {
  return key.size() > ancestor.size() && key.starts_with(ancestor);
}
}  // namespace

build_result zone_builder::build_from_base(std::uint32_t serial) const {
  build_result result;
  const zone_snapshot& base = *base_;
  const auto& runs = base.runs_;
  const std::string_view apex_key = base.apex_node_->key;
  const auto touched_apex = touched_.find(apex_key);
  const node& apex_src = touched_apex == touched_.end() ? *base.apex_node_ : *touched_apex->second;
  if (auto error = check_soa(&apex_src); !error.empty()) {
    result.error = std::move(error);
    return result;
  }
  auto zone = std::make_shared<zone_snapshot>();
  auto apex = serve_apex(apex_src, serial, *zone);

  auto node_at = [&](const zone_snapshot::run_position& at) -> const node& {
    return *runs[at.run]->nodes[at.index];
  };
  auto advance = [&](zone_snapshot::run_position& at) {
    if (++at.index == runs[at.run]->nodes.size()) {
      ++at.run;
      at.index = 0;
    }
  };
  // Whether a name keeps some descendant with records: either a changed or
  // new node below it, or an unchanged one of the base. In the base, the
  // nodes below a name follow it; ENTs and emptied nodes are skipped, and at
  // most a name's depth of ENTs precede a node with records, so this looks at
  // few nodes besides the changed ones.
  auto has_descendant = [&](std::string_view key) {
    for (auto it = touched_.upper_bound(key);
         it != touched_.end() && is_descendant_key(it->first, key); ++it) {
      if (!it->second->empty_non_terminal()) return true;
    }
    for (auto at = base.position_of(key); at.run < runs.size(); advance(at)) {
      const node& n = node_at(at);
      if (!std::string_view(n.key).starts_with(key)) break;
      if (n.key.size() == key.size() || n.empty_non_terminal()) continue;
      if (!touched_.contains(n.key)) return true;  // changed ones were looked at above
    }
    return false;
  };

  // The names whose node may differ from the base: the changed ones and
  // their ancestors (which may gain or lose an ENT). nullptr: drop the name.
  std::map<std::string_view, std::shared_ptr<const node>> edits;
  std::vector<std::shared_ptr<const node>> ents;
  std::size_t record_count = base.record_count_;
  const std::size_t apex_labels = apex_.label_count();
  std::map<std::string, dns::name, std::less<>> ancestors;
  for (const auto& [key, n] : touched_) {
    if (const node* old = base_node(key); old != nullptr) {
      for (const auto& set : old->rrsets) record_count -= set.rdatas.size();
    }
    for (const auto& set : n->rrsets) record_count += set.rdatas.size();
    dns::name ancestor = n->owner;
    for (std::size_t labels = ancestor.label_count(); labels > apex_labels + 1; --labels) {
      ancestor.strip_left(1);
      const lookup_key k(ancestor);
      if (!ancestors.emplace(std::string(k.full()), ancestor).second) break;
    }
  }
  auto settle_empty = [&](std::string_view key, const dns::name& owner) {
    // A name without records: an ENT while something below it has records.
    const auto at = base.position_of(key);
    const node* old = at.run < runs.size() && node_at(at).key == key ? &node_at(at) : nullptr;
    if (has_descendant(key)) {
      if (old != nullptr && old->empty_non_terminal()) return;  // the same ENT as before
      auto ent = std::make_shared<node>();
      ent->owner = owner;
      ent->key = std::string(key);
      ents.push_back(ent);
      edits[ents.back()->key] = ents.back();
    } else if (old != nullptr) {
      edits[old->key] = nullptr;
    }
  };
  for (const auto& [key, n] : touched_) {
    if (key == apex_key) continue;
    if (!n->empty_non_terminal()) {
      edits[n->key] = n;
    } else {
      settle_empty(n->key, n->owner);
    }
  }
  for (const auto& [key, owner] : ancestors) {
    if (touched_.contains(key)) continue;     // settled above
    if (base_node(key) != nullptr) continue;  // keeps its records
    settle_empty(key, owner);
  }
  edits[apex->key] = apex;

  // Merge: runs without edits are shared, the others copied with their
  // edits applied (and cut again when they grew long).
  auto run_of = [&](std::string_view key) {
    return std::min(base.position_of(key).run, runs.size() - 1);
  };
  std::size_t next_run = 0;
  auto edit = edits.begin();
  while (edit != edits.end()) {
    const std::size_t run = run_of(edit->first);
    for (; next_run < run; ++next_run) zone->add_run(runs[next_run]);
    next_run = run + 1;
    const node_run& old = *runs[run];
    node_run merged;
    merged.nodes.reserve(old.nodes.size() + 8);
    merged.prefixes.reserve(old.nodes.size() + 8);
    std::size_t copied = 0;
    auto copy_to = [&](std::size_t end) {
      merged.nodes.insert(merged.nodes.end(),
                          old.nodes.begin() + static_cast<std::ptrdiff_t>(copied),
                          old.nodes.begin() + static_cast<std::ptrdiff_t>(end));
      merged.prefixes.insert(merged.prefixes.end(),
                             old.prefixes.begin() + static_cast<std::ptrdiff_t>(copied),
                             old.prefixes.begin() + static_cast<std::ptrdiff_t>(end));
      copied = end;
    };
    for (; edit != edits.end() && run_of(edit->first) == run; ++edit) {
      const auto& [key, n] = *edit;
      const auto at = std::lower_bound(old.nodes.begin() + static_cast<std::ptrdiff_t>(copied),
                                       old.nodes.end(), key, key_less);
      copy_to(static_cast<std::size_t>(at - old.nodes.begin()));
      if (copied < old.nodes.size() && old.nodes[copied]->key == key) ++copied;
      if (n != nullptr) {
        merged.nodes.push_back(n);
        merged.prefixes.push_back(zone_snapshot::key_prefix(key, zone->apex_key_size_));
      }
    }
    copy_to(old.nodes.size());
    // A run that shrank joins the one before it, so that removals do not
    // leave the zone in slivers.
    if (merged.nodes.size() < run_size / 4 && !zone->runs_.empty() &&
        zone->runs_.back()->nodes.size() + merged.nodes.size() <= 2 * run_size) {
      const auto before = std::move(zone->runs_.back());
      zone->runs_.pop_back();
      zone->run_last_prefixes_.pop_back();
      zone->node_count_ -= before->nodes.size();
      merged.nodes.insert(merged.nodes.begin(), before->nodes.begin(), before->nodes.end());
      merged.prefixes.insert(merged.prefixes.begin(), before->prefixes.begin(),
                             before->prefixes.end());
    }
    if (merged.nodes.size() > 2 * run_size) {
      zone->add_runs(std::move(merged));
    } else if (!merged.nodes.empty()) {
      zone->add_run(std::make_shared<node_run>(std::move(merged)));
    }
  }
  for (; next_run < runs.size(); ++next_run) zone->add_run(runs[next_run]);
  zone->record_count_ = record_count;
  result.zone = std::move(zone);
  return result;
}

build_result apply_changes(const zone_snapshot& base, std::span<const record_change> changes,
                           std::uint32_t serial) {
  zone_builder builder(base);
  for (const auto& change : changes) {
    if (auto error = builder.apply(change); !error.empty()) return build_result{nullptr, error};
  }
  return builder.build(serial);
}

}  // namespace zonemesh::store
