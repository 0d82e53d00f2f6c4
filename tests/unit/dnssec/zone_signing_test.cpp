// Tests of lib/dnssec/zone_signing.* (and rrsig.*, denial.*): a signed zone
// passes ldns-verify-zone, dnssec-verify and kzonecheck, with NSEC, NSEC3
// and NSEC3 opt-out; signatures are reused from the cache; every RRSIG
// checks with our own verifier.

#include "dnssec/zone_signing.hpp"

#include <gtest/gtest.h>

#include <ctime>

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
