#pragma once
// The HTTP API: PowerDNS Authoritative-compatible /api/v1 (servers, zones,
// rrsets, metadata, TSIG keys, statistics) and zonemesh's /api/v1/cluster,
// writing to this site's database through plain SQL; and the web UI's pages.

#include <memory>
#include <string>

#include "auth_limiter.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

class http_router;

struct api_options {
  std::string conninfo;  ///< this site's database
  std::string api_key;   ///< X-API-Key every /api request must carry; empty = API refused
  std::string node;      ///< this site's node id, for /api/v1/cluster
  /// Wrong keys from one address before it gets 429 for a while ([http] api_auth_*).
  auth_limiter_options auth_limits;
};

/// Serves /api with its own database connection, used on the HTTP server's
/// background thread only (so /health and /metrics never wait for the
/// database). Every request without the right X-API-Key gets 401; an address
/// that sent too many gets 429 with Retry-After for a while (auth_limits),
/// counted in zonemesh_api_auth_failures_total, zonemesh_api_auth_refused_total
/// and zonemesh_api_auth_blocked_addresses.
class api {
 public:
  api(api_options options, common::metrics::registry& metrics);
  ~api();
  api(const api&) = delete;
  api& operator=(const api&) = delete;

  /// Adds every /api route to `router`; this object must outlive it.
  void add_routes(http_router& router);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// GET / and /ui/<file>: the web UI, built into the binary from web/.
void add_web_ui_routes(http_router& router);

}  // namespace zonemesh::server
