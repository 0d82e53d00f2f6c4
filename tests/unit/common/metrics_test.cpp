// Tests for lib/common/metrics.*: registry and Prometheus text rendering.
#include "common/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace zonemesh::common::metrics {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Metrics, CounterRendersHelpTypeAndValue) {
  registry reg;
  auto& c = reg.add_counter("zonemesh_test_total", "Things counted.");
  c.inc();
  c.inc(41);
  EXPECT_EQ(c.value(), 42u);
  EXPECT_EQ(reg.render(),
            "# HELP zonemesh_test_total Things counted.\n"
            "# TYPE zonemesh_test_total counter\n"
            "zonemesh_test_total 42\n");
}

TEST(Metrics, LabelledFamiliesSortedAndEscaped) {
  registry reg;
  auto& fam = reg.add_counter_family("q_total", "Help with \\ and\nnewline.", {"proto", "rcode"});
  fam.with({"udp", "NOERROR"}).inc(3);
  fam.with({"tcp", "we\"ird\\\nvalue"}).inc();
  EXPECT_EQ(&fam.with({"udp", "NOERROR"}), &fam.with({"udp", "NOERROR"}));
  EXPECT_EQ(reg.render(),
            "# HELP q_total Help with \\\\ and\\nnewline.\n"
            "# TYPE q_total counter\n"
            "q_total{proto=\"tcp\",rcode=\"we\\\"ird\\\\\\nvalue\"} 1\n"
            "q_total{proto=\"udp\",rcode=\"NOERROR\"} 3\n");
}

TEST(Metrics, FamiliesRenderInNameOrder) {
  registry reg;
  reg.add_gauge("b_gauge", "b").set(1);
  reg.add_counter("a_total", "a");
  const auto text = reg.render();
  EXPECT_LT(text.find("a_total"), text.find("b_gauge"));
}

TEST(Metrics, GaugeValues) {
  registry reg;
  auto& g = reg.add_gauge("g", "A gauge.");
  g.set(2.5);
  g.add(1);
  g.sub(0.25);
  EXPECT_DOUBLE_EQ(g.value(), 3.25);
  EXPECT_TRUE(contains(reg.render(), "# TYPE g gauge\ng 3.25\n"));
  g.set(std::nan(""));
  EXPECT_TRUE(contains(reg.render(), "g NaN\n"));
  g.set(-INFINITY);
  EXPECT_TRUE(contains(reg.render(), "g -Inf\n"));
}

TEST(Metrics, GaugeCallbackReadAtScrape) {
  registry reg;
  double zones = 7;
  reg.add_gauge_callback("zones", "Zones loaded.", [&] { return zones; });
  EXPECT_TRUE(contains(reg.render(), "# TYPE zones gauge\nzones 7\n"));
  zones = 9;
  EXPECT_TRUE(contains(reg.render(), "zones 9\n"));
  reg.add_gauge_callback("broken", "Throws.", []() -> double { throw std::runtime_error("x"); });
  EXPECT_TRUE(contains(reg.render(), "broken NaN\n"));
}

TEST(Metrics, HistogramCumulativeBucketsSumAndCount) {
  registry reg;
  auto& fam = reg.add_histogram_family("lat_seconds", "Latency.", {"proto"}, {0.001, 0.01, 0.1});
  auto& h = fam.with({"udp"});
  h.observe(0.0005);
  h.observe(0.001);  // le is inclusive
  h.observe(0.05);
  h.observe(5);
  const auto snap = h.collect();
  EXPECT_EQ(snap.cumulative, (std::vector<std::uint64_t>{2, 2, 3, 4}));
  EXPECT_EQ(snap.count, 4u);
  EXPECT_DOUBLE_EQ(snap.sum, 5.0515);
  const auto text = reg.render();
  EXPECT_TRUE(contains(text,
                       "# HELP lat_seconds Latency.\n"
                       "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{proto=\"udp\",le=\"0.001\"} 2\n"
                       "lat_seconds_bucket{proto=\"udp\",le=\"0.01\"} 2\n"
                       "lat_seconds_bucket{proto=\"udp\",le=\"0.1\"} 3\n"
                       "lat_seconds_bucket{proto=\"udp\",le=\"+Inf\"} 4\n"
                       "lat_seconds_sum{proto=\"udp\"} 5.0515\n"
                       "lat_seconds_count{proto=\"udp\"} 4\n"))
      << text;
}

TEST(Metrics, UnlabelledHistogram) {
  registry reg;
  auto& h = reg.add_histogram("h", "H.", {1, 2});
  h.observe(1.5);
  EXPECT_TRUE(contains(reg.render(),
                       "h_bucket{le=\"1\"} 0\nh_bucket{le=\"2\"} 1\n"
                       "h_bucket{le=\"+Inf\"} 1\nh_sum 1.5\nh_count 1\n"));
}

TEST(Metrics, ConcurrentIncrementsAreAllCounted) {
  registry reg;
  auto& c = reg.add_counter("c_total", "c");
  auto& h = reg.add_histogram("h_seconds", "h", default_latency_buckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c.inc();
        h.observe(0.0001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 800000u);
  EXPECT_EQ(h.collect().count, 800000u);
}

TEST(Metrics, ReRegistrationReturnsSameOrThrowsOnMismatch) {
  registry reg;
  auto& a = reg.add_counter_family("x_total", "x", {"l"});
  EXPECT_EQ(&a, &reg.add_counter_family("x_total", "x", {"l"}));
  EXPECT_THROW(reg.add_counter_family("x_total", "x", {"other"}), std::invalid_argument);
  EXPECT_THROW(reg.add_gauge_family("x_total", "x", {"l"}), std::invalid_argument);
  reg.add_histogram("h", "h", {1, 2});
  EXPECT_THROW(reg.add_histogram("h", "h", {1, 3}), std::invalid_argument);
  EXPECT_THROW(reg.add_gauge_callback("x_total", "x", [] { return 0.0; }), std::invalid_argument);
}

TEST(Metrics, BadNamesAndArgumentsThrow) {
  registry reg;
  EXPECT_THROW(reg.add_counter("1abc", "x"), std::invalid_argument);
  EXPECT_THROW(reg.add_counter("a-b", "x"), std::invalid_argument);
  EXPECT_THROW(reg.add_counter("", "x"), std::invalid_argument);
  EXPECT_THROW(reg.add_counter_family("ok", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(reg.add_counter_family("ok2", "x", {"a:b"}), std::invalid_argument);
  EXPECT_THROW(reg.add_histogram_family("hh", "x", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(reg.add_histogram("h1", "x", {2, 1}), std::invalid_argument);
  EXPECT_THROW(reg.add_histogram("h2", "x", {1, INFINITY}), std::invalid_argument);
  auto& fam = reg.add_counter_family("two_total", "x", {"a", "b"});
  EXPECT_THROW(fam.with({"only-one"}), std::invalid_argument);
  EXPECT_NO_THROW(reg.add_counter("ns:sub_total", "colons are allowed in metric names"));
}

TEST(Metrics, BucketHelpers) {
  EXPECT_EQ(exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
  const auto d = default_latency_buckets();
  EXPECT_NO_THROW(histogram{d});
}

}  // namespace
}  // namespace zonemesh::common::metrics
