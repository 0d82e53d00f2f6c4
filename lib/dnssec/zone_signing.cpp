// Whole-zone signing with a signature cache (see zone_signing.hpp).
#include "dnssec/zone_signing.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "dns/types.hpp"
#include "dnssec/rrsig.hpp"

namespace zonemesh::dnssec {
namespace {

namespace t = dns::rr_type;

std::string sha256(std::span<const std::uint8_t> data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, EVP_sha256(), nullptr);
  return out;
}

/// Types this signer makes itself: the zone's own copies are dropped.
bool generated_type(std::uint16_t type) {
  return type == t::rrsig || type == t::nsec || type == t::nsec3 || type == t::nsec3param;
}

/// Walks nodes in canonical order and says which are occluded: below a zone
/// cut (glue) or below a DNAME (RFC 6672 2.4).
class occlusion {
 public:
  /// True when `n` is not authoritative data; updates the cut.
  bool occluded(const store::node& n, const dns::name& owner) {
    if (has_cut_ && owner.is_subdomain_of(cut_) && !owner.equals(cut_)) return true;
    has_cut_ = false;
    if (n.delegation() || n.find(t::dname) != nullptr) {
      cut_ = owner;
      has_cut_ = true;
    }
    return false;
  }

 private:
  dns::name cut_;
  bool has_cut_ = false;
};

struct denial_name {
  dns::name owner;
  std::vector<std::uint16_t> types;  ///< without RRSIG/NSEC bits (added per mode)
  bool delegation = false;
  bool has_ds = false;
  bool ent = false;
};

/// Keys, times and cache of one signing pass.
class rrset_signer {
 public:
  rrset_signer(const zone_signing_policy& policy, signature_cache& cache, std::int64_t now, sign_stats& stats,
               const dns::name& apex)
      : policy_(policy), cache_(cache), now_(now), stats_(stats), apex_(apex) {
    for (const auto& k : policy.keys) {
      if (!k.active) continue;
      (k.ksk() ? ksks_ : zsks_).push_back(&k);
    }
    if (ksks_.empty()) ksks_ = zsks_;
    if (zsks_.empty()) zsks_ = ksks_;
    for (const auto& k : policy.keys) key_ids_.push_back(sha256(k.dnskey).substr(0, 8));
    inception_ = static_cast<std::uint32_t>(now - policy.inception_offset);
    expiration_ = now + policy.validity;
    stats_.earliest_expiration = std::numeric_limits<std::int64_t>::max();
  }

  /// The RRSIG RDATAs over one RRset (from the cache or made now).
  void sign(const dns::name& owner, std::uint16_t type, std::uint32_t ttl,
            std::span<const std::span<const std::uint8_t>> rdatas, std::vector<store::record>& out) {
    const bool key_set = type == t::dnskey || type == t::cds || type == t::cdnskey;
    rrsig_fields shape;
    shape.type_covered = type;
    shape.labels = rrsig_labels(owner);
    shape.original_ttl = ttl;
    const std::string digest = sha256(rrsig_signed_data(shape, apex_, owner, dns::rr_class::in, rdatas));
    for (const zone_key* k : key_set ? ksks_ : zsks_) {
      const std::string id = digest + key_ids_[static_cast<std::size_t>(k - policy_.keys.data())];
      std::vector<std::uint8_t> rrsig;
      if (const auto* cached = cache_.find(id, now_, policy_.refresh); cached != nullptr) {
        rrsig = *cached;
        ++stats_.signatures_reused;
        rrsig_view v;
        if (parse_rrsig(rrsig, v)) {
          stats_.earliest_expiration = std::min<std::int64_t>(stats_.earliest_expiration, v.fields.expiration);
        }
      } else {
        rrsig = sign_rrset(k->key, k->tag, apex_, owner, type, ttl, rdatas, inception_,
                           static_cast<std::uint32_t>(expiration_));
        cache_.put(id, rrsig, expiration_);
        ++stats_.signatures_made;
        stats_.earliest_expiration = std::min(stats_.earliest_expiration, expiration_);
      }
      out.push_back(store::record{owner, t::rrsig, dns::rr_class::in, ttl, std::move(rrsig)});
    }
  }

  /// Signs an RRset of a node: its RRs and RRSIGs go to `out`.
  void sign_set(const dns::name& owner, const store::rrset& set, std::vector<store::record>& out) {
    std::vector<std::span<const std::uint8_t>> rdatas;
    for (const store::rr_ref rr : set) rdatas.push_back(rr.rdata);
    sign(owner, set.type, set.ttl, rdatas, out);
  }

 private:
  const zone_signing_policy& policy_;
  signature_cache& cache_;
  std::int64_t now_;
  sign_stats& stats_;
  dns::name apex_;
  std::vector<const zone_key*> ksks_, zsks_;
  std::vector<std::string> key_ids_;
  std::uint32_t inception_ = 0;
  std::int64_t expiration_ = 0;
};

/// The types an NSEC/NSEC3 lists for a node (RRSIG/NSEC bits not included).
std::vector<std::uint16_t> denial_types(const store::node& n, std::span<const std::uint16_t> apex_extra,
                                        bool is_apex) {
  std::vector<std::uint16_t> types;
  for (const auto& set : n.rrsets()) {
    if (generated_type(set.type)) continue;
    if (n.delegation() && set.type != t::ns && set.type != t::ds) continue;
    if (is_apex && std::find(apex_extra.begin(), apex_extra.end(), set.type) != apex_extra.end()) continue;
    types.push_back(set.type);
  }
  if (is_apex) types.insert(types.end(), apex_extra.begin(), apex_extra.end());
  return types;
}

std::vector<std::uint16_t> nsec3_types(const store::node& n, std::span<const std::uint16_t> apex_extra,
                                       bool is_apex) {
  auto types = denial_types(n, apex_extra, is_apex);
  const bool has_ds = n.find(t::ds) != nullptr;
  if (!types.empty() && (!n.delegation() || has_ds)) types.push_back(t::rrsig);
  return types;
}

std::vector<std::uint16_t> nsec_types(const store::node& n, std::span<const std::uint16_t> apex_extra,
                                      bool is_apex) {
  auto types = denial_types(n, apex_extra, is_apex);
  types.push_back(t::nsec);
  types.push_back(t::rrsig);
  return types;
}

}  // namespace

zone_key::zone_key(signing_key k, std::uint16_t f, bool pub, bool act)
    : key(std::move(k)), flags(f), published(pub), active(act), dnskey(key.dnskey_rdata(f)), tag(key_tag(dnskey)) {}

bool zone_signing_policy::signs() const {
  return std::any_of(keys.begin(), keys.end(), [](const zone_key& k) { return k.active; });
}

const std::vector<std::uint8_t>* signature_cache::find(const std::string& id, std::int64_t now,
                                                        std::uint32_t refresh) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  if (it->second.expiration - now < static_cast<std::int64_t>(refresh)) return nullptr;
  it->second.used = true;
  return &it->second.rrsig;
}

void signature_cache::put(const std::string& id, std::vector<std::uint8_t> rrsig, std::int64_t expiration) {
  entries_[id] = entry{std::move(rrsig), expiration, true};
}

void signature_cache::sweep() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.used) {
      it = entries_.erase(it);
    } else {
      it->second.used = false;
      ++it;
    }
  }
}

store::build_result sign_zone(const store::zone_snapshot& zone, const zone_signing_policy& policy,
                              signature_cache& cache, std::int64_t now, sign_stats& stats) {
  store::build_result result;
  if (!policy.signs()) {
    result.error = "zone " + zone.apex().to_string() + " has no active DNSSEC key";
    return result;
  }
  const dns::name apex = zone.apex().lowercased();
  const std::uint32_t key_ttl = zone.soa().ttl;
  const std::uint32_t denial_ttl = zone.negative_ttl();

  // 1. The zone without generated types, plus the apex key records and the
  //    denial chain: everything that is then signed.
  store::zone_builder plain(apex);
  std::vector<store::record> extra;
  auto extra_rr = [&](const dns::name& owner, std::uint16_t type, std::uint32_t ttl, std::vector<std::uint8_t> rd) {
    extra.push_back(store::record{owner, type, dns::rr_class::in, ttl, std::move(rd)});
  };
  std::vector<std::uint16_t> apex_extra_types;
  for (const auto& k : policy.keys) {
    if (!k.published) continue;
    extra_rr(apex, t::dnskey, key_ttl, k.dnskey);
    if (k.ksk() && k.active) {
      extra_rr(apex, t::cds, key_ttl, ds_rdata(apex.wire(), k.dnskey, 2));
      extra_rr(apex, t::cdnskey, key_ttl, k.dnskey);
      apex_extra_types.push_back(t::cds);
      apex_extra_types.push_back(t::cdnskey);
    }
    apex_extra_types.push_back(t::dnskey);
  }
  if (policy.nsec3) {
    extra_rr(apex, t::nsec3param, 0, nsec3param_rdata(*policy.nsec3));
    extra.back().ttl = key_ttl;
    apex_extra_types.push_back(t::nsec3param);
  }

  // The names of the denial chain, in canonical order.
  std::vector<denial_name> names;
  {
    occlusion occ;
    for (const store::node* n : zone.nodes()) {
      const dns::name owner = n->owner();
      if (occ.occluded(*n, owner)) continue;
      denial_name d;
      d.owner = owner;
      d.delegation = n->delegation();
      d.has_ds = n->find(t::ds) != nullptr;
      for (const auto& set : n->rrsets()) {
        if (generated_type(set.type)) continue;
        if (d.delegation && set.type != t::ns && set.type != t::ds) continue;
        d.types.push_back(set.type);
      }
      if (owner.equals(apex)) d.types.insert(d.types.end(), apex_extra_types.begin(), apex_extra_types.end());
      d.ent = d.types.empty();
      names.push_back(std::move(d));
    }
  }
  auto info = std::make_shared<store::zone_dnssec>();
  if (!policy.nsec3) {
    std::vector<const denial_name*> chain;
    for (const auto& d : names) {
      if (!d.ent) chain.push_back(&d);
    }
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const denial_name& d = *chain[i];
      const dns::name& next = i + 1 < chain.size() ? chain[i + 1]->owner : apex;
      std::vector<std::uint16_t> types = d.types;
      types.push_back(t::nsec);
      types.push_back(t::rrsig);
      extra_rr(d.owner, t::nsec, denial_ttl, nsec_rdata(next, types));
      ++stats.denial_records;
    }
  } else {
    const nsec3_params& p = *policy.nsec3;
    info->nsec3 = true;
    info->nsec3_flags = p.flags;
    info->nsec3_iterations = p.iterations;
    info->nsec3_salt = p.salt;
    struct hashed {
      nsec3_hash hash;
      const denial_name* name;
    };
    std::vector<hashed> chain;
    for (const auto& d : names) {
      if (p.opt_out() && d.delegation && !d.has_ds) continue;
      chain.push_back({hash_name(d.owner, p), &d});
    }
    std::sort(chain.begin(), chain.end(), [](const hashed& a, const hashed& b) { return a.hash < b.hash; });
    chain.erase(std::unique(chain.begin(), chain.end(),
                            [](const hashed& a, const hashed& b) { return a.hash == b.hash; }),
                chain.end());
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const denial_name& d = *chain[i].name;
      const nsec3_hash& next = chain[(i + 1) % chain.size()].hash;
      std::vector<std::uint16_t> types = d.types;
      // RRSIG exists at the original name when something there is signed:
      // any authoritative RRset, at a delegation only its DS.
      if (!d.ent && (!d.delegation || d.has_ds)) types.push_back(t::rrsig);
      extra_rr(nsec3_owner(chain[i].hash, apex), t::nsec3, denial_ttl, nsec3_rdata(p, next, types));
      info->nsec3_hashes.push_back(chain[i].hash);
      ++stats.denial_records;
    }
  }

  for (const auto& rr : zone.records()) {
    if (generated_type(rr.type)) continue;
    if (auto error = plain.add(rr); !error.empty()) {
      result.error = error;
      return result;
    }
  }
  for (const auto& rr : extra) {
    if (auto error = plain.add(rr); !error.empty()) {
      result.error = error;
      return result;
    }
  }
  auto unsigned_zone = plain.build(zone.serial());
  if (!unsigned_zone) return unsigned_zone;

  // 2. RRSIGs over every authoritative RRset of it.
  rrset_signer signer(policy, cache, now, stats, apex);
  store::zone_builder out(apex);
  std::vector<store::record> records;
  occlusion occ;
  for (const store::node* n : unsigned_zone.zone->nodes()) {
    const dns::name owner = n->owner();
    const bool occluded = occ.occluded(*n, owner);
    records.clear();
    for (const auto& set : n->rrsets()) {
      for (const store::rr_ref rr : set) {
        records.push_back(store::record{owner, set.type, dns::rr_class::in, rr.ttl,
                                        std::vector<std::uint8_t>(rr.rdata.begin(), rr.rdata.end())});
      }
      if (occluded) continue;
      if (n->delegation() && set.type != t::ds && set.type != t::nsec) continue;
      signer.sign_set(owner, set, records);
    }
    for (const auto& rr : records) {
      if (auto error = out.add(rr); !error.empty()) {
        result.error = error;
        return result;
      }
    }
  }
  out.set_dnssec(std::move(info));
  return out.build(zone.serial());
}

incremental_result sign_zone_incremental(const store::zone_snapshot& old_raw, const store::zone_snapshot& old_signed,
                                         const store::zone_snapshot& new_raw, const zone_signing_policy& policy,
                                         signature_cache& cache, std::int64_t now, sign_stats& stats,
                                         std::size_t max_names) {
  incremental_result result;
  const store::zone_dnssec* info = old_signed.dnssec();
  if (info == nullptr || info->nsec3 != policy.nsec3.has_value()) {
    result.fallback = "denial mode changed";
    return result;
  }
  const dns::name apex = new_raw.apex().lowercased();
  const auto changed = new_raw.diff(old_raw);
  if (changed.size() > max_names) {
    result.fallback = std::to_string(changed.size()) + " names changed";
    return result;
  }
  std::vector<std::uint16_t> apex_extra;
  for (const std::uint16_t type : {t::dnskey, t::cds, t::cdnskey, t::nsec3param}) {
    if (old_signed.apex_node().find(type) != nullptr) apex_extra.push_back(type);
  }
  auto cut_or_dname = [](const store::node* n) {
    return n != nullptr && (n->delegation() || n->find(t::dname) != nullptr);
  };
  std::set<std::string, std::less<>> changed_keys;
  for (const auto& [o, n] : changed) {
    const store::node* any = n != nullptr ? n : o;
    const dns::name owner = any->owner();
    if (cut_or_dname(o) || cut_or_dname(n)) {
      result.fallback = "a zone cut or DNAME changed at " + owner.to_string();
      return result;
    }
    for (dns::name a = owner.parent(); a.label_count() > apex.label_count(); a = a.parent()) {
      if (cut_or_dname(new_raw.find(a))) {
        result.fallback = "a change below a zone cut or DNAME at " + owner.to_string();
        return result;
      }
    }
    if (owner.equals(apex) && n != nullptr) {
      for (const auto type : apex_extra) {
        if (n->find(type) != nullptr) {
          result.fallback = "the zone's own records hold apex key types";
          return result;
        }
      }
    }
    changed_keys.insert(std::string(any->key()));
  }

  rrset_signer signer(policy, cache, now, stats, apex);
  std::vector<store::record_change> changes;
  std::vector<store::record> recs;
  auto upsert = [&](std::vector<store::record>& rs) {
    for (auto& r : rs) changes.push_back({store::record_change::action::upsert, std::move(r)});
    rs.clear();
  };
  auto remove = [&](store::record_change::action what, const dns::name& owner, std::uint16_t type = 0,
                    std::span<const std::uint8_t> rdata = {}) {
    store::record_change c;
    c.what = what;
    c.rr.owner = owner;
    c.rr.type = type;
    c.rr.rdata.assign(rdata.begin(), rdata.end());
    changes.push_back(std::move(c));
  };
  /// The records of `n` with their RRSIGs, as they are to be served.
  auto sign_node = [&](const store::node& n, const dns::name& owner) {
    for (const auto& set : n.rrsets()) {
      if (generated_type(set.type)) continue;
      for (const store::rr_ref rr : set) {
        recs.push_back(store::record{owner, set.type, dns::rr_class::in, rr.ttl,
                                     std::vector<std::uint8_t>(rr.rdata.begin(), rr.rdata.end())});
      }
      signer.sign_set(owner, set, recs);
    }
  };

  for (const auto& [o, n] : changed) {
    const dns::name owner = (n != nullptr ? n : o)->owner();
    remove(store::record_change::action::remove_name, owner);
    if (n == nullptr) continue;
    sign_node(*n, owner);
    if (owner.equals(apex)) {
      // The apex key records and their RRSIGs stay as they were signed.
      const store::node& old_apex = old_signed.apex_node();
      for (const auto type : apex_extra) {
        const auto* set = old_apex.find(type);
        for (const store::rr_ref rr : *set) {
          recs.push_back(store::record{owner, type, dns::rr_class::in, rr.ttl,
                                       std::vector<std::uint8_t>(rr.rdata.begin(), rr.rdata.end())});
        }
      }
      if (const auto* sigs = old_apex.find(t::rrsig); sigs != nullptr) {
        for (const store::rr_ref rr : *sigs) {
          const std::uint16_t covered = static_cast<std::uint16_t>((rr.rdata[0] << 8) | rr.rdata[1]);
          if (std::find(apex_extra.begin(), apex_extra.end(), covered) == apex_extra.end()) continue;
          recs.push_back(store::record{owner, t::rrsig, dns::rr_class::in, rr.ttl,
                                       std::vector<std::uint8_t>(rr.rdata.begin(), rr.rdata.end())});
        }
      }
    }
    upsert(recs);
  }

  const std::uint32_t denial_ttl = new_raw.negative_ttl();
  auto next_info = std::make_shared<store::zone_dnssec>(*info);
  if (!info->nsec3) {
    // The NSEC chain of the new version: the names with an NSEC in the old
    // signed zone that did not change, plus the changed names that hold
    // records now.
    std::vector<const store::node*> present;  // new nodes, key order
    for (const auto& [o, n] : changed) {
      if (n != nullptr && !n->empty_non_terminal()) present.push_back(n);
    }
    auto is_changed = [&](const store::node& nd) { return changed_keys.count(nd.key()) != 0; };
    auto chain_neighbor = [&](const dns::name& x, std::string_view key, bool forward) -> dns::name {
      const store::node* from_old = nullptr;
      dns::name cur = x;
      while (const store::node* c = old_signed.neighbor(cur, forward, t::nsec)) {
        if (!is_changed(*c)) {
          from_old = c;
          break;
        }
        cur = c->owner();
      }
      const store::node* from_new = nullptr;
      for (const store::node* p : present) {
        if (forward ? p->key() > key : p->key() < key) {
          if (from_new == nullptr || (forward ? p->key() < from_new->key() : p->key() > from_new->key())) {
            from_new = p;
          }
        }
      }
      const store::node* best = from_old;
      if (from_new != nullptr &&
          (best == nullptr || (forward ? from_new->key() < best->key() : from_new->key() > best->key()))) {
        best = from_new;
      }
      return best != nullptr ? best->owner() : apex;  // past the last name: back to the apex
    };
    std::map<std::string, dns::name, std::less<>> redo;  // by key: names whose NSEC is made again
    for (const auto& [o, n] : changed) {
      const store::node* any = n != nullptr ? n : o;
      const dns::name owner = any->owner();
      if (n != nullptr && !n->empty_non_terminal()) redo.emplace(std::string(any->key()), owner);
      if (owner.equals(apex)) continue;  // the apex never leaves the chain
      const dns::name before = chain_neighbor(owner, any->key(), false);
      redo.emplace(std::string(store::lookup_key(before).full()), before);
    }
    for (const auto& [key, y] : redo) {
      const store::node* yn = new_raw.find(y);
      if (yn == nullptr || yn->empty_non_terminal()) {
        result.fallback = "NSEC chain: " + y.to_string() + " is not in the new version";
        return result;
      }
      if (changed_keys.count(key) == 0) {
        // An unchanged name: only its NSEC (and that RRSIG) is replaced.
        remove(store::record_change::action::remove_rrset, y, t::nsec);
        if (const store::node* old_node = old_signed.find(y); old_node != nullptr) {
          if (const auto* sigs = old_node->find(t::rrsig); sigs != nullptr) {
            for (const store::rr_ref rr : *sigs) {
              if (((rr.rdata[0] << 8) | rr.rdata[1]) == t::nsec) {
                remove(store::record_change::action::remove, y, t::rrsig, rr.rdata);
              }
            }
          }
        }
      }
      const dns::name next = chain_neighbor(y, key, true);
      auto rdata = nsec_rdata(next, nsec_types(*yn, apex_extra, y.equals(apex)));
      std::vector<std::span<const std::uint8_t>> rdatas{rdata};
      signer.sign(y, t::nsec, denial_ttl, rdatas, recs);
      recs.push_back(store::record{y, t::nsec, dns::rr_class::in, denial_ttl, std::move(rdata)});
      upsert(recs);
      ++stats.denial_records;
    }
  } else {
    const nsec3_params& p = *policy.nsec3;
    std::map<nsec3_hash, const store::node*> present;
    std::set<nsec3_hash> gone;
    for (const auto& [o, n] : changed) {
      const dns::name owner = (n != nullptr ? n : o)->owner();
      const nsec3_hash h = hash_name(owner, p);
      if (n != nullptr) {
        present[h] = n;
      } else {
        gone.insert(h);
      }
    }
    std::vector<nsec3_hash> hashes;
    for (const auto& h : info->nsec3_hashes) {
      if (gone.count(h) == 0 && present.count(h) == 0) hashes.push_back(h);
    }
    for (const auto& [h, n] : present) hashes.push_back(h);
    std::sort(hashes.begin(), hashes.end());
    if (hashes.empty()) {
      result.fallback = "empty NSEC3 chain";
      return result;
    }
    auto index_of = [&](const nsec3_hash& h) {
      return static_cast<std::size_t>(std::lower_bound(hashes.begin(), hashes.end(), h) - hashes.begin());
    };
    std::set<nsec3_hash> redo;
    for (const auto& [h, n] : present) redo.insert(h);
    for (const auto* group : {&gone}) {
      for (const auto& h : *group) {
        const std::size_t i = index_of(h);
        redo.insert(hashes[(i + hashes.size() - 1) % hashes.size()]);
        remove(store::record_change::action::remove_name, nsec3_owner(h, apex));
      }
    }
    for (const auto& [h, n] : present) {
      const std::size_t i = index_of(h);
      redo.insert(hashes[(i + hashes.size() - 1) % hashes.size()]);
    }
    for (const auto& h : redo) {
      const dns::name owner = nsec3_owner(h, apex);
      const nsec3_hash& next = hashes[(index_of(h) + 1) % hashes.size()];
      std::vector<std::uint8_t> rdata;
      if (auto it = present.find(h); it != present.end()) {
        rdata = nsec3_rdata(p, next, nsec3_types(*it->second, apex_extra, it->second->owner().equals(apex)));
      } else {
        // An unchanged name: its old bitmap with the new next hash.
        const store::node* old_node = old_signed.find(owner);
        const auto* set = old_node != nullptr ? old_node->find(t::nsec3) : nullptr;
        if (set == nullptr) {
          result.fallback = "NSEC3 chain: no record at " + owner.to_string();
          return result;
        }
        const auto old_rdata = set->front().rdata;
        const std::size_t salt_end = 5 + std::size_t{old_rdata[4]};
        const std::size_t bitmap_at = salt_end + 1 + old_rdata[salt_end];
        rdata.assign(old_rdata.begin(), old_rdata.begin() + static_cast<std::ptrdiff_t>(salt_end + 1));
        rdata.insert(rdata.end(), next.begin(), next.end());
        rdata.insert(rdata.end(), old_rdata.begin() + static_cast<std::ptrdiff_t>(bitmap_at), old_rdata.end());
      }
      remove(store::record_change::action::remove_name, owner);
      std::vector<std::span<const std::uint8_t>> rdatas{rdata};
      signer.sign(owner, t::nsec3, denial_ttl, rdatas, recs);
      recs.push_back(store::record{owner, t::nsec3, dns::rr_class::in, denial_ttl, std::move(rdata)});
      upsert(recs);
      ++stats.denial_records;
    }
    next_info->nsec3_hashes = std::move(hashes);
  }

  store::zone_builder out(old_signed);
  for (const auto& c : changes) {
    if (auto error = out.apply(c); !error.empty()) {
      result.fallback = "incremental change refused: " + error;
      return result;
    }
  }
  out.set_dnssec(std::move(next_info));
  auto built = out.build(new_raw.serial());
  if (!built) {
    result.fallback = "incremental build failed: " + built.error;
    return result;
  }
  result.zone = built.zone;
  return result;
}

}  // namespace zonemesh::dnssec
