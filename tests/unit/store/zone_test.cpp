// Tests for lib/store/zone.*: building, changes, lookup semantics.
#include "store/zone.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

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
  const auto rdata = zone->soa().front().rdata;
  // serial sits right after the two names
  store::record soa{zone->apex(), dns::rr_type::soa, 1, zone->soa().ttl,
                    std::vector<std::uint8_t>(rdata.begin(), rdata.end())};
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
  EXPECT_EQ(a->size(), 2u);
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
  EXPECT_EQ(r.closest_encloser->owner().to_string(), "c.example.com.");
}

TEST(ZoneLookup, DelegationsAboveAndAtTheCut) {
  auto zone = example();
  auto r = zone->lookup(dname("host.deep.sub.example.com"));
  EXPECT_EQ(r.what, kind::delegation);
  EXPECT_FALSE(r.at_cut);
  EXPECT_EQ(r.node->owner().to_string(), "sub.example.com.");
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
  EXPECT_EQ(r.node->owner().to_string(), "*.wild.example.com.");
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
  EXPECT_EQ(r.node->owner().to_string(), "d.example.com.");
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
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ(a->ttl, 600u);
  // the base is unchanged (sharing of untouched runs: see the large-zone test)
  ASSERT_NE(next->find(dname("ns1.example.com")), nullptr);
  EXPECT_EQ(base->find(dname("www.example.com"))->find(dns::rr_type::a)->size(), 2u);
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

// ---------------------------------------------------------------------------
// Incremental changes against a from-scratch build of the same records.

namespace {

bool same_records(const std::vector<store::record>& a, const std::vector<store::record>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].owner.equals(b[i].owner) || a[i].type != b[i].type || a[i].ttl != b[i].ttl ||
        a[i].rdata != b[i].rdata) {
      return false;
    }
  }
  return true;
}

std::string owner_of(const store::node* n) { return n == nullptr ? "-" : n->owner().to_string(); }

/// What a query would see of `name` in `zone`, as text, to compare two zones.
std::string describe(const store::zone_snapshot& zone, const dns::name& name) {
  std::string out;
  const auto r = zone.lookup(name);
  out += std::to_string(static_cast<int>(r.what)) + " " + owner_of(r.node) + " " +
         owner_of(r.closest_encloser) + (r.at_cut ? " cut" : "");
  const store::node* n = zone.find(name);
  out += " find:" + owner_of(n);
  if (n != nullptr) {
    out += n->delegation() ? " delegation" : "";
    for (const auto& set : n->rrsets()) {
      out += " " + std::to_string(set.type) + "/" + std::to_string(set.ttl) + "/" +
             std::to_string(set.size());
    }
  }
  return out;
}

/// The same final record set, built from records alone.
std::shared_ptr<const store::zone_snapshot> rebuild(const store::zone_snapshot& zone,
                                                    std::uint32_t serial) {
  store::zone_builder b(zone.apex());
  for (const auto& r : zone.records()) EXPECT_EQ(b.add(r), "");
  auto built = b.build(serial);
  EXPECT_TRUE(built) << built.error;
  return built.zone;
}

}  // namespace

TEST(ZoneChanges, RandomBatchesMatchABuildFromScratch) {
  std::mt19937 rng(20261122);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  const char* labels[] = {"a", "b", "c", "*", "www", "Deep"};
  std::vector<std::string> names = {"example.com"};
  for (int i = 0; i < 120; ++i) {
    std::string n = "example.com";
    for (std::size_t depth = 1 + pick(4); depth-- > 0;) n = std::string(labels[pick(6)]) + "." + n;
    names.push_back(n);
  }
  auto random_record = [&]() -> store::record {
    const std::string& owner = names[pick(names.size())];
    const auto ttl = static_cast<std::uint32_t>(60 + pick(4) * 60);
    switch (pick(owner == "example.com" ? 5 : 4)) {
      case 0:
        return rec({owner, "A", ttl, "192.0.2." + std::to_string(pick(3))});
      case 1:
        return rec({owner, "TXT", ttl, "\"t" + std::to_string(pick(2)) + "\""});
      case 2:
        return rec({owner, "NS", ttl, "ns" + std::to_string(pick(2)) + ".example.net"});
      case 3:
        return rec({owner, "AAAA", ttl, "2001:db8::" + std::to_string(1 + pick(2))});
      default:
        return rec({owner, "SOA", ttl, "ns hostmaster 1 2 3 4 " + std::to_string(30 + pick(500))});
    }
  };

  auto zone = make_zone("example.com", {{"example.com", "SOA", 3600, "ns hostmaster 1 2 3 4 300"},
                                        {"a.b.c.example.com", "A", 60, "192.0.2.1"}});
  // Every name the batches touch, their ancestors and some names below them.
  std::vector<dns::name> probes;
  for (const auto& n : names) {
    probes.push_back(dname(n));
    probes.push_back(dname("x." + n));
    probes.push_back(dname("a.x." + n));
  }
  for (std::uint32_t round = 0; round < 300; ++round) {
    std::vector<store::record_change> batch;
    const auto current = zone->records();
    for (std::size_t i = 1 + pick(round % 10 == 0 ? 60 : 8); i-- > 0;) {
      store::record_change c;
      const auto what = pick(10);
      if (what < 5) {
        c.what = store::record_change::action::upsert;
        c.rr = random_record();
      } else {
        c.what = what < 8   ? store::record_change::action::remove
                 : what < 9 ? store::record_change::action::remove_rrset
                            : store::record_change::action::remove_name;
        // mostly existing records, sometimes ones that are not there
        c.rr = pick(4) != 0 ? current[pick(current.size())] : random_record();
        // a batch that drops the SOA fails
        if (c.rr.type == dns::rr_type::soa) continue;
        if (c.what == store::record_change::action::remove_name && c.rr.owner.label_count() == 2) {
          continue;
        }
      }
      batch.push_back(c);
    }
    auto built = store::apply_changes(*zone, batch, round + 2);
    ASSERT_TRUE(built) << built.error;
    auto next = built.zone;
    auto scratch = rebuild(*next, round + 2);
    ASSERT_TRUE(same_records(next->records(), scratch->records())) << "round " << round;
    ASSERT_EQ(next->record_count(), scratch->record_count());
    ASSERT_EQ(next->record_count(), next->records().size());
    ASSERT_EQ(next->negative_ttl(), scratch->negative_ttl());
    ASSERT_TRUE(std::ranges::equal(next->soa().front().rdata, scratch->soa().front().rdata));
    const auto nodes = next->nodes();
    const auto expected = scratch->nodes();
    ASSERT_EQ(nodes.size(), expected.size()) << "round " << round;
    ASSERT_EQ(next->node_count(), nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      ASSERT_EQ(nodes[i]->key(), expected[i]->key()) << "round " << round;
      ASSERT_EQ(next->find(nodes[i]->owner()), nodes[i]);
    }
    for (const auto& p : probes) {
      ASSERT_EQ(describe(*next, p), describe(*scratch, p)) << p.to_string() << " round " << round;
    }
    zone = next;
  }
}

TEST(ZoneChanges, OneChangeOnALargeZoneSharesEveryOtherNode) {
  store::zone_builder b(dname("big.test"));
  ASSERT_EQ(b.add(rec({"big.test", "SOA", 3600, "ns hostmaster 1 2 3 4 300"})), "");
  for (int i = 0; i < 100000; ++i) {
    const std::string owner =
        "h" + std::to_string(i) + ".g" + std::to_string(i % 100) + ".big.test";
    ASSERT_EQ(b.add(rec({owner, "A", 300, "192.0.2.1"})), "");
  }
  auto built = b.build(1);
  ASSERT_TRUE(built) << built.error;
  auto base = built.zone;
  const auto base_nodes = base->nodes();
  ASSERT_EQ(base_nodes.size(), 1u + 100u + 100000u);

  const store::record_change one[] = {
      {store::record_change::action::upsert, rec({"h4242.g42.big.test", "A", 60, "192.0.2.2"})}};
  auto changed = store::apply_changes(*base, one, 2);
  ASSERT_TRUE(changed) << changed.error;
  auto next = changed.zone;
  const auto next_nodes = next->nodes();
  ASSERT_EQ(next_nodes.size(), base_nodes.size());
  std::size_t moved = 0;
  for (std::size_t i = 0; i < next_nodes.size(); ++i) {
    ASSERT_EQ(next_nodes[i]->key(), base_nodes[i]->key());
    ASSERT_EQ(next->find(next_nodes[i]->owner()), next_nodes[i]);
    if (next_nodes[i] != base_nodes[i]) ++moved;
  }
  // Only the runs of the apex (new serial) and of the changed name are
  // copied; every other run is the base's own storage.
  ASSERT_EQ(next->run_count(), base->run_count());
  EXPECT_EQ(next->shared_runs_with(*base), base->run_count() - 2);
  EXPECT_LE(moved, 2u * 2u * 256u);
  EXPECT_GT(moved, 0u);
  EXPECT_EQ(next->record_count(), base->record_count() + 1);
  EXPECT_EQ(next->find(dname("h4242.g42.big.test"))->find(dns::rr_type::a)->ttl, 60u);
  EXPECT_EQ(base->find(dname("h4242.g42.big.test"))->find(dns::rr_type::a)->size(), 1u);
  EXPECT_EQ(base->find(dname("h4242.g42.big.test"))->find(dns::rr_type::a)->ttl, 300u);

  // A new name under a new ENT, and the last name under an old ENT removed.
  const store::record_change more[] = {
      {store::record_change::action::upsert, rec({"x.y.fresh.big.test", "A", 60, "192.0.2.3"})},
  };
  auto grown = store::apply_changes(*next, more, 3);
  ASSERT_TRUE(grown) << grown.error;
  EXPECT_EQ(grown.zone->node_count(), next->node_count() + 3);
  EXPECT_TRUE(grown.zone->find(dname("y.fresh.big.test"))->empty_non_terminal());
  EXPECT_EQ(grown.zone->lookup(dname("fresh.big.test")).what, kind::exact);
  const store::record_change gone[] = {
      {store::record_change::action::remove_name, rec({"x.y.fresh.big.test", "A", 0, "0.0.0.0"})},
  };
  auto shrunk = store::apply_changes(*grown.zone, gone, 4);
  ASSERT_TRUE(shrunk) << shrunk.error;
  EXPECT_EQ(shrunk.zone->node_count(), next->node_count());
  EXPECT_EQ(shrunk.zone->find(dname("fresh.big.test")), nullptr);
  EXPECT_EQ(shrunk.zone->lookup(dname("fresh.big.test")).what, kind::nxdomain);
  EXPECT_EQ(shrunk.zone->find(dname("h99999.g99.big.test")),
            base->find(dname("h99999.g99.big.test")));
}

TEST(ZoneChanges, ManyNamesSharingAKeyPrefixStayFindable) {
  // Names alike in their first octets, more of them than fit in one run of
  // nodes, added at once and then removed in part.
  auto base = make_zone("example.com", {{"example.com", "SOA", 60, "ns hostmaster 1 2 3 4 5"}});
  std::vector<store::record_change> add;
  for (int i = 0; i < 3000; ++i) {
    add.push_back(
        {store::record_change::action::upsert,
         rec({"samelongprefix" + std::to_string(i) + ".example.com", "A", 60, "192.0.2.1"})});
  }
  auto grown = store::apply_changes(*base, add, 2);
  ASSERT_TRUE(grown) << grown.error;
  EXPECT_EQ(grown.zone->node_count(), 3001u);
  std::vector<store::record_change> remove;
  for (int i = 0; i < 3000; i += 3) {
    remove.push_back(
        {store::record_change::action::remove_name, add[static_cast<std::size_t>(i)].rr});
  }
  auto shrunk = store::apply_changes(*grown.zone, remove, 3);
  ASSERT_TRUE(shrunk) << shrunk.error;
  EXPECT_EQ(shrunk.zone->node_count(), 2001u);
  for (int i = 0; i < 3000; ++i) {
    const auto name = dname("samelongprefix" + std::to_string(i) + ".example.com");
    ASSERT_NE(grown.zone->find(name), nullptr) << i;
    EXPECT_EQ(shrunk.zone->find(name) == nullptr, i % 3 == 0) << i;
    EXPECT_EQ(shrunk.zone->lookup(name).what, i % 3 == 0 ? kind::nxdomain : kind::exact) << i;
  }
  EXPECT_EQ(shrunk.zone->find(dname("samelongprefix.example.com")), nullptr);
  EXPECT_EQ(shrunk.zone->find(dname("samelongprefix99999.example.com")), nullptr);
  EXPECT_EQ(shrunk.zone->find(dname("example.org")), nullptr);
  EXPECT_EQ(shrunk.zone->find(dname("com")), nullptr);
  EXPECT_NE(shrunk.zone->find(dname("EXAMPLE.com")), nullptr);

  // Nearly all gone: what is left is still found, in order.
  std::vector<store::record_change> thin;
  for (int i = 0; i < 3000; ++i) {
    if (i % 3 != 0 && i % 50 != 1) {
      thin.push_back({store::record_change::action::remove, add[static_cast<std::size_t>(i)].rr});
    }
  }
  auto thinned = store::apply_changes(*shrunk.zone, thin, 4);
  ASSERT_TRUE(thinned) << thinned.error;
  EXPECT_EQ(thinned.zone->node_count(), 41u);
  EXPECT_EQ(thinned.zone->record_count(), 41u);
  const auto left = thinned.zone->nodes();
  ASSERT_EQ(left.size(), 41u);
  for (std::size_t i = 0; i < left.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(left[i - 1]->key(), left[i]->key());
    }
    EXPECT_EQ(thinned.zone->find(left[i]->owner()), left[i]);
  }
  EXPECT_NE(thinned.zone->find(dname("samelongprefix2951.example.com")), nullptr);
  EXPECT_EQ(thinned.zone->find(dname("samelongprefix2950.example.com")), nullptr);
}

// ---------------------------------------------------------------------------
// The compact layout: nodes stored back to back in runs, RRs in wire form.

TEST(ZoneLayout, EveryRecordComesBackAsGiven) {
  // Odd RDATA sizes (alignment), escaped label octets, long names, many
  // types at one name and many RRs in one set.
  std::string long_owner = "x.example.com";
  for (int i = 0; i < 5; ++i) long_owner = std::string(40, static_cast<char>('a' + i)) + "." + long_owner;
  std::vector<zonefile::text_record> given = {
      {"example.com", "SOA", 3600, "ns1.example.com hostmaster.example.com 7 10800 3600 604800 300"},
      {"example.com", "NS", 3600, "ns1.example.com"},
      {"example.com", "TXT", 60, "\"a\""},
      {"example.com", "MX", 60, "10 mail.example.com"},
      {"odd\\000byte.example.com", "A", 60, "192.0.2.1"},
      {long_owner, "TXT", 60, "\"abc\""},
      {long_owner, "AAAA", 61, "2001:db8::1"},
      {"multi.example.com", "A", 300, "192.0.2.1"},
  };
  for (int i = 2; i < 40; ++i) {
    given.push_back({"multi.example.com", "A", static_cast<std::uint32_t>(300 - i),
                     "192.0.2." + std::to_string(i)});
    given.push_back({"multi.example.com", "TXT", 300, "\"" + std::string(static_cast<std::size_t>(i), 'q') + "\""});
  }
  store::zone_builder b(dname("example.com"));
  std::vector<store::record> wire;
  for (const auto& t : given) {
    wire.push_back(rec(t));
    ASSERT_EQ(b.add(wire.back()), "") << t.name;
  }
  auto built = b.build(42);
  ASSERT_TRUE(built) << built.error;
  auto zone = built.zone;
  EXPECT_EQ(zone->record_count(), given.size());
  const auto back = zone->records();
  ASSERT_EQ(back.size(), given.size());
  // every given record is there once (SOA: the new serial), with its RRset's
  // one TTL, the lowest of its records' (RFC 2181 5.2), as AXFR sends it
  auto rrset_ttl = [&](const store::record& w) {
    std::uint32_t ttl = w.ttl;
    for (const auto& o : wire) {
      if (o.owner.equals(w.owner) && o.type == w.type) ttl = std::min(ttl, o.ttl);
    }
    return ttl;
  };
  for (const auto& w : wire) {
    if (w.type == dns::rr_type::soa) continue;
    std::size_t found = 0;
    for (const auto& r : back) {
      if (r.owner.equals(w.owner) && r.type == w.type && r.ttl == rrset_ttl(w) && r.rdata == w.rdata) ++found;
    }
    EXPECT_EQ(found, 1u) << w.owner.to_string() << " " << w.type;
  }
  const auto* multi = zone->find(dname("MULTI.example.com"));
  ASSERT_NE(multi, nullptr);
  ASSERT_EQ(multi->rrsets().size(), 2u);
  EXPECT_EQ(multi->rrsets()[0].type, dns::rr_type::a);  // sorted by type
  EXPECT_EQ(multi->find(dns::rr_type::a)->size(), 39u);
  EXPECT_EQ(multi->find(dns::rr_type::a)->ttl, 261u);  // the lowest
  std::size_t n = 2;
  for (const store::rr_ref rr : *multi->find(dns::rr_type::txt)) {
    EXPECT_EQ(rr.rdata.size(), n + 1) << "in the order given";  // length octet + text
    ++n;
  }
  EXPECT_EQ(n, 40u);
  const auto* odd = zone->find(dname("odd\\000byte.example.com"));
  ASSERT_NE(odd, nullptr);
  EXPECT_EQ(odd->owner().to_string(), "odd\\000byte.example.com.");
  const auto* deep = zone->find(dname(long_owner));
  ASSERT_NE(deep, nullptr);
  EXPECT_EQ(deep->owner().to_string(), long_owner + ".");
  EXPECT_EQ(deep->rrsets().size(), 2u);
  // every node starts 4-aligned, its block holds its own key and owner
  for (const store::node* node : zone->nodes()) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(node) % 4, 0u);
    EXPECT_EQ(node->size % 4, 0u);
    EXPECT_EQ(store::lookup_key(node->owner_wire()).full(), node->key());
  }
}

TEST(ZoneLayout, ChangesInTheLogApplyInOrderPerName) {
  // A builder from records takes removals too; its log is sorted by name at
  // build() and each name's changes apply in the order given.
  store::zone_builder b(dname("example.com"));
  ASSERT_EQ(b.add(rec({"example.com", "SOA", 60, "ns hostmaster 1 2 3 4 5"})), "");
  ASSERT_EQ(b.add(rec({"z.example.com", "A", 60, "192.0.2.1"})), "");
  ASSERT_EQ(b.add(rec({"a.example.com", "A", 60, "192.0.2.1"})), "");
  ASSERT_EQ(b.apply({store::record_change::action::remove_name, rec({"z.example.com", "A", 0, "0.0.0.0"})}), "");
  ASSERT_EQ(b.add(rec({"z.example.com", "A", 60, "192.0.2.9"})), "");
  ASSERT_EQ(b.add(rec({"a.example.com", "A", 30, "192.0.2.2"})), "");
  ASSERT_EQ(b.apply({store::record_change::action::remove, rec({"a.example.com", "A", 0, "192.0.2.1"})}), "");
  ASSERT_EQ(b.add(rec({"gone.x.example.com", "A", 60, "192.0.2.1"})), "");
  ASSERT_EQ(b.apply({store::record_change::action::remove_rrset, rec({"gone.x.example.com", "A", 0, "0.0.0.0"})}), "");
  ASSERT_EQ(b.add(rec({"c.example.com", "CNAME", 60, "a.example.com"})), "");
  ASSERT_EQ(b.add(rec({"c.example.com", "CNAME", 60, "z.example.com"})), "");  // replaces
  auto built = b.build(3);
  ASSERT_TRUE(built) << built.error;
  auto zone = built.zone;
  EXPECT_EQ(zone->record_count(), 4u);
  EXPECT_EQ(zone->node_count(), 4u);  // apex, a, c, z: no ENT for the emptied x
  EXPECT_EQ(zone->find(dname("x.example.com")), nullptr);
  EXPECT_EQ(zone->find(dname("gone.x.example.com")), nullptr);
  const auto* a = zone->find(dname("a.example.com"))->find(dns::rr_type::a);
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ(a->ttl, 30u);
  EXPECT_EQ(a->front().rdata[3], 2);
  EXPECT_EQ(zone->find(dname("z.example.com"))->find(dns::rr_type::a)->front().rdata[3], 9);
  const auto* c = zone->find(dname("c.example.com"))->find(dns::rr_type::cname);
  ASSERT_EQ(c->size(), 1u);
  dns::name target;
  ASSERT_EQ(dns::name::from_wire(c->front().rdata, target), dns::name_status::ok);
  EXPECT_EQ(target.to_string(), "z.example.com.");
}

TEST(ZoneLayout, EmptyNonTerminalsFromRecordsInAnyOrder) {
  // Deep names given in reverse order, siblings sharing some ancestors.
  auto zone = make_zone("example.com", {
                                           {"a.b.c.d.example.com", "A", 60, "192.0.2.1"},
                                           {"x.c.d.example.com", "A", 60, "192.0.2.1"},
                                           {"d.example.com", "TXT", 60, "\"d\""},
                                           {"q.p.example.com", "A", 60, "192.0.2.1"},
                                           {"example.com", "SOA", 60, "ns hostmaster 1 2 3 4 5"},
                                       });
  ASSERT_TRUE(zone);
  std::vector<std::string> names;
  for (const auto* n : zone->nodes()) names.push_back(n->owner().to_string() + (n->empty_non_terminal() ? " ENT" : ""));
  const std::vector<std::string> expected = {
      "example.com.",        "d.example.com.",         "c.d.example.com. ENT", "b.c.d.example.com. ENT",
      "a.b.c.d.example.com.", "x.c.d.example.com.", "p.example.com. ENT",   "q.p.example.com.",
  };
  EXPECT_EQ(names, expected);
}

TEST(ZoneLayout, SmallPerRecordFootprint) {
  // The store's own bytes for a zone like the benchmark's: hosts with A (and
  // AAAA on every 2nd). Guards the layout against a return of per-RR heap
  // blocks (the old one used ~590 octets per record).
  store::zone_builder b(dname("bench.test"));
  ASSERT_EQ(b.add(rec({"bench.test", "SOA", 3600, "ns hostmaster 1 2 3 4 5"})), "");
  std::size_t records = 1;
  for (int i = 0; i < 50000; ++i) {
    const std::string owner = "h" + std::to_string(i) + ".bench.test";
    ASSERT_EQ(b.add(rec({owner, "A", 300, "10.0.0.1"})), "");
    ++records;
    if (i % 2 == 0) {
      ASSERT_EQ(b.add(rec({owner, "AAAA", 300, "2001:db8::1"})), "");
      ++records;
    }
  }
  auto built = b.build(1);
  ASSERT_TRUE(built) << built.error;
  EXPECT_EQ(built.zone->record_count(), records);
  const double per_record = static_cast<double>(built.zone->memory_bytes()) / static_cast<double>(records);
  RecordProperty("bytes_per_record", std::to_string(per_record));
  EXPECT_LT(per_record, 100.0);
}

TEST(ZoneLayout, PartsJoinedBuildWhatOneBuilderBuilds) {
  // A load read in two parts (each part sorted on its own thread, or not),
  // joined with absorb(), then more changes: the same zone as one builder
  // given everything in that order. Names repeat in a row and in other case
  // (the builder reuses the last name's key), and some share their first 8
  // key octets (the radix sort's prefix) with many others.
  std::mt19937 rng(11);
  std::vector<store::record_change> changes;
  auto change = [&](store::record_change::action what, const zonefile::text_record& t) {
    changes.push_back({what, rec(t)});
  };
  change(store::record_change::action::upsert, {"example.com", "SOA", 60, "ns hostmaster 1 2 3 4 5"});
  for (int i = 0; i < 8000; ++i) {  // parts of more than 4096 changes: prepare() radix sorts them
    const std::string owner = rng() % 5 == 0 ? "longlabel" + std::to_string(rng() % 300) + ".example.com"
                                             : (rng() % 7 == 0 ? "H" : "h") + std::to_string(rng() % 2000) +
                                                   (rng() % 3 == 0 ? ".sub" : "") + ".example.com";
    const std::string address = "192.0.2." + std::to_string(rng() % 4);
    switch (rng() % 10) {
      case 0:
        change(store::record_change::action::remove, {owner, "A", 0, address});
        break;
      case 1:
        change(store::record_change::action::remove_name, {owner, "A", 0, "0.0.0.0"});
        break;
      case 2:
        change(store::record_change::action::upsert, {owner, "TXT", 60, "\"t" + std::to_string(i) + "\""});
        break;
      default:
        change(store::record_change::action::upsert, {owner, "A", static_cast<std::uint32_t>(30 + rng() % 60), address});
        change(store::record_change::action::upsert, {owner, "AAAA", 60, "2001:db8::" + std::to_string(rng() % 9)});
    }
  }
  auto records_of = [](const store::zone_builder& b) {
    auto built = b.build(9);
    EXPECT_TRUE(built) << built.error;
    std::vector<std::string> out;
    for (const store::node* n : built.zone->nodes()) {
      EXPECT_EQ(built.zone->find(n->owner()), n) << n->owner().to_string();
    }
    for (const auto& r : built.zone->records()) {
      out.push_back(r.owner.to_string() + " " + std::to_string(r.type) + " " + std::to_string(r.ttl) + " " +
                    std::string(r.rdata.begin(), r.rdata.end()));
    }
    return out;
  };
  store::zone_builder whole(dname("example.com"));
  for (const auto& c : changes) ASSERT_EQ(whole.apply(c), "");
  const auto expected = records_of(whole);
  ASSERT_GT(expected.size(), 500u);
  for (int variant = 0; variant < 8; ++variant) {
    // variants 4-7: nothing after the join, so build() takes the merged log as it is
    const std::size_t first_end = changes.size() * 2 / 5;
    const std::size_t second_end = variant < 4 ? changes.size() * 9 / 10 : changes.size();
    store::zone_builder first(dname("example.com")), second(dname("example.com"));
    for (std::size_t i = 0; i < first_end; ++i) ASSERT_EQ(first.apply(changes[i]), "");
    for (std::size_t i = first_end; i < second_end; ++i) ASSERT_EQ(second.apply(changes[i]), "");
    if (variant & 1) first.prepare();
    if (variant & 2) second.prepare();
    ASSERT_EQ(first.absorb(std::move(second)), "");
    for (std::size_t i = second_end; i < changes.size(); ++i) ASSERT_EQ(first.apply(changes[i]), "");
    EXPECT_EQ(records_of(first), expected) << "variant " << variant;
  }
}

TEST(ZoneLayout, BuildOnSeveralThreadsWritesTheSameZone) {
  // More than 200,000 changes: build() cuts the names into slices written
  // at the same time. Deep names with shared ancestors (empty non-terminals
  // across slice boundaries) and names emptied by later changes.
  std::mt19937 rng(5);
  store::zone_builder b(dname("example.com"));
  ASSERT_EQ(b.add(rec({"example.com", "SOA", 60, "ns hostmaster 1 2 3 4 5"})), "");
  for (int i = 0; i < 330000; ++i) {
    const unsigned n = static_cast<unsigned>(rng() % 60000);
    const std::string owner = (n % 3 == 0 ? "x.y." : "") + std::string("h") + std::to_string(n) + ".g" +
                              std::to_string(n % 7) + ".example.com";
    if (rng() % 6 == 0) {
      ASSERT_EQ(b.apply({store::record_change::action::remove_name, rec({owner, "A", 0, "0.0.0.0"})}), "");
    } else {
      ASSERT_EQ(b.add(rec({owner, "A", 60, "192.0.2." + std::to_string(rng() % 3)})), "");
    }
  }
  auto nodes_of = [](const store::build_result& built) {
    std::vector<std::string> out;
    for (const store::node* n : built.zone->nodes()) {
      out.push_back(n->owner().to_string() + " " + std::to_string(n->rrsets().size()) + " " +
                    std::to_string(n->record_count()));
      EXPECT_EQ(built.zone->find(n->owner()), n) << n->owner().to_string();
    }
    return out;
  };
  const auto one = b.build(3, 1);
  ASSERT_TRUE(one) << one.error;
  const auto expected = nodes_of(one);
  for (std::size_t threads : {2, 3}) {
    const auto many = b.build(3, threads);
    ASSERT_TRUE(many) << many.error;
    EXPECT_EQ(many.zone->record_count(), one.zone->record_count());
    EXPECT_EQ(many.zone->node_count(), one.zone->node_count());
    EXPECT_EQ(many.zone->negative_ttl(), one.zone->negative_ttl());
    EXPECT_EQ(nodes_of(many), expected) << threads << " threads";
    EXPECT_EQ(many.zone->soa().front().rdata.size(), one.zone->soa().front().rdata.size());
  }
}
