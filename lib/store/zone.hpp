#pragma once
// Immutable in-memory zone snapshots, the builder that makes them, and the
// name lookup that query processing walks (RFC 1034 4.3.2, RFC 4592, 6672).

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.hpp"

namespace zonemesh::store {

/// One record as given to the builder: owner, type, class, TTL, RDATA in
/// uncompressed wire form.
struct record {
  dns::name owner;
  std::uint16_t type = 0;
  std::uint16_t rrclass = 1;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

/// All RRs of one type at one node. RDATA is uncompressed wire, no duplicates.
struct rrset {
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;  ///< served TTL: the lowest of the RRs' TTLs (RFC 2181 5.2)
  std::vector<std::vector<std::uint8_t>> rdatas;
  std::vector<std::uint32_t> ttls;  ///< as given, per RR, so changes can recompute `ttl`
};

/// One owner name in a zone; an empty non-terminal has no RRsets.
struct node {
  dns::name owner;            ///< lowercase
  std::string key;            ///< canonical-order lookup key (see lookup_key)
  std::vector<rrset> rrsets;  ///< sorted by type
  bool delegation = false;    ///< non-apex NS: a zone cut

  const rrset* find(std::uint16_t type) const;
  bool empty_non_terminal() const { return rrsets.empty(); }
};

/// A name in lookup-key form: labels right to left, lowercase, each followed
/// by 0x00, with 0x00/0x01 escaped, so that memcmp order is RFC 4034
/// canonical order and an ancestor's key is a prefix ending on a label
/// boundary. Built on the stack: no allocation.
class lookup_key {
 public:
  explicit lookup_key(const dns::name& n);
  std::size_t label_count() const { return labels_; }
  /// The key of the ancestor with `labels` labels (0 = root).
  std::string_view prefix(std::size_t labels) const {
    return {reinterpret_cast<const char*>(key_.data()), ends_[labels]};
  }
  std::string_view full() const { return prefix(labels_); }

 private:
  std::array<std::uint8_t, 2 * dns::max_name_length> key_{};
  std::array<std::uint16_t, dns::max_labels + 1> ends_{};
  std::size_t labels_ = 0;
};

/// What a name lookup in one zone found.
struct lookup_result {
  enum class kind : std::uint8_t {
    exact,       ///< `node` is the name itself (possibly an empty non-terminal)
    delegation,  ///< `node` is a zone cut at or above the name (see `at_cut`)
    dname,       ///< `node` is a proper ancestor that owns a DNAME
    wildcard,    ///< no such name; `node` is the wildcard "*.<closest encloser>"
    nxdomain,    ///< no such name and no wildcard
  };
  kind what = kind::nxdomain;
  const store::node* node = nullptr;
  const store::node* closest_encloser = nullptr;
  bool at_cut = false;  ///< for delegation: the name is the cut itself
};

/// A run of consecutive nodes of a snapshot (defined in zone.cpp).
struct node_run;

/// One zone, immutable once built and shared read-only between threads.
/// Always owned by a shared_ptr (build() makes it so), which lets a
/// zone_builder started from it keep it alive.
class zone_snapshot : public std::enable_shared_from_this<zone_snapshot> {
 public:
  const dns::name& apex() const { return apex_; }
  std::uint32_t serial() const { return serial_; }
  const node& apex_node() const { return *apex_node_; }
  /// The SOA RRset as served, the builder's serial written in.
  const rrset& soa() const { return *apex_node_->find(6); }
  /// min(SOA TTL, SOA MINIMUM): the TTL of the SOA in negative answers (RFC 2308 5).
  std::uint32_t negative_ttl() const { return negative_ttl_; }
  std::size_t record_count() const { return record_count_; }
  std::size_t node_count() const { return node_count_; }
  /// All nodes in key order, ENTs included: a copy, for export and tests.
  std::vector<std::shared_ptr<const node>> nodes() const;

  /// Exact node lookup by name (any case); null when absent. Ignores zone cuts.
  const node* find(const dns::name& n) const;
  const node* find(std::string_view key) const;
  /// Walks from the apex to `qname` (which must be at or below the apex),
  /// stopping at the first zone cut or DNAME on the way.
  lookup_result lookup(const dns::name& qname) const;
  /// All records, apex first then canonical order (for export and tests).
  std::vector<record> records() const;

 private:
  friend class zone_builder;
  /// The first octets of `key` after the apex key, big-endian, zero padded:
  /// comparing these orders nodes as their keys do, except on ties.
  static std::uint64_t key_prefix(std::string_view key, std::size_t apex_key_size);
  /// Appends sorted nodes (following those already there), cut into runs.
  void add_runs(node_run&& nodes);
  void add_run(std::shared_ptr<const node_run> run);
  /// Where a key is or would go among runs_.
  struct run_position {
    std::size_t run = 0;
    std::size_t index = 0;
  };
  /// The first node whose key is not less than `key` (which starts with the
  /// apex key); {runs_.size(), 0} if none.
  run_position position_of(std::string_view key) const;

  dns::name apex_;
  std::uint32_t serial_ = 0;
  std::uint32_t negative_ttl_ = 0;
  std::size_t record_count_ = 0;
  /// The nodes sorted by key, in runs of a few hundred that snapshots share:
  /// a change copies only the runs it touches and this array of pointers.
  std::vector<std::shared_ptr<const node_run>> runs_;
  /// key_prefix() of each run's last node, so that find() picks a run, and
  /// then a node by the run's own prefixes, in contiguous arrays; node
  /// pointers are followed only to settle ties.
  std::vector<std::uint64_t> run_last_prefixes_;
  std::size_t node_count_ = 0;
  std::size_t apex_key_size_ = 0;
  const node* apex_node_ = nullptr;
};

/// Outcome of building a snapshot: `zone` or an `error` saying why not.
struct build_result {
  std::shared_ptr<const zone_snapshot> zone;
  std::string error;
  explicit operator bool() const { return zone != nullptr; }
};

/// One change of a batch, applied in order.
struct record_change {
  enum class action : std::uint8_t {
    upsert,        ///< add the RR; an identical RDATA only gets the new TTL
    remove,        ///< remove the RR with this owner, type and RDATA
    remove_rrset,  ///< remove every RR of this owner and type
    remove_name,   ///< remove every RR of this owner
  };
  action what = action::upsert;
  record rr;
};

/// Collects records for one zone, then builds a snapshot. Starting from an
/// existing snapshot shares its unchanged nodes (copy on write): only the
/// changed names and their ancestors are looked at, so building costs in
/// proportion to the changes plus one copy of the node pointer array.
class zone_builder {
 public:
  explicit zone_builder(const dns::name& apex);
  /// Keeps `base` alive (it is owned by a shared_ptr) while the builder lives.
  explicit zone_builder(const zone_snapshot& base);

  /// Adds one RR (upsert semantics). Returns an empty string or why the
  /// record was refused (outside the zone, not class IN, meta type).
  std::string add(const record& rr);
  /// Applies one change; same error convention as add().
  std::string apply(const record_change& change);

  /// Builds the snapshot, serving `serial` in the SOA. Fails without exactly
  /// one SOA at the apex.
  build_result build(std::uint32_t serial) const;

 private:
  node& mutable_node(const dns::name& owner);
  std::string check(const record& rr) const;
  /// The node with this key, with its records, in the base snapshot or null.
  const node* base_node(std::string_view key) const;
  std::string check_soa(const node* apex) const;
  std::shared_ptr<node> serve_apex(const node& apex, std::uint32_t serial,
                                   zone_snapshot& zone) const;
  build_result build_from_records(std::uint32_t serial) const;
  build_result build_from_base(std::uint32_t serial) const;

  dns::name apex_;
  std::shared_ptr<const zone_snapshot> base_;  ///< null when building from records
  /// Every node when building from records; otherwise private copies of the
  /// base's nodes that changed and new nodes (an emptied one is to go away).
  std::map<std::string, std::shared_ptr<node>, std::less<>> touched_;
};

/// Builds a new snapshot of `base` with `changes` applied (one source
/// transaction). Any refused change fails the whole batch, so no half
/// transaction is ever served.
build_result apply_changes(const zone_snapshot& base, std::span<const record_change> changes,
                           std::uint32_t serial);

}  // namespace zonemesh::store
