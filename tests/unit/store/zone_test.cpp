// Tests for lib/store/zone.*: building, changes, lookup semantics.
#include "store/zone.hpp"

#include <gtest/gtest.h>

#include "dns/types.hpp"
#include "zone_fixture.hpp"

using namespace zonemesh;
using namespace zonemesh::testing;
using kind = store::lookup_result::kind;

namespace {

std::shared_ptr<const store::zone_snapshot> example() {
  return make_zone(
      "example.com",
      {
          {"example.com", "SOA", 3600,
           "ns1.example.com hostmaster.example.com 7 10800 3600 604800 300"},
          {"example.com", "NS", 3600, "ns1.example.com"},
          {"ns1.example.com", "A", 3600, "192.0.2.1"},
          {"www.example.com", "A", 300, "192.0.2.10"},
          {"www.example.com", "A", 600, "192.0.2.11"},
          {"www.example.com", "A", 300, "192.0.2.10"},  // duplicate
          {"a.b.c.example.com", "TXT", 300, "\"deep\""},
          {"*.wild.example.com", "A", 300, "192.0.2.99"},
          {"sub.example.com", "NS", 3600, "ns.sub.example.com"},
          {"sub.example.com", "DS", 3600,
           "12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE33EE7E7F1E3E7C6A1E2F5C3A"},
          {"ns.sub.example.com", "A", 3600, "192.0.2.53"},
          {"d.example.com", "DNAME", 300, "example.net"},
      },
      2024010101);
}

}  // namespace

TEST(ZoneBuilder, WritesTheGivenSerialIntoTheSoa) {
  auto zone = example();
  ASSERT_TRUE(zone);
  EXPECT_EQ(zone->serial(), 2024010101u);
  const auto& rdata = zone->soa().rdatas.front();
  // serial sits right after the two names
  store::record soa{zone->apex(), dns::rr_type::soa, 1, zone->soa().ttl, rdata};
  zonefile::text_record text;
  ASSERT_EQ(zonefile::to_text(soa, text), "");
  EXPECT_EQ(text.content,
            "ns1.example.com hostmaster.example.com 2024010101 10800 3600 604800 300");
  EXPECT_EQ(zone->negative_ttl(), 300u);  // min(SOA TTL 3600, MINIMUM 300)
}

TEST(ZoneBuilder, DeduplicatesAndUsesLowestTtl) {
  auto zone = example();
  const auto* www = zone->find(dname("WWW.example.com"));
  ASSERT_NE(www, nullptr);
  const auto* a = www->find(dns::rr_type::a);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->rdatas.size(), 2u);
  EXPECT_EQ(a->ttl, 300u);
}

TEST(ZoneBuilder, RefusesOutOfZoneAndRequiresSoa) {
  store::zone_builder b(dname("example.com"));
  EXPECT_NE(b.add(rec({"www.example.org", "A", 1, "192.0.2.1"})), "");
  EXPECT_NE(b.add(rec({"www.example.com", "SOA", 1, "a b 1 2 3 4 5"})), "");
  EXPECT_EQ(b.add(rec({"www.example.com", "A", 1, "192.0.2.1"})), "");
  auto built = b.build(1);
  EXPECT_FALSE(built);
  EXPECT_NE(built.error.find("no SOA"), std::string::npos);
}

TEST(ZoneBuilder, CreatesEmptyNonTerminals) {
  auto zone = example();
  const auto* ent = zone->find(dname("b.c.example.com"));
  ASSERT_NE(ent, nullptr);
  EXPECT_TRUE(ent->empty_non_terminal());
  EXPECT_NE(zone->find(dname("c.example.com")), nullptr);
  EXPECT_EQ(zone->find(dname("x.c.example.com")), nullptr);
}

TEST(ZoneLookup, ExactEntNxdomain) {
  auto zone = example();
  auto r = zone->lookup(dname("www.EXAMPLE.com"));
  EXPECT_EQ(r.what, kind::exact);
  r = zone->lookup(dname("c.example.com"));
  EXPECT_EQ(r.what, kind::exact);
  EXPECT_TRUE(r.node->empty_non_terminal());
  r = zone->lookup(dname("nope.c.example.com"));
  EXPECT_EQ(r.what, kind::nxdomain);
  EXPECT_EQ(r.closest_encloser->owner.to_string(), "c.example.com.");
}

TEST(ZoneLookup, DelegationsAboveAndAtTheCut) {
  auto zone = example();
  auto r = zone->lookup(dname("host.deep.sub.example.com"));
  EXPECT_EQ(r.what, kind::delegation);
  EXPECT_FALSE(r.at_cut);
  EXPECT_EQ(r.node->owner.to_string(), "sub.example.com.");
  r = zone->lookup(dname("sub.example.com"));
  EXPECT_EQ(r.what, kind::delegation);
  EXPECT_TRUE(r.at_cut);
  // glue is below the cut: the lookup refers, find() still sees it
  EXPECT_EQ(zone->lookup(dname("ns.sub.example.com")).what, kind::delegation);
  EXPECT_NE(zone->find(dname("ns.sub.example.com")), nullptr);
}

TEST(ZoneLookup, WildcardOnlyWhenNameAndEncloserRules) {
  auto zone = example();
  auto r = zone->lookup(dname("anything.wild.example.com"));
  EXPECT_EQ(r.what, kind::wildcard);
  EXPECT_EQ(r.node->owner.to_string(), "*.wild.example.com.");
  // deeper names still match: closest encloser is wild.example.com
  EXPECT_EQ(zone->lookup(dname("a.b.wild.example.com")).what, kind::wildcard);
  // the wildcard does not cover the encloser itself (an ENT: exact)
  EXPECT_EQ(zone->lookup(dname("wild.example.com")).what, kind::exact);
  // nor names under another encloser
  EXPECT_EQ(zone->lookup(dname("x.example.com")).what, kind::nxdomain);
}

TEST(ZoneLookup, DnameBelowOwnerOnly) {
  auto zone = example();
  EXPECT_EQ(zone->lookup(dname("d.example.com")).what, kind::exact);
  auto r = zone->lookup(dname("x.y.d.example.com"));
  EXPECT_EQ(r.what, kind::dname);
  EXPECT_EQ(r.node->owner.to_string(), "d.example.com.");
}

TEST(ZoneChanges, BatchSharesUntouchedNodesAndRecomputesEnts) {
  auto base = example();
  const store::record_change changes[] = {
      {store::record_change::action::remove, rec({"a.b.c.example.com", "TXT", 300, "\"deep\""})},
      {store::record_change::action::upsert, rec({"new.example.com", "AAAA", 60, "2001:db8::1"})},
      {store::record_change::action::remove, rec({"www.example.com", "A", 300, "192.0.2.10"})},
  };
  auto built = store::apply_changes(*base, changes, 8);
  ASSERT_TRUE(built) << built.error;
  auto next = built.zone;
  EXPECT_EQ(next->serial(), 8u);
  EXPECT_EQ(next->find(dname("c.example.com")), nullptr);  // ENT gone with its last child
  EXPECT_EQ(next->lookup(dname("a.b.c.example.com")).what, kind::nxdomain);
  ASSERT_NE(next->find(dname("new.example.com")), nullptr);
  const auto* a = next->find(dname("www.example.com"))->find(dns::rr_type::a);
  ASSERT_EQ(a->rdatas.size(), 1u);
  EXPECT_EQ(a->ttl, 600u);
  // untouched node is shared, base unchanged
  EXPECT_EQ(next->find(dname("ns1.example.com")), base->find(dname("ns1.example.com")));
  EXPECT_NE(base->find(dname("a.b.c.example.com")), nullptr);
  EXPECT_EQ(base->serial(), 2024010101u);
}

TEST(ZoneChanges, RemoveRrsetRemoveNameAndUpsertTtl) {
  auto base = example();
  const store::record_change changes[] = {
      {store::record_change::action::remove_rrset,
       rec({"sub.example.com", "NS", 0, "x.example.com"})},
      {store::record_change::action::remove_name, rec({"d.example.com", "A", 0, "0.0.0.0"})},
      {store::record_change::action::upsert, rec({"ns1.example.com", "A", 5, "192.0.2.1"})},
  };
  auto built = store::apply_changes(*base, changes, 9);
  ASSERT_TRUE(built) << built.error;
  auto z = built.zone;
  EXPECT_EQ(z->lookup(dname("sub.example.com")).what, kind::exact);  // no longer a cut
  EXPECT_EQ(z->find(dname("d.example.com")), nullptr);
  EXPECT_EQ(z->find(dname("ns1.example.com"))->find(dns::rr_type::a)->ttl, 5u);
  EXPECT_EQ(z->record_count(), base->record_count() - 2);
}

TEST(ZoneChanges, FailingChangeFailsTheBatch) {
  auto base = example();
  const store::record_change changes[] = {
      {store::record_change::action::upsert, rec({"ok.example.com", "A", 5, "192.0.2.1"})},
      {store::record_change::action::upsert, rec({"elsewhere.org", "A", 5, "192.0.2.1"})},
  };
  auto built = store::apply_changes(*base, changes, 9);
  EXPECT_FALSE(built);
  EXPECT_NE(built.error.find("outside"), std::string::npos);
  const store::record_change drop_soa[] = {{store::record_change::action::remove_rrset,
                                            rec({"example.com", "SOA", 0, "a b 1 2 3 4 5"})}};
  EXPECT_FALSE(store::apply_changes(*base, drop_soa, 10));
}

TEST(ZoneSnapshot, RecordsExportAllRrs) {
  auto zone = example();
  EXPECT_EQ(zone->records().size(), zone->record_count());
  EXPECT_EQ(zone->record_count(), 11u);  // 12 given, one duplicate
}
