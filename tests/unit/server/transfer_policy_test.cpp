// Tests for server/transfer_policy.*: the address rules and NOTIFY targets
// read from zone_metadata, and how a catalog's rules extend to every zone.
#include "transfer_policy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace zonemesh::server {
namespace {

query_context peer(const char* address) {
  query_context ctx;
  if (inet_pton(AF_INET, address, ctx.peer_address) == 1) return ctx;
  ctx.peer_is_ipv6 = true;
  EXPECT_EQ(inet_pton(AF_INET6, address, ctx.peer_address), 1) << address;
  return ctx;
}

dns::name name(const char* text) {
  dns::name n;
  EXPECT_EQ(dns::name::from_text(text, n), dns::name_status::ok);
  return n;
}

TEST(TransferPolicy, NetworksMatchByPrefix) {
  auto net = network::parse("192.0.2.0/24");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(peer("192.0.2.200")));
  EXPECT_FALSE(net->contains(peer("192.0.3.1")));
  EXPECT_TRUE(net->contains(peer("::ffff:192.0.2.7"))) << "IPv4 on a dual-stack socket";
  EXPECT_FALSE(net->contains(peer("2001:db8::1")));

  auto odd = network::parse("198.51.100.128/25");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(peer("198.51.100.129")));
  EXPECT_FALSE(odd->contains(peer("198.51.100.127")));

  auto host6 = network::parse("2001:db8::53");
  ASSERT_TRUE(host6);
  EXPECT_TRUE(host6->contains(peer("2001:db8::53")));
  EXPECT_FALSE(host6->contains(peer("2001:db8::54")));
  EXPECT_TRUE(network::parse("0.0.0.0/0")->contains(peer("203.0.113.9")));
}

TEST(TransferPolicy, BadNetworksAreRejected) {
  for (const char* bad : {"", "192.0.2.0/33", "192.0.2.0/", "192.0.2.0/x", "2001:db8::/129",
                          "example.com", "192.0.2.0/24/1", "300.1.1.1"}) {
    EXPECT_FALSE(network::parse(bad).has_value()) << bad;
  }
}

TEST(TransferPolicy, NotifyTargets) {
  auto plain = notify_target::parse("192.0.2.1");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, 53);
  auto port = notify_target::parse("192.0.2.1:5300");
  ASSERT_TRUE(port);
  EXPECT_EQ(port->address, "192.0.2.1");
  EXPECT_EQ(port->port, 5300);
  auto v6 = notify_target::parse("[2001:db8::1]:5353");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->address, "2001:db8::1");
  EXPECT_EQ(v6->port, 5353);
  EXPECT_EQ(notify_target::parse("2001:db8::1")->port, 53);
  for (const char* bad :
       {"ns1.example.com", "192.0.2.1:0", "192.0.2.1:70000", "[2001:db8::1", "[::1]x"}) {
    EXPECT_FALSE(notify_target::parse(bad).has_value()) << bad;
  }
}

TEST(TransferPolicy, ZoneRulesAndCatalogRules) {
  transfer_policy p;
  p.add_key(tsig::make_key("zone-key.", "hmac-sha256", "c2VjcmV0"));
  p.add_key(tsig::make_key("cat-key.", "hmac-sha256", "c2VjcmV0"));
  p.zone(name("a.test")).allow_transfer_keys.push_back(name("zone-key"));
  p.zone(name("a.test")).also_notify.push_back(*notify_target::parse("192.0.2.1"));
  const auto zone_key = name("zone-key"), cat_key = name("cat-key");

  EXPECT_TRUE(p.may_transfer(name("A.Test"), peer("203.0.113.1"), &zone_key));
  EXPECT_FALSE(p.may_transfer(name("a.test"), peer("203.0.113.1"), nullptr));
  EXPECT_FALSE(p.may_transfer(name("b.test"), peer("203.0.113.1"), &zone_key));
  EXPECT_EQ(p.notify_targets(name("b.test")).size(), 0u);

  // A catalog lists every zone: its consumers may transfer and hear of all.
  p.zone(name("catalog.test")).allow_transfer_keys.push_back(cat_key);
  p.zone(name("catalog.test")).allow_transfer_from.push_back(*network::parse("198.51.100.0/24"));
  p.zone(name("catalog.test")).also_notify.push_back(*notify_target::parse("192.0.2.1"));
  p.zone(name("catalog.test")).also_notify.push_back(*notify_target::parse("192.0.2.2"));
  p.add_catalog(name("catalog.test"));
  EXPECT_TRUE(p.may_transfer(name("b.test"), peer("203.0.113.1"), &cat_key));
  EXPECT_TRUE(p.may_transfer(name("b.test"), peer("198.51.100.7"), nullptr));
  EXPECT_FALSE(p.may_transfer(name("b.test"), peer("203.0.113.1"), &zone_key));
  EXPECT_EQ(p.notify_targets(name("b.test")).size(), 2u);
  EXPECT_EQ(p.notify_targets(name("a.test")).size(), 2u) << "192.0.2.1 once";
  ASSERT_NE(p.notify_key(name("a.test")), nullptr);
  EXPECT_EQ(p.notify_key(name("a.test"))->name, zone_key);
  ASSERT_NE(p.notify_key(name("b.test")), nullptr);
  EXPECT_EQ(p.notify_key(name("b.test"))->name, cat_key);
}

}  // namespace
}  // namespace zonemesh::server
