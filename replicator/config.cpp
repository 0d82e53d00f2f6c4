// Parser of zonemesh-replicator's configuration file.

#include "config.hpp"

#include <charconv>
#include <set>
#include <stdexcept>

#include "common/ini.hpp"

namespace zonemesh::replicator {
namespace {

constexpr std::string_view example = R"(# zonemesh-replicator configuration.
# `key = value` lines in [sections]; '#' starts a comment line.

[replicator]
# This site's node id: the same as its database's (zonemesh-admin migrate
# --node) and as the CN of its certificate.
node = site1
# Where peers connect to this site.
listen = 127.0.0.1:7101
# Peers this site connects to: node@host:port, repeatable. Peers that connect
# here with a valid certificate are accepted too (a new site joins by
# pointing at any one existing site).
peer = site2@127.0.0.1:7102
peer = site3@127.0.0.1:7103
# Refuse a peer whose clock differs from ours by more than this (ms).
max_clock_skew_ms = 60000
# Source transactions per batch sent to a peer.
batch_transactions = 500
# Change-log entries every peer has are pruned; anything older than this is
# pruned anyway, and a peer missing it gets a snapshot (seconds).
retention_s = 604800
# Accept peers not listed above when their certificate is valid.
accept_unknown_peers = true

# Limits on peer links (docs/operations.md, "Limits"; each refusal is logged,
# at most once per 10 s per reason, and counted in
# zonemesh_replicator_connections_closed_total{reason}).
# Largest frame accepted before the peer's hello is accepted (bytes; a hello
# is a few hundred bytes per site). A larger one closes the link
# (reason="frame_too_large"). After hello, frames up to 256 MiB are read, the
# buffer growing as bytes arrive.
max_frame_before_hello = 65536
# A connection must complete TLS and send an acceptable hello within this
# long (ms), or it is closed (reason="hello_timeout").
hello_timeout_ms = 5000
# An established link on which nothing arrives for this long (s) is closed
# and redialed (reason="idle_timeout"). Each end pings every 5 s, so at least
# 15.
idle_timeout_s = 30
# Connections accepted but not yet past hello, in all and from one IP
# address; more are closed at once (reason="unauthenticated_limit"). The
# current count is zonemesh_replicator_unauthenticated_connections.
max_unauthenticated_connections = 32
max_unauthenticated_per_address = 8

[tls]
# The cluster CA and this site's certificate and key (scripts/make-certs).
ca = /etc/zonemesh/tls/ca.pem
cert = /etc/zonemesh/tls/site1.pem
key = /etc/zonemesh/tls/site1.key

[database]
conninfo = host=/run/postgresql dbname=zonemesh
# An apply transaction that stalls (this process frozen or its host hung)
# is ended by PostgreSQL after this many ms, so the apply lock it holds,
# which every local write at this site waits on, comes free; the apply is
# retried and nothing is lost.
apply_stall_timeout_ms = 5000
# An apply waits this long (ms) for local write transactions to finish, then
# gives way and tries again: while it waits, new local writes queue behind
# it. Local writes themselves wait at most zonemesh.node.local_write_wait_ms.
apply_lock_timeout_ms = 2000

[http]
# /metrics and /health.
listen = 127.0.0.1:7181

[log]
level = info
)";

template <typename Int>
Int number(const common::ini_entry& e, std::string_view source, Int min, Int max) {
  Int v{};
  auto [ptr, ec] = std::from_chars(e.value.data(), e.value.data() + e.value.size(), v);
  if (ec != std::errc{} || ptr != e.value.data() + e.value.size() || v < min || v > max) {
    throw std::runtime_error(std::string(source) + ":" + std::to_string(e.line) + ": " + e.key +
                             " must be a number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

}  // namespace

std::string_view example_replicator_config() { return example; }

replicator_config parse_replicator_config(std::string_view text, std::string_view source) {
  replicator_config cfg;
  std::set<std::string> seen;
  for (const auto& e : common::parse_ini(text, source)) {
    auto where = std::string(source) + ":" + std::to_string(e.line) + ": ";
    auto fail = [&](const std::string& what) { throw std::runtime_error(where + what); };
    std::string id = e.section + "." + e.key;
    if (id != "replicator.peer" && !seen.insert(id).second) fail(e.key + " given twice in [" + e.section + "]");
    auto address = [&] {
      std::string error;
      auto a = common::parse_listen_address(e.value, error);
      if (!a) fail(e.key + ": " + error);
      return *a;
    };
    if (id == "replicator.node") {
      cfg.node = e.value;
    } else if (id == "replicator.listen") {
      cfg.listen = address();
    } else if (id == "replicator.peer") {
      auto at = e.value.find('@');
      auto colon = e.value.rfind(':');
      if (at == std::string::npos || colon == std::string::npos || colon < at) fail("peer must be node@host:port");
      peer_address p;
      p.node = e.value.substr(0, at);
      p.host = e.value.substr(at + 1, colon - at - 1);
      if (p.host.size() > 2 && p.host.front() == '[' && p.host.back() == ']') p.host = p.host.substr(1, p.host.size() - 2);
      common::ini_entry port{e.section, "peer port", e.value.substr(colon + 1), e.line};
      p.port = number<std::uint16_t>(port, source, 1, 65535);
      if (p.node.empty() || p.host.empty()) fail("peer must be node@host:port");
      cfg.peers.push_back(p);
    } else if (id == "replicator.max_clock_skew_ms") {
      cfg.max_clock_skew = std::chrono::milliseconds(number<long long>(e, source, 1, 86'400'000));
    } else if (id == "replicator.batch_transactions") {
      cfg.batch_transactions = number<std::size_t>(e, source, 1, 100'000);
    } else if (id == "replicator.retention_s") {
      cfg.retention = std::chrono::seconds(number<long long>(e, source, 60, 365LL * 24 * 3600));
    } else if (id == "replicator.accept_unknown_peers") {
      if (e.value != "true" && e.value != "false") fail("accept_unknown_peers must be true or false");
      cfg.accept_unknown_peers = e.value == "true";
    } else if (id == "replicator.max_frame_before_hello") {
      cfg.max_frame_before_hello = number<std::uint32_t>(e, source, 1024, 16u * 1024 * 1024);
    } else if (id == "replicator.hello_timeout_ms") {
      cfg.hello_timeout = std::chrono::milliseconds(number<long long>(e, source, 100, 600'000));
    } else if (id == "replicator.idle_timeout_s") {
      cfg.idle_timeout = std::chrono::seconds(number<long long>(e, source, 15, 86'400));
    } else if (id == "replicator.max_unauthenticated_connections") {
      cfg.max_unauthenticated = number<std::size_t>(e, source, 1, 100'000);
    } else if (id == "replicator.max_unauthenticated_per_address") {
      cfg.max_unauthenticated_per_address = number<std::size_t>(e, source, 1, 100'000);
    } else if (id == "tls.ca") {
      cfg.tls_ca = e.value;
    } else if (id == "tls.cert") {
      cfg.tls_cert = e.value;
    } else if (id == "tls.key") {
      cfg.tls_key = e.value;
    } else if (id == "database.conninfo") {
      cfg.conninfo = e.value;
    } else if (id == "database.apply_stall_timeout_ms") {
      cfg.apply_stall_timeout = std::chrono::milliseconds(number<long long>(e, source, 100, 3'600'000));
    } else if (id == "database.apply_lock_timeout_ms") {
      cfg.apply_lock_timeout = std::chrono::milliseconds(number<long long>(e, source, 10, 3'600'000));
    } else if (id == "http.listen") {
      cfg.http = address();
    } else if (id == "log.level") {
      auto level = common::parse_log_level(e.value);
      if (!level) fail("level must be trace, debug, info, warn, error, critical or off");
      cfg.log_level = *level;
    } else {
      fail("unknown key " + e.key + " in [" + e.section + "]");
    }
  }
  auto missing = [&](const char* what) {
    throw std::runtime_error(std::string(source) + ": " + what + " is required");
  };
  if (cfg.node.empty()) missing("[replicator] node");
  if (cfg.tls_ca.empty() || cfg.tls_cert.empty() || cfg.tls_key.empty()) missing("[tls] ca, cert and key");
  for (const auto& p : cfg.peers) {
    if (p.node == cfg.node) throw std::runtime_error(std::string(source) + ": peer " + p.node + " is this node");
  }
  return cfg;
}

replicator_config load_replicator_config(const std::string& path) {
  return parse_replicator_config(common::read_text_file(path), path);
}

}  // namespace zonemesh::replicator
