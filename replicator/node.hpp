#pragma once
// One site's replicator: accepts and dials peer links (mutual TLS), streams
// what each peer lacks and applies what peers send, through the SQL apply
// function. asio stays inside node.cpp.

#include <memory>

#include "config.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::replicator {

class node {
 public:
  node(replicator_config config, common::metrics::registry& metrics);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Binds the peer listener and starts the network thread, the dialers and
  /// the change-log listener. Throws std::runtime_error on a bad TLS setup or
  /// a failed bind.
  void start();
  void stop();

  /// For /health: empty when healthy, else the reason.
  std::string health() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace zonemesh::replicator
