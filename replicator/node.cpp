// The replicator: peer links over mutual TLS, one network thread (asio), one
// database worker per link. See replicator/README.md for the protocol.

#include "node.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/metrics.hpp"
#include "db/migrations.hpp"
#include "db_worker.hpp"
#include "frame.hpp"

namespace zonemesh::replicator {
namespace {

using asio::ip::tcp;
using json = nlohmann::json;
using vector_map = std::map<std::string, long long>;
using tls_stream = asio::ssl::stream<tcp::socket>;

constexpr int window = 4;                       // CHANGES batches in flight per link
constexpr long long ping_every_ms = 5000;
// A link on which nothing arrives for cfg.idle_timeout is dead. Both ends
// ping every ping_every_ms, from the io thread when the link's database
// worker is busy (a long apply or snapshot), so a healthy link never is.
constexpr std::size_t read_chunk = 16 * 1024;   // bytes read from a link at a time
constexpr long long refusal_log_every_ms = 10000;
constexpr std::size_t snapshot_chunk = 5000;    // rows per snapshot frame
// A changes frame is applied in one database transaction at the peer, whose
// DNS server sees none of it until it commits, so frames are cut by size,
// whatever the transactions' sizes. 4 MiB (~15,000 changes): a catch-up
// after a partition rewrites many versions of the same rows, and the
// set-based apply writes each row's last version once per frame, so larger
// frames mean fewer row writes, commits, acks and DNS server re-reads (see
// bench/RESULTS.md); a single change still goes out at once, on its own.
constexpr std::size_t max_batch_bytes = 4 * 1024 * 1024;
constexpr std::size_t fetch_page = 16;  // source transactions read at a time
// A change that another origin made is forwarded to a peer that has a live
// link to that origin itself only once it has been here this long: the
// origin sends it directly, and a full mesh would otherwise carry every
// change to every site once per peer (applied once, the rest thrown away as
// duplicates after being read, sent and parsed, and slowing the direct
// stream down). Peers say which links they have in hello, every ack and
// every pong; a link that goes down stops the holding back within a ping
// interval, and so does a peer that has said nothing for links_fresh_ms.
// Held back, never withheld: if a direct link is up but does not deliver,
// this site forwards after the delay, so any connected topology converges.
constexpr long long forward_delay_ms = 30000;
constexpr long long links_fresh_ms = 2 * ping_every_ms + 2000;
// Source transactions read to send, as text, kept for the other links that
// send them too (a transaction never changes once committed): in a mesh
// each one is sent to every peer, and reading it is most of the sender's
// database work. Bounded; the oldest go first.
constexpr std::size_t sent_cache_bytes = 64 * 1024 * 1024;

/// Shared by every link's worker thread.
class sent_cache {
 public:
  using text = std::shared_ptr<const std::string>;
  text find(const std::string& origin, long long seq) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find({origin, seq});
    return it == entries_.end() ? nullptr : it->second;
  }
  void add(const std::string& origin, long long seq, text t) {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = entries_.emplace(std::make_pair(origin, seq), std::move(t));
    if (!fresh) return;
    bytes_ += it->second->size();
    order_.emplace_back(origin, seq);
    while (bytes_ > sent_cache_bytes && !order_.empty()) {
      auto old = entries_.find(order_.front());
      if (old != entries_.end()) {
        bytes_ -= old->second->size();
        entries_.erase(old);
      }
      order_.pop_front();
    }
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<std::string, long long>, text> entries_;
  std::deque<std::pair<std::string, long long>> order_;
  std::size_t bytes_ = 0;
};

long long steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

vector_map to_vector(const json& j) {
  vector_map v;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.value().is_number_integer()) v[it.key()] = it.value().get<long long>();
    }
  }
  return v;
}

/// The CN of the peer's (verified) certificate, or "".
std::string peer_common_name(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  char buf[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  X509_free(cert);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

/// Logs refusals at most once per refusal_log_every_ms per reason, saying
/// how many were left out (a flood of connections must not flood the log).
/// io thread only.
class refusal_log {
 public:
  void note(const std::string& reason, const std::string& message) {
    auto& e = entries_[reason];
    long long now = steady_ms();
    if (e.last != 0 && now - e.last < refusal_log_every_ms) {
      ++e.suppressed;
      return;
    }
    if (e.suppressed > 0) {
      spdlog::warn("{} ({} more refused for this reason in the last {} s)", message, e.suppressed,
                   (now - e.last) / 1000);
    } else {
      spdlog::warn("{}", message);
    }
    e.last = now;
    e.suppressed = 0;
  }

 private:
  struct entry {
    long long last = 0;
    long long suppressed = 0;
  };
  std::map<std::string, entry> entries_;
};

struct peer_metrics {
  common::metrics::gauge& connected;
  common::metrics::gauge& last_contact;
  common::metrics::gauge& behind;
  common::metrics::gauge& seconds_behind;
  common::metrics::gauge& clock_offset;
  common::metrics::gauge& skew_alarm;
  common::metrics::counter& sent;
  common::metrics::counter& received;
};

class session;

struct node_state : std::enable_shared_from_this<node_state> {
  node_state(replicator_config c, common::metrics::registry& m)
      : cfg(std::move(c)),
        registry(m),
        connected(m.add_gauge_family("zonemesh_replicator_peer_connected", "1 while the link to the peer is up", {"peer"})),
        last_contact(m.add_gauge_family("zonemesh_replicator_peer_last_contact_seconds",
                                        "Unix time of the last frame from the peer", {"peer"})),
        behind(m.add_gauge_family("zonemesh_replicator_peer_changes_behind",
                                  "Change-log entries held here that the peer has not acknowledged", {"peer"})),
        seconds_behind(m.add_gauge_family("zonemesh_replicator_peer_seconds_behind",
                                          "Age of the oldest entry the peer has not acknowledged", {"peer"})),
        clock_offset(m.add_gauge_family("zonemesh_replicator_peer_clock_offset_ms",
                                        "Peer clock minus ours, at the last hello", {"peer"})),
        skew_alarm(m.add_gauge_family("zonemesh_replicator_clock_skew_alarm",
                                      "1 when the peer was refused for clock skew beyond the bound", {"peer"})),
        sent(m.add_counter_family("zonemesh_replicator_transactions_sent_total",
                                  "Source transactions sent to the peer", {"peer"})),
        received(m.add_counter_family("zonemesh_replicator_transactions_received_total",
                                      "Source transactions from the peer applied here", {"peer"})),
        unauthenticated(m.add_gauge("zonemesh_replicator_unauthenticated_connections",
                                    "Accepted connections not yet past TLS and hello")),
        closed_family(m.add_counter_family(
            "zonemesh_replicator_connections_closed_total",
            "Links closed by a limit: unauthenticated_limit (over max_unauthenticated_*), frame_too_large "
            "(over max_frame_before_hello before hello), hello_timeout, idle_timeout",
            {"reason"})),
        closed_unauthenticated_limit(closed_family.with({"unauthenticated_limit"})),
        closed_frame_too_large(closed_family.with({"frame_too_large"})),
        closed_hello_timeout(closed_family.with({"hello_timeout"})),
        closed_idle_timeout(closed_family.with({"idle_timeout"})),
        conflicts(m.add_gauge("zonemesh_replicator_conflicts", "Rows in zonemesh.conflicts")),
        apply_errors(m.add_gauge("zonemesh_replicator_apply_errors",
                                 "Source transactions kept aside in zonemesh.apply_errors")),
        apply_lock_waits(m.add_counter("zonemesh_replicator_apply_gave_way_total",
                                       "Applies that waited apply_lock_timeout_ms for local write "
                                       "transactions, gave way and were tried again")) {}

  peer_metrics& metrics_for(const std::string& peer) {
    auto it = per_peer.find(peer);
    if (it == per_peer.end()) {
      it = per_peer.emplace(peer, peer_metrics{connected.with({peer}), last_contact.with({peer}),
                                                behind.with({peer}), seconds_behind.with({peer}),
                                                clock_offset.with({peer}), skew_alarm.with({peer}),
                                                sent.with({peer}), received.with({peer})})
               .first;
    }
    return it->second;
  }

  void set_health(std::string reason) {
    std::lock_guard lock(health_mutex);
    health_reason = std::move(reason);
  }

  void pump_all();
  /// The peers this site has an established link with, as JSON (told to
  /// peers in hello, ack and pong: see forward_delay_ms).
  json live_links() const;
  void accept();
  void tick();
  void dial(std::size_t index);
  void register_session(const std::shared_ptr<session>& s);
  void unregister_session(session* s);

  replicator_config cfg;
  common::metrics::registry& registry;
  common::metrics::gauge_family& connected;
  common::metrics::gauge_family& last_contact;
  common::metrics::gauge_family& behind;
  common::metrics::gauge_family& seconds_behind;
  common::metrics::gauge_family& clock_offset;
  common::metrics::gauge_family& skew_alarm;
  common::metrics::counter_family& sent;
  common::metrics::counter_family& received;
  common::metrics::gauge& unauthenticated;
  common::metrics::counter_family& closed_family;
  common::metrics::counter& closed_unauthenticated_limit;
  common::metrics::counter& closed_frame_too_large;
  common::metrics::counter& closed_hello_timeout;
  common::metrics::counter& closed_idle_timeout;
  common::metrics::gauge& conflicts;
  common::metrics::gauge& apply_errors;
  common::metrics::counter& apply_lock_waits;
  std::map<std::string, peer_metrics> per_peer;  // io thread only
  sent_cache sent_txs;

  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls};
  tcp::acceptor acceptor{io};
  asio::steady_timer ticker{io};
  std::vector<std::unique_ptr<asio::steady_timer>> dial_timers;
  std::vector<std::weak_ptr<session>> dialed;
  std::vector<long long> dial_backoff;
  std::map<std::string, std::shared_ptr<session>> sessions;  // established, io thread only
  // Links not yet established (TLS or hello pending), checked against
  // hello_timeout by tick(); io thread only.
  std::vector<std::weak_ptr<session>> handshaking;
  // Accepted links not yet established, in all and per remote address.
  std::size_t unauthenticated_count = 0;
  std::map<std::string, std::size_t> unauthenticated_by_address;
  refusal_log refusals;
  std::unique_ptr<db_worker> maintenance;
  long long last_prune = 0, last_retry = 0, last_status = 0;

  std::thread io_thread;
  std::thread listen_thread;
  std::atomic<bool> stopping{false};
  mutable std::mutex health_mutex;
  std::string health_reason = "starting";
};

/// One peer link, both directions. Lives on the io thread; its database work
/// runs on its own db_worker and comes back with asio::post.
class session : public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<node_state> n, tcp::socket sock, bool outgoing, std::string expected, std::string remote)
      : node_(std::move(n)),
        stream_(std::move(sock), node_->tls),
        outgoing_(outgoing),
        expected_(std::move(expected)),
        remote_(std::move(remote)),
        reader_(node_->cfg.max_frame_before_hello) {}
  ~session() {
    if (worker_) worker_->stop();
    release_unauthenticated();
  }

  /// Counts this (accepted) link against the unauthenticated limits until it
  /// is established or closed.
  void count_unauthenticated(std::string address) {
    address_ = std::move(address);
    counted_ = true;
    ++node_->unauthenticated_count;
    ++node_->unauthenticated_by_address[address_];
    node_->unauthenticated.set(static_cast<double>(node_->unauthenticated_count));
  }

  void start() {
    last_rx_ = steady_ms();
    hello_deadline_ = last_rx_ + node_->cfg.hello_timeout.count();
    auto self = shared_from_this();
    stream_.async_handshake(outgoing_ ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                            [self](const asio::error_code& ec) { self->on_handshake(ec); });
  }

  /// Closes the link; `quiet` when the caller logged why (rate-limited).
  void close(const std::string& why, bool quiet = false) {
    if (closed_) return;
    closed_ = true;
    release_unauthenticated();
    if (quiet) {
    } else if (!peer_.empty()) {
      spdlog::warn("link to {} ({}) closed: {}", peer_, remote_, why);
      node_->metrics_for(peer_).connected.set(0);
      node_->maintenance->post([peer = peer_, why](pqxx::connection_base& c) {
        pqxx::work tx(c);
        tx.exec_params("UPDATE zonemesh.peers SET connected = false, last_error = $2 WHERE node = $1", peer, why);
        tx.commit();
      });
    } else {
      spdlog::warn("link with {} refused: {}", remote_, why);
    }
    node_->unregister_session(this);
    if (worker_) worker_->stop();
    asio::error_code ignored;
    stream_.lowest_layer().cancel(ignored);
    stream_.lowest_layer().close(ignored);
  }

  void pump();
  void tick(long long now);
  /// Before establishment: closes the link past its hello deadline. False
  /// once it need not be checked again (closed or established).
  bool check_hello_deadline(long long now) {
    if (closed_ || established_) return false;
    if (now < hello_deadline_) return true;
    node_->closed_hello_timeout.inc();
    std::string why = std::string(hello_seen_ ? "hello not accepted" : cert_cn_.empty() ? "no TLS handshake" : "no hello") +
                      " within " + std::to_string(node_->cfg.hello_timeout.count()) + " ms (hello_timeout_ms)";
    node_->refusals.note("hello_timeout", "link with " + remote_ + " closed: " + why);
    close(why, true);
    return false;
  }
  bool usable() const { return established_ && !closed_; }
  const std::string& peer() const { return peer_; }
  bool outgoing() const { return outgoing_; }

 private:
  void on_handshake(const asio::error_code& ec);
  void send_hello();
  void read_frames();
  /// Feeds `n` received bytes to the frame reader and handles whole frames;
  /// false when the link was closed.
  bool on_bytes(std::size_t n);
  void handle(frame_type type, std::string payload);
  void on_hello(const hello_message& hello);
  void on_hello_checked(const hello_message& hello, long long our_clock_ms);
  void release_unauthenticated() {
    if (!counted_) return;
    counted_ = false;
    --node_->unauthenticated_count;
    auto it = node_->unauthenticated_by_address.find(address_);
    if (it != node_->unauthenticated_by_address.end() && --it->second == 0) {
      node_->unauthenticated_by_address.erase(it);
    }
    node_->unauthenticated.set(static_cast<double>(node_->unauthenticated_count));
  }
  void apply_changes(std::string payload);
  void on_ack(const json& ack);
  /// The peer's version vector (from an ack or a ping): what it need not be
  /// sent, and what it has acknowledged (zonemesh.peer_vector, for pruning).
  void note_vector(const json& vector);
  void note_links(const json& j) {
    if (!j.is_object() || !j.contains("links") || !j["links"].is_array()) return;
    peer_links_.clear();
    peer_links_at_ = steady_ms();
    for (const auto& l : j["links"]) {
      if (l.is_string()) peer_links_.insert(l.get<std::string>());
    }
  }
  void note_links(const hello_message& hello) {
    if (!hello.has_links) return;
    peer_links_ = hello.links;
    peer_links_at_ = steady_ms();
  }
  void start_snapshot();
  void snapshot_step(frame_type type, std::string payload);
  void write(frame_type type, std::string payload);
  void write_next();
  void db_failed(const std::string& e) {
    // Called on the worker's thread: hop to the io thread.
    asio::post(node_->io, [self = weak_from_this(), e] {
      if (auto s = self.lock()) s->close("database error: " + e);
    });
  }
  template <typename F>
  void on_io(F&& f) {
    asio::post(node_->io, [self = shared_from_this(), f = std::forward<F>(f)]() mutable {
      if (!self->closed_) f();
    });
  }

  std::shared_ptr<node_state> node_;
  tls_stream stream_;
  bool outgoing_;
  std::string expected_;
  std::string remote_;
  std::unique_ptr<db_worker> worker_;  // made once TLS is up (an unauthenticated link has none)
  std::string peer_;
  std::string cert_cn_;
  bool hello_seen_ = false;
  bool established_ = false;
  bool closed_ = false;
  bool fetching_ = false;
  bool snapshotting_ = false;
  int in_flight_ = 0;
  vector_map sent_;   // per origin: sent (or known to be at the peer) up to this seq
  std::set<std::string> peer_links_;  // the peer's live links, as it last said
  long long peer_links_at_ = 0;       // when it said so
  long long last_rx_ = 0;
  long long last_ping_ = 0;
  long long hello_deadline_ = 0;
  bool ping_queued_ = false;   // a ping is waiting for the database worker
  bool counted_ = false;       // counted in node_->unauthenticated_*
  std::string address_;        // the remote IP address, for the per-address count
  frame_reader reader_;
  std::array<std::uint8_t, read_chunk> rx_{};
  std::deque<std::string> out_;
  bool writing_ = false;
  // A snapshot being received has its own connection, since this link's
  // other database work goes on meanwhile (worker thread only).
  std::unique_ptr<pqxx::connection> snapshot_conn_;
  std::unique_ptr<pqxx::work> snapshot_tx_;
  std::string snapshot_header_;              // worker thread only
};

void session::on_handshake(const asio::error_code& ec) {
  if (closed_) return;
  if (ec) {
    close("TLS handshake failed: " + ec.message());
    return;
  }
  cert_cn_ = peer_common_name(stream_.native_handle());
  if (cert_cn_.empty()) {
    close("the peer's certificate has no common name");
    return;
  }
  if (outgoing_ && cert_cn_ != expected_) {
    close("expected node " + expected_ + " but the certificate is node " + cert_cn_ + "'s");
    return;
  }
  worker_ = std::make_unique<db_worker>(node_->cfg.conninfo, [this](const std::string& e) { db_failed(e); });
  send_hello();
  read_frames();
}

void session::send_hello() {
  worker_->post([self = shared_from_this(), links = node_->live_links()](pqxx::connection_base& c) {
    pqxx::read_transaction tx(c);
    auto r = tx.exec1("SELECT zonemesh.version_vector()::text, zonemesh.physical_hlc() >> 16");
    json hello = {{"protocol", protocol_version},
                  {"node", self->node_->cfg.node},
                  {"vector", json::parse(r[0].c_str())},
                  {"clock_ms", r[1].as<long long>()},
                  {"links", links}};
    self->on_io([self, text = hello.dump()] { self->write(frame_type::hello, text); });
  });
}

void session::read_frames() {
  auto self = shared_from_this();
  stream_.async_read_some(asio::buffer(rx_), [self](const asio::error_code& ec, std::size_t n) {
    if (self->closed_) return;
    if (ec) {
      self->close(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ? "the peer closed the link"
                                                                                    : "read: " + ec.message());
      return;
    }
    if (self->on_bytes(n)) self->read_frames();
  });
}

bool session::on_bytes(std::size_t n) {
  // On an established link, any bytes are a sign of life (a large frame may
  // take a while); before that, only the hello deadline counts.
  if (established_) last_rx_ = steady_ms();
  std::span<const std::uint8_t> data(rx_.data(), n);
  while (!data.empty()) {
    switch (reader_.consume(data)) {
      case frame_reader::status::need_more:
        break;
      case frame_reader::status::frame_ready: {
        const frame_type type = reader_.type();
        last_rx_ = steady_ms();
        try {
          handle(type, reader_.take_payload());
        } catch (const std::exception& e) {
          close(std::string("bad ") + std::string(to_string(type)) + " frame: " + e.what());
        } catch (...) {
          close(std::string("bad ") + std::string(to_string(type)) + " frame");
        }
        if (closed_) return false;
        break;
      }
      case frame_reader::status::too_large: {
        node_->closed_frame_too_large.inc();
        std::string why = "a frame of " + std::to_string(reader_.claimed()) + " bytes " +
                          (hello_seen_ ? "" : "before hello ") + "(limit " + std::to_string(reader_.limit()) +
                          (hello_seen_ ? "" : ", max_frame_before_hello") + ")";
        if (hello_seen_) {
          close(why);
        } else {
          node_->refusals.note("frame_too_large", "link with " + remote_ + " refused: " + why);
          close(why, true);
        }
        return false;
      }
      case frame_reader::status::empty:
      case frame_reader::status::unknown_type:
        close("malformed frame header");
        return false;
    }
  }
  return true;
}

void session::handle(frame_type type, std::string payload) {
  if (!hello_seen_ && type != frame_type::hello && type != frame_type::error) {
    close("the peer sent " + std::string(to_string(type)) + " before hello");
    return;
  }
  if (established_) {
    node_->metrics_for(peer_).last_contact.set(
        static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()));
  }
  switch (type) {
    case frame_type::hello: {
      if (hello_seen_) throw std::runtime_error("second hello");
      hello_seen_ = true;
      hello_message hello;
      std::string error;
      if (parse_hello(payload, hello, error) != hello_status::ok) {
        close("bad hello frame: " + error);
        return;
      }
      on_hello(hello);
      break;
    }
    case frame_type::changes:
      apply_changes(std::move(payload));
      break;
    case frame_type::ack:
      on_ack(json::parse(payload));
      break;
    case frame_type::ping: {
      auto ping = json::parse(payload);
      if (ping.is_object() && ping.contains("vector") && ping["vector"].is_object()) note_vector(ping["vector"]);
      write(frame_type::pong, json{{"links", node_->live_links()}}.dump());
      break;
    }
    case frame_type::pong:
      note_links(json::parse(payload));
      break;
    case frame_type::snapshot_begin:
    case frame_type::snapshot_rows:
    case frame_type::snapshot_tombstones:
    case frame_type::snapshot_end:
      snapshot_step(type, std::move(payload));
      break;
    case frame_type::error:
      close("the peer refused the link: " + json::parse(payload).value("error", std::string("?")));
      break;
  }
}

void session::on_hello(const hello_message& hello) {
  if (hello.protocol != protocol_version) {
    write(frame_type::error, json{{"error", "protocol version " + std::to_string(protocol_version) + " only"}}.dump());
    close("the peer speaks protocol " + std::to_string(hello.protocol));
    return;
  }
  const std::string& node = hello.node;
  if (node != cert_cn_) {
    write(frame_type::error, json{{"error", "your certificate is not node " + node + "'s"}}.dump());
    close("the peer says it is " + node + " but its certificate is " + cert_cn_ + "'s");
    return;
  }
  if (node == node_->cfg.node) {
    close("the peer has this node's own id " + node);
    return;
  }
  if (!outgoing_ && !node_->cfg.accept_unknown_peers &&
      std::none_of(node_->cfg.peers.begin(), node_->cfg.peers.end(), [&](const auto& p) { return p.node == node; })) {
    write(frame_type::error, json{{"error", "unknown peer"}}.dump());
    close("node " + node + " is not a configured peer");
    return;
  }
  // A peer that passed TLS and said who it is: frames of any size from now on.
  reader_.set_limit(max_frame_size);
  worker_->post([self = shared_from_this(), hello](pqxx::connection_base& c) {
    pqxx::read_transaction tx(c);
    long long now = tx.exec1("SELECT zonemesh.physical_hlc() >> 16")[0].as<long long>();
    self->on_io([self, hello, now] { self->on_hello_checked(hello, now); });
  });
}

void session::on_hello_checked(const hello_message& hello, long long our_clock_ms) {
  const std::string& node = hello.node;
  long long offset = hello.clock_ms - our_clock_ms;
  auto& m = node_->metrics_for(node);
  m.clock_offset.set(static_cast<double>(offset));
  // Every measurement goes to the database: while all peers say this site's
  // clock is ahead beyond the bound, its local writes are refused (sql/018).
  node_->maintenance->post([node, offset](pqxx::connection_base& c) {
    pqxx::work tx(c);
    tx.exec_params("SELECT zonemesh.note_peer_clock($1, $2)", node, offset);
    tx.commit();
  });
  if (std::llabs(offset) > node_->cfg.max_clock_skew.count()) {
    m.skew_alarm.set(1);
    spdlog::error("ALARM: node {} clock is {} ms off ours (bound {} ms); link refused", node, offset,
                  node_->cfg.max_clock_skew.count());
    write(frame_type::error,
          json{{"error", "clock skew " + std::to_string(-offset) + " ms beyond the bound"}}.dump());
    peer_ = node;
    close("clock skew " + std::to_string(offset) + " ms");
    return;
  }
  m.skew_alarm.set(0);
  peer_ = node;
  established_ = true;
  release_unauthenticated();
  node_->register_session(shared_from_this());
  if (closed_) return;
  m.connected.set(1);
  spdlog::info("link to {} ({}, {}) up, clock offset {} ms", peer_, remote_, outgoing_ ? "dialed" : "accepted", offset);
  vector_map theirs = hello.vector;
  sent_ = theirs;
  note_links(hello);
  node_->maintenance->post([peer = peer_, remote = remote_, offset, theirs](pqxx::connection_base& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO zonemesh.peers (node, address, connected, last_contact, last_error, clock_offset_ms) "
        "VALUES ($1, $2, true, now(), NULL, $3) ON CONFLICT (node) DO UPDATE SET connected = true, "
        "last_contact = now(), last_error = NULL, clock_offset_ms = $3",
        peer, remote, offset);
    for (const auto& [o, s] : theirs) {
      tx.exec_params("INSERT INTO zonemesh.peer_vector (peer, origin, seq) VALUES ($1, $2, $3) "
                     "ON CONFLICT (peer, origin) DO UPDATE SET seq = EXCLUDED.seq",
                     peer, o, s);
    }
    tx.commit();
  });
  // A peer that lacks history this site no longer keeps (a new site joining
  // after pruning, or one cut off past the retention cap) gets a snapshot:
  // pump() finds out.
  pump();
}

void session::pump() {
  if (!usable() || fetching_ || snapshotting_ || in_flight_ >= window) return;
  fetching_ = true;
  std::set<std::string> held_back;
  if (steady_ms() - peer_links_at_ <= links_fresh_ms) held_back = peer_links_;
  held_back.erase(node_->cfg.node);  // this site's own changes go at once
  worker_->post([self = shared_from_this(), sent = sent_, limit = node_->cfg.batch_transactions,
                peer = peer_, held_back = std::move(held_back)](pqxx::connection_base& c) mutable {
    pqxx::read_transaction tx(c);
    std::string batch = "[";
    std::size_t n = 0;
    bool need_snapshot = false;
    for (const auto& row : tx.exec("SELECT origin, seq FROM zonemesh.vector ORDER BY origin")) {
      std::string origin = row[0].c_str();
      long long have = row[1].as<long long>();
      long long after = sent.count(origin) ? sent[origin] : 0;
      if (origin == peer || have <= after) continue;
      auto oldest = tx.exec_params1("SELECT zonemesh.oldest_kept_seq($1)", origin)[0];
      if (oldest.is_null() || oldest.as<long long>() > after + 1) {
        need_snapshot = true;
        break;
      }
      // Pages of a few transactions: each one is built as JSON by the query,
      // and a frame is full long before `limit` large transactions.
      const bool held = held_back.count(origin) > 0;
      for (std::size_t got = fetch_page; got == fetch_page && n < limit && batch.size() < max_batch_bytes;) {
        // What another link has read already (never for a held-back origin,
        // whose read also checks how long a transaction has been here).
        for (long long next = std::max(sent[origin], after) + 1;
             !held && next <= have && n < limit && batch.size() < max_batch_bytes; ++next) {
          auto cached = self->node_->sent_txs.find(origin, next);
          if (!cached) break;
          if (n++) batch += ',';
          batch += *cached;
          sent[origin] = next;
        }
        if (n >= limit || batch.size() >= max_batch_bytes || std::max(sent[origin], after) >= have) break;
        got = 0;
        auto page = std::min<std::size_t>(fetch_page, limit - n);
        for (const auto& ch : tx.exec_params(
                 "SELECT origin_seq, tx FROM zonemesh.origin_changes_text($1, $2, $3, $4, "
                 "make_interval(secs => $5))",
                 origin, std::max(sent[origin], after), have, static_cast<long long>(page),
                 held ? static_cast<double>(forward_delay_ms) / 1000.0 : 0.0)) {
          ++got;
          if (n++) batch += ',';
          auto text = std::make_shared<const std::string>(ch[1].c_str(), ch[1].size());
          batch += *text;
          sent[origin] = ch[0].as<long long>();
          self->node_->sent_txs.add(origin, sent[origin], std::move(text));
        }
        if (got < page) break;
      }
      if (n >= limit || batch.size() >= max_batch_bytes) break;
    }
    batch += ']';
    self->on_io([self, need_snapshot, n, sent = std::move(sent), batch = std::move(batch)]() mutable {
      self->fetching_ = false;
      if (need_snapshot) {
        spdlog::warn("{} lacks changes this site no longer keeps; sending a snapshot", self->peer_);
        self->start_snapshot();
        return;
      }
      if (n == 0) return;
      self->sent_ = std::move(sent);
      ++self->in_flight_;
      self->node_->metrics_for(self->peer_).sent.inc(n);
      self->write(frame_type::changes, std::move(batch));
      self->pump();
    });
  });
}

void session::apply_changes(std::string payload) {
  worker_->post([self = shared_from_this(), payload = std::move(payload)](pqxx::connection_base& c) {
    json counts;
    // Local writes wait on the apply lock: a stalled apply must not hold
    // them (PostgreSQL ends it after apply_stall_timeout), and an apply that
    // waits behind a long local transaction gives way (apply_lock_timeout)
    // rather than make new local writes queue behind it; it tries again.
    const auto& cfg = self->node_->cfg;
    for (int attempt = 1;; ++attempt) {
      try {
        pqxx::work tx(c);
        tx.exec("SET LOCAL idle_in_transaction_session_timeout = " +
                std::to_string(cfg.apply_stall_timeout.count()) +
                "; SET LOCAL lock_timeout = " + std::to_string(cfg.apply_lock_timeout.count()));
        counts = json::parse(tx.exec_params1("SELECT zonemesh.apply_batch($1::jsonb)::text", payload)[0].c_str());
        tx.exec_params("UPDATE zonemesh.peers SET last_contact = now() WHERE node = $1", self->peer_);
        tx.commit();
        break;
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() != "55P03" || attempt >= 30) throw;
        self->node_->apply_lock_waits.inc();
        spdlog::debug("applying {}'s changes gave way to local writes (attempt {})", self->peer_, attempt);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100 * attempt, 1000)));
      }
    }
    if (counts.value("failed", 0) > 0) {
      // Often a transient clash with another link applying the same rows:
      // try the kept ones again at once (they stay kept if they fail again).
      pqxx::work tx(c);
      tx.exec("SELECT zonemesh.retry_apply_errors()");
      tx.commit();
    }
    pqxx::read_transaction tx(c);
    json ack = {{"vector", json::parse(tx.exec1("SELECT zonemesh.version_vector()::text")[0].c_str())},
                {"applied", counts.value("applied", 0)},
                {"failed", counts.value("failed", 0)}};
    self->on_io([self, applied = counts.value("applied", 0), ack = std::move(ack)]() mutable {
      self->node_->metrics_for(self->peer_).received.inc(static_cast<std::uint64_t>(applied));
      ack["links"] = self->node_->live_links();
      self->write(frame_type::ack, ack.dump());
    });
  });
}

void session::on_ack(const json& ack) {
  if (in_flight_ > 0) --in_flight_;
  note_links(ack);
  note_vector(ack["vector"]);
  pump();
}

void session::note_vector(const json& vector) {
  vector_map theirs = to_vector(vector);
  for (const auto& [o, s] : theirs) sent_[o] = std::max(sent_[o], s);
  node_->maintenance->post([peer = peer_, theirs](pqxx::connection_base& c) {
    pqxx::work tx(c);
    for (const auto& [o, s] : theirs) {
      tx.exec_params("INSERT INTO zonemesh.peer_vector (peer, origin, seq) VALUES ($1, $2, $3) "
                     "ON CONFLICT (peer, origin) DO UPDATE SET seq = EXCLUDED.seq",
                     peer, o, s);
    }
    tx.exec_params("UPDATE zonemesh.peers SET last_contact = now() WHERE node = $1", peer);
    tx.commit();
  });
}

void session::start_snapshot() {
  snapshotting_ = true;
  worker_->post([self = shared_from_this()](pqxx::connection_base& c) {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    std::string header = tx.exec1("SELECT zonemesh.snapshot_header()::text")[0].c_str();
    self->on_io([self, header] { self->write(frame_type::snapshot_begin, header); });
    std::size_t rows_total = 0;
    for (const auto& t : tx.exec("SELECT tbl FROM zonemesh.replicated_tables ORDER BY tbl <> 'zones', tbl")) {
      std::string tbl = t[0].c_str();
      pqxx::icursorstream rows(tx, "SELECT to_jsonb(t)::text FROM public." + tx.quote_name(tbl) + " t",
                               "zonemesh_snapshot_" + tbl, snapshot_chunk);
      pqxx::result chunk;
      while (rows >> chunk) {
        std::string payload = tbl + "\n[";
        for (std::size_t i = 0; i < chunk.size(); ++i) {
          if (i) payload += ',';
          payload += chunk[static_cast<int>(i)][0].c_str();
        }
        payload += ']';
        rows_total += chunk.size();
        self->on_io([self, payload = std::move(payload)]() mutable {
          self->write(frame_type::snapshot_rows, std::move(payload));
        });
      }
    }
    pqxx::icursorstream tombs(tx,
                              "SELECT jsonb_build_object('tbl', tbl, 'key', key, 'hlc', hlc, 'origin', origin, "
                              "'zone', zone)::text FROM zonemesh.tombstones",
                              "zonemesh_snapshot_tombstones", snapshot_chunk);
    pqxx::result chunk;
    while (tombs >> chunk) {
      std::string payload = "[";
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        if (i) payload += ',';
        payload += chunk[static_cast<int>(i)][0].c_str();
      }
      payload += ']';
      self->on_io([self, payload = std::move(payload)]() mutable {
        self->write(frame_type::snapshot_tombstones, std::move(payload));
      });
    }
    tx.commit();
    self->on_io([self, header, rows_total] {
      spdlog::info("snapshot of {} rows sent to {}", rows_total, self->peer_);
      self->write(frame_type::snapshot_end, "{}");
      self->sent_ = to_vector(json::parse(header)["vector"]);
      self->snapshotting_ = false;
      ++self->in_flight_;
    });
  });
}

void session::snapshot_step(frame_type type, std::string payload) {
  worker_->post([self = shared_from_this(), type, payload = std::move(payload)](pqxx::connection_base& c) {
    try {
      if (type == frame_type::snapshot_begin) {
        self->snapshot_tx_.reset();
        self->snapshot_conn_ = std::make_unique<pqxx::connection>(self->node_->cfg.conninfo);
        self->snapshot_tx_ = std::make_unique<pqxx::work>(*self->snapshot_conn_);
        // A snapshot holds the apply lock from its first rows to its end: if
        // the peer stops sending, PostgreSQL ends it (local writes wait).
        self->snapshot_tx_->exec("SET LOCAL idle_in_transaction_session_timeout = " +
                                 std::to_string(self->node_->cfg.apply_stall_timeout.count()));
        self->snapshot_header_ = payload;
        spdlog::info("receiving a snapshot from {}", self->peer_);
        return;
      }
      if (!self->snapshot_tx_) throw std::runtime_error("snapshot frame outside a snapshot");
      auto& tx = *self->snapshot_tx_;
      if (type == frame_type::snapshot_rows) {
        auto nl = payload.find('\n');
        if (nl == std::string::npos) throw std::runtime_error("snapshot rows without a table");
        tx.exec_params("SELECT zonemesh.merge_snapshot_rows($1, $2::jsonb)", payload.substr(0, nl),
                       payload.substr(nl + 1));
      } else if (type == frame_type::snapshot_tombstones) {
        tx.exec_params("SELECT zonemesh.merge_snapshot_tombstones($1::jsonb)", payload);
      } else {
        tx.exec_params("SELECT zonemesh.finish_snapshot($1::jsonb)", self->snapshot_header_);
        tx.commit();
        self->snapshot_tx_.reset();
        self->snapshot_conn_.reset();
        pqxx::read_transaction rt(c);
        json ack = {{"vector", json::parse(rt.exec1("SELECT zonemesh.version_vector()::text")[0].c_str())},
                    {"applied", 0},
                    {"failed", 0}};
        spdlog::info("snapshot from {} applied", self->peer_);
        self->on_io([self, text = ack.dump()] { self->write(frame_type::ack, text); });
      }
    } catch (...) {
      self->snapshot_tx_.reset();
      self->snapshot_conn_.reset();
      throw;
    }
  });
}

void session::write(frame_type type, std::string payload) {
  out_.push_back(encode_frame(type, payload));
  if (!writing_) write_next();
}

void session::write_next() {
  if (out_.empty() || closed_) {
    writing_ = false;
    return;
  }
  writing_ = true;
  auto self = shared_from_this();
  asio::async_write(stream_, asio::buffer(out_.front()), [self](const asio::error_code& ec, std::size_t) {
    if (self->closed_) return;
    if (ec) {
      self->close("write: " + ec.message());
      return;
    }
    self->out_.pop_front();
    self->write_next();
  });
}

void session::tick(long long now) {
  if (closed_) return;
  if (now - last_rx_ > node_->cfg.idle_timeout.count() * 1000) {
    node_->closed_idle_timeout.inc();
    close("nothing heard for " + std::to_string((now - last_rx_) / 1000) + " s (idle_timeout_s)");
    return;
  }
  if (established_ && now - last_ping_ >= ping_every_ms) {
    last_ping_ = now;
    if (ping_queued_) {
      // The database worker is busy (a long apply or snapshot) and the last
      // ping still waits for it: ping without a vector meanwhile, so that
      // the peer does not take this link for dead.
      write(frame_type::ping, "{}");
      return;
    }
    ping_queued_ = true;
    // With this site's version vector: a peer that sends this site nothing
    // (it holds forwarding back, see forward_delay_ms) learns what it has
    // all the same, so it never sends it later what it got from the origin,
    // and its pruning does not wait for an ack that never comes.
    worker_->post([self = shared_from_this()](pqxx::connection_base& c) {
      pqxx::read_transaction tx(c);
      json ping = {{"vector", json::parse(tx.exec1("SELECT zonemesh.version_vector()::text")[0].c_str())}};
      self->on_io([self, text = ping.dump()] {
        self->ping_queued_ = false;
        self->write(frame_type::ping, text);
      });
    });
  }
  pump();
}

void node_state::register_session(const std::shared_ptr<session>& s) {
  auto it = sessions.find(s->peer());
  if (it != sessions.end() && it->second.get() != s.get() && it->second->usable()) {
    // Two links to one peer (both dialed): both ends keep the one dialed by
    // the smaller node id; between two dialed by the same end, the newer.
    auto dialer = [&](const session& x) { return x.outgoing() ? cfg.node : x.peer(); };
    if (dialer(*it->second) < dialer(*s)) {
      s->close("duplicate link (keeping the one " + dialer(*it->second) + " dialed)");
      return;
    }
    auto old = it->second;
    sessions.erase(it);
    old->close("duplicate link (keeping the newer one)");
  }
  sessions[s->peer()] = s;
}

void node_state::unregister_session(session* s) {
  auto it = sessions.find(s->peer());
  if (it != sessions.end() && it->second.get() == s) sessions.erase(it);
}

void node_state::pump_all() {
  for (auto& [peer, s] : sessions) s->pump();
}

json node_state::live_links() const {
  json links = json::array();
  for (const auto& [peer, s] : sessions) {
    if (s->usable()) links.push_back(peer);
  }
  return links;
}

void node_state::accept() {
  acceptor.async_accept([self = shared_from_this()](const asio::error_code& ec, tcp::socket sock) {
    if (self->stopping) return;
    if (!ec) {
      asio::error_code ignored;
      auto remote = sock.remote_endpoint(ignored);
      std::string address = remote.address().to_string();
      std::string where = address + ":" + std::to_string(remote.port());
      auto per_address = self->unauthenticated_by_address.find(address);
      const std::size_t from_address =
          per_address == self->unauthenticated_by_address.end() ? 0 : per_address->second;
      if (self->unauthenticated_count >= self->cfg.max_unauthenticated ||
          from_address >= self->cfg.max_unauthenticated_per_address) {
        self->closed_unauthenticated_limit.inc();
        self->refusals.note(
            "unauthenticated_limit",
            "connection from " + where + " refused: " +
                (from_address >= self->cfg.max_unauthenticated_per_address
                     ? std::to_string(from_address) + " connections from " + address +
                           " are before hello already (max_unauthenticated_per_address)"
                     : std::to_string(self->unauthenticated_count) +
                           " connections are before hello already (max_unauthenticated_connections)"));
        sock.close(ignored);
      } else {
        auto s = std::make_shared<session>(self, std::move(sock), false, "", where);
        s->count_unauthenticated(std::move(address));
        self->handshaking.push_back(s);
        s->start();
      }
    } else if (ec != asio::error::operation_aborted) {
      spdlog::warn("accept: {}", ec.message());
    }
    self->accept();
  });
}

void node_state::dial(std::size_t i) {
  if (stopping) return;
  const auto& p = cfg.peers[i];
  auto again = [self = shared_from_this(), i](long long ms) {
    self->dial_timers[i]->expires_after(std::chrono::milliseconds(ms));
    self->dial_timers[i]->async_wait([self, i](const asio::error_code& ec) {
      if (!ec) self->dial(i);
    });
  };
  auto up = sessions.find(p.node);
  auto mine = dialed[i].lock();
  if ((up != sessions.end() && up->second->usable()) || (mine && !mine->usable() && !mine->peer().empty())) {
    again(1000);
    return;
  }
  if (mine && !mine->usable() && mine->peer().empty()) {
    // Still handshaking: check back.
    again(500);
    return;
  }
  auto sock = std::make_shared<tcp::socket>(io);
  asio::error_code ec;
  auto address = asio::ip::make_address(p.host, ec);
  if (ec) {
    spdlog::error("peer {}: {} is not an IP address", p.node, p.host);
    return;
  }
  tcp::endpoint ep(address, p.port);
  sock->async_connect(ep, [self = shared_from_this(), sock, i, again, ep](const asio::error_code& err) {
    if (self->stopping) return;
    const auto& peer = self->cfg.peers[i];
    if (err) {
      auto& backoff = self->dial_backoff[i];
      if (backoff <= 200) spdlog::warn("cannot reach {} at {}: {}", peer.node, ep.address().to_string(), err.message());
      backoff = std::min<long long>(backoff * 2, 10000);
      again(backoff);
      return;
    }
    self->dial_backoff[i] = 200;
    auto s = std::make_shared<session>(self, std::move(*sock), true, peer.node,
                                       peer.host + ":" + std::to_string(peer.port));
    self->dialed[i] = s;
    self->handshaking.push_back(s);
    s->start();
    again(1000);
  });
}

void node_state::tick() {
  long long now = steady_ms();
  // Copy: tick() may close a session, which unregisters it.
  auto all = sessions;
  for (auto& [peer, s] : all) s->tick(now);
  std::erase_if(handshaking, [now](const std::weak_ptr<session>& w) {
    auto s = w.lock();
    return !s || !s->check_hello_deadline(now);
  });
  if (now - last_status >= 1000) {
    last_status = now;
    maintenance->post([self = shared_from_this(), now](pqxx::connection_base& c) {
      if (now - self->last_retry >= 10000) {
        self->last_retry = now;
        pqxx::work tx(c);
        tx.exec("SELECT zonemesh.retry_apply_errors() FROM zonemesh.apply_errors LIMIT 1");
        tx.commit();
      }
      if (now - self->last_prune >= 60000) {
        self->last_prune = now;
        pqxx::work tx(c);
        tx.exec_params("SELECT zonemesh.prune(make_interval(secs => $1))",
                       static_cast<double>(self->cfg.retention.count()));
        tx.commit();
      }
      pqxx::read_transaction tx(c);
      auto counts = tx.exec1("SELECT (SELECT count(*) FROM zonemesh.conflicts), (SELECT count(*) FROM zonemesh.apply_errors)");
      auto status = tx.exec("SELECT peer, changes_behind, seconds_behind FROM zonemesh.peer_lag()");
      std::vector<std::tuple<std::string, double, double>> peers;
      for (const auto& r : status) peers.emplace_back(r[0].c_str(), r[1].as<double>(), r[2].as<double>());
      double n_conflicts = counts[0].as<double>(), n_errors = counts[1].as<double>();
      asio::post(self->io, [self, peers = std::move(peers), n_conflicts, n_errors] {
        self->conflicts.set(n_conflicts);
        self->apply_errors.set(n_errors);
        for (const auto& [peer, lag, seconds] : peers) {
          auto& m = self->metrics_for(peer);
          m.behind.set(lag);
          m.seconds_behind.set(seconds);
        }
      });
      self->set_health("");
    });
  }
  ticker.expires_after(std::chrono::milliseconds(250));
  ticker.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (!ec) self->tick();
  });
}

}  // namespace

struct node::impl {
  std::shared_ptr<node_state> state;
};

node::node(replicator_config config, common::metrics::registry& metrics)
    : impl_(std::make_shared<impl>()) {
  impl_->state = std::make_shared<node_state>(std::move(config), metrics);
}

node::~node() { stop(); }

void node::start() {
  auto& s = *impl_->state;
  // The database must be this node's, at the schema this binary knows.
  {
    pqxx::connection c(s.cfg.conninfo);
    db::require_current_schema(c);
    pqxx::read_transaction tx(c);
    auto id = tx.exec1("SELECT node_id FROM zonemesh.node")[0];
    if (id.is_null() || id.as<std::string>() != s.cfg.node) {
      throw std::runtime_error("the database belongs to node " + (id.is_null() ? std::string("(none)") : id.as<std::string>()) +
                               ", not to " + s.cfg.node + " as configured");
    }
  }
  try {
    s.tls.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                      asio::ssl::context::default_workarounds);
    s.tls.load_verify_file(s.cfg.tls_ca);
    s.tls.use_certificate_chain_file(s.cfg.tls_cert);
    s.tls.use_private_key_file(s.cfg.tls_key, asio::ssl::context::pem);
    s.tls.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("TLS setup (") + s.cfg.tls_cert + ", " + s.cfg.tls_key + ", " +
                             s.cfg.tls_ca + "): " + e.what());
  }
  s.maintenance = std::make_unique<db_worker>(s.cfg.conninfo, [st = impl_->state](const std::string& e) {
    spdlog::warn("database: {}", e);
    st->set_health("database: " + e);
  });
  auto address = asio::ip::make_address(s.cfg.listen.address);
  tcp::endpoint ep(address, s.cfg.listen.port);
  s.acceptor.open(ep.protocol());
  s.acceptor.set_option(tcp::acceptor::reuse_address(true));
  asio::error_code ec;
  s.acceptor.bind(ep, ec);
  if (ec) throw std::runtime_error("cannot listen on " + s.cfg.listen.to_string() + ": " + ec.message());
  s.acceptor.listen();
  spdlog::info("node {} listening for peers on {}", s.cfg.node, s.cfg.listen.to_string());
  s.accept();
  for (std::size_t i = 0; i < s.cfg.peers.size(); ++i) {
    s.dial_timers.push_back(std::make_unique<asio::steady_timer>(s.io));
    s.dialed.emplace_back();
    s.dial_backoff.push_back(200);
    s.dial(i);
  }
  s.tick();
  s.io_thread = std::thread([st = impl_->state] { st->io.run(); });

  // New commits here (local writes, or peers' changes to forward) wake every link.
  s.listen_thread = std::thread([st = impl_->state] {
    class wake : public pqxx::notification_receiver {
     public:
      wake(pqxx::connection_base& c, std::shared_ptr<node_state> n)
          : pqxx::notification_receiver(c, "zonemesh_changelog"), node_(std::move(n)) {}
      void operator()(const std::string&, int) override {
        asio::post(node_->io, [n = node_] { n->pump_all(); });
      }

     private:
      std::shared_ptr<node_state> node_;
    };
    while (!st->stopping) {
      try {
        pqxx::connection c(st->cfg.conninfo);
        wake w(c, st);
        while (!st->stopping) c.await_notification(0, 200000);
      } catch (const std::exception& e) {
        spdlog::warn("change-log listener: {}", e.what());
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
  });
}

void node::stop() {
  auto& s = *impl_->state;
  if (s.stopping.exchange(true)) return;
  asio::post(s.io, [st = impl_->state] {
    asio::error_code ignored;
    st->acceptor.close(ignored);
    st->ticker.cancel();
    for (auto& t : st->dial_timers) t->cancel();
    auto all = st->sessions;
    for (auto& [peer, sess] : all) sess->close("stopping");
    for (auto& w : st->dialed) {
      if (auto d = w.lock()) d->close("stopping");
    }
  });
  if (s.listen_thread.joinable()) s.listen_thread.join();
  // Let the closes and their database updates go out, then end.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  s.io.stop();
  if (s.io_thread.joinable()) s.io_thread.join();
  if (s.maintenance) s.maintenance->stop();
  db_worker::wait_all_stopped(5000);
}

std::string node::health() const {
  std::lock_guard lock(impl_->state->health_mutex);
  return impl_->state->health_reason;
}

}  // namespace zonemesh::replicator
