#pragma once
// DNS over UDP and TCP (RFC 7766): worker threads, each with its own
// io_context and its own SO_REUSEPORT sockets on every address, handing each
// message to that worker's query_processor.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "query_processor.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

/// Makes the query processor of one worker; called once per worker, on the
/// thread that calls dns_listener_set::start(), before any worker runs.
using processor_factory = std::function<std::unique_ptr<query_processor>(unsigned worker_index)>;

struct dns_listener_options {
  std::vector<common::listen_address> addresses;  ///< UDP and TCP on each; port 0 = pick one
  unsigned workers = 1;
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  /// Over all workers and addresses. When reached, a new connection closes
  /// the oldest idle one of its worker (idle: no reply being written); it is
  /// refused only when there is none.
  std::size_t tcp_max_connections = 1024;
  /// From one client IP address; when reached, a new connection from it
  /// closes that address's oldest idle connection, or is refused. 0 = no limit.
  std::size_t tcp_max_connections_per_address = 64;
  /// Replies queued on a TCP connection before it stops reading more queries
  /// (a client that sends but does not read).
  std::size_t tcp_max_pending_output = 256 * 1024;
  bool udp = true;
  bool tcp = true;

  /// The options that [server] in the configuration file describes.
  static dns_listener_options from_config(const common::server_settings& settings);
};

/// Where one configured address ended up (the real ports when 0 was asked for).
struct bound_dns_address {
  common::listen_address configured;
  std::uint16_t udp_port = 0;  ///< 0 when UDP is off
  std::uint16_t tcp_port = 0;  ///< 0 when TCP is off
};

/// All DNS listeners of the process.
///
/// Metrics (registered in the registry given to the constructor):
///   zonemesh_dns_queries_total{transport,qtype,rcode}, zonemesh_dns_dropped_total{transport},
///   zonemesh_dns_query_duration_seconds{transport}, zonemesh_dns_tcp_connections,
///   zonemesh_dns_tcp_connections_total{result} (accepted, refused, refused_per_address, evicted,
///   evicted_per_address, idle_timeout), zonemesh_dns_errors_total{kind}.
class dns_listener_set {
 public:
  dns_listener_set(dns_listener_options options, processor_factory factory,
                   common::metrics::registry& metrics);
  ~dns_listener_set();  ///< stops
  dns_listener_set(const dns_listener_set&) = delete;
  dns_listener_set& operator=(const dns_listener_set&) = delete;

  /// Creates the processors, binds every socket and starts the workers.
  /// Throws std::runtime_error naming the address when a bind fails (nothing
  /// keeps running then). When an address asks for port 0, UDP and TCP get the
  /// same free port.
  void start();

  /// Closes every socket and connection and joins the workers. Idempotent;
  /// safe to call from any thread except a worker.
  void stop();

  /// One entry per configured address, in configuration order; valid after start().
  [[nodiscard]] std::vector<bound_dns_address> bound_addresses() const;

  /// DNS-over-TCP connections open right now.
  [[nodiscard]] std::size_t tcp_connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The QTYPE of the first question, or -1 when `query` is too short or the
/// name runs past its end. Never reads outside `query`.
[[nodiscard]] int dns_query_type(const std::uint8_t* query, std::size_t size) noexcept;

}  // namespace zonemesh::server
