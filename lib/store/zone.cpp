// Zone snapshots: compact node runs, building, copy-on-write changes, lookup.
#include "store/zone.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <thread>
#include <unordered_set>
#include <utility>

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

/// Runs are cut to this many nodes; a run that grows past twice this is cut
/// again. Small enough that a change copies little (a few KiB), large enough
/// that the per-run arrays a change copies whole (one shared_ptr, one index
/// entry per run) stay small: with 64-node runs a one-record change on a
/// 100k-name zone took 155-185 us, with 256 40-60 us, for the same lookup
/// CPU per query.
constexpr std::size_t run_size = 256;

}  // namespace

// ---------------------------------------------------------------------------
// Nodes as stored

const rrset* node::find(std::uint16_t type) const {
  for (const auto& set : rrsets()) {
    if (set.type == type) return &set;
  }
  return nullptr;
}

dns::name node::owner() const {
  dns::name n;
  (void)dns::name::from_wire(owner_wire(), n);
  return n;
}

std::size_t node::record_count() const {
  std::size_t n = 0;
  for (const auto& set : rrsets()) n += set.count;
  return n;
}

lookup_key::lookup_key(std::span<const std::uint8_t> wire) {
  std::array<std::uint8_t, dns::max_labels + 1> offsets{};
  labels_ = dns::label_offsets(wire, offsets);
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
/// One block holds the nodes back to back (each 4-aligned); the two arrays
/// index it.
struct node_run {
  std::vector<std::uint64_t> prefixes;  ///< zone_snapshot::key_prefix() of each node
  std::vector<std::uint32_t> offsets;   ///< where each node starts in `bytes`
  std::vector<std::byte> bytes;

  std::size_t size() const { return offsets.size(); }
  const node& at(std::size_t i) const {
    return *std::launder(reinterpret_cast<const node*>(bytes.data() + offsets[i]));
  }
};

// ---------------------------------------------------------------------------
// Drafts: nodes being edited, and their encoding into a run

struct draft_rr {
  std::uint16_t type = 0;
  std::uint16_t size = 0;
  std::uint32_t ttl = 0;
  const std::uint8_t* rdata = nullptr;
  std::span<const std::uint8_t> bytes() const { return {rdata, size}; }
};

struct draft_node {
  std::string key;
  std::array<std::uint8_t, dns::max_name_length> owner{};
  std::uint8_t owner_size = 0;
  std::vector<draft_rr> rrs;  ///< in the order given; sorted by type when encoded

  std::span<const std::uint8_t> owner_wire() const { return {owner.data(), owner_size}; }
  void set_owner(std::span<const std::uint8_t> wire) {
    std::memcpy(owner.data(), wire.data(), wire.size());
    owner_size = static_cast<std::uint8_t>(wire.size());
  }
  bool empty() const { return rrs.empty(); }

  void apply(record_change::action what, std::uint16_t type, std::uint32_t ttl,
             std::span<const std::uint8_t> rdata) {
    auto same = [&](const draft_rr& r) {
      return r.type == type && r.size == rdata.size() &&
             (rdata.empty() || std::memcmp(r.rdata, rdata.data(), rdata.size()) == 0);
    };
    switch (what) {
      case record_change::action::upsert: {
        const draft_rr fresh{type, static_cast<std::uint16_t>(rdata.size()), ttl, rdata.data()};
        if (auto it = std::find_if(rrs.begin(), rrs.end(), same); it != rrs.end()) {
          it->ttl = ttl;
        } else if (singleton_type(type)) {
          std::erase_if(rrs, [&](const draft_rr& r) { return r.type == type; });
          rrs.push_back(fresh);
        } else {
          rrs.push_back(fresh);
        }
        break;
      }
      case record_change::action::remove:
        if (auto it = std::find_if(rrs.begin(), rrs.end(), same); it != rrs.end()) rrs.erase(it);
        break;
      case record_change::action::remove_rrset:
        std::erase_if(rrs, [&](const draft_rr& r) { return r.type == type; });
        break;
      case record_change::action::remove_name:
        rrs.clear();
        break;
    }
  }

  /// Number of RRs of `type`.
  std::size_t count(std::uint16_t type) const {
    return static_cast<std::size_t>(
        std::count_if(rrs.begin(), rrs.end(), [&](const draft_rr& r) { return r.type == type; }));
  }

  void fill_from(const node& n) {
    key.assign(n.key());
    set_owner(n.owner_wire());
    rrs.clear();
    for (const auto& set : n.rrsets()) {
      for (const rr_ref rr : set) {
        rrs.push_back({set.type, static_cast<std::uint16_t>(rr.rdata.size()), rr.ttl, rr.rdata.data()});
      }
    }
  }
};

namespace {

/// Serving details of the apex: the serial to write into the SOA, and the
/// negative TTL read from it.
struct apex_serving {
  std::uint32_t serial = 0;
  std::uint32_t negative_ttl = 0;
};

/// Nodes being collected in key order for one or more runs.
struct run_buffer {
  std::vector<std::byte> bytes;
  std::vector<std::uint32_t> offsets;
  std::vector<std::uint64_t> prefixes;

  std::size_t size() const { return offsets.size(); }
  void clear() {
    bytes.clear();
    offsets.clear();
    prefixes.clear();
  }
  void add_copy(const node& n, std::uint64_t prefix) {
    const std::size_t at = bytes.size();
    bytes.resize(at + n.size);
    std::memcpy(bytes.data() + at, &n, n.size);
    offsets.push_back(static_cast<std::uint32_t>(at));
    prefixes.push_back(prefix);
  }
  void add_run(const node_run& run) {
    for (std::size_t i = 0; i < run.size(); ++i) add_copy(run.at(i), run.prefixes[i]);
  }
  /// Encodes `d` (its RRs get sorted by type). `apex` non-null: this is the
  /// apex, whose SOA gets the serial.
  void add_draft(draft_node& d, std::uint64_t prefix, apex_serving* apex);
};

void run_buffer::add_draft(draft_node& d, std::uint64_t prefix, apex_serving* apex) {
  // Stable insertion sort by type: few RRs per node, and no allocation
  // (std::stable_sort takes a temporary buffer on every call).
  for (std::size_t i = 1; i < d.rrs.size(); ++i) {
    const draft_rr moving = d.rrs[i];
    std::size_t j = i;
    for (; j > 0 && d.rrs[j - 1].type > moving.type; --j) d.rrs[j] = d.rrs[j - 1];
    d.rrs[j] = moving;
  }
  std::size_t sets = 0;
  std::size_t data = 0;
  for (std::size_t i = 0; i < d.rrs.size(); ++i) {
    if (i == 0 || d.rrs[i].type != d.rrs[i - 1].type) ++sets;
    data += rrset::iterator::header + d.rrs[i].size;
  }
  const std::size_t head = sizeof(node) + sets * sizeof(rrset) + d.owner_size + d.key.size();
  const std::size_t total = (head + data + 3) & ~std::size_t{3};
  const std::size_t at = bytes.size();
  bytes.resize(at + total);
  auto* const base = reinterpret_cast<std::uint8_t*>(bytes.data() + at);

  node header;
  header.size = static_cast<std::uint32_t>(total);
  header.key_size = static_cast<std::uint16_t>(d.key.size());
  header.rrset_count = static_cast<std::uint16_t>(sets);
  header.owner_size = d.owner_size;
  std::memcpy(base + sizeof(node) + sets * sizeof(rrset), d.owner.data(), d.owner_size);
  std::memcpy(base + sizeof(node) + sets * sizeof(rrset) + d.owner_size, d.key.data(), d.key.size());

  std::size_t write = head;
  std::size_t set_index = 0;
  for (std::size_t i = 0; i < d.rrs.size();) {
    rrset set;
    set.type = d.rrs[i].type;
    set.ttl = std::numeric_limits<std::uint32_t>::max();
    const std::size_t set_at = sizeof(node) + set_index * sizeof(rrset);
    set.offset = static_cast<std::uint32_t>(write - set_at);
    for (; i < d.rrs.size() && d.rrs[i].type == set.type; ++i) {
      const draft_rr& rr = d.rrs[i];
      std::memcpy(base + write, &rr.size, 2);
      std::memcpy(base + write + 2, &rr.ttl, 4);
      std::memcpy(base + write + rrset::iterator::header, rr.rdata, rr.size);
      if (apex != nullptr && set.type == dns::rr_type::soa && set.count == 0) {
        std::uint8_t* rdata = base + write + rrset::iterator::header;
        const std::size_t fixed = soa_fixed_offset({rdata, rr.size});
        store_u32(rdata + fixed, apex->serial);
        apex->negative_ttl = load_u32(rdata + fixed + 16);
      }
      write += rrset::iterator::header + rr.size;
      set.ttl = std::min(set.ttl, rr.ttl);
      ++set.count;
    }
    if (apex == nullptr && set.type == dns::rr_type::ns) header.flags |= node::delegation_flag;
    if (apex != nullptr && set.type == dns::rr_type::soa) {
      apex->negative_ttl = std::min(apex->negative_ttl, set.ttl);
    }
    std::memcpy(base + set_at, &set, sizeof set);
    ++set_index;
  }
  std::memcpy(base, &header, sizeof header);
  offsets.push_back(static_cast<std::uint32_t>(at));
  prefixes.push_back(prefix);
}

/// A run of the nodes [begin, end) of `b`, in storage of its exact size.
std::shared_ptr<const node_run> make_run(const run_buffer& b, std::size_t begin, std::size_t end) {
  auto run = std::make_shared<node_run>();
  const std::size_t from = b.offsets[begin];
  const std::size_t to = end == b.size() ? b.bytes.size() : b.offsets[end];
  run->bytes.assign(b.bytes.begin() + static_cast<std::ptrdiff_t>(from),
                    b.bytes.begin() + static_cast<std::ptrdiff_t>(to));
  run->offsets.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    run->offsets.push_back(static_cast<std::uint32_t>(b.offsets[i] - from));
  }
  run->prefixes.assign(b.prefixes.begin() + static_cast<std::ptrdiff_t>(begin),
                       b.prefixes.begin() + static_cast<std::ptrdiff_t>(end));
  return run;
}

bool key_less(const node_run& r, std::size_t i, std::string_view key) { return r.at(i).key() < key; }

}  // namespace

// ---------------------------------------------------------------------------
// Snapshots

std::uint64_t zone_snapshot::key_prefix(std::string_view key, std::size_t apex_key_size) {
  std::uint64_t v = 0;
  std::size_t i = 0;
  for (; i < 8 && apex_key_size + i < key.size(); ++i) {
    v = (v << 8) | static_cast<std::uint8_t>(key[apex_key_size + i]);
  }
  return i == 0 ? 0 : i == 8 ? v : v << (8 * (8 - i));
}

const node& zone_snapshot::node_at(run_position at) const { return run_index_[at.run].at(at.index); }

zone_snapshot::run_position zone_snapshot::position_of(std::string_view key) const {
  // The first run that reaches the key's prefix; nodes sharing it may go on
  // in the runs after it.
  const std::uint64_t prefix = key_prefix(key, apex_key_.size());
  auto run = static_cast<std::size_t>(
      std::lower_bound(run_last_prefixes_.begin(), run_last_prefixes_.end(), prefix) -
      run_last_prefixes_.begin());
  for (; run < run_index_.size(); ++run) {
    const run_index& r = run_index_[run];
    const std::uint64_t* const prefixes = r.prefixes;
    // A block by the summary in the index entry, then the node in it: the
    // entry and one line of prefixes read instead of a binary search's five
    // or six lines.
    const std::size_t block = (r.size + summary_size - 1) / summary_size;
    std::size_t b = 0;
    while (b < summary_size && r.summary[b] < prefix) ++b;
    std::size_t first = std::min(b * block, r.size);
    const std::size_t block_end = std::min(first + block, r.size);
    while (first < block_end && prefixes[first] < prefix) ++first;
    // lower_bound by key among the nodes sharing the prefix (mostly none or one)
    while (first < r.size && prefixes[first] == prefix && r.at(first).key() < key) ++first;
    if (first != r.size) return {run, first};
  }
  return {run_index_.size(), 0};
}

const node* zone_snapshot::find(std::string_view key) const {
  // Every key in the zone starts with the apex key, so only the rest is
  // searched: first on the contiguous prefixes, then on the few full keys
  // that share one.
  if (apex_node_ == nullptr || key.size() < apex_key_.size() ||
      key.substr(0, apex_key_.size()) != apex_key_) {
    return nullptr;
  }
  const run_position at = position_of(key);
  if (at.run == run_index_.size()) return nullptr;
  const run_index& r = run_index_[at.run];
  // Most misses show in the prefix, without a look at the node.
  if (r.prefixes[at.index] != key_prefix(key, apex_key_.size())) return nullptr;
  const node& n = r.at(at.index);
  return n.key() == key ? &n : nullptr;
}

const node* zone_snapshot::find(const dns::name& n) const {
  const lookup_key key(n);
  return find(key.full());
}

bool zone_snapshot::step_back(run_position& at) const {
  if (at.index > 0) {
    --at.index;
  } else if (at.run > 0) {
    --at.run;
    at.index = run_index_[at.run].size - 1;
  } else {
    return false;
  }
  return true;
}

bool zone_snapshot::step_forward(run_position& at) const {
  if (at.run == run_index_.size()) return false;
  if (++at.index == run_index_[at.run].size) {
    ++at.run;
    at.index = 0;
  }
  return at.run < run_index_.size();
}

const node* zone_snapshot::holder_at_or_before(run_position at, std::uint16_t type) const {
  if (at.run == run_index_.size()) {
    at.run = run_index_.size() - 1;
    at.index = run_index_[at.run].size - 1;
  }
  while (true) {
    if (node_at(at).find(type) != nullptr) return &node_at(at);
    if (!step_back(at)) return nullptr;
  }
}

const node* zone_snapshot::find_at_or_before(const dns::name& n, std::uint16_t type) const {
  if (run_index_.empty()) return nullptr;
  const lookup_key key(n);
  run_position at = position_of(key.full());
  // Start at the name itself when present, else at the node before it.
  if (at.run < run_index_.size() && node_at(at).key() != key.full() && !step_back(at)) return nullptr;
  return holder_at_or_before(at, type);
}

namespace {
/// A node holding NSEC3 and nothing else but RRSIGs: an NSEC3 chain owner.
bool nsec3_owner_only(const node& n) {
  bool nsec3 = false;
  for (const rrset& set : n.rrsets()) {
    if (set.type == dns::rr_type::nsec3) {
      nsec3 = true;
    } else if (set.type != dns::rr_type::rrsig) {
      return false;
    }
  }
  return nsec3;
}
}  // namespace

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
  // In an NSEC3 zone the hashed owners below the apex hold only NSEC3 (and
  // its RRSIG): they are not names of the zone (RFC 5155 7.2.8), so a query
  // for one is answered as for any name that does not exist.
  const bool nsec3_zone = dnssec_ != nullptr && dnssec_->nsec3;
  while (depth < labels) {
    const node* n = find(key.prefix(depth + 1));
    if (n == nullptr) break;
    if (nsec3_zone && depth == apex_labels && nsec3_owner_only(*n)) break;
    encloser = n;
    ++depth;
    if (n->delegation()) {
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
    for (std::size_t i = 0; i < run->size(); ++i) {
      const node& n = run->at(i);
      const dns::name owner = n.owner();
      for (const auto& set : n.rrsets()) {
        for (const rr_ref rr : set) {
          out.push_back(record{owner, set.type, class_in, set.ttl,  // one TTL per RRset (RFC 2181 5.2)
                               std::vector<std::uint8_t>(rr.rdata.begin(), rr.rdata.end())});
        }
      }
    }
  }
  return out;
}

std::vector<const node*> zone_snapshot::nodes() const {
  std::vector<const node*> out;
  out.reserve(node_count_);
  for (const auto& run : runs_) {
    for (std::size_t i = 0; i < run->size(); ++i) out.push_back(&run->at(i));
  }
  return out;
}

std::size_t zone_snapshot::memory_bytes() const {
  std::size_t n = sizeof(*this) + runs_.capacity() * sizeof(runs_[0]) +
                  run_last_prefixes_.capacity() * sizeof(std::uint64_t) +
                  run_index_.capacity() * sizeof(run_index);
  for (const auto& run : runs_) {
    n += sizeof(node_run) + run->bytes.capacity() + run->offsets.capacity() * 4 +
         run->prefixes.capacity() * 8;
  }
  return n;
}

const node* zone_snapshot::neighbor(const dns::name& n, bool forward, std::uint16_t type) const {
  if (run_index_.empty()) return nullptr;
  const lookup_key key(n);
  run_position at = position_of(key.full());
  if (forward) {
    // position_of gives the first node >= key: skip the name itself.
    if (at.run < run_index_.size() && node_at(at).key() == key.full() && !step_forward(at)) return nullptr;
    while (at.run < run_index_.size()) {
      if (node_at(at).find(type) != nullptr) return &node_at(at);
      if (!step_forward(at)) return nullptr;
    }
    return nullptr;
  }
  if (at.run < run_index_.size() && !step_back(at)) return nullptr;
  return holder_at_or_before(at, type);
}

std::vector<std::pair<const node*, const node*>> zone_snapshot::diff(const zone_snapshot& older) const {
  std::unordered_set<const node_run*> mine, theirs;
  for (const auto& run : runs_) mine.insert(run.get());
  for (const auto& run : older.runs_) theirs.insert(run.get());
  // Keys in a shared run are in that run in both snapshots, so only the
  // nodes of unshared runs can differ; each list is in key order.
  std::vector<const node*> before, after;
  for (const auto& run : older.runs_) {
    if (mine.count(run.get()) != 0) continue;
    for (std::size_t i = 0; i < run->size(); ++i) before.push_back(&run->at(i));
  }
  for (const auto& run : runs_) {
    if (theirs.count(run.get()) != 0) continue;
    for (std::size_t i = 0; i < run->size(); ++i) after.push_back(&run->at(i));
  }
  std::vector<std::pair<const node*, const node*>> out;
  std::size_t i = 0, j = 0;
  while (i < before.size() || j < after.size()) {
    if (j == after.size() || (i < before.size() && before[i]->key() < after[j]->key())) {
      out.emplace_back(before[i++], nullptr);
    } else if (i == before.size() || after[j]->key() < before[i]->key()) {
      out.emplace_back(nullptr, after[j++]);
    } else {
      const node* a = before[i++];
      const node* b = after[j++];
      if (a->size != b->size || std::memcmp(a, b, a->size) != 0) out.emplace_back(a, b);
    }
  }
  return out;
}

std::size_t zone_snapshot::shared_runs_with(const zone_snapshot& other) const {
  std::unordered_set<const node_run*> theirs;
  for (const auto& run : other.runs_) theirs.insert(run.get());
  std::size_t n = 0;
  for (const auto& run : runs_) n += theirs.count(run.get());
  return n;
}

void zone_snapshot::add_run(std::shared_ptr<const node_run> run) {
  node_count_ += run->size();
  run_last_prefixes_.push_back(run->prefixes.back());
  run_index entry;
  const std::size_t n = run->size();
  const std::size_t block = (n + summary_size - 1) / summary_size;
  for (std::size_t b = 0; b < summary_size; ++b) {
    // past the end: all ones, which every prefix is not greater than
    entry.summary[b] = (b + 1) * block <= n ? run->prefixes[(b + 1) * block - 1]
                       : b * block < n      ? run->prefixes[n - 1]
                                            : ~std::uint64_t{0};
  }
  entry.prefixes = run->prefixes.data();
  entry.offsets = run->offsets.data();
  entry.bytes = run->bytes.data();
  entry.size = n;
  run_index_.push_back(entry);
  runs_.push_back(std::move(run));
}

void zone_snapshot::pop_run() {
  node_count_ -= runs_.back()->size();
  run_last_prefixes_.pop_back();
  run_index_.pop_back();
  runs_.pop_back();
}

// ---------------------------------------------------------------------------
// Builder

zone_builder::zone_builder(const dns::name& apex)
    : apex_(apex.lowercased()), apex_key_(lookup_key(apex_).full()), segments_(1) {}

zone_builder::zone_builder(const zone_snapshot& base)
    : apex_(base.apex()), apex_key_(base.apex_key_) {
  base_ = base.weak_from_this().lock();
  // Not owned by a shared_ptr (never the case for a built snapshot): the
  // caller keeps it alive.
  if (base_ == nullptr)
    base_ = std::shared_ptr<const zone_snapshot>(&base, [](const zone_snapshot*) {});
}

zone_builder::~zone_builder() = default;
zone_builder::zone_builder(zone_builder&&) noexcept = default;
zone_builder& zone_builder::operator=(zone_builder&&) noexcept = default;

const std::uint8_t* zone_builder::log_bytes(std::uint32_t at) const {
  auto segment = segments_.end() - 1;
  while (segment->start > at) --segment;  // a few segments at most, the last one first
  return segment->bytes.data() + (at - segment->start);
}

std::uint32_t zone_builder::log_size() const {
  return segments_.empty() ? 0
                           : static_cast<std::uint32_t>(segments_.back().start + segments_.back().bytes.size());
}

const node* zone_builder::base_node(std::string_view key) const {
  if (base_ == nullptr) return nullptr;
  const node* n = base_->find(key);
  return n == nullptr || n->empty_non_terminal() ? nullptr : n;
}

const std::uint8_t* zone_builder::keep(std::span<const std::uint8_t> bytes) {
  kept_.emplace_back(bytes.begin(), bytes.end());
  return kept_.back().data();
}

draft_node& zone_builder::mutable_node(const dns::name& owner) {
  const dns::name lower = owner.lowercased();
  const lookup_key key(lower);
  if (auto it = touched_.find(key.full()); it != touched_.end()) return *it->second;
  auto draft = std::make_unique<draft_node>();
  if (const node* n = base_node(key.full()); n != nullptr) {
    draft->fill_from(*n);
  } else {
    draft->key.assign(key.full());
    draft->set_owner(lower.wire());
  }
  auto& d = *draft;
  touched_.emplace(d.key, std::move(draft));
  return d;
}

std::string zone_builder::check(const record& rr) const {
  const auto owner = rr.owner.wire();
  const bool logged_before = base_ == nullptr && owner.size() == last_owner_.size() &&
                             std::equal(owner.begin(), owner.end(), last_owner_.begin());
  if (!logged_before && !rr.owner.is_subdomain_of(apex_)) {
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

std::string zone_builder::log_change(record_change::action what, const record& rr) {
  const auto owner = rr.owner.wire();
  if (owner.size() != last_owner_.size() || !std::equal(owner.begin(), owner.end(), last_owner_.begin())) {
    const lookup_key key(rr.owner);  // lowercase
    last_key_.assign(key.full());
    last_prefix_ = zone_snapshot::key_prefix(last_key_, apex_key_.size());
    last_owner_.assign(owner.begin(), owner.end());
  }
  const std::string_view k = last_key_;
  if (segments_.empty()) segments_.emplace_back();  // moved from
  auto& segment = segments_.back();
  const std::size_t at = segment.start + segment.bytes.size();
  const std::size_t size = k.size() + owner.size() + rr.rdata.size();
  if (at + size > std::numeric_limits<std::uint32_t>::max()) {
    return "zone " + apex_.to_string() + " is too large to load (more than 4 GiB of records)";
  }
  const std::size_t old_size = segment.bytes.size();
  segment.bytes.resize(old_size + size);
  std::uint8_t* out = segment.bytes.data() + old_size;
  std::memcpy(out, k.data(), k.size());
  out += k.size();
  for (const std::uint8_t c : owner) *out++ = dns::to_lower(c);  // the owner as served: lowercase
  if (!rr.rdata.empty()) std::memcpy(out, rr.rdata.data(), rr.rdata.size());
  logged_change c;
  c.prefix = last_prefix_;
  c.at = static_cast<std::uint32_t>(at);
  c.key_size = static_cast<std::uint16_t>(k.size());
  c.rdata_size = static_cast<std::uint16_t>(rr.rdata.size());
  c.ttl = rr.ttl;
  c.type = rr.type;
  c.owner_size = static_cast<std::uint8_t>(owner.size());
  c.what = what;
  log_.push_back(c);
  log_sorted_ = false;
  return {};
}

std::string zone_builder::add(const record& rr) {
  if (auto error = check(rr); !error.empty()) return error;
  if (base_ == nullptr) return log_change(record_change::action::upsert, rr);
  mutable_node(rr.owner).apply(record_change::action::upsert, rr.type, rr.ttl,
                               {keep(rr.rdata), rr.rdata.size()});
  return {};
}

std::string zone_builder::apply(const record_change& change) {
  if (change.what == record_change::action::upsert) return add(change.rr);
  if (!change.rr.owner.is_subdomain_of(apex_)) {
    return change.rr.owner.to_string() + " is outside zone " + apex_.to_string();
  }
  if (base_ == nullptr) return log_change(change.what, change.rr);
  const lookup_key key(change.rr.owner);
  if (!touched_.contains(key.full()) && base_node(key.full()) == nullptr) {
    return {};  // nothing to remove
  }
  mutable_node(change.rr.owner)
      .apply(change.what, change.rr.type, change.rr.ttl, change.rr.rdata);
  return {};
}

namespace {

std::string check_soa(const draft_node* apex, const dns::name& zone) {
  const std::size_t soas = apex == nullptr ? 0 : apex->count(dns::rr_type::soa);
  if (soas == 0) return "zone " + zone.to_string() + " has no SOA at its apex";
  if (soas != 1) return "zone " + zone.to_string() + " has more than one SOA";
  return {};
}

/// The label-boundary prefixes of a key ("a\0b\0c\0" -> 2, 4, 6): the keys
/// of the name's ancestors.
std::size_t key_label_ends(std::string_view key, std::array<std::uint16_t, dns::max_labels + 1>& ends) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '\0') ends[n++] = static_cast<std::uint16_t>(i + 1);
  }
  return n;
}

}  // namespace

void zone_builder::reserve(std::size_t records, std::size_t octets_per_record) {
  if (base_ != nullptr) return;
  log_.reserve(records);
  // the key is about as long as the owner
  segments_.back().bytes.reserve(std::min<std::size_t>(records * (octets_per_record + apex_key_.size() + 8),
                                                       std::numeric_limits<std::uint32_t>::max()));
}

namespace {
/// Build order of the log: by key (prefix first), then in the order logged.
template <typename bytes_of>
auto log_order(bytes_of bytes) {
  return [bytes](const auto& a, const auto& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    const std::string_view ka(reinterpret_cast<const char*>(bytes(a.at)), a.key_size);
    const std::string_view kb(reinterpret_cast<const char*>(bytes(b.at)), b.key_size);
    if (const int c = ka.compare(kb); c != 0) return c < 0;
    return a.at < b.at;
  };
}
}  // namespace

void zone_builder::prepare() {
  if (base_ != nullptr || log_sorted_) return;
  const auto order = log_order([this](std::uint32_t at) { return log_bytes(at); });
  if (log_.size() < 4096) {
    std::sort(log_.begin(), log_.end(), order);
    log_sorted_ = true;
    return;
  }
  // A large log (a load): radix sort by the 8-octet key prefix, which tells
  // most names apart, one octet per pass (a pass is skipped where every
  // entry has the same octet), then a comparison sort of each run of equal
  // prefixes (the records of one name, mostly) by key and log order: 22 ms
  // instead of 37 ms for std::sort of a 490k-record log, whose comparisons
  // go to the keys for every pair of records of one name.
  std::vector<std::array<std::uint32_t, 256>> counts(8);
  for (const auto& c : log_) {
    for (std::size_t b = 0; b < 8; ++b) ++counts[b][(c.prefix >> (8 * b)) & 0xff];
  }
  std::vector<logged_change> other(log_.size());
  for (std::size_t b = 0; b < 8; ++b) {
    auto& count = counts[b];
    if (std::find(count.begin(), count.end(), log_.size()) != count.end()) continue;
    std::uint32_t sum = 0;
    for (auto& n : count) sum += std::exchange(n, sum);  // where each octet's entries start
    for (const auto& c : log_) other[count[(c.prefix >> (8 * b)) & 0xff]++] = c;
    log_.swap(other);
  }
  other = {};
  for (auto first = log_.begin(); first != log_.end();) {
    auto last = first + 1;
    while (last != log_.end() && last->prefix == first->prefix) ++last;
    if (last - first > 1) std::sort(first, last, order);
    first = last;
  }
  log_sorted_ = true;
}

std::string zone_builder::absorb(zone_builder&& other) {
  if (base_ != nullptr || other.base_ != nullptr || !other.apex_.equals(apex_)) {
    return "only builders from records of the same zone can be joined";
  }
  const std::uint32_t shift = log_size();
  if (std::size_t{shift} + other.log_size() > std::numeric_limits<std::uint32_t>::max()) {
    return "zone " + apex_.to_string() + " is too large to load (more than 4 GiB of records)";
  }
  if (segments_.back().bytes.empty()) segments_.pop_back();
  for (auto& segment : other.segments_) {
    if (segment.bytes.empty()) continue;
    segments_.push_back({static_cast<std::uint32_t>(segment.start + shift), std::move(segment.bytes)});
  }
  segments_.push_back({log_size(), {}});  // for records added after
  const bool sorted = log_sorted_ && other.log_sorted_;
  for (auto& c : other.log_) c.at = static_cast<std::uint32_t>(c.at + shift);
  if (log_.empty()) {
    log_ = std::move(other.log_);
  } else if (sorted) {
    std::vector<logged_change> merged(log_.size() + other.log_.size());
    std::merge(log_.begin(), log_.end(), other.log_.begin(), other.log_.end(), merged.begin(),
               log_order([this](std::uint32_t at) { return log_bytes(at); }));
    log_ = std::move(merged);
  } else {
    log_.insert(log_.end(), other.log_.begin(), other.log_.end());
  }
  log_sorted_ = sorted;
  other.log_ = {};
  other.segments_.assign(1, log_segment{});
  other.log_sorted_ = true;
  other.last_owner_.clear();
  return {};
}

build_result zone_builder::build(std::uint32_t serial, std::size_t threads) const {
  return base_ == nullptr ? build_from_log(serial, threads) : build_from_base(serial);
}

build_result zone_builder::build_from_log(std::uint32_t serial, std::size_t threads) const {
  build_result result;
  auto key_of = [&](const logged_change& c) {
    return std::string_view(reinterpret_cast<const char*>(log_bytes(c.at)), c.key_size);
  };
  // Name order; the changes of one name stay in the order given (`at` grows).
  if (!log_sorted_) {
    std::sort(log_.begin(), log_.end(), log_order([this](std::uint32_t at) { return log_bytes(at); }));
    log_sorted_ = true;
  }
  const std::size_t apex_key_size = apex_key_.size();
  const std::size_t apex_labels = apex_.label_count();
  // The changes of the name starting at `i` applied to `d`; returns the end of them.
  auto collect = [&](std::size_t i, draft_node& d) {
    const std::string_view key = key_of(log_[i]);
    d.key.assign(key);
    d.set_owner({log_bytes(log_[i].at) + log_[i].key_size, log_[i].owner_size});
    d.rrs.clear();
    for (; i < log_.size() && key_of(log_[i]) == key; ++i) {
      const logged_change& c = log_[i];
      d.apply(c.what, c.type, c.ttl, {log_bytes(c.at) + c.key_size + c.owner_size, c.rdata_size});
    }
    return i;
  };

  // A large log is written by several threads, each a slice of names into
  // runs of its own; the runs are then joined in order. A slice starts on a
  // new name, and knows the last name written before it (for the empty
  // non-terminals).
  struct slice {
    std::size_t begin = 0, end = 0;
    std::string last;  ///< key of the last node written before the slice
    std::vector<std::shared_ptr<const node_run>> runs;
    std::size_t records = 0;
    bool apex_seen = false;
    apex_serving apex;
    std::string error;
    std::exception_ptr failure;
  };
  constexpr std::size_t min_slice = 100000;  // changes; fewer are not worth a thread
  const std::size_t parts = std::max<std::size_t>(1, std::min(threads, log_.size() / min_slice));
  std::vector<slice> slices(parts);
  for (std::size_t k = 0; k < parts; ++k) {
    std::size_t at = log_.size() * k / parts;
    while (k > 0 && at < log_.size() && key_of(log_[at]) == key_of(log_[at - 1])) ++at;
    slices[k].begin = k == 0 ? 0 : std::max(at, slices[k - 1].begin);
    if (k > 0) slices[k - 1].end = slices[k].begin;
  }
  slices.back().end = log_.size();
  for (std::size_t k = 1; k < parts; ++k) {
    // the last name before the slice that keeps some records (the apex does)
    slices[k].apex_seen = true;
    draft_node d;
    for (std::size_t end = slices[k].begin; end > 0;) {
      std::size_t first = end - 1;
      while (first > 0 && key_of(log_[first - 1]) == key_of(log_[end - 1])) --first;
      collect(first, d);
      if (!d.empty()) {
        slices[k].last = d.key;
        break;
      }
      end = first;
    }
  }

  auto write = [&](slice& out) {
    run_buffer buffer;
    auto flush = [&](bool all) {
      if (buffer.size() >= run_size || (all && buffer.size() > 0)) {
        out.runs.push_back(make_run(buffer, 0, buffer.size()));
        buffer.clear();
      }
    };
    draft_node d;
    draft_node ent;
    std::string& last = out.last;  // key of the last node written
    out.apex.serial = serial;
    out.apex.negative_ttl = std::numeric_limits<std::uint32_t>::max();
    for (std::size_t i = out.begin; i < out.end;) {
      i = collect(i, d);
      const std::string_view key = d.key;
      const bool is_apex = key.size() == apex_key_size;
      if (is_apex) {
        if (auto error = check_soa(&d, apex_); !error.empty()) {
          out.error = std::move(error);
          return;
        }
        out.apex_seen = true;
      } else if (!out.apex_seen) {
        break;  // names below the apex but no apex: no SOA
      }
      if (d.empty()) continue;
      // Empty non-terminals: the ancestors between the apex and this name that
      // were not written yet. Written ones are ancestors of the last node (or
      // that node itself), since descendants follow their ancestor in key order.
      if (!is_apex) {
        std::array<std::uint16_t, dns::max_labels + 1> ends{};
        const std::size_t labels = key_label_ends(key, ends);  // ends[L - 1]: ancestor of L labels
        std::size_t written = apex_labels;
        for (std::size_t l = labels - 1; l > apex_labels; --l) {
          if (std::string_view(last).starts_with(key.substr(0, ends[l - 1]))) {
            written = l;
            break;
          }
        }
        if (written + 1 < labels) {
          const auto owner = d.owner_wire();
          std::array<std::uint8_t, dns::max_labels + 1> offsets{};
          const std::size_t n = dns::label_offsets(owner, offsets);
          for (std::size_t l = written + 1; l < labels; ++l) {
            ent.key.assign(key.substr(0, ends[l - 1]));
            ent.set_owner(owner.subspan(offsets[n - l]));
            ent.rrs.clear();
            buffer.add_draft(ent, zone_snapshot::key_prefix(ent.key, apex_key_size), nullptr);
            flush(false);
          }
        }
      }
      out.records += d.rrs.size();
      buffer.add_draft(d, zone_snapshot::key_prefix(key, apex_key_size), is_apex ? &out.apex : nullptr);
      last.assign(key);
      flush(false);
    }
    flush(true);
  };
  std::vector<std::thread> helpers;
  for (std::size_t k = 1; k < parts; ++k) {
    helpers.emplace_back([&write, &out = slices[k]] {
      try {
        write(out);
      } catch (...) {
        out.failure = std::current_exception();
      }
    });
  }
  try {
    write(slices.front());
  } catch (...) {
    slices.front().failure = std::current_exception();
  }
  for (auto& t : helpers) t.join();
  for (const auto& part : slices) {
    if (part.failure) std::rethrow_exception(part.failure);
  }
  const slice& first = slices.front();
  if (!first.error.empty() || !first.apex_seen) {
    result.error = first.error.empty() ? check_soa(nullptr, apex_) : first.error;
    return result;
  }

  auto zone = std::make_shared<zone_snapshot>();
  zone->apex_ = apex_;
  zone->apex_key_ = apex_key_;
  zone->serial_ = serial;
  for (auto& part : slices) {
    zone->record_count_ += part.records;
    for (auto& run : part.runs) zone->add_run(std::move(run));
  }
  zone->negative_ttl_ = first.apex.negative_ttl;
  zone->apex_node_ = &zone->runs_.front()->at(0);
  zone->dnssec_ = dnssec_;
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
  const std::string_view apex_key = apex_key_;
  draft_node apex_draft;
  if (const auto t = touched_.find(apex_key); t != touched_.end()) {
    apex_draft = *t->second;
  } else {
    apex_draft.fill_from(*base.apex_node_);
  }
  if (auto error = check_soa(&apex_draft, apex_); !error.empty()) {
    result.error = std::move(error);
    return result;
  }
  auto zone = std::make_shared<zone_snapshot>();
  zone->apex_ = apex_;
  zone->apex_key_ = apex_key_;
  zone->serial_ = serial;
  const std::size_t apex_key_size = apex_key_.size();

  auto advance = [&](zone_snapshot::run_position& at) {
    if (++at.index == runs[at.run]->size()) {
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
      if (!it->second->empty()) return true;
    }
    for (auto at = base.position_of(key); at.run < runs.size(); advance(at)) {
      const node& n = base.node_at(at);
      if (!n.key().starts_with(key)) break;
      if (n.key().size() == key.size() || n.empty_non_terminal()) continue;
      if (!touched_.contains(n.key())) return true;  // changed ones were looked at above
    }
    return false;
  };

  // The names whose node may differ from the base: the changed ones and
  // their ancestors (which may gain or lose an ENT). nullptr: drop the name.
  std::map<std::string_view, const draft_node*> edits;
  std::deque<draft_node> ents;
  std::size_t record_count = base.record_count_;
  const std::size_t apex_labels = apex_.label_count();
  std::map<std::string, std::string, std::less<>> ancestors;  // key -> owner wire
  for (const auto& [key, n] : touched_) {
    if (const node* old = base_node(key); old != nullptr) record_count -= old->record_count();
    record_count += n->rrs.size();
    const auto owner = n->owner_wire();
    std::array<std::uint8_t, dns::max_labels + 1> offsets{};
    const std::size_t labels = dns::label_offsets(owner, offsets);
    const lookup_key k(owner);
    for (std::size_t l = labels - 1; l > apex_labels; --l) {
      const auto suffix = owner.subspan(offsets[labels - l]);
      if (!ancestors
               .emplace(std::string(k.prefix(l)),
                        std::string(reinterpret_cast<const char*>(suffix.data()), suffix.size()))
               .second) {
        break;
      }
    }
  }
  auto settle_empty = [&](std::string_view key, std::span<const std::uint8_t> owner) {
    // A name without records: an ENT while something below it has records.
    const auto at = base.position_of(key);
    const node* old =
        at.run < runs.size() && base.node_at(at).key() == key ? &base.node_at(at) : nullptr;
    if (has_descendant(key)) {
      if (old != nullptr && old->empty_non_terminal()) return;  // the same ENT as before
      draft_node& ent = ents.emplace_back();
      ent.key.assign(key);
      ent.set_owner(owner);
      edits[ent.key] = &ent;
    } else if (old != nullptr) {
      edits[old->key()] = nullptr;
    }
  };
  for (const auto& [key, n] : touched_) {
    if (key == apex_key) continue;
    if (!n->empty()) {
      edits[n->key] = n.get();
    } else {
      settle_empty(n->key, n->owner_wire());
    }
  }
  for (const auto& [key, owner] : ancestors) {
    if (touched_.contains(key)) continue;     // settled above
    if (base_node(key) != nullptr) continue;  // keeps its records
    settle_empty(key, {reinterpret_cast<const std::uint8_t*>(owner.data()), owner.size()});
  }
  edits[apex_key] = &apex_draft;
  apex_serving apex;
  apex.serial = serial;

  // Merge: runs without edits are shared, the others copied with their
  // edits applied (and cut again when they grew long).
  auto run_of = [&](std::string_view key) {
    return std::min(base.position_of(key).run, runs.size() - 1);
  };
  std::size_t next_run = 0;
  auto edit = edits.begin();
  run_buffer merged;
  draft_node scratch;
  while (edit != edits.end()) {
    const std::size_t run = run_of(edit->first);
    for (; next_run < run; ++next_run) zone->add_run(runs[next_run]);
    next_run = run + 1;
    const node_run& old = *runs[run];
    merged.clear();
    std::size_t copied = 0;
    auto copy_to = [&](std::size_t end) {
      for (; copied < end; ++copied) merged.add_copy(old.at(copied), old.prefixes[copied]);
    };
    for (; edit != edits.end() && run_of(edit->first) == run; ++edit) {
      const auto& [key, n] = *edit;
      std::size_t first = copied, count = old.size() - copied;
      while (count > 0) {
        const std::size_t step = count / 2;
        if (key_less(old, first + step, key)) {
          first += step + 1;
          count -= step + 1;
        } else {
          count = step;
        }
      }
      copy_to(first);
      if (copied < old.size() && old.at(copied).key() == key) ++copied;
      if (n != nullptr) {
        scratch = *n;  // encoding sorts the RRs: the builder's drafts stay as they are
        const bool is_apex = key == apex_key;
        merged.add_draft(scratch, zone_snapshot::key_prefix(key, apex_key_size),
                         is_apex ? &apex : nullptr);
      }
    }
    copy_to(old.size());
    // A run that shrank joins the one before it, so that removals do not
    // leave the zone in slivers.
    if (merged.size() < run_size / 4 && !zone->runs_.empty() &&
        zone->runs_.back()->size() + merged.size() <= 2 * run_size) {
      const auto before = zone->runs_.back();
      zone->pop_run();
      run_buffer joined;
      joined.add_run(*before);
      for (std::size_t i = 0; i < merged.size(); ++i) {
        joined.add_copy(*std::launder(reinterpret_cast<const node*>(merged.bytes.data() +
                                                                    merged.offsets[i])),
                        merged.prefixes[i]);
      }
      merged = std::move(joined);
    }
    if (merged.size() > 2 * run_size) {
      for (std::size_t at = 0; at < merged.size(); at += run_size) {
        zone->add_run(make_run(merged, at, std::min(merged.size(), at + run_size)));
      }
    } else if (merged.size() > 0) {
      zone->add_run(make_run(merged, 0, merged.size()));
    }
  }
  for (; next_run < runs.size(); ++next_run) zone->add_run(runs[next_run]);
  zone->record_count_ = record_count;
  zone->negative_ttl_ = apex.negative_ttl;
  zone->apex_node_ = &zone->runs_.front()->at(0);
  zone->dnssec_ = dnssec_;
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
