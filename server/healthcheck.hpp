#pragma once
// zonemesh-healthcheck: probes of the local zonemesh-server (DNS over UDP and
// GET /health), the verdict that tells a local failure from one every site
// shares, the rise/fall/hold-down state machine, and the BIRD include file
// that announces or withdraws the anycast service address.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace zonemesh::healthcheck {

/// "http://IP:PORT/PATH" (IPv6 in brackets); only plain HTTP to an address.
struct http_url {
  std::string host;  ///< IP literal, no brackets
  std::uint16_t port = 80;
  std::string path = "/";
  bool is_ipv6 = false;

  [[nodiscard]] std::string to_string() const;
};

/// Parses an http:// URL with an IP literal host; nullopt with `error` set.
[[nodiscard]] std::optional<http_url> parse_http_url(std::string_view text, std::string& error);

/// Another site's server, asked only to tell a shared failure from a local one.
struct peer_target {
  std::string label;               ///< for logs: "site2"
  common::listen_address dns;      ///< its DNS (unicast) address
  std::optional<http_url> health;  ///< its /health
};

struct settings {
  // [check]
  common::listen_address dns{"127.0.0.1", 53, false};
  std::string query_name;          ///< required
  std::uint16_t query_type = 6;    ///< SOA
  std::string expect;              ///< empty = any answer of that type
  std::optional<http_url> health;  ///< the local server's /health; nullopt = DNS only
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
  unsigned rise = 3;
  unsigned fall = 3;
  std::chrono::milliseconds hold_down{30'000};
  std::filesystem::path maintenance_file;  ///< while it exists: withdrawn (drain)
  std::vector<peer_target> peers;
  // [bird]
  std::filesystem::path include_file;  ///< required
  std::string symbol = "ZONEMESH_ANYCAST_ANNOUNCE";
  std::string birdc = "birdc";
  std::string bird_socket;  ///< empty = birdc's default
  // [http]
  std::optional<common::listen_address> http;  ///< /metrics and /health; nullopt = none
  // [log]
  common::log_level log_level = common::log_level::info;
};

/// Parses the checker's configuration (format in example_settings()); throws
/// std::runtime_error "source:line: problem".
[[nodiscard]] settings parse_settings(std::string_view text, std::string_view source = "<config>");
[[nodiscard]] settings load_settings(const std::filesystem::path& path);
/// A complete, commented configuration that documents every key; it parses.
[[nodiscard]] std::string_view example_settings();

// ---- probes ---------------------------------------------------------------

struct dns_result {
  bool answered = false;  ///< a well-formed response to our query arrived
  bool correct = false;   ///< NOERROR, authoritative, the expected answer
  std::string detail;     ///< what was wrong, or what was answered
};

/// Builds the query message (id, RD clear, one question); empty on a bad name.
[[nodiscard]] std::vector<std::uint8_t> build_query(std::uint16_t id, std::string_view name,
                                                    std::uint16_t type, std::uint16_t qclass = 1);

/// Judges a response to build_query(id, name, type) against `expect`
/// (empty: any RR of the type at the name; A/AAAA: an address; TXT: the
/// text; NS/CNAME/PTR/DNAME: a name; other types: the answer must exist).
[[nodiscard]] dns_result judge_response(std::span<const std::uint8_t> response, std::uint16_t id,
                                        std::string_view name, std::uint16_t type,
                                        std::string_view expect);

/// Sends the query over UDP and waits up to `timeout` for the answer.
[[nodiscard]] dns_result probe_dns(const common::listen_address& server, std::string_view name,
                                   std::uint16_t type, std::string_view expect,
                                   std::chrono::milliseconds timeout);

struct http_result {
  bool reached = false;  ///< an HTTP status line came back
  int status = 0;
  std::string body;  ///< first line of the body, or the connection error
};

/// GET `url` with HTTP/1.0 and Connection: close, within `timeout`.
[[nodiscard]] http_result probe_http(const http_url& url, std::chrono::milliseconds timeout);

// ---- verdict --------------------------------------------------------------

struct site_probe {
  dns_result dns;
  std::optional<http_result> health;  ///< nullopt: not asked
  /// DNS correct and /health 200 (or not asked).
  [[nodiscard]] bool fully_healthy() const;
};

enum class verdict : std::uint8_t {
  pass,         ///< answer correct and fresh
  pass_shared,  ///< failing, but no peer does better: keep announcing
  fail,         ///< failing here only, or the server does not answer
};

struct check_outcome {
  verdict result = verdict::fail;
  std::string reason;
};

/// The policy (documented in docs/operations.md):
/// - no DNS answer at all: fail (a dead server answers nothing anyway);
/// - a wrong answer: fail when at least one peer answers correctly, else
///   pass_shared (the data every site shares is wrong: withdrawing all
///   sites would only add an outage);
/// - a correct answer with /health not 200 (database down, stale change-log):
///   fail when at least one peer is fully healthy, else pass_shared (every
///   site answering from its last good data beats none answering).
/// `peers` are only consulted when the local site is not a plain pass.
[[nodiscard]] check_outcome evaluate(const site_probe& local, const std::vector<site_probe>& peers);

// ---- state ----------------------------------------------------------------

/// Rise/fall counting with a hold-down: the route starts withdrawn, is
/// announced after `rise` passing checks in a row, withdrawn after `fall`
/// failing ones, and after a withdrawal for failures it is announced again
/// only once the last failure is at least `hold_down` old. Maintenance
/// withdraws at once and, once over, needs `rise` passes (no hold-down).
class announce_state {
 public:
  using clock = std::chrono::steady_clock;
  announce_state(unsigned rise, unsigned fall, std::chrono::milliseconds hold_down);

  /// Records one check; returns true when announced() changed.
  bool record(verdict v, clock::time_point now);
  /// Enters or leaves maintenance; returns true when announced() changed.
  bool set_maintenance(bool on);

  [[nodiscard]] bool announced() const { return announced_; }
  [[nodiscard]] bool in_maintenance() const { return maintenance_; }

 private:
  unsigned rise_;
  unsigned fall_;
  std::chrono::milliseconds hold_down_;
  bool announced_ = false;
  bool maintenance_ = false;
  unsigned passes_ = 0;
  unsigned failures_ = 0;
  std::optional<clock::time_point> last_failure_;
  bool held_ = false;  ///< withdrawn for failures: the hold-down applies
};

// ---- BIRD -----------------------------------------------------------------

/// The include file's text: `define SYMBOL = 1;` (announce) or `= 0;`.
[[nodiscard]] std::string include_text(std::string_view symbol, bool announce);

/// Writes the include atomically (temporary file in the same directory,
/// fsync, rename); throws std::runtime_error naming the file.
void write_include(const std::filesystem::path& file, std::string_view symbol, bool announce);

/// Reads the announce flag back from an include file; nullopt if missing or
/// not ours.
[[nodiscard]] std::optional<bool> read_include(const std::filesystem::path& file,
                                               std::string_view symbol);

struct command_result {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr
};

/// Runs `argv` (no shell), capturing its output; gives up after `timeout`.
[[nodiscard]] command_result run_command(const std::vector<std::string>& argv,
                                         std::chrono::milliseconds timeout);

/// `birdc [-s socket] configure`; true when BIRD says it reconfigured.
/// `error` gets BIRD's message otherwise.
[[nodiscard]] bool bird_configure(const settings& s, std::string& error);

}  // namespace zonemesh::healthcheck
