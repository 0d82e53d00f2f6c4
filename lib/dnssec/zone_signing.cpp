// Whole-zone signing with a signature cache (see zone_signing.hpp).
#include "dnssec/zone_signing.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <limits>

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
  std::vector<const zone_key*> ksks, zsks;
  for (const auto& k : policy.keys) {
    if (!k.active) continue;
    (k.ksk() ? ksks : zsks).push_back(&k);
  }
  if (ksks.empty()) ksks = zsks;
  if (zsks.empty()) zsks = ksks;
  std::vector<std::string> key_ids;
  for (const auto& k : policy.keys) key_ids.push_back(sha256(k.dnskey).substr(0, 8));
  auto key_id = [&](const zone_key* k) { return key_ids[static_cast<std::size_t>(k - policy.keys.data())]; };

  const std::uint32_t inception = static_cast<std::uint32_t>(now - policy.inception_offset);
  const std::int64_t expiration = now + policy.validity;
  stats.earliest_expiration = std::numeric_limits<std::int64_t>::max();
  store::zone_builder out(apex);
  std::vector<std::span<const std::uint8_t>> rdatas;
  occlusion occ;
  for (const store::node* n : unsigned_zone.zone->nodes()) {
    const dns::name owner = n->owner();
    const bool occluded = occ.occluded(*n, owner);
    for (const auto& set : n->rrsets()) {
      rdatas.clear();
      for (const store::rr_ref rr : set) {
        rdatas.push_back(rr.rdata);
        if (auto error = out.add(store::record{owner, set.type, dns::rr_class::in, rr.ttl,
                                               std::vector<std::uint8_t>(rr.rdata.begin(), rr.rdata.end())});
            !error.empty()) {
          result.error = error;
          return result;
        }
      }
      if (occluded) continue;
      if (n->delegation() && set.type != t::ds && set.type != t::nsec) continue;
      const bool key_set = set.type == t::dnskey || set.type == t::cds || set.type == t::cdnskey;
      rrsig_fields shape;
      shape.type_covered = set.type;
      shape.labels = rrsig_labels(owner);
      shape.original_ttl = set.ttl;
      const std::string digest = sha256(rrsig_signed_data(shape, apex, owner, dns::rr_class::in, rdatas));
      for (const zone_key* k : key_set ? ksks : zsks) {
        const std::string id = digest + key_id(k);
        std::vector<std::uint8_t> rrsig;
        if (const auto* cached = cache.find(id, now, policy.refresh); cached != nullptr) {
          rrsig = *cached;
          ++stats.signatures_reused;
          rrsig_view v;
          if (parse_rrsig(rrsig, v)) {
            stats.earliest_expiration = std::min<std::int64_t>(stats.earliest_expiration, v.fields.expiration);
          }
        } else {
          rrsig = sign_rrset(k->key, k->tag, apex, owner, set.type, set.ttl, rdatas, inception,
                             static_cast<std::uint32_t>(expiration));
          cache.put(id, rrsig, expiration);
          ++stats.signatures_made;
          stats.earliest_expiration = std::min(stats.earliest_expiration, expiration);
        }
        if (auto error = out.add(store::record{owner, t::rrsig, dns::rr_class::in, set.ttl, std::move(rrsig)});
            !error.empty()) {
          result.error = error;
          return result;
        }
      }
    }
  }
  out.set_dnssec(std::move(info));
  return out.build(zone.serial());
}

}  // namespace zonemesh::dnssec
