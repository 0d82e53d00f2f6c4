// spdlog setup shared by zonemesh's programs.
#include "common/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace zonemesh::common {

namespace {

spdlog::level::level_enum to_spdlog(log_level level) {
  switch (level) {
    case log_level::trace:
      return spdlog::level::trace;
    case log_level::debug:
      return spdlog::level::debug;
    case log_level::info:
      return spdlog::level::info;
    case log_level::warn:
      return spdlog::level::warn;
    case log_level::error:
      return spdlog::level::err;
    case log_level::critical:
      return spdlog::level::critical;
    case log_level::off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

void setup_logging(log_level level, std::string_view program) {
  // Colours only when stderr is a terminal (color_mode::automatic).
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(program), std::move(sink));
  // 2026-11-22T15:41:49.123+0000 [zonemesh-server] [info] [1234] message
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%n] [%l] [%t] %v");
  logger->set_level(to_spdlog(level));
  // Warnings and errors reach the terminal or journal at once.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(log_level level) { spdlog::set_level(to_spdlog(level)); }

}  // namespace zonemesh::common
