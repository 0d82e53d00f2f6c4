// Tests for lib/store/zone_set.*: longest match, sharing, publication.
#include "store/zone_set.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "zone_fixture.hpp"

using namespace zonemesh;
using namespace zonemesh::testing;

namespace {
std::shared_ptr<const store::zone_snapshot> soa_only(std::string_view apex,
                                                     std::uint32_t serial = 1) {
  return make_zone(apex, {{std::string(apex), "SOA", 60, "ns hostmaster 1 2 3 4 5"}}, serial);
}
}  // namespace

TEST(ZoneSet, LongestMatchWins) {
  auto set = std::make_shared<const store::zone_set>()
                 ->with_zone(soa_only("example.com"))
                 ->with_zone(soa_only("sub.example.com"))
                 ->with_zone(soa_only("org"));
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(set->find_zone(dname("a.SUB.example.com"))->apex().to_string(), "sub.example.com.");
  EXPECT_EQ(set->find_zone(dname("sub.example.com"))->apex().to_string(), "sub.example.com.");
  EXPECT_EQ(set->find_zone(dname("www.example.com"))->apex().to_string(), "example.com.");
  EXPECT_EQ(set->find_zone(dname("xsub.example.com"))->apex().to_string(), "example.com.");
  EXPECT_EQ(set->find_zone(dname("example.net")), nullptr);
  EXPECT_EQ(set->find_zone(dname("com")), nullptr);
}

TEST(ZoneSet, WithAndWithoutShareOtherZones) {
  auto a = soa_only("a.test");
  auto set1 =
      std::make_shared<const store::zone_set>()->with_zone(a)->with_zone(soa_only("b.test"));
  auto set2 = set1->with_zone(soa_only("b.test", 2));
  EXPECT_EQ(set2->find_exact(dname("a.test")), a);
  EXPECT_EQ(set2->find_exact(dname("b.test"))->serial(), 2u);
  EXPECT_EQ(set1->find_exact(dname("b.test"))->serial(), 1u);
  auto set3 = set2->without_zone(dname("a.test"));
  EXPECT_EQ(set3->size(), 1u);
  EXPECT_EQ(set2->size(), 2u);
}

TEST(ZonePublisher, ApplyPublishesNewSnapshotReadersKeepOld) {
  store::zone_publisher pub;
  pub.put_zone(soa_only("example.com"));
  auto before = pub.current();
  const store::record_change change[] = {
      {store::record_change::action::upsert, rec({"www.example.com", "A", 60, "192.0.2.1"})}};
  EXPECT_EQ(pub.apply(dname("example.com"), change, 2), "");
  auto after = pub.current();
  EXPECT_EQ(before->find_exact(dname("example.com"))->find(dname("www.example.com")), nullptr);
  EXPECT_NE(after->find_exact(dname("example.com"))->find(dname("www.example.com")), nullptr);
  EXPECT_NE(pub.apply(dname("nothere.com"), change, 2), "");
  pub.remove_zone(dname("example.com"));
  EXPECT_EQ(pub.current()->size(), 0u);
}

TEST(ZonePublisher, ConcurrentReadersSeeWholeSnapshots) {
  store::zone_publisher pub;
  pub.put_zone(soa_only("example.com", 0));
  std::atomic<bool> stop{false};
  std::atomic<bool> torn{false};
  std::thread reader([&] {
    std::uint32_t last = 0;
    while (!stop.load()) {
      auto set = pub.current();
      const auto* z = set->find_zone(dname("www.example.com"));
      if (z == nullptr || z->serial() < last) torn = true;
      if (z != nullptr) last = z->serial();
    }
  });
  for (std::uint32_t serial = 1; serial <= 200; ++serial) {
    const store::record_change change[] = {
        {store::record_change::action::upsert, rec({"www.example.com", "A", serial, "192.0.2.1"})}};
    ASSERT_EQ(pub.apply(dname("example.com"), change, serial), "");
  }
  stop = true;
  reader.join();
  EXPECT_FALSE(torn.load());
  EXPECT_EQ(pub.current()->find_exact(dname("example.com"))->serial(), 200u);
}
