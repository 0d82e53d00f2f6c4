// Tests for server/rrl.*: token buckets per client prefix and response kind,
// slip, whitelist, the classification of responses and the processor wrapper.
#include "rrl.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "common/metrics.hpp"
#include "dns/types.hpp"
#include "dns/wire.hpp"

namespace zonemesh::server {
namespace {

query_context v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  query_context ctx;
  ctx.peer_address[0] = a;
  ctx.peer_address[1] = b;
  ctx.peer_address[2] = c;
  ctx.peer_address[3] = d;
  return ctx;
}

rrl_options options(std::uint32_t rate, std::uint32_t slip) {
  rrl_options o;
  o.enabled = true;
  o.responses_per_second = rate;
  o.slip = slip;
  return o;
}

TEST(Rrl, LimitsPerPrefixAndKind) {
  common::metrics::registry metrics;
  rate_limiter rl(options(10, 0), metrics);
  const std::uint64_t t = 1'000'000;
  int sent = 0;
  for (int i = 0; i < 100; ++i) {
    if (rl.check(v4(192, 0, 2, static_cast<std::uint8_t>(i)), response_kind::answer, t) ==
        rrl_verdict::send)
      ++sent;
  }
  EXPECT_EQ(sent, 10) << "the whole /24 shares one budget";
  // Another kind, another /24: their own budgets.
  EXPECT_EQ(rl.check(v4(192, 0, 2, 1), response_kind::nxdomain, t), rrl_verdict::send);
  EXPECT_EQ(rl.check(v4(192, 0, 3, 1), response_kind::answer, t), rrl_verdict::send);
  // Half a second later, half the budget is back.
  sent = 0;
  for (int i = 0; i < 100; ++i) {
    if (rl.check(v4(192, 0, 2, 9), response_kind::answer, t + 500) == rrl_verdict::send) ++sent;
  }
  EXPECT_EQ(sent, 5);
  const auto text = metrics.render();
  EXPECT_NE(text.find("zonemesh_rrl_dropped_total{kind=\"answer\"} 185"), std::string::npos)
      << text;
}

TEST(Rrl, SlipTruncatesEveryNthDroppedResponse) {
  common::metrics::registry metrics;
  rate_limiter rl(options(1, 3), metrics);
  EXPECT_EQ(rl.check(v4(10, 0, 0, 1), response_kind::answer, 5000), rrl_verdict::send);
  std::vector<rrl_verdict> v;
  for (int i = 0; i < 6; ++i) v.push_back(rl.check(v4(10, 0, 0, 1), response_kind::answer, 5000));
  EXPECT_EQ(v, (std::vector<rrl_verdict>{rrl_verdict::drop, rrl_verdict::drop, rrl_verdict::slip,
                                         rrl_verdict::drop, rrl_verdict::drop, rrl_verdict::slip}));
}

TEST(Rrl, WhitelistAndIpv6Prefixes) {
  common::metrics::registry metrics;
  auto o = options(1, 0);
  o.whitelist.push_back(*network::parse("203.0.113.0/24"));
  rate_limiter rl(o, metrics);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(rl.check(v4(203, 0, 113, 5), response_kind::answer, 1000), rrl_verdict::send);
  }
  query_context a;
  a.peer_is_ipv6 = true;
  a.peer_address[0] = 0x20;
  a.peer_address[1] = 0x01;
  a.peer_address[6] = 0x01;
  a.peer_address[15] = 1;
  query_context same56 = a;  // differs in the 8th octet and below: same /56
  same56.peer_address[7] = 0xff;
  query_context other56 = a;
  other56.peer_address[6] = 0x02;
  EXPECT_EQ(rl.check(a, response_kind::referral, 1000), rrl_verdict::send);
  EXPECT_EQ(rl.check(same56, response_kind::referral, 1000), rrl_verdict::drop);
  EXPECT_EQ(rl.check(other56, response_kind::referral, 1000), rrl_verdict::send);
}

std::vector<std::uint8_t> reply_header(std::uint16_t flags, std::uint16_t an, std::uint16_t ns) {
  return {0,
          1,
          static_cast<std::uint8_t>(flags >> 8),
          static_cast<std::uint8_t>(flags),
          0,
          0,
          static_cast<std::uint8_t>(an >> 8),
          static_cast<std::uint8_t>(an),
          0,
          static_cast<std::uint8_t>(ns),
          0,
          0};
}

TEST(Rrl, ClassifiesResponses) {
  using dns::flag::aa;
  using dns::flag::qr;
  EXPECT_EQ(classify_response(reply_header(qr | aa, 1, 0)), response_kind::answer);
  EXPECT_EQ(classify_response(reply_header(qr | aa, 0, 1)), response_kind::nodata);
  EXPECT_EQ(classify_response(reply_header(qr | aa | dns::rcode::nxdomain, 0, 1)),
            response_kind::nxdomain);
  EXPECT_EQ(classify_response(reply_header(qr, 0, 2)), response_kind::referral);
  EXPECT_EQ(classify_response(reply_header(qr | dns::rcode::refused, 0, 0)), response_kind::error);
  EXPECT_EQ(classify_response(reply_header(qr | dns::rcode::formerr, 0, 0)), response_kind::error);
}

/// Answers every query with its header, its question and one A record.
class echo_processor : public query_processor {
 public:
  std::size_t process(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                      const query_context&) override {
    std::copy(query.begin(), query.end(), reply.begin());
    reply[2] |= 0x84;  // QR, AA
    reply[7] = 1;      // ANCOUNT
    const std::uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    std::copy(std::begin(rr), std::end(rr),
              reply.begin() + static_cast<std::ptrdiff_t>(query.size()));
    return query.size() + sizeof rr;
  }
  bool client_verified() const override { return verified; }
  bool verified = false;
};

TEST(Rrl, WrapperDropsSlipsAndLeavesTcpAlone) {
  common::metrics::registry metrics;
  auto limiter = std::make_shared<rate_limiter>(options(2, 2), metrics);
  auto inner = std::make_unique<echo_processor>();
  auto* echo = inner.get();
  rate_limited_processor p(std::move(inner), limiter);
  const std::vector<std::uint8_t> query = {0x12, 0x34, 0,   0,   0,   1, 0, 0, 0, 0, 0,
                                           0,    3,    'w', 'w', 'w', 0, 0, 1, 0, 1};
  std::vector<std::uint8_t> reply(512);
  auto ctx = v4(198, 51, 100, 7);
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 6; ++i) sizes.push_back(p.process(query, reply, ctx));
  // 2 answers, then drop, slip (question only, TC), drop, slip.
  EXPECT_EQ(sizes, (std::vector<std::size_t>{37, 37, 0, 21, 0, 21}));
  p.process(query, reply, ctx);
  const std::size_t n = p.process(query, reply, ctx);
  ASSERT_EQ(n, 21u);
  EXPECT_TRUE(reply[2] & 0x02) << "TC";
  EXPECT_EQ(reply[5], 1) << "QDCOUNT";
  EXPECT_EQ(reply[7], 0) << "ANCOUNT";
  ctx.proto = transport::tcp;
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(p.process(query, reply, ctx), 37u) << "TCP is never limited";
  ctx.proto = transport::udp;
  echo->verified = true;  // a valid cookie
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(p.process(query, reply, ctx), 37u) << "verified clients are not limited";
}

}  // namespace
}  // namespace zonemesh::server
