#pragma once
// zonemesh-server's configuration file: an INI-like `key = value` format with
// [sections], parsed into typed settings with defaults (see example_config()).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zonemesh::common {

/// An IP address literal and a port, as written after `listen =`.
struct listen_address {
  std::string address;  ///< "127.0.0.1", "::1", "0.0.0.0", "::" (no brackets, no names)
  std::uint16_t port = 0;
  bool is_ipv6 = false;

  /// "127.0.0.1:53" or "[::1]:53".
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const listen_address&, const listen_address&) = default;
};

/// Parses "1.2.3.4:53" or "[::1]:53"; nullopt with `error` set when invalid.
[[nodiscard]] std::optional<listen_address> parse_listen_address(std::string_view text,
                                                                 std::string& error);

enum class log_level : std::uint8_t { trace, debug, info, warn, error, critical, off };

[[nodiscard]] std::optional<log_level> parse_log_level(std::string_view text);
[[nodiscard]] std::string_view to_string(log_level level);

struct server_settings {
  std::string node;                    ///< this site's node id (required)
  std::vector<listen_address> listen;  ///< DNS addresses, UDP and TCP on each
  unsigned workers = 0;                ///< 0 = one per hardware thread ("auto")
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  std::size_t tcp_max_connections = 1024;  ///< over all workers and addresses
  std::size_t tcp_max_connections_per_address = 64;  ///< from one client address; 0 = no limit
  std::optional<std::string> hostname;     ///< hostname.bind / id.server; nullopt = refuse
  std::optional<std::string> version;      ///< version.bind; nullopt = refuse
  std::vector<std::uint8_t> nsid;          ///< RFC 5001 NSID payload; empty = no NSID
  /// DNSSEC: RRSIG expiration = now + this (inception = now - 1 h).
  std::chrono::seconds dnssec_signature_validity{14 * 86400};
  /// DNSSEC: signatures with less than this left are made again.
  std::chrono::seconds dnssec_signature_refresh{7 * 86400};

  /// `workers`, with "auto" (0) resolved to the number of hardware threads.
  [[nodiscard]] unsigned effective_workers() const;
};

struct database_settings {
  std::string conninfo;  ///< libpq connection string; empty = libpq defaults (PG* variables)
};

struct http_settings {
  listen_address listen{"127.0.0.1", 8081, false};
  std::string api_key;  ///< from api_key or api_key_file; empty = the API is disabled
  /// Wrong API keys from one address within api_auth_window before it is
  /// refused (429) for api_auth_block; 0 = no limit.
  unsigned api_auth_max_failures = 10;
  std::chrono::seconds api_auth_window{60};
  std::chrono::seconds api_auth_block{60};
};

/// Response rate limiting of UDP answers (server/rrl.hpp).
struct rrl_settings {
  bool enabled = true;
  std::uint32_t responses_per_second = 200;
  std::uint32_t slip = 2;
  std::uint8_t ipv4_prefix = 24;
  std::uint8_t ipv6_prefix = 56;
  std::vector<std::string> whitelist;  ///< CIDR prefixes ("192.0.2.0/24", "2001:db8::/32")
  std::size_t table_size = 65536;
};

/// DNS cookies (RFC 7873, server cookies as in RFC 9018).
struct cookie_settings {
  bool enabled = true;
  /// 16-octet SipHash key that makes server cookies; shared by every site of
  /// a cluster. Empty: a random key made at start-up (cookies then hold at
  /// this site only, until it restarts).
  std::vector<std::uint8_t> secret;
  /// Older (or next) keys whose cookies are still accepted, for rotation.
  std::vector<std::vector<std::uint8_t>> also_accept;
};

struct log_settings {
  log_level level = log_level::info;
};

struct config {
  server_settings server;
  database_settings database;
  http_settings http;
  rrl_settings rrl;
  cookie_settings cookies;
  log_settings log;
};

/// Parses configuration text. `source` names it in errors ("file:line: problem").
/// Throws std::runtime_error on the first bad line, value, unknown key or
/// missing required key.
[[nodiscard]] config parse_config(std::string_view text, std::string_view source = "<config>");

/// Reads and parses a configuration file; throws std::runtime_error.
[[nodiscard]] config load_config(const std::filesystem::path& path);

/// A complete, commented configuration file that documents every key and its
/// default (for docs/ and packaging); it parses as is.
[[nodiscard]] std::string_view example_config();

}  // namespace zonemesh::common
