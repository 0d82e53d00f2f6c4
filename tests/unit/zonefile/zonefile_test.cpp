// Tests for lib/zonefile/zonefile.*
#include "zonefile/zonefile.hpp"

#include <gtest/gtest.h>

#include "dns/types.hpp"

using namespace zonemesh;
using zonefile::text_record;

TEST(Zonefile, MxContentWithoutTrailingDots) {
  store::record r;
  ASSERT_EQ(zonefile::to_wire({"example.com", "MX", 300, "10 mail.example.com"}, r), "");
  EXPECT_EQ(r.type, dns::rr_type::mx);
  const std::vector<std::uint8_t> want = {0,   10,  4,   'm', 'a', 'i', 'l', 7,   'e', 'x',
                                          'a', 'm', 'p', 'l', 'e', 3,   'c', 'o', 'm', 0};
  EXPECT_EQ(r.rdata, want);
  EXPECT_EQ(r.owner.to_string(), "example.com.");
}

TEST(Zonefile, SoaTxtAndRoundTrip) {
  const text_record records[] = {
      {"example.com", "SOA", 3600,
       "ns1.example.com hostmaster.example.com 1 10800 3600 604800 3600"},
      {"example.com", "TXT", 300, "\"v=spf1 -all\""},
      {"_sip._tcp.example.com", "SRV", 300, "10 20 5060 sip.example.com"},
      {"example.com", "CAA", 300, "0 issue \"letsencrypt.org\""},
      {"example.com", "AAAA", 300, "2001:db8::1"},
      {"x.example.com", "TYPE65280", 300, "\\# 2 abcd"},
  };
  for (const auto& t : records) {
    store::record r;
    ASSERT_EQ(zonefile::to_wire(t, r), "") << t.type;
    text_record back;
    ASSERT_EQ(zonefile::to_text(r, back), "") << t.type;
    EXPECT_EQ(back.name, t.name);
    EXPECT_EQ(back.ttl, t.ttl);
    store::record again;
    ASSERT_EQ(zonefile::to_wire(back, again), "") << back.content;
    EXPECT_EQ(again.rdata, r.rdata) << t.type << " " << back.content;
  }
}

TEST(Zonefile, ClearErrors) {
  store::record r;
  auto error = zonefile::to_wire({"example.com", "A", 300, "not-an-address"}, r);
  EXPECT_NE(error.find("example.com A"), std::string::npos) << error;
  EXPECT_NE(zonefile::to_wire({"example.com", "BOGUS", 300, "x"}, r).find("unknown type"),
            std::string::npos);
  EXPECT_NE(zonefile::to_wire({"a..b", "A", 300, "192.0.2.1"}, r), "");
  EXPECT_NE(zonefile::to_wire({"example.com", "OPT", 300, ""}, r), "");
  EXPECT_NE(zonefile::to_wire({"example.com", "MX", 300, "10"}, r), "");
}

TEST(Zonefile, ParsesBindZoneFile) {
  const std::string text =
      "$TTL 600\n"
      "@ IN SOA ns1 hostmaster ( 5 10800 3600 604800 300 )\n"
      "  IN NS ns1\n"
      "ns1 IN A 192.0.2.1\n"
      "www 300 IN CNAME @\n"
      "mail IN MX 10 mx.other.net.\n";
  auto result = zonefile::parse_zone_file(text, "example.com");
  ASSERT_EQ(result.error, "");
  ASSERT_EQ(result.records.size(), 5u);
  EXPECT_EQ(result.records[0].type, "SOA");
  EXPECT_EQ(result.records[0].content,
            "ns1.example.com hostmaster.example.com 5 10800 3600 604800 300");
  EXPECT_EQ(result.records[1], (text_record{"example.com", "NS", 600, "ns1.example.com"}));
  EXPECT_EQ(result.records[3], (text_record{"www.example.com", "CNAME", 300, "example.com"}));
  EXPECT_EQ(result.records[4].content, "10 mx.other.net");
}

TEST(Zonefile, ParseErrorNamesTheLine) {
  auto result =
      zonefile::parse_zone_file("@ IN SOA a b 1 2 3 4 5\nwww IN A 300.1.1.1\n", "example.com");
  EXPECT_NE(result.error, "");
  EXPECT_NE(result.error.find("line"), std::string::npos) << result.error;
}

TEST(Zonefile, FormatsSoaFirstWithAbsoluteNames) {
  const text_record records[] = {
      {"www.example.com", "A", 300, "192.0.2.1"},
      {"example.com", "SOA", 3600, "ns1.example.com hostmaster.example.com 1 2 3 4 5"},
  };
  std::string error;
  const std::string out = zonefile::format_zone_file(records, error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(
      out.rfind("example.com.\t3600\tIN\tSOA\tns1.example.com. hostmaster.example.com. 1 2 3 4 5",
                0),
      0u)
      << out;
  EXPECT_NE(out.find("www.example.com.\t300\tIN\tA\t192.0.2.1"), std::string::npos) << out;
  auto parsed = zonefile::parse_zone_file(out, ".");
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.records.size(), 2u);
}
