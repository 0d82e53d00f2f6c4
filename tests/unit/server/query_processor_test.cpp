// Tests for server/query_processor_impl.* and server/answer.*: wire queries
// in, replies decoded independently with ldns (records) and our reader (OPT).
#include "query_processor_impl.hpp"

#include <stdbool.h>

#include <ldns/ldns.h>

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "../store/zone_fixture.hpp"
#include "answer.hpp"
#include "dns/types.hpp"

using namespace zonemesh;
using namespace zonemesh::testing;
namespace t = dns::rr_type;

namespace {

struct query_spec {
  std::string qname{};
  std::uint16_t qtype = t::a;
  std::uint16_t qclass = dns::rr_class::in;
  bool edns = false;
  std::uint16_t udp_size = 1232;
  std::uint8_t version = 0;
  bool dnssec_ok = false;
  std::vector<dns::edns_option_data> options{};
  std::uint16_t flags = dns::flag::rd;
  std::uint8_t opcode = dns::opcode::query;
};

std::vector<std::uint8_t> make_query(const query_spec& spec) {
  std::vector<std::uint8_t> buf(1024);
  dns::writer w(buf);
  dns::header h;
  h.id = 0xbeef;
  h.flags = spec.flags;
  h.set_opcode(spec.opcode);
  h.qdcount = 1;
  h.arcount = spec.edns ? 1 : 0;
  EXPECT_TRUE(w.header(h));
  EXPECT_TRUE(w.name(dname(spec.qname), false));
  EXPECT_TRUE(w.u16(spec.qtype) && w.u16(spec.qclass));
  if (spec.edns) {
    EXPECT_TRUE(dns::write_opt(w, spec.udp_size, 0, spec.version, spec.dnssec_ok, spec.options));
  }
  buf.resize(w.size());
  return buf;
}

struct decoded {
  std::size_t size = 0;
  dns::header h;
  std::vector<std::string> answer, authority, additional;  // ldns text, tabs to spaces
  std::string question;
  bool has_opt = false;
  dns::opt_record opt;
  std::vector<std::uint8_t> nsid;
  bool has_nsid = false;
  std::vector<std::uint8_t> raw;
};

std::string rr_text(const ldns_rr* rr) {
  char* s = ldns_rr2str(rr);
  std::string out = s;
  std::free(s);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  for (char& c : out) {
    if (c == '\t') c = ' ';
  }
  return out;
}

std::vector<std::string> texts(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (std::size_t i = 0; list != nullptr && i < ldns_rr_list_rr_count(list); ++i) {
    out.push_back(rr_text(ldns_rr_list_rr(list, i)));
  }
  return out;
}

decoded decode(std::span<const std::uint8_t> reply) {
  decoded d;
  d.size = reply.size();
  d.raw.assign(reply.begin(), reply.end());
  dns::reader rd(reply);
  EXPECT_EQ(rd.header(d.h), dns::read_status::ok);
  ldns_pkt* pkt = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&pkt, reply.data(), reply.size()), LDNS_STATUS_OK);
  if (pkt == nullptr) return d;
  std::unique_ptr<ldns_pkt, void (*)(ldns_pkt*)> guard(pkt, ldns_pkt_free);
  d.answer = texts(ldns_pkt_answer(pkt));
  d.authority = texts(ldns_pkt_authority(pkt));
  d.additional = texts(ldns_pkt_additional(pkt));  // ldns keeps OPT apart
  auto q = texts(ldns_pkt_question(pkt));
  if (!q.empty()) d.question = q.front();
  // OPT through our own reader.
  dns::name owner;
  dns::rr_header f;
  std::span<const std::uint8_t> rdata;
  if (d.h.qdcount == 1) {
    EXPECT_EQ(rd.name(owner), dns::read_status::ok);
    EXPECT_EQ(rd.skip(4), dns::read_status::ok);
  }
  const std::size_t total = std::size_t{d.h.ancount} + d.h.nscount + d.h.arcount;
  for (std::size_t i = 0; i < total; ++i) {
    EXPECT_EQ(rd.rr(owner, f, rdata), dns::read_status::ok);
    if (f.type == t::opt) {
      d.has_opt = true;
      EXPECT_EQ(dns::parse_opt(f.rrclass, f.ttl, rdata, d.opt), dns::read_status::ok);
      dns::option_iterator it(d.opt.options);
      std::uint16_t code = 0;
      std::span<const std::uint8_t> data;
      while (it.next(code, data)) {
        if (code == dns::edns_option::nsid) {
          d.has_nsid = true;
          d.nsid.assign(data.begin(), data.end());
        }
      }
    }
  }
  EXPECT_EQ(rd.remaining(), 0u);
  return d;
}

std::string long_label(char c) { return std::string(60, c); }

class QueryProcessor : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parent = make_zone(
        "example.com",
        {
            {"example.com", "SOA", 3600,
             "ns1.example.com hostmaster.example.com 1 10800 3600 604800 300"},
            {"example.com", "NS", 3600, "ns1.example.com"},
            {"example.com", "NS", 3600, "ns2.example.com"},
            {"example.com", "MX", 3600, "10 mail.example.com"},
            {"ns1.example.com", "A", 3600, "192.0.2.1"},
            {"ns2.example.com", "AAAA", 3600, "2001:db8::2"},
            {"mail.example.com", "A", 3600, "192.0.2.25"},
            {"www.example.com", "A", 300, "192.0.2.80"},
            {"www.example.com", "TXT", 300, "\"hello\""},
            {"alias.example.com", "CNAME", 300, "www.example.com"},
            {"chain1.example.com", "CNAME", 300, "chain2.example.com"},
            {"chain2.example.com", "CNAME", 300, "alias.example.com"},
            {"dangling.example.com", "CNAME", 300, "nothere.example.com"},
            {"loop1.example.com", "CNAME", 300, "loop2.example.com"},
            {"loop2.example.com", "CNAME", 300, "loop1.example.com"},
            {"out.example.com", "CNAME", 300, "www.example.org"},
            {"tonet.example.com", "CNAME", 300, "www.example.net"},
            {"a.b.c.example.com", "TXT", 300, "\"deep\""},
            {"*.wild.example.com", "A", 300, "192.0.2.99"},
            {"*.wild.example.com", "MX", 300, "10 mail.example.com"},
            {"exists.wild.example.com", "TXT", 300, "\"x\""},
            {"*.cnwild.example.com", "CNAME", 300, "www.example.com"},
            {"sub.example.com", "NS", 3600, "ns.sub.example.com"},
            {"sub.example.com", "NS", 3600, "ns.elsewhere.net"},
            {"sub.example.com", "DS", 3600,
             "12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE33EE7E7F1E3E7C6A1E2F5C3A"},
            {"ns.sub.example.com", "A", 3600, "192.0.2.53"},
            {"child.example.com", "NS", 3600, "ns1.example.com"},
            {"d.example.com", "DNAME", 120, "example.net"},
            {"longd.example.com", "DNAME", 120,
             long_label('a') + "." + long_label('b') + "." + long_label('c') + ".net"},
            {"_sip._tcp.example.com", "SRV", 300, "0 5 5060 www.example.com"},
        });
    std::initializer_list<zonefile::text_record> big_records = {};
    (void)big_records;
    store::zone_builder big(dname("big.test"));
    EXPECT_EQ(big.add(rec({"big.test", "SOA", 60, "ns.big.test h.big.test 1 2 3 4 5"})), "");
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(big.add(rec({"txt.big.test", "TXT", 60,
                             "\"record number " + std::to_string(i) + " padding padding\""})),
                "");
    }
    auto child =
        make_zone("child.example.com",
                  {
                      {"child.example.com", "SOA", 60, "ns1.example.com h.example.com 1 2 3 4 60"},
                      {"child.example.com", "NS", 60, "ns1.example.com"},
                      {"www.child.example.com", "A", 60, "192.0.2.200"},
                  });
    auto net = make_zone("example.net",
                         {
                             {"example.net", "SOA", 60, "ns.example.net h.example.net 1 2 3 4 30"},
                             {"www.example.net", "A", 60, "198.51.100.1"},
                         });
    publisher_ = std::make_shared<store::zone_publisher>();
    publisher_->put_zone(parent);
    publisher_->put_zone(child);
    publisher_->put_zone(net);
    publisher_->put_zone(big.build(1).zone);
    publisher_->put_zone(
        make_zone("orphan.example.com", {{"orphan.example.com", "SOA", 60, "ns h 1 2 3 4 20"}}));
    server::server_identity id;
    id.hostname = "site-a.example";
    id.nsid = std::vector<std::uint8_t>{'s', 'i', 't', 'e', '-', 'a'};
    processor_ = std::make_unique<server::query_processor_impl>(publisher_, id);
  }

  decoded ask(const query_spec& spec, server::transport proto = server::transport::udp) {
    return ask_raw(make_query(spec), proto);
  }

  decoded ask_raw(std::span<const std::uint8_t> query,
                  server::transport proto = server::transport::udp) {
    server::query_context ctx;
    ctx.proto = proto;
    const std::size_t n = processor_->process(query, reply_, ctx);
    last_size_ = n;
    if (n == 0) return decoded{};
    return decode(std::span(reply_.data(), n));
  }

  std::shared_ptr<store::zone_publisher> publisher_;
  std::unique_ptr<server::query_processor_impl> processor_;
  std::vector<std::uint8_t> reply_ = std::vector<std::uint8_t>(65535);
  std::size_t last_size_ = 0;
};

bool aa(const decoded& d) { return d.h.has(dns::flag::aa); }
bool tc(const decoded& d) { return d.h.has(dns::flag::tc); }

}  // namespace

TEST_F(QueryProcessor, PositiveAnswerEchoesClientCaseAndCopiesIdAndRd) {
  auto d = ask({.qname = "WwW.ExAmPlE.cOm"});
  EXPECT_EQ(d.h.id, 0xbeef);
  EXPECT_TRUE(d.h.has(dns::flag::qr));
  EXPECT_TRUE(d.h.has(dns::flag::rd));
  EXPECT_FALSE(d.h.has(dns::flag::ra));
  EXPECT_TRUE(aa(d));
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  EXPECT_EQ(d.question, "WwW.ExAmPlE.cOm. IN A");
  ASSERT_EQ(d.answer.size(), 1u);
  EXPECT_EQ(d.answer[0], "WwW.ExAmPlE.cOm. 300 IN A 192.0.2.80");
  EXPECT_TRUE(d.authority.empty());
  EXPECT_FALSE(d.has_opt);  // no EDNS in, none out
}

TEST_F(QueryProcessor, NxdomainWithSoaAndNegativeTtl) {
  auto d = ask({.qname = "nope.example.com"});
  EXPECT_TRUE(aa(d));
  EXPECT_EQ(d.h.rcode(), dns::rcode::nxdomain);
  EXPECT_TRUE(d.answer.empty());
  ASSERT_EQ(d.authority.size(), 1u);
  EXPECT_EQ(
      d.authority[0],
      "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 1 10800 3600 604800 300");
}

TEST_F(QueryProcessor, NodataAndEmptyNonTerminal) {
  for (const char* qname : {"www.example.com", "c.example.com", "b.c.example.com"}) {
    auto d = ask({.qname = qname, .qtype = t::aaaa});
    EXPECT_EQ(d.h.rcode(), dns::rcode::noerror) << qname;
    EXPECT_TRUE(aa(d));
    EXPECT_TRUE(d.answer.empty());
    ASSERT_EQ(d.authority.size(), 1u) << qname;
    EXPECT_NE(d.authority[0].find(" SOA "), std::string::npos);
  }
}

TEST_F(QueryProcessor, RefusedOutsideServedZones) {
  auto d = ask({.qname = "www.example.org"});
  EXPECT_EQ(d.h.rcode(), dns::rcode::refused);
  EXPECT_FALSE(aa(d));
  EXPECT_EQ(d.question, "www.example.org. IN A");
  EXPECT_TRUE(d.answer.empty() && d.authority.empty());
  EXPECT_EQ(ask({.qname = "com"}).h.rcode(), dns::rcode::refused);
}

TEST_F(QueryProcessor, ReferralWithInBailiwickGlue) {
  auto d = ask({.qname = "host.deep.sub.example.com"});
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  EXPECT_FALSE(aa(d));
  EXPECT_TRUE(d.answer.empty());
  ASSERT_EQ(d.authority.size(), 2u);
  EXPECT_EQ(d.authority[0], "sub.example.com. 3600 IN NS ns.sub.example.com.");
  EXPECT_EQ(d.authority[1], "sub.example.com. 3600 IN NS ns.elsewhere.net.");
  ASSERT_EQ(d.additional.size(), 1u);
  EXPECT_EQ(d.additional[0], "ns.sub.example.com. 3600 IN A 192.0.2.53");
  // NS at the cut is a referral too.
  auto ns = ask({.qname = "sub.example.com", .qtype = t::ns});
  EXPECT_FALSE(aa(ns));
  EXPECT_TRUE(ns.answer.empty());
  ASSERT_EQ(ns.authority.size(), 2u);
}

TEST_F(QueryProcessor, ReferralFromUnsignedZoneHasNoDsEvenWithDo) {
  // DS goes with its RRSIG (RFC 4035 3.1.4); example.com is not signed, so
  // a DO=1 referral carries the NS RRset only, as Knot and NSD answer.
  ASSERT_FALSE(server::zone_is_signed(*publisher_->current()->find_zone(dname("example.com"))));
  for (const char* qname : {"www.sub.example.com", "sub.example.com"}) {
    for (const auto proto : {server::transport::udp, server::transport::tcp}) {
      auto d = ask({.qname = qname, .qtype = t::a, .edns = true, .dnssec_ok = true}, proto);
      EXPECT_EQ(d.h.rcode(), dns::rcode::noerror) << qname;
      EXPECT_FALSE(aa(d)) << qname;
      EXPECT_TRUE(d.answer.empty()) << qname;
      ASSERT_EQ(d.authority.size(), 2u) << qname;
      for (const auto& rr : d.authority) {
        EXPECT_EQ(rr.rfind("sub.example.com. 3600 IN NS ", 0), 0u) << rr;
      }
      ASSERT_EQ(d.additional.size(), 1u) << qname;
      EXPECT_EQ(d.additional[0], "ns.sub.example.com. 3600 IN A 192.0.2.53");
      EXPECT_TRUE(d.opt.dnssec_ok());
    }
  }
  // The DS RRset itself is still answered by the parent when asked for.
  auto ds = ask({.qname = "sub.example.com", .qtype = t::ds, .edns = true, .dnssec_ok = true});
  EXPECT_TRUE(aa(ds));
  ASSERT_EQ(ds.answer.size(), 1u);
  EXPECT_NE(ds.answer[0].find(" DS 12345 8 2 "), std::string::npos);
}

TEST_F(QueryProcessor, DsAtCutAnsweredByParent) {
  auto d = ask({.qname = "sub.example.com", .qtype = t::ds});
  EXPECT_TRUE(aa(d));
  ASSERT_EQ(d.answer.size(), 1u);
  EXPECT_NE(d.answer[0].find(" DS 12345 "), std::string::npos);
  // child.example.com is served as its own zone: DS comes from the parent's
  // side (no DS there: NODATA with the parent's SOA).
  auto c = ask({.qname = "child.example.com", .qtype = t::ds});
  EXPECT_TRUE(aa(c));
  EXPECT_EQ(c.h.rcode(), dns::rcode::noerror);
  EXPECT_TRUE(c.answer.empty());
  ASSERT_EQ(c.authority.size(), 1u);
  EXPECT_EQ(c.authority[0].rfind("example.com. 300 IN SOA", 0), 0u) << c.authority[0];
}

TEST_F(QueryProcessor, DsAtApexWithoutParentDelegationAnsweredByChild) {
  // example.com has no NS for orphan.example.com: the child answers NODATA.
  auto d = ask({.qname = "orphan.example.com", .qtype = t::ds});
  EXPECT_TRUE(aa(d));
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  ASSERT_EQ(d.authority.size(), 1u);
  EXPECT_EQ(d.authority[0].rfind("orphan.example.com. 20 IN SOA", 0), 0u) << d.authority[0];
}

TEST_F(QueryProcessor, NestedZoneAnswersForItsNames) {
  auto d = ask({.qname = "www.child.example.com"});
  EXPECT_TRUE(aa(d));
  ASSERT_EQ(d.answer.size(), 1u);
  EXPECT_EQ(d.answer[0], "www.child.example.com. 60 IN A 192.0.2.200");
  auto soa = ask({.qname = "child.example.com", .qtype = t::soa});
  EXPECT_TRUE(aa(soa));
  ASSERT_EQ(soa.answer.size(), 1u);
  EXPECT_EQ(soa.answer[0].rfind("child.example.com. 60 IN SOA", 0), 0u);
}

TEST_F(QueryProcessor, CnameChainFollowedInServedZones) {
  auto d = ask({.qname = "chain1.example.com"});
  EXPECT_TRUE(aa(d));
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  ASSERT_EQ(d.answer.size(), 4u);
  EXPECT_EQ(d.answer[0], "chain1.example.com. 300 IN CNAME chain2.example.com.");
  EXPECT_EQ(d.answer[1], "chain2.example.com. 300 IN CNAME alias.example.com.");
  EXPECT_EQ(d.answer[2], "alias.example.com. 300 IN CNAME www.example.com.");
  EXPECT_EQ(d.answer[3], "www.example.com. 300 IN A 192.0.2.80");
  // across zones we serve
  auto net = ask({.qname = "tonet.example.com"});
  ASSERT_EQ(net.answer.size(), 2u);
  EXPECT_EQ(net.answer[1], "www.example.net. 60 IN A 198.51.100.1");
  // the CNAME itself when asked for
  auto c = ask({.qname = "alias.example.com", .qtype = t::cname});
  ASSERT_EQ(c.answer.size(), 1u);
}

TEST_F(QueryProcessor, CnameToMissingNameIsNxdomainOfTheTarget) {
  auto d = ask({.qname = "dangling.example.com"});
  EXPECT_EQ(d.h.rcode(), dns::rcode::nxdomain);
  EXPECT_TRUE(aa(d));
  ASSERT_EQ(d.answer.size(), 1u);
  ASSERT_EQ(d.authority.size(), 1u);
  EXPECT_NE(d.authority[0].find(" SOA "), std::string::npos);
  // NODATA at the end of a chain
  auto nodata = ask({.qname = "alias.example.com", .qtype = t::aaaa});
  EXPECT_EQ(nodata.h.rcode(), dns::rcode::noerror);
  EXPECT_EQ(nodata.answer.size(), 1u);
  EXPECT_EQ(nodata.authority.size(), 1u);
}

TEST_F(QueryProcessor, CnameLoopAndUnservedTargetsStop) {
  auto loop = ask({.qname = "loop1.example.com"});
  EXPECT_EQ(loop.h.rcode(), dns::rcode::noerror);
  EXPECT_EQ(loop.answer.size(), 2u);
  auto out = ask({.qname = "out.example.com"});
  EXPECT_EQ(out.h.rcode(), dns::rcode::noerror);
  EXPECT_TRUE(aa(out));
  ASSERT_EQ(out.answer.size(), 1u);
  EXPECT_TRUE(out.authority.empty());
}

TEST_F(QueryProcessor, WildcardSynthesis) {
  auto d = ask({.qname = "Foo.Wild.example.com"});
  EXPECT_TRUE(aa(d));
  ASSERT_EQ(d.answer.size(), 1u);
  EXPECT_EQ(d.answer[0], "Foo.Wild.example.com. 300 IN A 192.0.2.99");
  auto deeper = ask({.qname = "a.b.wild.example.com", .qtype = t::mx});
  ASSERT_EQ(deeper.answer.size(), 1u);
  EXPECT_EQ(deeper.answer[0], "a.b.wild.example.com. 300 IN MX 10 mail.example.com.");
  ASSERT_EQ(deeper.additional.size(), 1u);  // additional processing on synthesized MX
  auto nodata = ask({.qname = "foo.wild.example.com", .qtype = t::aaaa});
  EXPECT_EQ(nodata.h.rcode(), dns::rcode::noerror);
  EXPECT_TRUE(nodata.answer.empty());
  EXPECT_EQ(nodata.authority.size(), 1u);
  // An existing name blocks the wildcard below it (RFC 4592 2.2.1).
  EXPECT_EQ(ask({.qname = "x.exists.wild.example.com"}).h.rcode(), dns::rcode::nxdomain);
  // The encloser itself is an empty non-terminal: NODATA.
  auto ent = ask({.qname = "wild.example.com"});
  EXPECT_EQ(ent.h.rcode(), dns::rcode::noerror);
  EXPECT_TRUE(ent.answer.empty());
  auto cn = ask({.qname = "x.cnwild.example.com"});
  ASSERT_EQ(cn.answer.size(), 2u);
  EXPECT_EQ(cn.answer[0], "x.cnwild.example.com. 300 IN CNAME www.example.com.");
  EXPECT_EQ(cn.answer[1], "www.example.com. 300 IN A 192.0.2.80");
}

TEST_F(QueryProcessor, DnameSubstitution) {
  auto d = ask({.qname = "www.d.example.com"});
  EXPECT_TRUE(aa(d));
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  ASSERT_EQ(d.answer.size(), 3u);
  EXPECT_EQ(d.answer[0], "d.example.com. 120 IN DNAME example.net.");
  EXPECT_EQ(d.answer[1], "www.d.example.com. 120 IN CNAME www.example.net.");
  EXPECT_EQ(d.answer[2], "www.example.net. 60 IN A 198.51.100.1");
  auto nx = ask({.qname = "none.d.example.com"});
  EXPECT_EQ(nx.h.rcode(), dns::rcode::nxdomain);
  EXPECT_EQ(nx.answer.size(), 2u);
  // The DNAME owner itself is not redirected.
  auto owner = ask({.qname = "d.example.com", .qtype = t::dname});
  ASSERT_EQ(owner.answer.size(), 1u);
}

TEST_F(QueryProcessor, DnameResultTooLongIsYxdomain) {
  const std::string qname = long_label('x') + "." + long_label('y') + ".longd.example.com";
  auto d = ask({.qname = qname});
  EXPECT_EQ(d.h.rcode(), dns::rcode::yxdomain);
  ASSERT_EQ(d.answer.size(), 1u);
  EXPECT_NE(d.answer[0].find(" DNAME "), std::string::npos);
}

TEST_F(QueryProcessor, AnyIsMinimalOverUdpFullOverTcp) {
  auto udp = ask({.qname = "example.com", .qtype = t::any});
  EXPECT_TRUE(aa(udp));
  ASSERT_EQ(udp.answer.size(), 2u);  // one RRset: the two NS
  EXPECT_NE(udp.answer[0].find(" NS "), std::string::npos);
  auto tcp = ask({.qname = "example.com", .qtype = t::any}, server::transport::tcp);
  EXPECT_EQ(tcp.answer.size(), 4u);  // NS x2, SOA, MX
  auto ent = ask({.qname = "c.example.com", .qtype = t::any});
  EXPECT_TRUE(ent.answer.empty());
  EXPECT_EQ(ent.authority.size(), 1u);
}

TEST_F(QueryProcessor, AdditionalSectionForMxSrvNs) {
  auto mx = ask({.qname = "example.com", .qtype = t::mx});
  ASSERT_EQ(mx.additional.size(), 1u);
  EXPECT_EQ(mx.additional[0], "mail.example.com. 3600 IN A 192.0.2.25");
  auto srv = ask({.qname = "_sip._tcp.example.com", .qtype = t::srv});
  ASSERT_EQ(srv.additional.size(), 1u);
  EXPECT_EQ(srv.additional[0], "www.example.com. 300 IN A 192.0.2.80");
  auto ns = ask({.qname = "example.com", .qtype = t::ns});
  EXPECT_TRUE(aa(ns));
  ASSERT_EQ(ns.additional.size(), 2u);
  EXPECT_EQ(ns.additional[0], "ns1.example.com. 3600 IN A 192.0.2.1");
  EXPECT_EQ(ns.additional[1], "ns2.example.com. 3600 IN AAAA 2001:db8::2");
}

TEST_F(QueryProcessor, EdnsEchoedWithOurSizeAndDoBit) {
  auto d = ask({.qname = "www.example.com", .edns = true, .udp_size = 4096, .dnssec_ok = true});
  ASSERT_TRUE(d.has_opt);
  EXPECT_EQ(d.opt.udp_payload_size, 1232);
  EXPECT_EQ(d.opt.version, 0);
  EXPECT_TRUE(d.opt.dnssec_ok());
  EXPECT_EQ(d.opt.flags & 0x7fff, 0);  // Z bits clear
  EXPECT_EQ(d.h.arcount, 1u);
  auto no_do = ask({.qname = "www.example.com", .edns = true});
  EXPECT_FALSE(no_do.opt.dnssec_ok());
}

TEST_F(QueryProcessor, BadversForEdnsVersionAboveZero) {
  auto d = ask({.qname = "www.example.com", .edns = true, .version = 1});
  ASSERT_TRUE(d.has_opt);
  EXPECT_EQ(d.h.rcode(), 0);           // low bits of 16
  EXPECT_EQ(d.opt.extended_rcode, 1);  // 16 >> 4
  EXPECT_EQ(d.opt.version, 0);
  EXPECT_TRUE(d.answer.empty());
}

TEST_F(QueryProcessor, UnknownOptionsIgnoredNsidAnswered) {
  const std::uint8_t junk[] = {1, 2, 3};
  auto d = ask({.qname = "www.example.com",
                .edns = true,
                .options = {{65001, junk}, {dns::edns_option::nsid, {}}}});
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  ASSERT_EQ(d.answer.size(), 1u);
  ASSERT_TRUE(d.has_nsid);
  EXPECT_EQ(std::string(d.nsid.begin(), d.nsid.end()), "site-a");
  auto without = ask({.qname = "www.example.com", .edns = true});
  EXPECT_FALSE(without.has_nsid);
  // also on error replies
  auto refused = ask({.qname = "x.org", .edns = true, .options = {{dns::edns_option::nsid, {}}}});
  EXPECT_TRUE(refused.has_nsid);
}

TEST_F(QueryProcessor, TruncatesToClientSizeKeepingTheQuestion) {
  auto plain = ask({.qname = "txt.big.test", .qtype = t::txt});
  EXPECT_TRUE(tc(plain));
  EXPECT_LE(last_size_, 512u);
  EXPECT_EQ(plain.h.qdcount, 1u);
  EXPECT_EQ(plain.question, "txt.big.test. IN TXT");
  EXPECT_TRUE(plain.answer.empty() && plain.authority.empty() && plain.additional.empty());
  EXPECT_TRUE(aa(plain));
  // A small EDNS size below 512 counts as 512.
  auto tiny = ask({.qname = "txt.big.test", .qtype = t::txt, .edns = true, .udp_size = 100});
  EXPECT_TRUE(tc(tiny));
  EXPECT_TRUE(tiny.has_opt);
  // Fits in our 1232.
  auto edns = ask({.qname = "txt.big.test", .qtype = t::txt, .edns = true, .udp_size = 4096});
  EXPECT_FALSE(tc(edns));
  EXPECT_EQ(edns.answer.size(), 20u);
  EXPECT_LE(last_size_, 1232u);
  EXPECT_GT(last_size_, 512u);
  auto tcp = ask({.qname = "txt.big.test", .qtype = t::txt}, server::transport::tcp);
  EXPECT_FALSE(tc(tcp));
  EXPECT_EQ(tcp.answer.size(), 20u);
}

TEST_F(QueryProcessor, NamesAreCompressed) {
  auto d = ask({.qname = "example.com", .qtype = t::mx});
  // header 12 + question 17 + MX rr (owner pointer 2 + 10 + preference 2 + "mail" 5 +
  // pointer 2) + A rr (owner pointer into the MX RDATA 2 + 10 + 4)
  EXPECT_EQ(d.size, 12u + 17u + 21u + 16u);
}

TEST_F(QueryProcessor, FormerrForMalformedQueries) {
  auto good = make_query({.qname = "www.example.com"});
  // QDCOUNT 0 and 2
  for (std::uint8_t qd : {0, 2}) {
    auto q = good;
    q[5] = qd;
    auto d = ask_raw(q);
    EXPECT_EQ(d.h.rcode(), dns::rcode::formerr);
    EXPECT_EQ(d.h.qdcount, 0u);
  }
  // truncated question
  auto cut = good;
  cut.resize(cut.size() - 3);
  EXPECT_EQ(ask_raw(cut).h.rcode(), dns::rcode::formerr);
  // answer section in a query
  auto an = good;
  an[7] = 1;
  EXPECT_EQ(ask_raw(an).h.rcode(), dns::rcode::formerr);
  // two OPT records
  auto two = make_query({.qname = "www.example.com", .edns = true});
  const std::vector<std::uint8_t> opt(two.end() - 11, two.end());
  two.insert(two.end(), opt.begin(), opt.end());
  two[11] = 2;
  auto d = ask_raw(two);
  EXPECT_EQ(d.h.rcode(), dns::rcode::formerr);
  EXPECT_FALSE(d.has_opt);
  // compression loop in the question
  std::vector<std::uint8_t> loop(good.begin(), good.begin() + 12);
  loop.insert(loop.end(), {0xc0, 12, 0, 1, 0, 1});
  EXPECT_EQ(ask_raw(loop).h.rcode(), dns::rcode::formerr);
}

TEST_F(QueryProcessor, DropsResponsesAndRunts) {
  auto q = make_query({.qname = "www.example.com", .flags = dns::flag::qr});
  server::query_context ctx;
  EXPECT_EQ(processor_->process(q, reply_, ctx), 0u);
  const std::uint8_t runt[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  EXPECT_EQ(processor_->process(runt, reply_, ctx), 0u);
}

TEST_F(QueryProcessor, NotimpForOtherOpcodes) {
  for (std::uint8_t op :
       {dns::opcode::iquery, dns::opcode::status, dns::opcode::notify, dns::opcode::update}) {
    auto d = ask({.qname = "example.com", .qtype = t::soa, .opcode = op});
    EXPECT_EQ(d.h.rcode(), dns::rcode::notimp) << int(op);
    EXPECT_EQ(d.h.opcode(), op);
    EXPECT_FALSE(aa(d));
    EXPECT_EQ(d.h.qdcount, 1u);
  }
}

TEST_F(QueryProcessor, NotimpForUnknownOpcodeWithoutQuestion) {
  // genreport's "opcode" and "opcodeflg": opcode 15, QDCOUNT 0, flags set.
  for (const std::uint8_t op : {std::uint8_t{15}, dns::opcode::status, dns::opcode::iquery}) {
    auto q = make_query({.qname = "www.example.com", .opcode = op});
    q.resize(dns::header_size);
    q[5] = 0;      // QDCOUNT 0
    q[2] |= 0x01;  // RD
    q[3] |= 0x30;  // AD, CD
    auto d = ask_raw(q);
    EXPECT_EQ(d.h.rcode(), dns::rcode::notimp) << int(op);
    EXPECT_EQ(d.h.opcode(), op);
    EXPECT_EQ(d.h.qdcount, 0u);
    EXPECT_FALSE(aa(d));
  }
  // QUERY without a question stays FORMERR.
  auto q = make_query({.qname = "www.example.com"});
  q.resize(dns::header_size);
  q[5] = 0;
  EXPECT_EQ(ask_raw(q).h.rcode(), dns::rcode::formerr);
}

TEST_F(QueryProcessor, ChaosIdentity) {
  for (const char* qname : {"hostname.bind", "ID.SERVER"}) {
    auto d = ask({.qname = qname, .qtype = t::txt, .qclass = dns::rr_class::ch});
    EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
    EXPECT_FALSE(aa(d));  // describes the server, not a zone: AA=0 as Knot and NSD
    ASSERT_EQ(d.answer.size(), 1u);
    EXPECT_NE(d.answer[0].find(" 0 CH TXT \"site-a.example\""), std::string::npos) << d.answer[0];
  }
  // version disabled; unknown names and other types refused
  EXPECT_EQ(ask({.qname = "version.bind", .qtype = t::txt, .qclass = dns::rr_class::ch}).h.rcode(),
            dns::rcode::refused);
  EXPECT_EQ(ask({.qname = "foo.bind", .qtype = t::txt, .qclass = dns::rr_class::ch}).h.rcode(),
            dns::rcode::refused);
  EXPECT_EQ(ask({.qname = "hostname.bind", .qtype = t::a, .qclass = dns::rr_class::ch}).h.rcode(),
            dns::rcode::refused);
}

TEST_F(QueryProcessor, ChaosVersionWhenConfigured) {
  server::server_identity id;
  id.version = "zonemesh 0.1";
  server::query_processor_impl p(publisher_, id);
  auto q = make_query({.qname = "version.bind", .qtype = t::txt, .qclass = dns::rr_class::ch});
  server::query_context ctx;
  const std::size_t n = p.process(q, reply_, ctx);
  auto d = decode(std::span(reply_.data(), n));
  ASSERT_EQ(d.answer.size(), 1u);
  EXPECT_NE(d.answer[0].find("\"zonemesh 0.1\""), std::string::npos);
  // hostname disabled here
  auto h = make_query({.qname = "hostname.bind", .qtype = t::txt, .qclass = dns::rr_class::ch});
  EXPECT_EQ(decode(std::span(reply_.data(), p.process(h, reply_, ctx))).h.rcode(),
            dns::rcode::refused);
}

TEST_F(QueryProcessor, ClassesOtherThanInChAnyRefused) {
  EXPECT_EQ(ask({.qname = "www.example.com", .qclass = dns::rr_class::hs}).h.rcode(),
            dns::rcode::refused);
  auto any = ask({.qname = "www.example.com", .qclass = dns::rr_class::any});
  EXPECT_EQ(any.h.rcode(), dns::rcode::noerror);
  EXPECT_EQ(any.answer.size(), 1u);
}

TEST_F(QueryProcessor, MailaMailbAreNodata) {
  // As Knot and NSD: no special case, the name has no data of that type.
  for (const std::uint16_t qtype : {t::maila, t::mailb}) {
    auto d = ask({.qname = "example.com", .qtype = qtype});
    EXPECT_EQ(d.h.rcode(), dns::rcode::noerror) << qtype;
    EXPECT_TRUE(aa(d));
    EXPECT_TRUE(d.answer.empty());
    ASSERT_EQ(d.authority.size(), 1u);
    EXPECT_NE(d.authority[0].find(" SOA "), std::string::npos) << d.authority[0];
  }
  EXPECT_EQ(ask({.qname = "nope.example.com", .qtype = t::maila}).h.rcode(), dns::rcode::nxdomain);
}

TEST_F(QueryProcessor, AxfrOverUdpNotimpTransfersOtherwiseRefused) {
  // AXFR over UDP is undefined (RFC 5936 4.2): NOTIMP, like Knot and NSD.
  auto udp = ask({.qname = "example.com", .qtype = t::axfr, .edns = true});
  EXPECT_EQ(udp.h.rcode(), dns::rcode::notimp);
  EXPECT_FALSE(aa(udp));
  EXPECT_EQ(udp.question, "example.com. IN AXFR");
  EXPECT_TRUE(udp.answer.empty() && udp.authority.empty());
  EXPECT_TRUE(udp.has_opt);
  // Transfers are not offered at all yet: AXFR over TCP and IXFR (which RFC
  // 1995 2 allows over UDP) are REFUSED, as NSD answers (Knot: NOTAUTH).
  const std::pair<std::uint16_t, server::transport> refused[] = {{t::axfr, server::transport::tcp},
                                                                 {t::ixfr, server::transport::tcp},
                                                                 {t::ixfr, server::transport::udp}};
  for (const auto& [qtype, proto] : refused) {
    auto d = ask({.qname = "example.com", .qtype = qtype}, proto);
    EXPECT_EQ(d.h.rcode(), dns::rcode::refused) << qtype;
    EXPECT_FALSE(aa(d)) << qtype;
    EXPECT_TRUE(d.answer.empty() && d.authority.empty()) << qtype;
  }
}

TEST_F(QueryProcessor, QtypeOptIsNodata) {
  // RFC 6891 6.1.1 keeps OPT out of zone data, not out of questions (RFC 6895
  // 3.1): Knot and NSD answer NODATA, and so do we, over UDP and TCP.
  for (const auto proto : {server::transport::udp, server::transport::tcp}) {
    auto d = ask({.qname = "www.example.com", .qtype = t::opt, .edns = true}, proto);
    EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
    EXPECT_TRUE(aa(d));
    EXPECT_EQ(d.question, "www.example.com. IN OPT");
    EXPECT_TRUE(d.answer.empty());
    ASSERT_EQ(d.authority.size(), 1u);
    EXPECT_EQ(d.authority[0].rfind("example.com. 300 IN SOA ", 0), 0u) << d.authority[0];
    EXPECT_TRUE(d.has_opt);
  }
  // A missing name is still NXDOMAIN, and a CNAME is followed as for any type.
  EXPECT_EQ(ask({.qname = "nope.example.com", .qtype = t::opt}).h.rcode(), dns::rcode::nxdomain);
  auto alias = ask({.qname = "alias.example.com", .qtype = t::opt});
  EXPECT_EQ(alias.h.rcode(), dns::rcode::noerror);
  ASSERT_EQ(alias.answer.size(), 1u);
  EXPECT_NE(alias.answer[0].find(" CNAME www.example.com."), std::string::npos);
}

TEST_F(QueryProcessor, SeesPublishedChanges) {
  const store::record_change change[] = {
      {store::record_change::action::upsert, rec({"new.example.com", "A", 60, "192.0.2.7"})}};
  EXPECT_EQ(ask({.qname = "new.example.com"}).h.rcode(), dns::rcode::nxdomain);
  ASSERT_EQ(publisher_->apply(dname("example.com"), change, 2), "");
  auto d = ask({.qname = "new.example.com"});
  ASSERT_EQ(d.answer.size(), 1u);
  auto soa = ask({.qname = "example.com", .qtype = t::soa});
  EXPECT_NE(soa.answer[0].find(" 2 10800 "), std::string::npos) << soa.answer[0];
}

TEST_F(QueryProcessor, SurvivesRandomMutations) {
  std::mt19937 rng(12345);
  const auto base = make_query(
      {.qname = "www.example.com", .edns = true, .options = {{dns::edns_option::nsid, {}}}});
  server::query_context ctx;
  for (int i = 0; i < 20000; ++i) {
    auto q = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) q[rng() % q.size()] = static_cast<std::uint8_t>(rng());
    if (rng() % 4 == 0) q.resize(rng() % q.size());
    const std::size_t n = processor_->process(q, reply_, ctx);
    ASSERT_LE(n, 512u + 0u);
    if (n > 0) {
      ldns_pkt* pkt = nullptr;
      ASSERT_EQ(ldns_wire2pkt(&pkt, reply_.data(), n), LDNS_STATUS_OK);
      ldns_pkt_free(pkt);
    }
  }
}

namespace {

/// The COOKIE option of a decoded reply, empty when it has none.
std::vector<std::uint8_t> cookie_of(const decoded& d) {
  if (!d.has_opt) return {};
  dns::option_iterator it(d.opt.options);
  std::uint16_t code = 0;
  std::span<const std::uint8_t> data;
  while (it.next(code, data)) {
    if (code == dns::edns_option::cookie) return {data.begin(), data.end()};
  }
  return {};
}

std::uint16_t full_rcode(const decoded& d) {
  return static_cast<std::uint16_t>((d.opt.extended_rcode << 4) | d.h.rcode());
}

class Cookies : public QueryProcessor {
 protected:
  void SetUp() override {
    QueryProcessor::SetUp();
    keys_ = std::make_shared<server::cookie_keys>();
    for (std::size_t i = 0; i < keys_->current.size(); ++i)
      keys_->current[i] = static_cast<std::uint8_t>(i);
    server::processor_options o;
    o.cookies = keys_;
    o.cookie_clock = [this] { return now_; };
    cookie_processor_ =
        std::make_unique<server::query_processor_impl>(publisher_, server::server_identity{}, o);
    ctx_.peer_address[0] = 192;
    ctx_.peer_address[1] = 0;
    ctx_.peer_address[2] = 2;
    ctx_.peer_address[3] = 7;
  }
  decoded ask_cookie(std::vector<std::uint8_t> cookie,
                     server::transport proto = server::transport::udp, std::uint16_t qdcount = 1) {
    auto q = make_query({.qname = "www.example.com",
                         .edns = true,
                         .options = {{dns::edns_option::cookie, cookie}}});
    if (qdcount == 0) {
      // Header and OPT only (RFC 7873 5.4).
      std::vector<std::uint8_t> bare(q.begin(), q.begin() + 12);
      bare.insert(bare.end(), q.end() - static_cast<std::ptrdiff_t>(11 + 4 + cookie.size()),
                  q.end());
      bare[5] = 0;
      q = bare;
    }
    ctx_.proto = proto;
    const std::size_t n = cookie_processor_->process(q, reply_, ctx_);
    if (n == 0) return decoded{};
    return decode(std::span(reply_.data(), n));
  }
  std::shared_ptr<server::cookie_keys> keys_;
  std::unique_ptr<server::query_processor_impl> cookie_processor_;
  server::query_context ctx_;
  std::uint32_t now_ = 1700000000;
};

const std::vector<std::uint8_t> client_cookie = {1, 2, 3, 4, 5, 6, 7, 8};

TEST_F(Cookies, ClientCookieAloneGetsAnAnswerAndAServerCookie) {
  auto d = ask_cookie(client_cookie);
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  EXPECT_EQ(d.answer.size(), 1u);
  const auto c = cookie_of(d);
  ASSERT_EQ(c.size(), 24u);
  EXPECT_TRUE(std::equal(client_cookie.begin(), client_cookie.end(), c.begin()));
  EXPECT_EQ(c[8], 1) << "RFC 9018 version";
  EXPECT_FALSE(cookie_processor_->client_verified());
  // It is the RFC 9018 cookie for this client, key and time.
  std::array<std::uint8_t, 16> expected{};
  dns::make_server_cookie(keys_->current, client_cookie,
                          std::span<const std::uint8_t>(ctx_.peer_address, 4), now_, expected);
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), c.begin() + 8));
}

TEST_F(Cookies, ValidServerCookieVerifiesTheClient) {
  const auto first = cookie_of(ask_cookie(client_cookie));
  now_ += 60;
  auto d = ask_cookie(first);
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  EXPECT_EQ(d.answer.size(), 1u);
  EXPECT_TRUE(cookie_processor_->client_verified());
  EXPECT_EQ(cookie_of(d), first) << "a recent cookie is echoed";
  // Half an hour later it is still good but replaced.
  now_ += 1800;
  d = ask_cookie(first);
  EXPECT_EQ(d.answer.size(), 1u);
  EXPECT_TRUE(cookie_processor_->client_verified());
  EXPECT_NE(cookie_of(d), first);
}

TEST_F(Cookies, WrongServerCookieIsBadcookieOverUdpOnly) {
  auto forged = client_cookie;
  forged.insert(forged.end(), {1, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00, 9, 9, 9, 9, 9, 9, 9, 9});
  auto d = ask_cookie(forged);
  EXPECT_EQ(full_rcode(d), dns::rcode::badcookie);
  EXPECT_TRUE(d.answer.empty());
  EXPECT_FALSE(cookie_processor_->client_verified());
  const auto fresh = cookie_of(d);
  ASSERT_EQ(fresh.size(), 24u);
  // The fresh cookie then works.
  d = ask_cookie(fresh);
  EXPECT_EQ(full_rcode(d), dns::rcode::noerror);
  EXPECT_TRUE(cookie_processor_->client_verified());
  // Over TCP the address is proven: a normal answer.
  d = ask_cookie(forged, server::transport::tcp);
  EXPECT_EQ(full_rcode(d), dns::rcode::noerror);
  EXPECT_EQ(d.answer.size(), 1u);
  // A cookie from another client address is wrong too.
  ctx_.peer_address[3] = 8;
  d = ask_cookie(fresh);
  EXPECT_EQ(full_rcode(d), dns::rcode::badcookie);
}

TEST_F(Cookies, RotationKeepsOldCookiesValid) {
  const auto first = cookie_of(ask_cookie(client_cookie));
  auto rotated = std::make_shared<server::cookie_keys>();
  rotated->current.fill(0xaa);
  rotated->also_accept.push_back(keys_->current);
  server::processor_options o;
  o.cookies = rotated;
  o.cookie_clock = [this] { return now_; };
  cookie_processor_ =
      std::make_unique<server::query_processor_impl>(publisher_, server::server_identity{}, o);
  auto d = ask_cookie(first);
  EXPECT_EQ(full_rcode(d), dns::rcode::noerror);
  EXPECT_TRUE(cookie_processor_->client_verified());
  EXPECT_NE(cookie_of(d), first) << "renewed with the new key";
  rotated->also_accept.clear();  // the old key dropped: its cookies are wrong now
  EXPECT_EQ(full_rcode(ask_cookie(first)), dns::rcode::badcookie);
}

TEST_F(Cookies, MalformedCookieIsFormerr) {
  for (std::size_t n : {1u, 7u, 9u, 15u, 41u}) {
    auto d = ask_cookie(std::vector<std::uint8_t>(n, 3));
    EXPECT_EQ(d.h.rcode(), dns::rcode::formerr) << n;
  }
}

TEST_F(Cookies, CookieOnlyQueryWithoutQuestion) {
  auto d = ask_cookie(client_cookie, server::transport::udp, 0);
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  EXPECT_EQ(d.h.qdcount, 0u);
  EXPECT_EQ(cookie_of(d).size(), 24u);
}

TEST_F(Cookies, IgnoredWhenDisabled) {
  // The default processor has no keys: the option is ignored (RFC 7873 5.1).
  auto q = make_query({.qname = "www.example.com",
                       .edns = true,
                       .options = {{dns::edns_option::cookie, std::vector<std::uint8_t>(9, 1)}}});
  auto d = ask_raw(q);
  EXPECT_EQ(d.h.rcode(), dns::rcode::noerror);
  EXPECT_TRUE(cookie_of(d).empty());
}

}  // namespace

namespace {

// RFC 9460 4: SVCB and HTTPS answers bring their in-zone targets' addresses,
// and in AliasMode the target's own RRset of the type, as Knot answers.
TEST(SvcbAdditional, TargetsAddressesAndAliasChains) {
  auto zone =
      make_zone("svc.test", {
                                {"svc.test", "SOA", 60, "ns.svc.test h.svc.test 1 2 3 4 60"},
                                {"svc.test", "NS", 60, "ns.svc.test"},
                                {"ns.svc.test", "A", 60, "192.0.2.53"},
                                {"www.svc.test", "HTTPS", 60, "1 . alpn=h2"},
                                {"www.svc.test", "A", 60, "192.0.2.1"},
                                {"www.svc.test", "AAAA", 60, "2001:db8::1"},
                                {"alias.svc.test", "HTTPS", 60, "0 pool.svc.test"},
                                {"pool.svc.test", "HTTPS", 60, "1 . alpn=h3"},
                                {"pool.svc.test", "A", 60, "192.0.2.2"},
                                {"_dns.svc.test", "SVCB", 60, "1 backend.svc.test alpn=dot"},
                                {"backend.svc.test", "AAAA", 60, "2001:db8::2"},
                                {"none.svc.test", "HTTPS", 60, "0 ."},
                                {"out.svc.test", "HTTPS", 60, "1 elsewhere.example"},
                            });
  auto publisher = std::make_shared<store::zone_publisher>();
  publisher->put_zone(zone);
  server::query_processor_impl p(publisher, server::server_identity{});
  std::vector<std::uint8_t> reply(65535);
  server::query_context ctx;
  auto ask = [&](const char* qname, std::uint16_t qtype) {
    const auto q = make_query({.qname = qname, .qtype = qtype, .edns = true});
    return decode(std::span(reply.data(), p.process(q, reply, ctx)));
  };
  auto has = [](const std::vector<std::string>& section, const std::string& prefix) {
    for (const auto& rr : section) {
      if (rr.rfind(prefix, 0) == 0) return true;
    }
    return false;
  };
  // ServiceMode with "." : the owner's own addresses.
  auto d = ask("www.svc.test", t::https);
  EXPECT_TRUE(has(d.additional, "www.svc.test. 60 IN A ")) << d.additional.size();
  EXPECT_TRUE(has(d.additional, "www.svc.test. 60 IN AAAA "));
  EXPECT_FALSE(has(d.additional, "www.svc.test. 60 IN HTTPS")) << "already the answer";
  // AliasMode: the target's HTTPS RRset and its address.
  d = ask("alias.svc.test", t::https);
  EXPECT_TRUE(has(d.additional, "pool.svc.test. 60 IN HTTPS 1 . "));
  EXPECT_TRUE(has(d.additional, "pool.svc.test. 60 IN A 192.0.2.2"));
  // ServiceMode SVCB with a target.
  d = ask("_dns.svc.test", t::svcb);
  EXPECT_TRUE(has(d.additional, "backend.svc.test. 60 IN AAAA 2001:db8::2"))
      << d.answer.size() << " " << (d.answer.empty() ? "" : d.answer[0]) << d.additional.size();
  // AliasMode "." (no service) and an out-of-zone target: nothing.
  EXPECT_TRUE(ask("none.svc.test", t::https).additional.empty());
  EXPECT_TRUE(ask("out.svc.test", t::https).additional.empty());
}

}  // namespace
