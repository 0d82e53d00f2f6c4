#pragma once
// Immutable in-memory zone snapshots, the builder that makes them, and the
// name lookup that query processing walks (RFC 1034 4.3.2, RFC 4592, 6672).
//
// Layout: a snapshot's nodes are kept in key order in runs of a few hundred.
// A run is one block of bytes holding its nodes back to back, each node a
// header, its RRset directory, its owner name, its lookup key and its RRs in
// wire form; plus two small arrays (node offsets and key prefixes) that the
// search walks. No per-node or per-RR heap block, no reference count per
// node: snapshots share whole runs, and a change copies only the runs it
// touches.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <new>
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

/// One RR of an RRset as stored: its RDATA (uncompressed wire) and the TTL
/// it was given.
struct rr_ref {
  std::span<const std::uint8_t> rdata;
  std::uint32_t ttl = 0;
};

/// All RRs of one type at one node, stored inside the node's block (never
/// made by users). RDATA is uncompressed wire, no duplicates.
struct rrset {
  std::uint16_t type = 0;
  std::uint16_t reserved = 0;
  std::uint32_t ttl = 0;     ///< served TTL: the lowest of the RRs' TTLs (RFC 2181 5.2)
  std::uint32_t count = 0;   ///< number of RRs
  std::uint32_t offset = 0;  ///< octets from this header to the first RR

  /// Walks the RRs in their stored order.
  class iterator {
   public:
    using value_type = rr_ref;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const std::uint8_t* at, std::uint32_t left) : at_(at), left_(left) {}
    rr_ref operator*() const {
      std::uint16_t size = 0;
      std::uint32_t ttl = 0;
      std::memcpy(&size, at_, sizeof size);
      std::memcpy(&ttl, at_ + 2, sizeof ttl);
      return {{at_ + header, size}, ttl};
    }
    iterator& operator++() {
      std::uint16_t size = 0;
      std::memcpy(&size, at_, sizeof size);
      at_ += header + size;
      --left_;
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return left_ == o.left_; }

    static constexpr std::size_t header = 6;  ///< RDATA length (2) and TTL (4) before each RDATA

   private:
    const std::uint8_t* at_ = nullptr;
    std::uint32_t left_ = 0;
  };
  iterator begin() const {
    return {reinterpret_cast<const std::uint8_t*>(this) + offset, count};
  }
  iterator end() const { return {nullptr, 0}; }
  std::size_t size() const { return count; }
  /// The first RR (SOA, CNAME and DNAME sets hold exactly one).
  rr_ref front() const { return *begin(); }
};

/// One owner name in a zone, stored in its run's block (never made by
/// users); an empty non-terminal has no RRsets.
struct node {
  std::uint32_t size = 0;  ///< octets of the whole block, a multiple of 4
  std::uint16_t key_size = 0;
  std::uint16_t rrset_count = 0;
  std::uint8_t owner_size = 0;
  std::uint8_t flags = 0;
  std::uint16_t reserved = 0;

  static constexpr std::uint8_t delegation_flag = 1;

  /// The RRsets, sorted by type.
  std::span<const rrset> rrsets() const {
    return {reinterpret_cast<const rrset*>(this + 1), rrset_count};
  }
  const rrset* find(std::uint16_t type) const;
  /// Owner name, lowercase, uncompressed wire form.
  std::span<const std::uint8_t> owner_wire() const {
    return {reinterpret_cast<const std::uint8_t*>(this + 1) + rrset_count * sizeof(rrset),
            owner_size};
  }
  dns::name owner() const;
  /// Canonical-order lookup key (see lookup_key).
  std::string_view key() const {
    return {reinterpret_cast<const char*>(owner_wire().data()) + owner_size, key_size};
  }
  bool delegation() const { return (flags & delegation_flag) != 0; }  ///< non-apex NS: a zone cut
  bool empty_non_terminal() const { return rrset_count == 0; }
  std::size_t record_count() const;
};
static_assert(sizeof(node) == 12 && sizeof(rrset) == 16);

/// A name in lookup-key form: labels right to left, lowercase, each followed
/// by 0x00, with 0x00/0x01 escaped, so that memcmp order is RFC 4034
/// canonical order and an ancestor's key is a prefix ending on a label
/// boundary. Built on the stack: no allocation.
class lookup_key {
 public:
  explicit lookup_key(const dns::name& n) : lookup_key(n.wire()) {}
  /// From an uncompressed wire name already known to be valid.
  explicit lookup_key(std::span<const std::uint8_t> wire);
  std::size_t label_count() const { return labels_; }
  /// The key of the ancestor with `labels` labels (0 = root).
  std::string_view prefix(std::size_t labels) const {
    return {reinterpret_cast<const char*>(key_.data()), ends_[labels]};
  }
  std::string_view full() const { return prefix(labels_); }

 private:
  // Not zeroed: only the octets written are read (this runs per query).
  std::array<std::uint8_t, 2 * dns::max_name_length> key_;
  std::array<std::uint16_t, dns::max_labels + 1> ends_;
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

/// What a signed snapshot carries besides its records (RRSIG, NSEC, NSEC3,
/// DNSKEY... are records of the snapshot): the denial mode and, for NSEC3,
/// the sorted hashes of the chain, so that a covering NSEC3 is found by a
/// binary search. Made by the signer (lib/dnssec/zone_signing.*).
struct zone_dnssec {
  bool nsec3 = false;
  std::uint8_t nsec3_flags = 0;  ///< 1 = opt-out
  std::uint16_t nsec3_iterations = 0;
  std::vector<std::uint8_t> nsec3_salt;
  std::vector<std::array<std::uint8_t, 20>> nsec3_hashes;  ///< ascending
};

/// One zone, immutable once built and shared read-only between threads.
/// Always owned by a shared_ptr (build() makes it so), which lets a
/// zone_builder started from it keep it alive. Node pointers stay valid as
/// long as the snapshot lives.
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
  /// All nodes in key order, ENTs included (for export and tests).
  std::vector<const node*> nodes() const;
  /// Octets held by the node runs (blocks and search arrays).
  std::size_t memory_bytes() const;
  /// How many of this snapshot's runs are the very same storage as one of
  /// `other`'s (for tests of the copy-on-write sharing).
  std::size_t shared_runs_with(const zone_snapshot& other) const;
  std::size_t run_count() const { return runs_.size(); }

  /// Exact node lookup by name (any case); null when absent. Ignores zone cuts.
  const node* find(const dns::name& n) const;
  const node* find(std::string_view key) const;
  /// The last node in canonical order at or before `n` that holds an RRset
  /// of `type` (the NSEC that matches or covers `n`); null when none.
  const node* find_at_or_before(const dns::name& n, std::uint16_t type) const;
  /// The nearest node strictly after (`forward`) or before `n` in canonical
  /// order that holds an RRset of `type`; null when none (no wrapping).
  const node* neighbor(const dns::name& n, bool forward, std::uint16_t type) const;
  /// The names whose nodes differ between `older` and this snapshot, in key
  /// order: {node in older or null, node here or null}. Empty non-terminals
  /// count as nodes. Only the runs the two do not share are compared, so
  /// the cost follows the size of the change.
  std::vector<std::pair<const node*, const node*>> diff(const zone_snapshot& older) const;
  /// Non-null for a signed snapshot (see zone_dnssec).
  const zone_dnssec* dnssec() const { return dnssec_.get(); }
  /// Walks from the apex to `qname` (which must be at or below the apex),
  /// stopping at the first zone cut or DNAME on the way.
  lookup_result lookup(const dns::name& qname) const;
  /// All records, apex first then canonical order (for export and tests).
  std::vector<record> records() const;

 private:
  friend class zone_builder;
  friend class run_writer;
  /// The first octets of `key` after the apex key, big-endian, zero padded:
  /// comparing these orders nodes as their keys do, except on ties.
  static std::uint64_t key_prefix(std::string_view key, std::size_t apex_key_size);
  void add_run(std::shared_ptr<const node_run> run);
  /// Where a key is or would go among runs_.
  struct run_position {
    std::size_t run = 0;
    std::size_t index = 0;
  };
  /// The first node whose key is not less than `key` (which starts with the
  /// apex key); {runs_.size(), 0} if none.
  run_position position_of(std::string_view key) const;
  const node& node_at(run_position at) const;
  /// Moves `at` to the node before / after it; false at either end.
  bool step_back(run_position& at) const;
  bool step_forward(run_position& at) const;
  /// The nearest node at `at` or before it (`at` may be the end) that holds
  /// an RRset of `type`; null when none.
  const node* holder_at_or_before(run_position at, std::uint16_t type) const;

  dns::name apex_;
  std::string apex_key_;
  std::uint32_t serial_ = 0;
  std::uint32_t negative_ttl_ = 0;
  std::size_t record_count_ = 0;
  std::vector<std::shared_ptr<const node_run>> runs_;
  /// key_prefix() of each run's last node, so that find() picks a run, and
  /// then a node by the run's own prefixes, in contiguous arrays.
  std::vector<std::uint64_t> run_last_prefixes_;
  /// Per run, where its arrays and nodes are: the search goes there
  /// directly, one cache miss fewer than through the run itself.
  static constexpr std::size_t summary_size = 16;
  struct run_index {
    /// The run cut into summary_size blocks, the last prefix of each, in
    /// the entry itself: the search reads this entry (two cache lines), then
    /// one block of prefixes (16 of a full run: two lines).
    std::array<std::uint64_t, summary_size> summary{};
    const std::uint64_t* prefixes = nullptr;
    const std::uint32_t* offsets = nullptr;
    const std::byte* bytes = nullptr;
    std::size_t size = 0;
    const node& at(std::size_t i) const {
      return *std::launder(reinterpret_cast<const node*>(bytes + offsets[i]));
    }
  };
  std::vector<run_index> run_index_;
  void pop_run();
  std::size_t node_count_ = 0;
  const node* apex_node_ = nullptr;
  std::shared_ptr<const zone_dnssec> dnssec_;
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

/// A node being edited by the builder (defined in zone.cpp).
struct draft_node;

/// Collects records for one zone, then builds a snapshot.
///
/// From records (the first constructor): every record and change is kept in
/// one flat log, sorted by name at build() and written straight into runs;
/// the cost is a sort and a copy, with no per-record allocation.
///
/// From an existing snapshot (copy on write): only the changed names and
/// their ancestors are looked at, and only the runs holding them are copied,
/// so building costs in proportion to the changes.
class zone_builder {
 public:
  explicit zone_builder(const dns::name& apex);
  /// Keeps `base` alive (it is owned by a shared_ptr) while the builder lives.
  explicit zone_builder(const zone_snapshot& base);
  ~zone_builder();
  zone_builder(zone_builder&&) noexcept;
  zone_builder& operator=(zone_builder&&) noexcept;

  /// Adds one RR (upsert semantics). Returns an empty string or why the
  /// record was refused (outside the zone, not class IN, meta type).
  std::string add(const record& rr);
  /// Applies one change; same error convention as add().
  std::string apply(const record_change& change);

  /// Builds the snapshot, serving `serial` in the SOA. Fails without exactly
  /// one SOA at the apex. A builder from records of more than 200,000
  /// changes writes its nodes on up to `threads` threads (this one included).
  build_result build(std::uint32_t serial, std::size_t threads = 1) const;
  /// Marks the snapshot that build() makes as signed, with this denial data.
  void set_dnssec(std::shared_ptr<const zone_dnssec> info) { dnssec_ = std::move(info); }

  /// Makes room for about this many records of about this many octets of
  /// owner and RDATA each (a builder from records; saves the copies of a
  /// growing log on large loads).
  void reserve(std::size_t records, std::size_t octets_per_record);
  /// Takes over what `other` (a builder from records of the same zone)
  /// collected, as if it had been added here after this builder's own: for
  /// a load read in parallel parts. Its octets are moved, not copied; when
  /// both were prepare()d, their sorted logs are merged. Returns an empty
  /// string or why not.
  std::string absorb(zone_builder&& other);
  /// Sorts what was collected so far (a builder from records; else nothing),
  /// which build() would otherwise do: the thread that read a part of a
  /// load calls it, so that the parts are sorted at the same time.
  void prepare();

 private:
  std::string check(const record& rr) const;
  std::string log_change(record_change::action what, const record& rr);
  draft_node& mutable_node(const dns::name& owner);
  /// The node with this key, with its records, in the base snapshot or null.
  const node* base_node(std::string_view key) const;
  const std::uint8_t* keep(std::span<const std::uint8_t> bytes);
  build_result build_from_log(std::uint32_t serial, std::size_t threads) const;
  build_result build_from_base(std::uint32_t serial) const;

  dns::name apex_;
  std::string apex_key_;
  std::shared_ptr<const zone_snapshot> base_;  ///< null when building from records
  std::shared_ptr<const zone_dnssec> dnssec_;

  /// From records: one entry per add()/apply(), its key, owner and RDATA in log_bytes_.
  struct logged_change {
    std::uint64_t prefix = 0;  ///< zone_snapshot::key_prefix() of the key
    std::uint32_t at = 0;      ///< offset of key, owner, RDATA in log_bytes_
    std::uint16_t key_size = 0;
    std::uint16_t rdata_size = 0;
    std::uint32_t ttl = 0;
    std::uint16_t type = 0;
    std::uint8_t owner_size = 0;
    record_change::action what = record_change::action::upsert;
  };
  mutable std::vector<logged_change> log_;
  /// Where the log's octets are: `at` counts through these segments in
  /// order. New records go to the last one; absorb() adds other builders'.
  struct log_segment {
    std::uint32_t start = 0;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<log_segment> segments_;
  const std::uint8_t* log_bytes(std::uint32_t at) const;
  std::uint32_t log_size() const;
  mutable bool log_sorted_ = true;  ///< log_ is in build order
  /// The owner of the last record logged, as given, and its key: the records
  /// of one name usually come together, and their key is made once.
  std::vector<std::uint8_t> last_owner_;
  std::string last_key_;
  std::uint64_t last_prefix_ = 0;

  /// From a snapshot: private drafts of the base's nodes that changed and of
  /// new nodes (an emptied one is to go away), by key.
  std::map<std::string, std::unique_ptr<draft_node>, std::less<>> touched_;
  /// RDATA of the changes, kept where drafts can point at it.
  std::deque<std::vector<std::uint8_t>> kept_;
};

/// Builds a new snapshot of `base` with `changes` applied (one source
/// transaction). Any refused change fails the whole batch, so no half
/// transaction is ever served.
build_result apply_changes(const zone_snapshot& base, std::span<const record_change> changes,
                           std::uint32_t serial);

}  // namespace zonemesh::store
