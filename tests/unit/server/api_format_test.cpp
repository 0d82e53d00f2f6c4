// PowerDNS API conventions: zone ids, kinds and absolute names in content.
#include "api_format.hpp"

#include <gtest/gtest.h>

namespace zonemesh::server::api_format {
namespace {

TEST(ApiFormat, ZoneIdsAreAbsoluteWithEqualsEscapes) {
  EXPECT_EQ(zone_id("example.com"), "example.com.");
  EXPECT_EQ(zone_id("example.com."), "example.com.");
  EXPECT_EQ(zone_id("0/26.2.0.192.in-addr.arpa"), "0=2F26.2.0.192.in-addr.arpa.");
  EXPECT_EQ(zone_id("_dmarc.example.com"), "=5Fdmarc.example.com.");
  EXPECT_EQ(zone_id("a-b.example"), "a-b.example.");
  EXPECT_EQ(zone_id("."), "=2E");
}

TEST(ApiFormat, ZoneIdsDecode) {
  EXPECT_EQ(zone_name_from_id("0=2F26.2.0.192.in-addr.arpa."), "0/26.2.0.192.in-addr.arpa.");
  EXPECT_EQ(zone_name_from_id("=5Fdmarc.example.com."), "_dmarc.example.com.");
  EXPECT_EQ(zone_name_from_id("example.com"), "example.com");
  EXPECT_EQ(zone_name_from_id("=2f"), "/");
  EXPECT_FALSE(zone_name_from_id("bad=2"));
  EXPECT_FALSE(zone_name_from_id("bad="));
  EXPECT_FALSE(zone_name_from_id("=ZZx"));
  EXPECT_FALSE(zone_name_from_id("=00x")) << "no NUL";
  for (const char* name : {"example.com", "0/26.2.0.192.in-addr.arpa", "_x._tcp.example"}) {
    EXPECT_EQ(zone_name_from_id(zone_id(name)), std::string(name) + ".");
  }
}

TEST(ApiFormat, Kinds) {
  EXPECT_EQ(kind_to_api("native"), "Native");
  EXPECT_EQ(kind_to_api("primary"), "Master");
  EXPECT_EQ(kind_to_api("secondary"), "Slave");
  EXPECT_EQ(kind_from_api("Native"), "native");
  EXPECT_EQ(kind_from_api("MASTER"), "primary");
  EXPECT_EQ(kind_from_api("Primary"), "primary");
  EXPECT_EQ(kind_from_api("slave"), "secondary");
  EXPECT_EQ(kind_from_api("Secondary"), "secondary");
  EXPECT_FALSE(kind_from_api("Producer"));
  EXPECT_FALSE(kind_from_api(""));
}

TEST(ApiFormat, ContentGetsAbsoluteNames) {
  EXPECT_EQ(content_to_api("CNAME", "www.example.com"), "www.example.com.");
  EXPECT_EQ(content_to_api("NS", "ns1.example.net"), "ns1.example.net.");
  EXPECT_EQ(content_to_api("PTR", "host.example"), "host.example.");
  EXPECT_EQ(content_to_api("MX", "10 mail.example.com"), "10 mail.example.com.");
  EXPECT_EQ(content_to_api("MX", "0 ."), "0 .");
  EXPECT_EQ(content_to_api("SRV", "10 20 5060 sip.example.com"), "10 20 5060 sip.example.com.");
  EXPECT_EQ(
      content_to_api("SOA", "ns1.example.net hostmaster.example.com 0 10800 3600 604800 3600"),
      "ns1.example.net. hostmaster.example.com. 0 10800 3600 604800 3600");
  EXPECT_EQ(
      content_to_api("SOA", "ns1.example.net hostmaster.example.com 0 10800 3600 604800 3600", 42),
      "ns1.example.net. hostmaster.example.com. 42 10800 3600 604800 3600");
  EXPECT_EQ(content_to_api("A", "192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(content_to_api("TXT", "\"a b\""), "\"a b\"");
  EXPECT_EQ(content_to_api("MX", "garbage"), "garbage") << "unexpected shapes are left alone";
}

}  // namespace
}  // namespace zonemesh::server::api_format
