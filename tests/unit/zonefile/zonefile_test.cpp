// Tests for lib/zonefile/zonefile.*
#include "zonefile/zonefile.hpp"

#include <gtest/gtest.h>

#include "dns/types.hpp"
#include "store/zone.hpp"

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

TEST(Zonefile, GenericTypesRoundTrip) {
  // RFC 3597: an unknown type in generic form, both ways; a known type
  // written generically comes out in its usual form.
  store::record rec;
  ASSERT_EQ(zonefile::to_wire(text_record{"x.example.com", "TYPE65534", 60, "\\# 3 010203"}, rec),
            "");
  EXPECT_EQ(rec.type, 65534);
  EXPECT_EQ(rec.rdata, (std::vector<std::uint8_t>{1, 2, 3}));
  text_record back;
  ASSERT_EQ(zonefile::to_text(rec, back), "");
  EXPECT_EQ(back, (text_record{"x.example.com", "TYPE65534", 60, "\\# 3 010203"}));
  ASSERT_EQ(zonefile::to_wire(text_record{"x.example.com", "TYPE65280", 60, "\\# 0"}, rec), "");
  EXPECT_TRUE(rec.rdata.empty());
  ASSERT_EQ(zonefile::to_text(rec, back), "");
  EXPECT_EQ(back.content, "\\# 0");
  EXPECT_NE(zonefile::to_wire(text_record{"x.example.com", "TYPE65534", 60, "\\# 2 010203"}, rec),
            "");
  auto parsed = zonefile::parse_zone_file(
      "@ SOA ns h 1 2 3 4 5\na TYPE1 \\# 4 c0000201\nb A \\# 4 c0000202\ne EUI48 "
      "00-00-5e-00-53-2a\n",
      "example.com");
  ASSERT_EQ(parsed.error, "");
  ASSERT_EQ(parsed.records.size(), 4u);
  EXPECT_EQ(parsed.records[1], (text_record{"a.example.com", "A", 3600, "192.0.2.1"}));
  EXPECT_EQ(parsed.records[2], (text_record{"b.example.com", "A", 3600, "192.0.2.2"}));
  EXPECT_EQ(parsed.records[3].type, "EUI48");
}

TEST(Zonefile, RecordsKnowTheirLines) {
  auto parsed = zonefile::parse_zone_file(
      "; comment\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n\nwww A 192.0.2.1\n  ; note\nmx MX ( 10\n  mail "
      ")\n",
      "example.com");
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.lines, (std::vector<int>{3, 5, 7}));
}

TEST(Zonefile, LongTxtStringsAreSplitOnlyInTxtAndSpf) {
  const std::string a300(300, 'a');
  EXPECT_EQ(zonefile::split_long_strings("t TXT \"" + a300 + "\"\n"),
            "t TXT \"" + std::string(255, 'a') + "\" \"" + std::string(45, 'a') + "\"\n");
  // Escapes count as one octet and are never cut.
  std::string escaped;
  for (int i = 0; i < 256; ++i) escaped += "\\065";
  EXPECT_EQ(zonefile::split_long_strings("t SPF \"" + escaped + "\""),
            "t SPF \"" + escaped.substr(0, 255 * 4) + "\" \"\\065\"");
  // Other types, comments, and short strings are left alone; lines are kept.
  const std::string other =
      "c CAA 0 issue \"" + a300 + "\" ; TXT \"" + a300 + "\"\nt TXT \"short\"\n";
  EXPECT_EQ(zonefile::split_long_strings(other), other);
  // A multi-line record stays one record.
  const std::string multi = "t ( TXT\n \"" + a300 + "\" )\n";
  EXPECT_EQ(zonefile::split_long_strings(multi),
            "t ( TXT\n \"" + std::string(255, 'a') + "\" \"" + std::string(45, 'a') + "\" )\n");
  auto parsed =
      zonefile::parse_zone_file("@ SOA ns h 1 2 3 4 5\nt TXT \"" + a300 + "\"\n", "example.com");
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.records[1].content,
            "\"" + std::string(255, 'a') + "\" \"" + std::string(45, 'a') + "\"");
}

TEST(Zonefile, SecondSoaIsRefusedBeforeLdnsReadsFreedMemory) {
  // Found by tests/fuzz (rdata target): ldns_zone_new_frm_fp_l frees a
  // second SOA and then compares the next TTL-less record with it.
  auto parsed = zonefile::parse_zone_file(
      "@ 60 SOA ns h 1 2 3 4 5\n@ 60 SOA ns h 1 2 3 4 5\nwww A 192.0.2.1\n", "example.com");
  EXPECT_NE(parsed.error.find("line 2: a second SOA record (line 1 has one)"), std::string::npos)
      << parsed.error;
  EXPECT_TRUE(parsed.records.empty());
  // A zone transfer's dump (SOA first and last) is read, the last SOA dropped.
  parsed = zonefile::parse_zone_file(
      "@ 60 SOA ns h 1 2 3 4 5\nwww 60 A 192.0.2.1\n@ 60 SOA ns h 1 2 3 4 5\n", "example.com");
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.records.size(), 2u);
}
