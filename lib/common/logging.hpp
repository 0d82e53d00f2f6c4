#pragma once
// Process-wide logging setup: spdlog to stderr with timestamps, level from the
// configuration.

#include <string_view>

#include "common/config.hpp"

namespace zonemesh::common {

/// Installs a stderr logger named `program` as spdlog's default logger with a
/// timestamped pattern and the given level. Safe to call again (replaces it).
void setup_logging(log_level level, std::string_view program = "zonemesh");

/// Changes the level of the default logger.
void set_log_level(log_level level);

}  // namespace zonemesh::common
