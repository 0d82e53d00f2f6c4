#pragma once
// A small HTTP/1.1 server (keep-alive, Content-Length bodies, size limits) with
// a router on method and path, serving /metrics, /health and, later, the API
// and the web UI.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

struct http_request {
  std::string method;     ///< as sent, e.g. "GET" (methods are case-sensitive)
  std::string target;     ///< raw request target, e.g. "/api/v1/servers?x=1"
  std::string path;       ///< target before '?', percent-decoded
  std::string query;      ///< raw text after '?', without it
  int version_minor = 1;  ///< HTTP/1.<version_minor>
  std::vector<std::pair<std::string, std::string>> headers;  ///< names as sent
  std::string body;
  std::string peer;  ///< client address, e.g. "127.0.0.1" or "::1"

  /// The first header with this name (case-insensitive), or nullptr.
  [[nodiscard]] const std::string* header(std::string_view name) const;
  /// The percent-decoded value of a query parameter (first match), or nullopt.
  [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const;
};

struct http_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers
  std::string body;

  static http_response text(int status, std::string body);
  static http_response json(int status, std::string body);
};

/// The standard reason phrase of a status code ("Not Found"), or "Unknown".
[[nodiscard]] std::string_view http_reason(int status);

using http_handler = std::function<http_response(const http_request&)>;

/// Chooses the handler of a request by method and path. Exact routes win over
/// prefix routes; among prefixes the longest wins. A GET route also answers
/// HEAD. A path with routes but none for the method gets 405 with Allow; a
/// path without routes gets 404. A handler that throws gives 500.
class http_router {
 public:
  /// Requests whose path is exactly `path`.
  void add(std::string method, std::string path, http_handler handler);
  /// Requests whose path is `prefix` or starts with it followed by '/' (or
  /// simply starts with it when it ends in '/').
  void add_prefix(std::string method, std::string prefix, http_handler handler);
  /// Like add_prefix, but the server runs the handler on its background
  /// thread (one, shared by every such route), so slow work such as database
  /// writes never holds up the other routes (/health, /metrics).
  void add_prefix_background(std::string method, std::string prefix, http_handler handler);

  [[nodiscard]] http_response dispatch(const http_request& request) const;
  /// True when dispatch() would run a background route's handler.
  [[nodiscard]] bool runs_in_background(const http_request& request) const;

 private:
  struct route {
    std::string method;
    std::string path;
    bool prefix = false;
    http_handler handler;
    bool background = false;
  };
  /// The route that answers `request`, or nullptr (404 or 405 then).
  [[nodiscard]] const route* find(const http_request& request, const route** best_path) const;
  std::vector<route> routes_;
};

struct http_server_options {
  std::size_t max_header_bytes = 16 * 1024;        ///< request line + headers; more gets 431
  std::size_t max_body_bytes = 4 * 1024 * 1024;    ///< larger Content-Length gets 413
  std::chrono::milliseconds idle_timeout{30'000};  ///< keep-alive and slow clients
  std::size_t max_connections = 256;               ///< more are closed at once
};

/// Serves one address and port with one thread; handlers run on that thread,
/// one request at a time (keep them short), except those of background
/// routes, which run one at a time on a second thread.
class http_server {
 public:
  /// `address` is an IP literal ("127.0.0.1", "::"); port 0 picks a free port.
  /// The router must outlive the server and not change after start().
  http_server(std::string address, std::uint16_t port, const http_router& router,
              http_server_options options = {});
  ~http_server();  ///< stops
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and starts the thread; throws std::runtime_error naming the address.
  void start();
  /// Closes the listener and every connection, joins the thread. Idempotent.
  void stop();
  /// The bound port (the real one when 0 was asked for); valid after start().
  [[nodiscard]] std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// True when the request's X-API-Key header equals `expected` (compared in
/// constant time); always false when `expected` is empty (API disabled).
[[nodiscard]] bool has_api_key(const http_request& request, std::string_view expected);

/// Result of the program's health check for /health.
struct health_status {
  bool ok = true;
  std::string reason;  ///< why it is not ok (or a note when ok)
};

/// GET /metrics: the registry in the Prometheus text format.
void add_metrics_route(http_router& router, const common::metrics::registry& registry);

/// GET /health: 200 "ok" when `check` says ok, else 503 with the reason.
void add_health_route(http_router& router, std::function<health_status()> check);

}  // namespace zonemesh::server
