// Parser for zonemesh-server's configuration file (format in example_config()).
#include "common/config.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef ZONEMESH_VERSION
#define ZONEMESH_VERSION "unknown"
#endif

namespace zonemesh::common {

namespace {

constexpr std::string_view example_text = R"(# zonemesh-server configuration.
#
# Format: `key = value` lines grouped in [sections]. Blank lines and lines
# whose first non-blank character is '#' or ';' are comments (a '#' after a
# value is part of the value). Surrounding blanks are removed from keys and
# values; put a value in double quotes to keep its blanks ("  text  ").
# Every key may appear once, except [server] listen. Unknown sections and
# keys, bad values and repeated keys stop the server with "file:line: problem".

[server]
# This site's node id (required): letters, digits, '-' and '_', at most 63.
# Every site of a deployment needs a different one.
node = site-a

# DNS addresses, UDP and TCP on each; repeat the key for more addresses.
# IPv4 as 192.0.2.1:53, IPv6 in brackets as [2001:db8::1]:53 (IPv6 sockets
# are IPv6-only, so list 0.0.0.0:53 and [::]:53 to get both). Port 0 takes
# a free port. Default: 0.0.0.0:53 and [::]:53.
listen = 0.0.0.0:53
listen = [::]:53

# Worker threads; each has its own UDP socket and TCP listener on every
# address (SO_REUSEPORT), so the kernel spreads queries over them.
# "auto" (default) = one per hardware thread. 1 to 1024.
workers = auto

# A DNS-over-TCP connection with nothing to do is closed after this many
# milliseconds (RFC 7766). Default 10000; 1 to 3600000.
tcp_idle_timeout_ms = 10000

# Most DNS-over-TCP connections open at once over all workers. When it is
# reached, a new connection closes the oldest idle one (no reply being
# written; a half-sent query counts as idle), so a new client is served; it
# is refused only when none is idle. Counted in
# zonemesh_dns_tcp_connections_total{result="evicted"} and {result="refused"}.
# Default 1024; 1 to 1000000.
tcp_max_connections = 1024

# Most DNS-over-TCP connections from one client IP address. When reached, a
# new one from that address closes its oldest idle connection, or is refused
# ({result="evicted_per_address"}, {result="refused_per_address"}). Both
# limits log at most one line per 10 s per worker. Default 64; 0 = no limit;
# up to 1000000.
tcp_max_connections_per_address = 64

# Answer to CHAOS TXT hostname.bind and id.server, which tells an anycast
# operator which site answered. Default: the machine's host name.
# "none" refuses these queries.
hostname = ns1.site-a.example

# Answer to CHAOS TXT version.bind. Default: "zonemesh <version>".
# "none" refuses these queries.
version = none

# RFC 5001 name server identifier sent to clients that ask for it: text, or
# hex:<even number of hex digits> for raw bytes, or "none" (default) for no
# NSID. At most 512 bytes.
nsid = none

# DNSSEC signing (zones with an active key in dnssec_keys): signatures are
# valid from one hour ago for dnssec_signature_validity seconds (default
# 1209600, 14 days; 3600 to 31536000), and made again when fewer than
# dnssec_signature_refresh seconds (default 604800, 7 days; at least 600 and
# less than the validity) remain.
dnssec_signature_validity = 1209600
dnssec_signature_refresh = 604800

[database]
# libpq connection string (keyword/value or URI). Default: empty, which
# uses libpq's defaults and the PG* environment variables.
conninfo = host=/run/postgresql dbname=zonemesh

[http]
# Address and port of the HTTP API, web UI, /metrics and /health.
# Default 127.0.0.1:8081.
listen = 127.0.0.1:8081

# Key that API clients (and the web UI's sign-in) send in the X-API-Key
# header of every /api request; compared in constant time, never logged.
# Default: empty, which disables the API (every /api request gets 401; the
# web UI's page, /metrics and /health still work). Use a long random value,
# e.g. the output of: openssl rand -base64 32
api_key =

# A file holding the API key instead (its content, blanks and newlines at
# either end removed), so the key stays out of this file; readable by the
# server only. Give api_key or api_key_file, not both. Default: none.
# api_key_file = /etc/zonemesh/api-key

# API key guessing: an address that sends api_auth_max_failures wrong (or
# missing) X-API-Key within api_auth_window_s seconds gets 429 with
# Retry-After for api_auth_block_s seconds on every /api request, the right
# key included; other addresses are not affected. Logged once per block,
# without the key; counted in zonemesh_api_auth_failures_total,
# zonemesh_api_auth_refused_total and zonemesh_api_auth_blocked_addresses.
# Defaults 10 (0 = no limit; up to 1000000), 60 and 60 (1 to 86400).
api_auth_max_failures = 10
api_auth_window_s = 60
api_auth_block_s = 60
[rrl]
# Response rate limiting (docs/operations.md): UDP responses of one kind
# (answer, nodata, nxdomain, referral, error) to one client prefix beyond
# responses_per_second are dropped, every slip-th of them sent truncated so
# that a real client retries over TCP. TCP and clients with a valid DNS
# cookie are never limited. On by default: a site answers the whole Internet
# and must not be a reflector. yes or no.
enabled = yes
# Responses per second per prefix and kind (bursts up to one second's
# worth). Default 200; 1 to 1000000.
responses_per_second = 200
# Every slip-th response over the rate is sent truncated (TC=1); 0 drops
# them all, 1 truncates them all. Default 2; 0 to 100.
slip = 2
# Client prefix lengths that share a limit. Default 24 (IPv4) and 56 (IPv6).
ipv4_prefix = 24
ipv6_prefix = 56
# Comma-separated prefixes never limited (monitoring, your own resolvers).
# Default: none.
whitelist = none
# Buckets in the table of prefixes (rounded up to a power of two); when
# more prefixes are over the rate at once some share a bucket. Default
# 65536; 1024 to 16777216.
table_size = 65536

[cookies]
# DNS cookies (RFC 7873) with RFC 9018 server cookies: a client that sends
# a valid server cookie is exempt from rate limiting; a wrong server cookie
# over UDP gets BADCOOKIE with a fresh one. yes (default) or no.
enabled = yes
# The 16-octet key (32 hex digits) that makes server cookies. Give every
# site of a cluster the same key so that a cookie from one site is valid at
# all of them (anycast). Default: a random key made at start-up, valid at
# this site only until it restarts.
# secret = 000102030405060708090a0b0c0d0e0f
# Or read it from a file holding the 32 hex digits.
# secret_file = /etc/zonemesh/cookie-secret
# Comma-separated keys whose cookies are still accepted (rotation, see
# docs/operations.md). Default: none.
also_accept = none

[log]
# trace, debug, info (default), warn, error, critical or off.
level = info
)";

struct parse_error_sink {
  std::string_view source;
  std::size_t line = 0;

  [[noreturn]] void fail(const std::string& problem) const {
    std::ostringstream msg;
    msg << source;
    if (line != 0) msg << ':' << line;
    msg << ": " << problem;
    throw std::runtime_error(msg.str());
  }
};

std::string_view trim(std::string_view s) {
  constexpr std::string_view blanks = " \t\r\f\v";
  const auto first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(blanks);
  return s.substr(first, last - first + 1);
}

template <typename Int>
std::optional<Int> parse_integer(std::string_view text, Int min, Int max) {
  Int value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, 10);
  if (ec != std::errc{} || ptr != end || text.empty() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view hex) {
  if (hex.empty() || hex.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    std::uint8_t byte = 0;
    const auto [ptr, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, byte, 16);
    if (ec != std::errc{} || ptr != hex.data() + i + 2) return std::nullopt;
    out.push_back(byte);
  }
  return out;
}

template <typename Fail>
bool yes_no(std::string_view value, const Fail& bad_value) {
  if (value == "yes" || value == "true" || value == "on") return true;
  if (value == "no" || value == "false" || value == "off") return false;
  bad_value("expected yes or no");
  return false;
}

/// Comma-separated items, blanks around each removed, empty ones dropped.
std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto item = trim(value.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

/// "192.0.2.0/24", "2001:db8::/32" or a bare address.
bool valid_cidr(const std::string& text) {
  const auto slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  unsigned char buf[16];
  const bool v6 = addr.find(':') != std::string::npos;
  if (::inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) return false;
  if (slash == std::string::npos) return true;
  return parse_integer<unsigned>(std::string_view(text).substr(slash + 1), 0, v6 ? 128 : 32)
      .has_value();
}

std::string machine_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return std::string(buf);
}

enum class section : std::uint8_t { none, server, database, http, rrl, cookies, log };

std::optional<section> parse_section(std::string_view name) {
  if (name == "server") return section::server;
  if (name == "database") return section::database;
  if (name == "http") return section::http;
  if (name == "log") return section::log;
  if (name == "rrl") return section::rrl;
  if (name == "cookies") return section::cookies;
  return std::nullopt;
}

std::string_view section_name(section s) {
  switch (s) {
    case section::server:
      return "server";
    case section::database:
      return "database";
    case section::http:
      return "http";
    case section::log:
      return "log";
    case section::rrl:
      return "rrl";
    case section::cookies:
      return "cookies";
    case section::none:
      break;
  }
  return "";
}

constexpr std::size_t max_text_value = 255;  // a CHAOS TXT string holds at most 255 bytes
constexpr std::size_t max_nsid = 512;

}  // namespace

std::string listen_address::to_string() const {
  std::string out;
  if (is_ipv6) {
    out = "[" + address + "]";
  } else {
    out = address;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error) {
  listen_address result;
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' in IPv6 address '" + std::string(text) + "'";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (rest.size() < 2 || rest.front() != ':') {
      error = "expected ':port' after ']' in '" + std::string(text) + "'";
      return std::nullopt;
    }
    port_text = rest.substr(1);
    result.is_ipv6 = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "missing ':port' in '" + std::string(text) + "'";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = "IPv6 address must be in brackets, as [" + std::string(host) +
              "]:" + std::string(port_text);
      return std::nullopt;
    }
  }
  const std::string host_str(host);
  unsigned char buf[16];
  const int family = result.is_ipv6 ? AF_INET6 : AF_INET;
  if (host.empty() || ::inet_pton(family, host_str.c_str(), buf) != 1) {
    error = std::string("'") + host_str + "' is not an IP" + (result.is_ipv6 ? "v6" : "v4") +
            " address (host names are not accepted)";
    return std::nullopt;
  }
  const auto port = parse_integer<std::uint16_t>(port_text, 0, 65535);
  if (!port) {
    error = "port '" + std::string(port_text) + "' is not a number from 0 to 65535";
    return std::nullopt;
  }
  result.address = host_str;
  result.port = *port;
  return result;
}

std::optional<log_level> parse_log_level(std::string_view text) {
  static constexpr std::pair<std::string_view, log_level> names[] = {
      {"trace", log_level::trace},       {"debug", log_level::debug},  {"info", log_level::info},
      {"warn", log_level::warn},         {"warning", log_level::warn}, {"error", log_level::error},
      {"critical", log_level::critical}, {"off", log_level::off}};
  for (const auto& [name, level] : names) {
    if (name == text) return level;
  }
  return std::nullopt;
}

std::string_view to_string(log_level level) {
  switch (level) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
    case log_level::critical:
      return "critical";
    case log_level::off:
      return "off";
  }
  return "info";
}

unsigned server_settings::effective_workers() const {
  if (workers != 0) return workers;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

config parse_config(std::string_view text, std::string_view source) {
  config cfg;
  cfg.server.hostname = machine_hostname();
  cfg.server.version = std::string("zonemesh ") + ZONEMESH_VERSION;

  parse_error_sink err{source, 0};
  section current = section::none;
  std::vector<std::string> seen;  // "section.key" of keys already set
  bool node_set = false;
  bool api_key_given = false;      // [http] api_key seen
  bool api_key_from_file = false;  // [http] api_key_file seen

  std::size_t pos = 0;
  std::size_t line_no = 0;
  while (pos <= text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view raw = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    err.line = line_no;

    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      continue;
    }
    if (line.find('\0') != std::string_view::npos) err.fail("NUL byte in line");

    if (line.front() == '[') {
      if (line.back() != ']') err.fail("section header '" + std::string(line) + "' lacks ']'");
      const auto name = trim(line.substr(1, line.size() - 2));
      const auto s = parse_section(name);
      if (!s) {
        err.fail("unknown section [" + std::string(name) +
                 "] (known: [server], [database], [http], [log])");
      }
      current = *s;
      continue;
    }

    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      err.fail("expected 'key = value' or '[section]', got '" + std::string(line) + "'");
    }
    const std::string key(trim(line.substr(0, eq)));
    std::string_view value = trim(line.substr(eq + 1));
    if (key.empty()) err.fail("missing key before '='");
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    } else if (!value.empty() && (value.front() == '"' || value.back() == '"')) {
      err.fail("unbalanced double quote in value of '" + key + "'");
    }
    if (current == section::none) {
      err.fail("key '" + key + "' before any [section]");
    }
    const std::string qualified = std::string(section_name(current)) + "." + key;
    const bool repeatable = qualified == "server.listen";
    if (!repeatable) {
      if (std::find(seen.begin(), seen.end(), qualified) != seen.end()) {
        err.fail("key '" + key + "' set twice in [" + std::string(section_name(current)) + "]");
      }
      seen.push_back(qualified);
    }
    const bool may_be_empty = qualified == "database.conninfo" || qualified == "http.api_key";
    if (value.empty() && !may_be_empty) {
      err.fail("empty value for '" + key + "'");
    }
    const auto bad_value = [&](const std::string& why) {
      err.fail("bad value '" + std::string(value) + "' for '" + key + "': " + why);
    };
    const auto text_value = [&]() -> std::optional<std::string> {
      if (value == "none") return std::nullopt;
      if (value.size() > max_text_value) bad_value("longer than 255 bytes");
      return std::string(value);
    };

    switch (current) {
      case section::server:
        if (key == "node") {
          if (!valid_node_id(value)) {
            bad_value("a node id is 1 to 63 letters, digits, '-' or '_'");
          }
          cfg.server.node = std::string(value);
          node_set = true;
        } else if (key == "listen") {
          std::string why;
          auto addr = parse_listen_address(value, why);
          if (!addr) bad_value(why);
          if (std::find(cfg.server.listen.begin(), cfg.server.listen.end(), *addr) !=
                  cfg.server.listen.end() &&
              addr->port != 0) {
            bad_value("address listed twice");
          }
          cfg.server.listen.push_back(std::move(*addr));
        } else if (key == "workers") {
          if (value == "auto") {
            cfg.server.workers = 0;
          } else {
            const auto n = parse_integer<unsigned>(value, 1, 1024);
            if (!n) bad_value("expected 'auto' or a number from 1 to 1024");
            cfg.server.workers = *n;
          }
        } else if (key == "tcp_idle_timeout_ms") {
          const auto n = parse_integer<std::int64_t>(value, 1, 3'600'000);
          if (!n) bad_value("expected milliseconds from 1 to 3600000");
          cfg.server.tcp_idle_timeout = std::chrono::milliseconds(*n);
        } else if (key == "tcp_max_connections") {
          const auto n = parse_integer<std::size_t>(value, 1, 1'000'000);
          if (!n) bad_value("expected a number from 1 to 1000000");
          cfg.server.tcp_max_connections = *n;
        } else if (key == "tcp_max_connections_per_address") {
          const auto n = parse_integer<std::size_t>(value, 0, 1'000'000);
          if (!n) bad_value("expected a number from 0 to 1000000");
          cfg.server.tcp_max_connections_per_address = *n;
        } else if (key == "hostname") {
          cfg.server.hostname = text_value();
        } else if (key == "version") {
          cfg.server.version = text_value();
        } else if (key == "nsid") {
          if (value == "none") {
            cfg.server.nsid.clear();
          } else if (value.substr(0, 4) == "hex:") {
            auto bytes = parse_hex(value.substr(4));
            if (!bytes) bad_value("hex: must be followed by an even number of hex digits");
            if (bytes->size() > max_nsid) bad_value("NSID longer than 512 bytes");
            cfg.server.nsid = std::move(*bytes);
          } else {
            if (value.size() > max_nsid) bad_value("NSID longer than 512 bytes");
            cfg.server.nsid.assign(value.begin(), value.end());
          }
        } else if (key == "dnssec_signature_validity") {
          const auto n = parse_integer<std::int64_t>(value, 3600, 31'536'000);
          if (!n) bad_value("expected seconds from 3600 to 31536000");
          cfg.server.dnssec_signature_validity = std::chrono::seconds(*n);
        } else if (key == "dnssec_signature_refresh") {
          const auto n = parse_integer<std::int64_t>(value, 600, 31'536'000);
          if (!n) bad_value("expected seconds from 600 to 31536000");
          cfg.server.dnssec_signature_refresh = std::chrono::seconds(*n);
        } else {
          err.fail("unknown key '" + key +
                   "' in [server] (known: node, listen, workers, tcp_idle_timeout_ms, "
                   "tcp_max_connections, tcp_max_connections_per_address, hostname, version, nsid, dnssec_signature_validity, "
                   "dnssec_signature_refresh)");
        }
        break;
      case section::database:
        if (key == "conninfo") {
          cfg.database.conninfo = std::string(value);
        } else {
          err.fail("unknown key '" + key + "' in [database] (known: conninfo)");
        }
        break;
      case section::http:
        if (key == "listen") {
          std::string why;
          auto addr = parse_listen_address(value, why);
          if (!addr) bad_value(why);
          cfg.http.listen = std::move(*addr);
        } else if (key == "api_key") {
          if (api_key_from_file && !value.empty()) {
            err.fail("give api_key or api_key_file, not both");
          }
          if (!value.empty()) cfg.http.api_key = std::string(value);
          api_key_given = !value.empty();
        } else if (key == "api_key_file") {
          if (api_key_given) err.fail("give api_key or api_key_file, not both");
          std::ifstream key_in(std::string(value), std::ios::binary);
          if (!key_in) bad_value(std::string("cannot open: ") + std::strerror(errno));
          std::ostringstream key_text;
          key_text << key_in.rdbuf();
          std::string loaded = key_text.str();
          loaded.erase(0, loaded.find_first_not_of(" \t\r\n"));
          loaded.erase(loaded.find_last_not_of(" \t\r\n") + 1);
          if (loaded.empty()) bad_value("the file is empty");
          if (std::any_of(loaded.begin(), loaded.end(), [](char c) {
                return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
              })) {
            bad_value("the key in the file has control characters or line breaks");
          }
          cfg.http.api_key = loaded;
          api_key_from_file = true;
        } else if (key == "api_auth_max_failures") {
          const auto n = parse_integer<unsigned>(value, 0, 1'000'000);
          if (!n) bad_value("expected a number from 0 to 1000000");
          cfg.http.api_auth_max_failures = *n;
        } else if (key == "api_auth_window_s" || key == "api_auth_block_s") {
          const auto n = parse_integer<std::int64_t>(value, 1, 86'400);
          if (!n) bad_value("expected seconds from 1 to 86400");
          (key == "api_auth_window_s" ? cfg.http.api_auth_window : cfg.http.api_auth_block) =
              std::chrono::seconds(*n);
        } else {
          err.fail("unknown key '" + key +
                   "' in [http] (known: listen, api_key, api_key_file, api_auth_max_failures, "
                   "api_auth_window_s, api_auth_block_s)");
        }
        break;
      case section::rrl:
        if (key == "enabled") {
          cfg.rrl.enabled = yes_no(value, bad_value);
        } else if (key == "responses_per_second") {
          const auto n = parse_integer<std::uint32_t>(value, 1, 1'000'000);
          if (!n) bad_value("expected a number from 1 to 1000000");
          cfg.rrl.responses_per_second = *n;
        } else if (key == "slip") {
          const auto n = parse_integer<std::uint32_t>(value, 0, 100);
          if (!n) bad_value("expected a number from 0 to 100");
          cfg.rrl.slip = *n;
        } else if (key == "ipv4_prefix") {
          const auto n = parse_integer<std::uint8_t>(value, 8, 32);
          if (!n) bad_value("expected a prefix length from 8 to 32");
          cfg.rrl.ipv4_prefix = *n;
        } else if (key == "ipv6_prefix") {
          const auto n = parse_integer<std::uint8_t>(value, 16, 64);
          if (!n) bad_value("expected a prefix length from 16 to 64");
          cfg.rrl.ipv6_prefix = *n;
        } else if (key == "whitelist") {
          cfg.rrl.whitelist.clear();
          if (value != "none") {
            for (const auto& item : split_list(value)) {
              if (!valid_cidr(item)) bad_value("'" + item + "' is not an address or prefix");
              cfg.rrl.whitelist.push_back(item);
            }
          }
        } else if (key == "table_size") {
          const auto n = parse_integer<std::size_t>(value, 1024, 16'777'216);
          if (!n) bad_value("expected a number from 1024 to 16777216");
          cfg.rrl.table_size = *n;
        } else {
          err.fail("unknown key '" + key +
                   "' in [rrl] (known: enabled, responses_per_second, slip, ipv4_prefix, "
                   "ipv6_prefix, whitelist, table_size)");
        }
        break;
      case section::cookies:
        if (key == "enabled") {
          cfg.cookies.enabled = yes_no(value, bad_value);
        } else if (key == "secret" || key == "secret_file") {
          if (!cfg.cookies.secret.empty()) err.fail("give secret or secret_file, not both");
          std::string hex(value);
          if (key == "secret_file") {
            std::ifstream in{std::string(value)};
            if (!in) bad_value(std::string("cannot open: ") + std::strerror(errno));
            std::ostringstream file_text;
            file_text << in.rdbuf();
            hex = file_text.str();
            while (!hex.empty() &&
                   (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) {
              hex.pop_back();
            }
          }
          auto bytes = parse_hex(hex);
          if (!bytes || bytes->size() != 16)
            bad_value("a cookie secret is 32 hex digits (16 octets)");
          cfg.cookies.secret = std::move(*bytes);
        } else if (key == "also_accept") {
          cfg.cookies.also_accept.clear();
          if (value != "none") {
            for (const auto& item : split_list(value)) {
              auto bytes = parse_hex(item);
              if (!bytes || bytes->size() != 16) {
                bad_value("'" + item + "' is not a cookie secret of 32 hex digits");
              }
              cfg.cookies.also_accept.push_back(std::move(*bytes));
            }
          }
        } else {
          err.fail("unknown key '" + key +
                   "' in [cookies] (known: enabled, secret, secret_file, also_accept)");
        }
        break;
      case section::log:
        if (key == "level") {
          const auto level = parse_log_level(value);
          if (!level) bad_value("expected trace, debug, info, warn, error, critical or off");
          cfg.log.level = *level;
        } else {
          err.fail("unknown key '" + key + "' in [log] (known: level)");
        }
        break;
      case section::none:
        break;
    }
  }

  err.line = 0;
  if (!node_set) err.fail("missing required key 'node' in [server]");
  if (cfg.server.dnssec_signature_refresh >= cfg.server.dnssec_signature_validity) {
    err.fail("[server] dnssec_signature_refresh must be less than dnssec_signature_validity");
  }
  if (cfg.server.listen.empty()) {
    cfg.server.listen = {{"0.0.0.0", 53, false}, {"::", 53, true}};
  }
  return cfg;
}

config load_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw std::runtime_error(path.string() + ": read error");
  return parse_config(content.str(), path.string());
}

std::string_view example_config() { return example_text; }

}  // namespace zonemesh::common
