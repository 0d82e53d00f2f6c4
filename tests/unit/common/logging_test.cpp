// Tests for lib/common/logging.*: the default logger follows the configured level.
#include "common/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

namespace zonemesh::common {
namespace {

TEST(Logging, SetupInstallsNamedDefaultLoggerAtLevel) {
  setup_logging(log_level::warn, "zonemesh-test");
  auto logger = spdlog::default_logger();
  ASSERT_NE(logger, nullptr);
  EXPECT_EQ(logger->name(), "zonemesh-test");
  EXPECT_EQ(logger->level(), spdlog::level::warn);
  EXPECT_FALSE(logger->should_log(spdlog::level::info));
  set_log_level(log_level::debug);
  EXPECT_TRUE(spdlog::default_logger()->should_log(spdlog::level::debug));
  setup_logging(log_level::info);
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
}

}  // namespace
}  // namespace zonemesh::common
