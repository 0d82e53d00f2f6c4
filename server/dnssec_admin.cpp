// Managing DNSSEC keys in dnssec_keys: see dnssec_admin.hpp.
#include "dnssec_admin.hpp"

#include <algorithm>
#include <stdexcept>

#include <pqxx/pqxx>

#include "dns/name.hpp"
#include "dnssec/key.hpp"

namespace zonemesh::admin {

namespace {

std::vector<std::uint8_t> owner_wire(const std::string& zone) {
  dns::name n;
  if (dns::name::from_text(zone, n) != dns::name_status::ok) {
    throw std::runtime_error("zone name \"" + zone + "\" is not a domain name");
  }
  n.to_lower();
  const auto w = n.wire();
  return {w.begin(), w.end()};
}

int key_bits(int algorithm, const std::vector<std::uint8_t>& public_key) {
  if (algorithm == dnssec::algorithm::rsasha256 && !public_key.empty()) {
    // RFC 3110: exponent length (1 octet, or 0 and 2 octets), exponent, modulus
    std::size_t exp_len = public_key[0];
    std::size_t off = 1;
    if (exp_len == 0 && public_key.size() >= 3) {
      exp_len = (static_cast<std::size_t>(public_key[1]) << 8) | public_key[2];
      off = 3;
    }
    if (off + exp_len > public_key.size()) return 0;
    auto mod = public_key.size() - off - exp_len;
    return static_cast<int>(mod * 8);
  }
  if (algorithm == dnssec::algorithm::ecdsap256sha256 ||
      algorithm == dnssec::algorithm::ed25519) {
    return 256;
  }
  return static_cast<int>(public_key.size() * 4);
}

void require_zone(pqxx::transaction_base& tx, const std::string& zone) {
  if (tx.exec_params("SELECT 1 FROM zones WHERE name = $1", zone).empty()) {
    throw std::runtime_error("zone " + zone + " does not exist");
  }
}

/// The zone's largest TTL, for the waiting times the rollover steps print.
long long largest_ttl(pqxx::transaction_base& tx, const std::string& zone) {
  return tx.exec_params1("SELECT coalesce(max(ttl), 3600) FROM records WHERE zone = $1", zone)[0]
      .as<long long>();
}

std::string key_line(const dnssec_key_info& k) {
  std::string role = k.role;
  for (auto& c : role) c = static_cast<char>(c - 'a' + 'A');
  return role + " " + std::to_string(k.tag) + " (" + dnssec::algorithm_name(k.algorithm) + ")";
}

}  // namespace

long long numeric_key_id(const std::string& uuid) {
  long long v = 0;
  int digits = 0;
  for (char c : uuid) {
    if (digits == 8) break;
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      continue;
    }
    v = (v << 4) | d;
    ++digits;
  }
  v &= 0x7fffffff;
  return v == 0 ? 1 : v;
}

std::vector<dnssec_key_info> list_dnssec_keys(pqxx::transaction_base& tx, const std::string& zone,
                                              bool with_private) {
  require_zone(tx, zone);
  std::vector<dnssec_key_info> out;
  const auto rows = tx.exec_params(
      "SELECT k.id::text, k.zone, k.flags, k.algorithm, k.active, k.published, k.created::text, "
      "       s.role, k.private_key "
      "FROM dnssec_keys k JOIN dnssec_key_states s ON s.id = k.id "
      "WHERE k.zone = $1 ORDER BY k.created, k.flags DESC, k.id",
      zone);
  const auto wire = owner_wire(zone);
  for (const auto& row : rows) {
    dnssec_key_info k;
    k.id = row[0].c_str();
    k.zone = row[1].c_str();
    k.flags = row[2].as<int>();
    k.algorithm = row[3].as<int>();
    k.active = row[4].as<bool>();
    k.published = row[5].as<bool>();
    k.created = row[6].c_str();
    std::string role = row[7].c_str();
    std::transform(role.begin(), role.end(), role.begin(),
                   [](char c) { return static_cast<char>(c - 'A' + 'a'); });
    k.role = role;
    const std::string text = row[8].c_str();
    try {
      const auto key = dnssec::parse_private_key(text);
      const auto rdata = key.dnskey_rdata(static_cast<std::uint16_t>(k.flags));
      k.dnskey = dnssec::dnskey_to_text(rdata);
      k.tag = dnssec::key_tag(rdata);
      k.bits = key_bits(k.algorithm, key.public_key());
      if (k.flags == dnssec::key_flags::ksk) {
        for (int digest : {2, 4}) k.ds.push_back(dnssec::ds_to_text(dnssec::ds_rdata(wire, rdata, digest)));
      }
    } catch (const std::exception& e) {
      k.problem = e.what();
    }
    if (with_private) k.private_key = text;
    out.push_back(std::move(k));
  }
  return out;
}

std::string zone_nsec3param(pqxx::transaction_base& tx, const std::string& zone) {
  const auto r = tx.exec_params(
      "SELECT content FROM zone_metadata WHERE zone = $1 AND kind = 'NSEC3PARAM' ORDER BY content "
      "LIMIT 1",
      zone);
  return r.empty() ? std::string() : std::string(r[0][0].c_str());
}

std::string add_dnssec_key(pqxx::transaction_base& tx, const std::string& zone, int flags,
                           int algorithm, bool active, bool published,
                           const std::optional<std::string>& private_key) {
  require_zone(tx, zone);
  if (flags != dnssec::key_flags::ksk && flags != dnssec::key_flags::zsk) {
    throw std::invalid_argument("key flags must be 256 (ZSK) or 257 (KSK/CSK)");
  }
  std::string text;
  if (private_key) {
    // Parsed here too, so an import is refused for a key the signer cannot use.
    const auto key = dnssec::parse_private_key(*private_key);
    if (algorithm != 0 && key.algorithm() != algorithm) {
      throw std::invalid_argument("the private key is for algorithm " +
                                  std::to_string(key.algorithm()) + ", not " +
                                  std::to_string(algorithm));
    }
    algorithm = key.algorithm();
    text = *private_key;
  } else {
    if (!dnssec::algorithm_supported(algorithm)) {
      throw std::invalid_argument("algorithm " + std::to_string(algorithm) +
                                  " is not supported; use ecdsap256 (13), ed25519 (15) or "
                                  "rsasha256 (8)");
    }
    text = dnssec::generate_private_key(algorithm);
  }
  return tx
      .exec_params1(
          "INSERT INTO dnssec_keys (zone, flags, algorithm, private_key, active, published) "
          "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text",
          zone, flags, algorithm, text, active, published)[0]
      .c_str();
}

void set_nsec3param(pqxx::transaction_base& tx, const std::string& zone,
                    const std::string& nsec3param) {
  require_zone(tx, zone);
  tx.exec_params("DELETE FROM zone_metadata WHERE zone = $1 AND kind = 'NSEC3PARAM'", zone);
  if (!nsec3param.empty()) {
    tx.exec_params(
        "INSERT INTO zone_metadata (zone, kind, content) VALUES ($1, 'NSEC3PARAM', $2)", zone,
        nsec3param);
  }
}

std::vector<std::string> enable_dnssec(pqxx::transaction_base& tx, const std::string& zone,
                                       int algorithm, bool csk, const std::string& nsec3param) {
  require_zone(tx, zone);
  const auto have =
      tx.exec_params1("SELECT count(*) FROM dnssec_keys WHERE zone = $1", zone)[0].as<long long>();
  if (have > 0) {
    throw std::runtime_error("zone " + zone + " has " + std::to_string(have) +
                             " DNSSEC key(s) already; see `zonemesh-admin dnssec show " + zone +
                             "`, or roll them over");
  }
  std::vector<std::string> ids;
  ids.push_back(add_dnssec_key(tx, zone, dnssec::key_flags::ksk, algorithm, true, true));
  if (!csk) ids.push_back(add_dnssec_key(tx, zone, dnssec::key_flags::zsk, algorithm, true, true));
  if (!nsec3param.empty()) set_nsec3param(tx, zone, nsec3param);
  return ids;
}

std::size_t disable_dnssec(pqxx::transaction_base& tx, const std::string& zone) {
  require_zone(tx, zone);
  const auto r = tx.exec_params("DELETE FROM dnssec_keys WHERE zone = $1", zone);
  tx.exec_params("DELETE FROM zone_metadata WHERE zone = $1 AND kind = 'NSEC3PARAM'", zone);
  return r.affected_rows();
}

rollover_step rollover_zsk(pqxx::transaction_base& tx, const std::string& zone, int step) {
  const auto keys = list_dnssec_keys(tx, zone);
  std::vector<const dnssec_key_info*> zsks;
  for (const auto& k : keys) {
    if (k.flags == dnssec::key_flags::zsk) zsks.push_back(&k);
  }
  const auto active_zsks = std::count_if(zsks.begin(), zsks.end(), [](auto* k) { return k->active; });
  const auto ttl = std::to_string(largest_ttl(tx, zone));
  rollover_step r;
  if (step == 1) {
    if (active_zsks == 0) {
      throw std::runtime_error("zone " + zone +
                               " has no active ZSK (its KSK signs everything as a CSK): roll "
                               "it with rollover-ksk");
    }
    if (zsks.size() != 1) {
      throw std::runtime_error("zone " + zone + " has " + std::to_string(zsks.size()) +
                               " ZSKs: a ZSK rollover is under way (next: --step 2 or 3)");
    }
    const auto id = add_dnssec_key(tx, zone, dnssec::key_flags::zsk, zsks.front()->algorithm,
                                   false, true);
    const auto added = list_dnssec_keys(tx, zone);
    const auto it = std::find_if(added.begin(), added.end(), [&](auto& k) { return k.id == id; });
    r.done = "published the new ZSK " + std::to_string(it->tag) + " (id " + id +
             "), not signing yet; the old ZSK " + std::to_string(zsks.front()->tag) +
             " still signs";
    r.next = "when every site serves both ZSKs in its DNSKEY RRset, wait the DNSKEY TTL (at "
             "most " + ttl + " s in this zone), then run --step 2";
    return r;
  }
  if (step == 2) {
    if (zsks.size() != 2 || zsks.back()->active || !zsks.back()->published ||
        !zsks.front()->active) {
      throw std::runtime_error("zone " + zone +
                               ": step 2 needs an active ZSK and a newer published, inactive "
                               "one (run --step 1 first)");
    }
    // One transaction: no site ever sees the zone without an active ZSK.
    tx.exec_params("UPDATE dnssec_keys SET active = true WHERE id = $1::uuid", zsks.back()->id);
    tx.exec_params("UPDATE dnssec_keys SET active = false WHERE id = $1::uuid", zsks.front()->id);
    r.done = "the new ZSK " + std::to_string(zsks.back()->tag) + " signs; the old ZSK " +
             std::to_string(zsks.front()->tag) + " stays published";
    r.next = "when every site signs with the new ZSK, wait the zone's largest TTL (" + ttl +
             " s) so that no cache holds a signature by the old one, then run --step 3";
    return r;
  }
  if (step == 3) {
    if (zsks.size() < 2 || !zsks.back()->active) {
      throw std::runtime_error("zone " + zone +
                               ": step 3 needs the newest ZSK active and an old one to remove "
                               "(run --step 1 and 2 first)");
    }
    std::size_t removed = 0;
    for (auto* k : zsks) {
      if (k->active) continue;
      tx.exec_params("DELETE FROM dnssec_keys WHERE id = $1::uuid", k->id);
      ++removed;
    }
    if (removed == 0) throw std::runtime_error("zone " + zone + ": no inactive ZSK to remove");
    r.done = "removed the old ZSK " + std::to_string(zsks.front()->tag) +
             " from the DNSKEY RRset; the ZSK rollover is complete";
    return r;
  }
  throw std::invalid_argument("a ZSK rollover has steps 1, 2 and 3");
}

rollover_step rollover_ksk(pqxx::transaction_base& tx, const std::string& zone, int step) {
  const auto keys = list_dnssec_keys(tx, zone);
  std::vector<const dnssec_key_info*> ksks;
  for (const auto& k : keys) {
    if (k.flags == dnssec::key_flags::ksk) ksks.push_back(&k);
  }
  const auto ttl = std::to_string(largest_ttl(tx, zone));
  rollover_step r;
  if (step == 1) {
    if (ksks.size() != 1 || !ksks.front()->active) {
      throw std::runtime_error("zone " + zone + " has " + std::to_string(ksks.size()) +
                               " KSKs: step 1 needs exactly one, active (a rollover under "
                               "way goes on with --step 2)");
    }
    const auto id = add_dnssec_key(tx, zone, dnssec::key_flags::ksk, ksks.front()->algorithm,
                                   true, true);
    const auto added = list_dnssec_keys(tx, zone);
    const auto it = std::find_if(added.begin(), added.end(), [&](auto& k) { return k.id == id; });
    r.done = "added the new " + key_line(*it) + " (id " + id +
             "): published and signing beside the old " + key_line(*ksks.front()) +
             "; CDS/CDNSKEY list both";
    r.next = "when every site serves both KSKs, give the parent the new DS (" + zone +
             ". IN DS " + (it->ds.empty() ? std::string("?") : it->ds.front()) +
             ") in place of the old; once the parent serves only the new DS and the old DS's "
             "TTL has passed, run --step 2";
    return r;
  }
  if (step == 2) {
    if (ksks.size() < 2) {
      throw std::runtime_error("zone " + zone +
                               ": step 2 needs the old and the new KSK (run --step 1 first)");
    }
    const auto* newest = ksks.back();
    if (!newest->active || !newest->published) {
      throw std::runtime_error("zone " + zone + ": the newest KSK " + std::to_string(newest->tag) +
                               " is not published and active; it cannot take over");
    }
    std::string removed;
    for (auto* k : ksks) {
      if (k == newest) continue;
      tx.exec_params("DELETE FROM dnssec_keys WHERE id = $1::uuid", k->id);
      removed += (removed.empty() ? "" : ", ") + std::to_string(k->tag);
    }
    r.done = "removed the old KSK " + removed + "; the " + key_line(*newest) +
             " alone signs the DNSKEY RRset; the KSK rollover is complete";
    r.next = "the parent's DS for the old key can go now if it is still there (DNSKEY TTL at most " +
             ttl + " s)";
    return r;
  }
  throw std::invalid_argument("a KSK rollover has steps 1 and 2");
}

}  // namespace zonemesh::admin
