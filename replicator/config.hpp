#pragma once
// zonemesh-replicator's configuration file (format: see example_replicator_config()).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace zonemesh::replicator {

struct peer_address {
  std::string node;  ///< the peer's node id, which its certificate must carry
  std::string host;
  std::uint16_t port = 0;
};

struct replicator_config {
  std::string node;
  common::listen_address listen{"127.0.0.1", 7100, false};
  std::vector<peer_address> peers;
  std::string tls_ca, tls_cert, tls_key;
  std::string conninfo;
  /// An apply transaction that stalls (the process frozen, the host hung)
  /// is ended by PostgreSQL after this, freeing the apply lock that local
  /// writes wait on (idle_in_transaction_session_timeout).
  std::chrono::milliseconds apply_stall_timeout{5000};
  /// How long an apply waits for local write transactions before it gives
  /// way and tries again (lock_timeout): while it waits, new local writes
  /// queue behind it.
  std::chrono::milliseconds apply_lock_timeout{2000};
  common::listen_address http{"127.0.0.1", 7180, false};
  common::log_level log_level = common::log_level::info;
  std::chrono::milliseconds max_clock_skew{60'000};
  std::size_t batch_transactions = 500;
  std::chrono::seconds retention{7 * 24 * 3600};
  bool accept_unknown_peers = true;
  // Limits on links (see docs/operations.md, "Limits").
  std::uint32_t max_frame_before_hello = 64 * 1024;  ///< bytes; a frame over it before hello closes the link
  std::chrono::milliseconds hello_timeout{5'000};    ///< TCP accept to accepted hello
  std::chrono::seconds idle_timeout{30};             ///< nothing received on a link for this long: closed
  std::size_t max_unauthenticated = 32;              ///< accepted links before hello, over all addresses
  std::size_t max_unauthenticated_per_address = 8;   ///< the same, from one IP address
};

/// Parses the configuration; throws std::runtime_error "source:line: problem".
replicator_config parse_replicator_config(std::string_view text, std::string_view source);
replicator_config load_replicator_config(const std::string& path);

/// A documented example configuration (it parses).
std::string_view example_replicator_config();

}  // namespace zonemesh::replicator
