// Tests for server/transfer_processor.*: inputs the fuzzer found, and the
// transfer stream's shape. Interoperability with real secondaries is in
// tests/integration/dns/test_transfers.py.
#include "transfer_processor.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "dns/types.hpp"
#include "zonefile/zonefile.hpp"

namespace zonemesh::server {
namespace {

dns::name name(const char* text) {
  dns::name n;
  EXPECT_EQ(dns::name::from_text(text, n), dns::name_status::ok);
  return n;
}

struct fixture {
  std::shared_ptr<store::zone_publisher> zones = std::make_shared<store::zone_publisher>();
  std::shared_ptr<policy_publisher> policy = std::make_shared<policy_publisher>();
  std::unique_ptr<transfer_processor> processor;

  fixture() {
    store::zone_builder b(name("example.com"));
    std::vector<zonefile::text_record> recs = {
        {"example.com", "SOA", 3600, "ns1.example.com h.example.com 1 2 3 4 300"},
        {"example.com", "NS", 3600, "ns1.example.com"}};
    for (int i = 0; i < 300; ++i)
      recs.push_back({"h" + std::to_string(i) + ".example.com", "A", 60, "192.0.2.1"});
    for (const auto& r : recs) {
      store::record rec;
      EXPECT_EQ(zonefile::to_wire(r, rec), "");
      EXPECT_EQ(b.add(rec), "");
    }
    zones->put_zone(b.build(7).zone);
    auto p = std::make_shared<transfer_policy>();
    p->zone(name("example.com")).allow_transfer_from.push_back(*network::parse("0.0.0.0/0"));
    policy->publish(p);
    transfer_options opts;
    opts.message_size = 1024;
    processor = std::make_unique<transfer_processor>(zones, policy, server_identity{},
                                                     processor_options{}, opts);
  }
};

std::vector<std::uint8_t> query(std::uint16_t type, std::uint8_t opcode = 0) {
  std::vector<std::uint8_t> buf(512);
  dns::writer w(buf);
  dns::header h;
  h.id = 42;
  h.set_opcode(opcode);
  h.qdcount = 1;
  EXPECT_TRUE(w.header(h) && w.name(name("example.com")) && w.u16(type) &&
              w.u16(dns::rr_class::in));
  buf.resize(w.size());
  return buf;
}

std::uint16_t rcode_of(const std::vector<std::uint8_t>& reply, std::size_t n) {
  EXPECT_GE(n, dns::header_size);
  return reply[3] & 0xf;
}

TEST(TransferProcessor, AxfrUnderAnotherOpcodeUnsignedIsNotATransfer) {
  // Found by tests/fuzz (transfer target): it dereferenced a missing signer.
  fixture f;
  std::vector<std::uint8_t> reply(65535);
  query_context ctx;
  ctx.proto = transport::tcp;
  for (std::uint8_t op : {1, 2, 3, 6, 14, 15}) {
    const auto q = query(dns::rr_type::axfr, op);
    const auto n = f.processor->process(q, reply, ctx);
    EXPECT_EQ(rcode_of(reply, n), dns::rcode::notimp) << int(op);
    EXPECT_EQ(f.processor->take_stream(), nullptr);
  }
}

TEST(TransferProcessor, AQuestionWithACompressionPointerIsRewrittenNotCopied) {
  // Found by tests/fuzz (transfer target): the question was copied as sent,
  // its pointer (to offset 2 of the query) then pointed into our reply.
  const std::string hex =
      "123401000001000000000000020202020202020202020202020202020a02020202020202020202020202022c0202"
      "020202020202020202020202020202020202020202020202020202020202020202c00202020202020202020202"
      "0202020202020202020202020202020202020202020202020000010001";
  std::vector<std::uint8_t> q;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    q.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  fixture f;
  std::vector<std::uint8_t> reply(65535);
  for (const auto proto : {transport::udp, transport::tcp}) {
    query_context ctx;
    ctx.proto = proto;
    const auto n = f.processor->process(q, reply, ctx);
    ASSERT_GE(n, dns::header_size);
    dns::reader r(std::span<const std::uint8_t>(reply.data(), n));
    dns::header h;
    ASSERT_EQ(r.header(h), dns::read_status::ok);
    dns::name qname;
    for (unsigned i = 0; i < h.qdcount; ++i) {
      EXPECT_EQ(r.name(qname), dns::read_status::ok);
      EXPECT_EQ(r.skip(4), dns::read_status::ok);
    }
    EXPECT_EQ(r.remaining(), 0u) << "the reply is a whole message";
  }
}

TEST(TransferProcessor, AxfrStreamsSoaFirstAndLastOverTcpOnly) {
  fixture f;
  std::vector<std::uint8_t> reply(65535);
  query_context ctx;
  ctx.proto = transport::udp;
  auto n = f.processor->process(query(dns::rr_type::axfr), reply, ctx);
  EXPECT_EQ(rcode_of(reply, n), dns::rcode::notimp) << "AXFR over UDP";
  EXPECT_EQ(f.processor->take_stream(), nullptr);

  ctx.proto = transport::tcp;
  n = f.processor->process(query(dns::rr_type::axfr), reply, ctx);
  std::vector<std::vector<std::uint8_t>> messages{
      {reply.begin(), reply.begin() + static_cast<std::ptrdiff_t>(n)}};
  auto stream = f.processor->take_stream();
  ASSERT_NE(stream, nullptr);
  while (std::size_t m = stream->next(reply))
    messages.emplace_back(reply.begin(), reply.begin() + static_cast<std::ptrdiff_t>(m));
  EXPECT_GT(messages.size(), 3u) << "1 KiB messages for 302 records";
  std::vector<std::uint16_t> types;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    dns::reader r(messages[i]);
    dns::header h;
    ASSERT_EQ(r.header(h), dns::read_status::ok);
    EXPECT_EQ(h.qdcount, i == 0 ? 1 : 0) << "the question in the first message only";
    EXPECT_TRUE(h.has(dns::flag::aa));
    EXPECT_LE(messages[i].size(), 1024u);
    dns::name q;
    for (unsigned k = 0; k < h.qdcount; ++k)
      ASSERT_TRUE(r.name(q) == dns::read_status::ok && r.skip(4) == dns::read_status::ok);
    for (unsigned k = 0; k < h.ancount; ++k) {
      dns::name owner;
      dns::rr_header fields;
      std::span<const std::uint8_t> rdata;
      ASSERT_EQ(r.rr(owner, fields, rdata), dns::read_status::ok);
      types.push_back(fields.type);
    }
  }
  ASSERT_EQ(types.size(), 303u);  // SOA, 301 others, SOA
  EXPECT_EQ(types.front(), dns::rr_type::soa);
  EXPECT_EQ(types.back(), dns::rr_type::soa);
  EXPECT_EQ(std::count(types.begin(), types.end(), dns::rr_type::soa), 2);
}

TEST(TransferProcessor, IxfrOverUdpWithoutSoaIsFormerr) {
  fixture f;
  std::vector<std::uint8_t> reply(65535);
  query_context ctx;
  ctx.proto = transport::udp;
  auto n = f.processor->process(query(dns::rr_type::ixfr), reply, ctx);
  EXPECT_EQ(rcode_of(reply, n), dns::rcode::formerr);
  // With the client's SOA in authority: the current SOA alone (RFC 1995 2).
  auto q = query(dns::rr_type::ixfr);
  q[9] = 1;  // NSCOUNT
  // owner, type SOA, class IN, TTL 0, RDLENGTH 23: MNAME pointer, root RNAME,
  // serial 1, four zero timers.
  const std::uint8_t soa[] = {0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 23, 0xc0, 12, 0, 0, 0, 0,
                              1,    0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,    0,  0, 0, 0};
  q.insert(q.end(), std::begin(soa), std::end(soa));
  n = f.processor->process(q, reply, ctx);
  EXPECT_EQ(rcode_of(reply, n), dns::rcode::noerror);
  EXPECT_EQ(reply[7], 1) << "ANCOUNT: the SOA";
}

TEST(TransferProcessor, RefusedWithoutARule) {
  fixture f;
  f.policy->publish(std::make_shared<transfer_policy>());
  std::vector<std::uint8_t> reply(65535);
  query_context ctx;
  ctx.proto = transport::tcp;
  const auto n = f.processor->process(query(dns::rr_type::axfr), reply, ctx);
  EXPECT_EQ(rcode_of(reply, n), dns::rcode::refused);
  EXPECT_EQ(f.processor->take_stream(), nullptr);
}

}  // namespace
}  // namespace zonemesh::server
