// Tests of server/auth_limiter.*: the per-address limit on wrong API keys.
#include "auth_limiter.hpp"

#include <gtest/gtest.h>

using namespace zonemesh::server;
using namespace std::chrono_literals;

TEST(AuthLimiter, BlocksAnAddressAfterMaxFailuresWithinTheWindow) {
  auth_limiter l({3, 60s, 30s});
  const auto t0 = auth_limiter::clock::now();
  EXPECT_FALSE(l.failed("a", t0));
  EXPECT_FALSE(l.failed("a", t0 + 1s));
  EXPECT_EQ(l.blocked_for("a", t0 + 1s), 0);
  EXPECT_TRUE(l.failed("a", t0 + 2s));  // the third starts the block, once
  EXPECT_EQ(l.blocked_for("a", t0 + 2s), 30);
  EXPECT_EQ(l.blocked_for("b", t0 + 2s), 0) << "other addresses go on";
  EXPECT_FALSE(l.failed("a", t0 + 3s)) << "no second log line within the block";
  EXPECT_EQ(l.blocked_count(t0 + 3s), 1u);
  EXPECT_EQ(l.blocked_for("a", t0 + 32s), 0) << "the block ends";
  EXPECT_EQ(l.blocked_count(t0 + 32s), 0u);
}

TEST(AuthLimiter, FailuresOutsideTheWindowAndASuccessAreForgotten) {
  auth_limiter l({3, 10s, 30s});
  const auto t0 = auth_limiter::clock::now();
  EXPECT_FALSE(l.failed("a", t0));
  EXPECT_FALSE(l.failed("a", t0 + 1s));
  EXPECT_FALSE(l.failed("a", t0 + 11s)) << "a new window";
  EXPECT_FALSE(l.failed("a", t0 + 12s));
  l.succeeded("a");
  EXPECT_FALSE(l.failed("a", t0 + 13s));
  EXPECT_FALSE(l.failed("a", t0 + 14s));
  EXPECT_TRUE(l.failed("a", t0 + 15s));
}

TEST(AuthLimiter, ZeroMeansNoLimitAndTrackingIsBounded) {
  auth_limiter off({0, 60s, 60s});
  const auto t0 = auth_limiter::clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(off.failed("a", t0));
  EXPECT_EQ(off.blocked_for("a", t0), 0);
  auth_limiter small({2, 60s, 60s, 2});
  EXPECT_FALSE(small.failed("a", t0));
  EXPECT_FALSE(small.failed("b", t0));
  EXPECT_FALSE(small.failed("c", t0));  // not tracked: the table is full
  EXPECT_FALSE(small.failed("c", t0));
  EXPECT_EQ(small.blocked_for("c", t0), 0);
  EXPECT_TRUE(small.failed("a", t0));
}
