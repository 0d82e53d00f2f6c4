// The fast path of zonefile::to_wire (A, AAAA, NS, CNAME, PTR, DNAME, MX,
// SRV, TXT, SPF without ldns) must give exactly what ldns gives, and refuse
// what ldns refuses.

#include <stdbool.h>  // before ldns, which otherwise redefines bool
#include <ldns/ldns.h>

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "zonefile/zonefile.hpp"

namespace zonemesh::zonefile {
namespace {

/// RDATA as ldns makes it, or nullopt-like empty + false when ldns refuses.
bool ldns_rdata(const text_record& rec, std::vector<std::uint8_t>& out) {
  std::string text = rec.name + ". " + std::to_string(rec.ttl) + " IN " + rec.type + " " + rec.content;
  ldns_rdf* root = ldns_dname_new_frm_str(".");
  ldns_rr* rr = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&rr, text.c_str(), rec.ttl, root, nullptr);
  ldns_rdf_deep_free(root);
  if (st != LDNS_STATUS_OK || !rr) return false;
  ldns_buffer* buf = ldns_buffer_new(512);
  bool ok = ldns_rr_rdata2buffer_wire(buf, rr) == LDNS_STATUS_OK;
  out.assign(ldns_buffer_begin(buf), ldns_buffer_begin(buf) + ldns_buffer_position(buf));
  ldns_buffer_free(buf);
  ldns_rr_free(rr);
  return ok;
}

void expect_same(const text_record& rec) {
  store::record ours;
  std::string error = to_wire(rec, ours);
  std::vector<std::uint8_t> theirs;
  bool ldns_ok = ldns_rdata(rec, theirs);
  ASSERT_EQ(error.empty(), ldns_ok) << rec.type << " \"" << rec.content << "\": " << error;
  if (ldns_ok) {
    EXPECT_EQ(ours.rdata, theirs) << rec.type << " \"" << rec.content << "\"";
    EXPECT_EQ(ours.ttl, rec.ttl);
  }
}

TEST(FastWire, CommonTypesMatchLdns) {
  const text_record cases[] = {
      {"www.example.com", "A", 300, "192.0.2.1"},
      {"www.example.com", "A", 300, "0.0.0.0"},
      {"www.example.com", "A", 300, "255.255.255.255"},
      {"www.example.com", "AAAA", 300, "2001:db8::1"},
      {"www.example.com", "AAAA", 300, "::"},
      {"www.example.com", "AAAA", 300, "fe80::1:2:3:4"},
      {"example.com", "NS", 3600, "ns1.example.net"},
      {"a.example.com", "CNAME", 60, "b.example.com"},
      {"1.2.0.192.in-addr.arpa", "PTR", 60, "host.example.com"},
      {"d.example.com", "DNAME", 60, "example.net"},
      {"example.com", "MX", 60, "10 mail.example.com"},
      {"example.com", "MX", 60, "0 ."},
      {"_sip._tcp.example.com", "SRV", 60, "10 5 5060 sip.example.com"},
      {"_x._tcp.example.com", "SRV", 60, "0 0 0 ."},
      {"x.example.com", "NS", 60, "under_score.example.com"},
      {"example.com", "TXT", 60, "\"v=spf1 ip4:10.0.0.0/8 -all host 7\""},
      {"example.com", "TXT", 60, "\"first\" \"second\" \"third\""},
      {"example.com", "TXT", 60, "\"\""},
      {"example.com", "TXT", 60, "\"tab\tinside\""},
      {"example.com", "TXT", 60, "\"semi;colon\" \"(paren)\""},
      {"example.com", "TXT", 60, "\"escaped \\\"quote\\\"\""},
      {"example.com", "TXT", 60, "\"\\065\\066\""},
      {"example.com", "TXT", 60, "unquoted words"},
      {"example.com", "TXT", 60, "\"" + std::string(255, 'x') + "\""},
      {"example.com", "SPF", 60, "\"v=spf1 -all\""},
  };
  for (const auto& c : cases) expect_same(c);
}

TEST(FastWire, MalformedContentIsJudgedAsLdnsJudgesIt) {
  const text_record cases[] = {
      {"www.example.com", "A", 300, "192.0.2"},
      {"www.example.com", "A", 300, "192.0.2.256"},
      {"www.example.com", "AAAA", 300, "2001:db8::zz"},
      {"example.com", "MX", 60, "mail.example.com"},
      {"example.com", "MX", 60, "70000 mail.example.com"},
      {"_s._tcp.example.com", "SRV", 60, "1 2 sip.example.com"},
      {"example.com", "TXT", 60, "\"" + std::string(256, 'x') + "\""},
      {"example.com", "TXT", 60, "\"unterminated"},
      {"example.com", "TXT", 60, "\"a\"  \"two spaces\""},
  };
  for (const auto& c : cases) expect_same(c);
}

TEST(FastWire, RandomAddressesAndNamesMatchLdns) {
  std::mt19937 rng(7);
  auto label = [&] {
    std::string l;
    int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) l += "abcdefghijklmnopqrstuvwxyz0123456789-"[rng() % 36];
    return l;
  };
  for (int i = 0; i < 2000; ++i) {
    std::string ip = std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + "." +
                     std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
    expect_same({"h.example.com", "A", 60, ip});
    char v6[64];
    std::snprintf(v6, sizeof v6, "2001:db8:%x:%x::%x", static_cast<unsigned>(rng() % 65536),
                  static_cast<unsigned>(rng() % 65536), static_cast<unsigned>(rng() % 65536));
    expect_same({"h.example.com", "AAAA", 60, v6});
    std::string target = label() + "." + label() + ".example";
    expect_same({"h.example.com", "CNAME", 60, target});
    expect_same({"h.example.com", "MX", 60, std::to_string(rng() % 65536) + " " + target});
    std::string txt = "\"";
    const int strings = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < strings; ++k) {
      if (k) txt += "\" \"";
      const int n = static_cast<int>(rng() % 300);
      const bool any = rng() % 4 == 0;  // mostly characters the fast path takes
      for (int j = 0; j < n; ++j) {
        char ch = static_cast<char>(0x20 + rng() % 95);
        if (!any && (ch == '"' || ch == '\\' || ch == ';' || ch == '(' || ch == ')')) ch = '_';
        txt += ch;
      }
    }
    txt += '"';
    expect_same({"h.example.com", "TXT", 60, txt});
    expect_same({"_s._tcp.example.com", "SRV", 60,
                 std::to_string(rng() % 65536) + " " + std::to_string(rng() % 65536) + " " +
                     std::to_string(rng() % 65536) + " " + target});
  }
}

TEST(FastWire, ViewsIntoOneReusedRecordGiveTheSame) {
  // As the follower loads: one store::record for every row, the owner parsed
  // again only when the name changes.
  const text_record rows[] = {
      {"h1.example.com", "A", 300, "10.0.0.1"},
      {"h1.example.com", "AAAA", 300, "2001:db8::1"},
      {"h1.example.com", "TXT", 300, "\"v=spf1 -all\""},
      {"h1.example.com", "TXT", 300, "\"x\\\"y\""},  // ldns path, owner not re-parsed by the caller
      {"h1.example.com", "HINFO", 300, "\"cpu\" \"os\""},
      {"h2.example.com", "MX", 300, "10 mail.example.com"},
      {"h2.example.com", "A", 300, "not-an-address"},
      {"h3.example.com", "A", 300, "10.0.0.3"},
  };
  store::record reused;
  std::string previous;
  bool previous_ok = false;
  for (const auto& row : rows) {
    const bool same = previous_ok && row.name == previous;
    const std::string error = to_wire(row.name, row.type, row.ttl, row.content, reused, same);
    store::record fresh;
    const std::string expected = to_wire(row, fresh);
    ASSERT_EQ(error, expected) << row.type << " " << row.content;
    previous = row.name;
    previous_ok = error.empty();
    if (!error.empty()) continue;
    EXPECT_EQ(reused.owner.to_string(), fresh.owner.to_string());
    EXPECT_EQ(reused.type, fresh.type);
    EXPECT_EQ(reused.ttl, fresh.ttl);
    EXPECT_EQ(reused.rdata, fresh.rdata) << row.type << " " << row.content;
  }
}

}  // namespace
}  // namespace zonemesh::zonefile
