// Tests of lib/dnssec/zone_signing.* (and rrsig.*, denial.*): a signed zone
// passes ldns-verify-zone, dnssec-verify and kzonecheck, with NSEC, NSEC3
// and NSEC3 opt-out; signatures are reused from the cache; every RRSIG
// checks with our own verifier.

#include "dnssec/zone_signing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <tuple>

#include "dns/types.hpp"
#include "dnssec/rrsig.hpp"
#include "dnssec_fixture.hpp"

namespace zonemesh::dnssec {
namespace {

using testing::build_zone;
using testing::expect_verifiers_accept;
using testing::ksk_zsk_policy;
using testing::signing_zone_records;

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::shared_ptr<const store::zone_snapshot> sign(const store::zone_snapshot& zone, const zone_signing_policy& p,
                                                 signature_cache& cache, sign_stats& stats) {
  auto r = sign_zone(zone, p, cache, now(), stats);
  EXPECT_TRUE(r) << r.error;
  return r.zone;
}

std::size_t count_type(const store::zone_snapshot& z, std::uint16_t type) {
  std::size_t n = 0;
  for (const auto& r : z.records()) n += r.type == type;
  return n;
}

TEST(ZoneSigning, NsecZonePassesVerifiers) {
  auto zone = build_zone(signing_zone_records());
  signature_cache cache;
  sign_stats stats;
  auto signed_zone = sign(*zone, ksk_zsk_policy(), cache, stats);
  ASSERT_TRUE(signed_zone);
  ASSERT_NE(signed_zone->dnssec(), nullptr);
  EXPECT_FALSE(signed_zone->dnssec()->nsec3);
  EXPECT_EQ(signed_zone->serial(), zone->serial());
  EXPECT_EQ(count_type(*signed_zone, dns::rr_type::dnskey), 2u);
  EXPECT_EQ(count_type(*signed_zone, dns::rr_type::cds), 1u);
  EXPECT_EQ(count_type(*signed_zone, dns::rr_type::cdnskey), 1u);
  EXPECT_GT(stats.signatures_made, 10u);
  EXPECT_EQ(stats.signatures_reused, 0u);
  expect_verifiers_accept(*signed_zone, "nsec");
}

TEST(ZoneSigning, Nsec3AndOptOutZonesPassVerifiers) {
  auto zone = build_zone(signing_zone_records());
  for (const char* param : {"1 0 0 -", "1 0 5 aabbccdd", "1 1 0 -"}) {
    auto policy = ksk_zsk_policy();
    std::string error;
    policy.nsec3 = parse_nsec3param(param, error);
    ASSERT_TRUE(policy.nsec3) << error;
    signature_cache cache;
    sign_stats stats;
    auto signed_zone = sign(*zone, policy, cache, stats);
    ASSERT_TRUE(signed_zone);
    EXPECT_TRUE(signed_zone->dnssec()->nsec3);
    EXPECT_EQ(count_type(*signed_zone, dns::rr_type::nsec), 0u);
    EXPECT_EQ(count_type(*signed_zone, dns::rr_type::nsec3param), 1u);
    EXPECT_EQ(signed_zone->dnssec()->nsec3_hashes.size(), count_type(*signed_zone, dns::rr_type::nsec3));
    expect_verifiers_accept(*signed_zone, std::string("nsec3-") + (param[2] == '1' ? "optout" : param[4] == '5' ? "salt" : "plain"));
  }
}

TEST(ZoneSigning, CskEd25519PassesVerifiers) {
  auto zone = build_zone(signing_zone_records());
  zone_signing_policy p;
  p.keys.emplace_back(parse_private_key(testing::csk_ed25519), 257, true, true);
  signature_cache cache;
  sign_stats stats;
  auto signed_zone = sign(*zone, p, cache, stats);
  ASSERT_TRUE(signed_zone);
  expect_verifiers_accept(*signed_zone, "csk", true);
}

TEST(ZoneSigning, EveryRrsigVerifiesWithOurVerifier) {
  auto zone = build_zone(signing_zone_records());
  auto policy = ksk_zsk_policy();
  signature_cache cache;
  sign_stats stats;
  auto signed_zone = sign(*zone, policy, cache, stats);
  ASSERT_TRUE(signed_zone);
  std::size_t checked = 0;
  for (const store::node* n : signed_zone->nodes()) {
    const auto* sigs = n->find(dns::rr_type::rrsig);
    if (sigs == nullptr) continue;
    for (const store::rr_ref sig : *sigs) {
      rrsig_view v;
      ASSERT_TRUE(parse_rrsig(sig.rdata, v));
      const auto* set = n->find(v.fields.type_covered);
      ASSERT_NE(set, nullptr);
      std::vector<std::span<const std::uint8_t>> rdatas;
      for (const store::rr_ref rr : *set) rdatas.push_back(rr.rdata);
      bool ok = false;
      for (const auto& k : policy.keys) ok = ok || verify_rrset(k.dnskey, sig.rdata, n->owner(), set->type, rdatas);
      EXPECT_TRUE(ok) << n->owner().to_string() << " " << dns::type_to_string(set->type);
      ++checked;
    }
  }
  EXPECT_GT(checked, 15u);
  // NS at the delegations and the glue are not signed; DS is.
  dns::name cut;
  ASSERT_EQ(dns::name::from_text("secure.example.com", cut), dns::name_status::ok);
  const auto* cut_node = signed_zone->find(cut);
  ASSERT_NE(cut_node, nullptr);
  for (const store::rr_ref sig : *cut_node->find(dns::rr_type::rrsig)) {
    rrsig_view v;
    ASSERT_TRUE(parse_rrsig(sig.rdata, v));
    EXPECT_NE(v.fields.type_covered, dns::rr_type::ns);
  }
  dns::name glue;
  ASSERT_EQ(dns::name::from_text("ns.secure.example.com", glue), dns::name_status::ok);
  EXPECT_EQ(signed_zone->find(glue)->find(dns::rr_type::rrsig), nullptr);
  EXPECT_EQ(signed_zone->find(glue)->find(dns::rr_type::nsec), nullptr);
}

TEST(ZoneSigning, UnchangedRrsetsReuseTheirSignatures) {
  auto records = signing_zone_records();
  auto zone = build_zone(records);
  auto policy = ksk_zsk_policy();
  signature_cache cache;
  sign_stats first;
  auto one = sign(*zone, policy, cache, first);
  cache.sweep();
  // One new name: its RRsets and the NSEC before it are signed again, plus
  // the SOA (new serial); everything else comes from the cache.
  records.push_back({"new.example.com", "A", 3600, "192.0.2.200"});
  auto zone2 = build_zone(records, 2026112202);
  sign_stats second;
  auto two = sign(*zone2, policy, cache, second);
  ASSERT_TRUE(two);
  EXPECT_LE(second.signatures_made, 5u) << "made " << second.signatures_made;
  EXPECT_GE(second.signatures_reused, first.signatures_made - 3);
  expect_verifiers_accept(*two, "incremental");
  // Near expiry, everything is signed again.
  sign_stats third;
  auto r = sign_zone(*zone2, policy, cache, now() + 8 * 86400, third);
  ASSERT_TRUE(r);
  EXPECT_EQ(third.signatures_reused, 0u);
}

TEST(ZoneSigning, NoActiveKeyIsAnError) {
  auto zone = build_zone(signing_zone_records());
  zone_signing_policy p;
  p.keys.emplace_back(parse_private_key(testing::zsk_p256), 256, true, false);
  signature_cache cache;
  sign_stats stats;
  auto r = sign_zone(*zone, p, cache, now(), stats);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("no active DNSSEC key"), std::string::npos);
}

TEST(Denial, Nsec3HashOfRfc5155Example) {
  // RFC 5155 Appendix A: H(example) with salt aabbccdd, 12 iterations.
  nsec3_params p;
  p.iterations = 12;
  p.salt = {0xaa, 0xbb, 0xcc, 0xdd};
  dns::name n;
  ASSERT_EQ(dns::name::from_text("example", n), dns::name_status::ok);
  EXPECT_EQ(base32hex(hash_name(n, p)), "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
  ASSERT_EQ(dns::name::from_text("a.example", n), dns::name_status::ok);
  EXPECT_EQ(base32hex(hash_name(n, p)), "35mthgpgcu1qg68fab165klnsnk3dpvl");
  auto owner = nsec3_owner(hash_name(n, p), n);
  auto back = hash_from_owner(owner);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, hash_name(n, p));
}

TEST(Denial, TypeBitmapOfRfc4034Example) {
  // RFC 4034 4.3: A MX RRSIG NSEC TYPE1234
  std::vector<std::uint16_t> types{1, 15, 46, 47, 1234};
  auto bm = type_bitmap(types);
  // Window 0: 6 octets (A, MX, RRSIG, NSEC); window 4: 27 octets, 1234 = 4*256 + 210.
  std::vector<std::uint8_t> expected{0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b};
  expected.resize(expected.size() + 26, 0);
  expected.push_back(0x20);
  EXPECT_EQ(bm, expected);
  EXPECT_TRUE(bitmap_has(bm, 1234));
  EXPECT_TRUE(bitmap_has(bm, 15));
  EXPECT_FALSE(bitmap_has(bm, 2));
}

TEST(Denial, Nsec3ParamTextErrors) {
  std::string error;
  EXPECT_TRUE(parse_nsec3param("1 0 0 -", error));
  EXPECT_FALSE(parse_nsec3param("2 0 0 -", error));
  EXPECT_NE(error.find("algorithm"), std::string::npos);
  EXPECT_FALSE(parse_nsec3param("1 0 0 xyz", error));
  EXPECT_NE(error.find("salt"), std::string::npos);
  EXPECT_FALSE(parse_nsec3param("1 0 9999 -", error));
  EXPECT_NE(error.find("iterations"), std::string::npos);
  EXPECT_FALSE(parse_nsec3param("1 0", error));
}

}  // namespace
}  // namespace zonemesh::dnssec

namespace zonemesh::dnssec {
namespace {

using record_key = std::tuple<std::string, std::uint16_t, std::uint32_t, std::vector<std::uint8_t>>;

std::vector<record_key> contents(const store::zone_snapshot& z) {
  std::vector<record_key> out;
  for (const auto& r : z.records()) out.emplace_back(r.owner.to_string(), r.type, r.ttl, r.rdata);
  std::sort(out.begin(), out.end());
  return out;
}

/// Edits applied one version after the other: each incremental signing must
/// give exactly what signing the whole version gives (same cache, so the
/// same signatures), and the last one must pass the verifiers.
void expect_incremental_equals_full(const char* nsec3param) {
  auto policy = testing::ksk_zsk_policy();
  if (nsec3param != nullptr) {
    std::string error;
    policy.nsec3 = parse_nsec3param(nsec3param, error);
    ASSERT_TRUE(policy.nsec3) << error;
  }
  auto records = testing::signing_zone_records();
  auto raw = testing::build_zone(records, 100);
  signature_cache cache;
  sign_stats stats;
  auto full = sign_zone(*raw, policy, cache, now(), stats);
  ASSERT_TRUE(full) << full.error;
  auto served = full.zone;
  struct edit {
    const char* what;
    std::vector<zonefile::text_record> add;
    std::vector<std::string> remove_names;
  };
  const std::vector<edit> edits{
      {"new name at the end", {{"zzz.example.com", "A", 3600, "192.0.2.200"}}, {}},
      {"new name in the middle", {{"m.example.com", "AAAA", 3600, "2001:db8::1"}}, {}},
      {"new type at a name", {{"mail.example.com", "TXT", 3600, "\"x\""}}, {}},
      {"remove a name", {}, {"txt.example.com"}},
      {"new empty non-terminal", {{"a.b.new.example.com", "A", 3600, "192.0.2.201"}}, {}},
      {"remove it again", {}, {"a.b.new.example.com"}},
      {"apex record", {{"example.com", "TXT", 3600, "\"apex\""}}, {}},
      {"two at once", {{"aaa.example.com", "A", 3600, "192.0.2.1"}, {"yyy.example.com", "A", 3600, "192.0.2.2"}},
       {"zzz.example.com"}},
      {"wildcard change", {{"*.wild.example.com", "MX", 3600, "10 mail.example.com"}}, {}},
  };
  std::uint32_t serial = 100;
  for (const auto& e : edits) {
    for (const auto& a : e.add) records.push_back(a);
    for (const auto& name : e.remove_names) {
      records.erase(std::remove_if(records.begin(), records.end(),
                                   [&](const zonefile::text_record& r) { return r.name == name; }),
                    records.end());
    }
    auto next_raw = testing::build_zone(records, ++serial);
    sign_stats inc_stats;
    auto inc = sign_zone_incremental(*raw, *served, *next_raw, policy, cache, now(), inc_stats);
    ASSERT_TRUE(inc.zone) << e.what << ": fell back: " << inc.fallback;
    EXPECT_LE(inc_stats.signatures_made, 12u) << e.what;
    sign_stats full_stats;
    auto whole = sign_zone(*next_raw, policy, cache, now(), full_stats);
    ASSERT_TRUE(whole) << whole.error;
    EXPECT_EQ(full_stats.signatures_made, 0u) << e.what << ": the whole signing found unsigned RRsets";
    EXPECT_EQ(contents(*inc.zone), contents(*whole.zone)) << e.what;
    EXPECT_EQ(inc.zone->dnssec()->nsec3_hashes, whole.zone->dnssec()->nsec3_hashes) << e.what;
    EXPECT_EQ(inc.zone->serial(), serial);
    raw = next_raw;
    served = inc.zone;
  }
  testing::expect_verifiers_accept(*served, nsec3param == nullptr ? "incremental-nsec" : "incremental-nsec3");
}

TEST(ZoneSigningIncremental, NsecEqualsWholeSigning) { expect_incremental_equals_full(nullptr); }
TEST(ZoneSigningIncremental, Nsec3EqualsWholeSigning) { expect_incremental_equals_full("1 0 2 cafe"); }
TEST(ZoneSigningIncremental, Nsec3OptOutEqualsWholeSigning) { expect_incremental_equals_full("1 1 0 -"); }

TEST(ZoneSigningIncremental, ZoneCutChangesFallBack) {
  auto policy = testing::ksk_zsk_policy();
  auto records = testing::signing_zone_records();
  auto raw = testing::build_zone(records, 1);
  signature_cache cache;
  sign_stats stats;
  auto full = sign_zone(*raw, policy, cache, now(), stats);
  records.push_back({"newcut.example.com", "NS", 3600, "ns.elsewhere.example.net"});
  auto next_raw = testing::build_zone(records, 2);
  auto inc = sign_zone_incremental(*raw, *full.zone, *next_raw, policy, cache, now(), stats);
  EXPECT_FALSE(inc.zone);
  EXPECT_NE(inc.fallback.find("zone cut"), std::string::npos) << inc.fallback;
}

}  // namespace
}  // namespace zonemesh::dnssec

namespace zonemesh::dnssec {
namespace {

/// The RRSIGs at the apex covering `type`, by key tag.
std::vector<std::uint16_t> apex_signers(const store::zone_snapshot& z, std::uint16_t type) {
  std::vector<std::uint16_t> tags;
  for (const store::rr_ref rr : *z.apex_node().find(dns::rr_type::rrsig)) {
    rrsig_view v;
    EXPECT_TRUE(parse_rrsig(rr.rdata, v));
    if (v.fields.type_covered == type) tags.push_back(v.fields.key_tag);
  }
  std::sort(tags.begin(), tags.end());
  return tags;
}

TEST(ZoneSigning, RolloverStatesFromTheTable) {
  auto zone = testing::build_zone(testing::signing_zone_records());
  auto ksk = parse_private_key(testing::ksk_p256);
  auto zsk = parse_private_key(testing::zsk_p256);
  auto new_zsk = make_signing_key(13);
  auto new_ksk = make_signing_key(13);
  // ZSK pre-publish: the new ZSK is in DNSKEY but does not sign.
  zone_signing_policy pre;
  pre.keys.emplace_back(ksk, 257, true, true);
  pre.keys.emplace_back(zsk, 256, true, true);
  pre.keys.emplace_back(new_zsk, 256, true, false);
  signature_cache cache;
  sign_stats stats;
  auto a = sign_zone(*zone, pre, cache, now(), stats);
  ASSERT_TRUE(a);
  EXPECT_EQ(count_type(*a.zone, dns::rr_type::dnskey), 3u);
  EXPECT_EQ(apex_signers(*a.zone, dns::rr_type::soa), std::vector<std::uint16_t>{pre.keys[1].tag});
  EXPECT_EQ(apex_signers(*a.zone, dns::rr_type::dnskey), std::vector<std::uint16_t>{pre.keys[0].tag});
  testing::expect_verifiers_accept(*a.zone, "zsk-prepublish");
  // KSK double signature: both KSKs active sign DNSKEY (and CDS/CDNSKEY
  // list both); an unpublished, inactive key is nowhere.
  zone_signing_policy dbl;
  dbl.keys.emplace_back(ksk, 257, true, true);
  dbl.keys.emplace_back(new_ksk, 257, true, true);
  dbl.keys.emplace_back(zsk, 256, true, true);
  dbl.keys.emplace_back(new_zsk, 256, false, false);
  auto b = sign_zone(*zone, dbl, cache, now(), stats);
  ASSERT_TRUE(b);
  EXPECT_EQ(count_type(*b.zone, dns::rr_type::dnskey), 3u);
  EXPECT_EQ(count_type(*b.zone, dns::rr_type::cds), 2u);
  auto both = std::vector<std::uint16_t>{dbl.keys[0].tag, dbl.keys[1].tag};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(apex_signers(*b.zone, dns::rr_type::dnskey), both);
  EXPECT_EQ(apex_signers(*b.zone, dns::rr_type::soa), std::vector<std::uint16_t>{dbl.keys[2].tag});
  testing::expect_verifiers_accept(*b.zone, "ksk-double");
}

}  // namespace
}  // namespace zonemesh::dnssec
