// UDP and TCP DNS listeners on asio: one io_context per worker thread, every
// worker with its own SO_REUSEPORT sockets, so the kernel spreads the load and
// no lock is taken per query.
#include "dns_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/metrics.hpp"

namespace zonemesh::server {

namespace {

using asio::ip::tcp;
using asio::ip::udp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_message = 65535;
constexpr std::size_t udp_batch = 64;             // datagrams per recvmmsg and sendmmsg
constexpr std::size_t tcp_initial_buffer = 4096;  // grows to one whole frame when needed

// ---- what the metrics call queries -------------------------------------------

constexpr std::pair<std::uint16_t, std::string_view> known_qtypes[] = {
    {1, "A"},      {2, "NS"},       {5, "CNAME"},  {6, "SOA"},         {12, "PTR"},
    {13, "HINFO"}, {15, "MX"},      {16, "TXT"},   {28, "AAAA"},       {29, "LOC"},
    {33, "SRV"},   {35, "NAPTR"},   {39, "DNAME"}, {43, "DS"},         {46, "RRSIG"},
    {47, "NSEC"},  {48, "DNSKEY"},  {50, "NSEC3"}, {51, "NSEC3PARAM"}, {52, "TLSA"},
    {59, "CDS"},   {60, "CDNSKEY"}, {64, "SVCB"},  {65, "HTTPS"},      {99, "SPF"},
    {251, "IXFR"}, {252, "AXFR"},   {255, "ANY"},  {257, "CAA"}};
constexpr std::size_t qtype_other = std::size(known_qtypes);
constexpr std::size_t qtype_invalid = qtype_other + 1;
constexpr std::size_t qtype_slots = qtype_invalid + 1;

constexpr std::string_view rcode_names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                            "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                            "NXRRSET", "NOTAUTH", "NOTZONE",  "other"};
constexpr std::size_t rcode_slots = std::size(rcode_names);

constexpr std::string_view transport_names[] = {"udp", "tcp"};

// qtype (0..257) -> slot; everything else is "other".
constexpr auto qtype_slot_table = [] {
  std::array<std::uint8_t, 258> table{};
  for (auto& slot : table) slot = static_cast<std::uint8_t>(qtype_other);
  for (std::size_t i = 0; i < std::size(known_qtypes); ++i) {
    table[known_qtypes[i].first] = static_cast<std::uint8_t>(i);
  }
  return table;
}();

std::size_t qtype_slot(int qtype) {
  if (qtype < 0) return qtype_invalid;
  if (static_cast<std::size_t>(qtype) < qtype_slot_table.size()) return qtype_slot_table[qtype];
  return qtype_other;
}

std::string_view qtype_label(std::size_t slot) {
  if (slot < qtype_other) return known_qtypes[slot].second;
  return slot == qtype_other ? "other" : "invalid";
}

std::uint16_t read_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

void fill_peer(query_context& ctx, const asio::ip::address& address, std::uint16_t port) {
  ctx.peer_port = port;
  if (address.is_v6()) {
    ctx.peer_is_ipv6 = true;
    const auto bytes = address.to_v6().to_bytes();
    std::memcpy(ctx.peer_address, bytes.data(), bytes.size());
  } else {
    ctx.peer_is_ipv6 = false;
    const auto bytes = address.to_v4().to_bytes();
    std::memset(ctx.peer_address, 0, sizeof ctx.peer_address);
    std::memcpy(ctx.peer_address, bytes.data(), bytes.size());
  }
}

// Peer from a recvmsg address; false for an unexpected family.
bool fill_peer(query_context& ctx, const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    sockaddr_in sin{};
    std::memcpy(&sin, &peer, sizeof sin);
    ctx.peer_is_ipv6 = false;
    std::memset(ctx.peer_address, 0, sizeof ctx.peer_address);
    std::memcpy(ctx.peer_address, &sin.sin_addr, 4);
    ctx.peer_port = ntohs(sin.sin_port);
    return true;
  }
  if (peer.ss_family == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &peer, sizeof sin6);
    ctx.peer_is_ipv6 = true;
    std::memcpy(ctx.peer_address, &sin6.sin6_addr, 16);
    ctx.peer_port = ntohs(sin6.sin6_port);
    return true;
  }
  return false;
}

constexpr std::size_t pktinfo_control_size =
    std::max(CMSG_SPACE(sizeof(in_pktinfo)), CMSG_SPACE(sizeof(in6_pktinfo)));

// Asks the kernel for each datagram's destination address.
void enable_pktinfo(udp::socket& socket) {
  const int on = 1;
  const int rc =
      socket.local_endpoint().address().is_v6()
          ? ::setsockopt(socket.native_handle(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on)
          : ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  if (rc != 0) {
    throw std::system_error(errno, std::system_category(), "setsockopt(PKTINFO)");
  }
}

// Writes the control message that makes a reply leave from the address the
// query in `received` was sent to; returns its length (0 when unknown).
std::size_t reply_source(msghdr& received, std::uint8_t* control, std::size_t size) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&received); c != nullptr; c = CMSG_NXTHDR(&received, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
      in_pktinfo in{};
      std::memcpy(&in, CMSG_DATA(c), sizeof in);
      in_pktinfo reply{};
      reply.ipi_spec_dst = in.ipi_addr;  // source of the reply = where the query went
      reply.ipi_ifindex = 0;             // let routing choose the interface
      std::memset(control, 0, size);
      msghdr tmp{};
      tmp.msg_control = control;
      tmp.msg_controllen = CMSG_SPACE(sizeof reply);
      cmsghdr* o = CMSG_FIRSTHDR(&tmp);
      o->cmsg_level = IPPROTO_IP;
      o->cmsg_type = IP_PKTINFO;
      o->cmsg_len = CMSG_LEN(sizeof reply);
      std::memcpy(CMSG_DATA(o), &reply, sizeof reply);
      return CMSG_SPACE(sizeof reply);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
      in6_pktinfo in6{};
      std::memcpy(&in6, CMSG_DATA(c), sizeof in6);
      in6_pktinfo reply{};
      reply.ipi6_addr = in6.ipi6_addr;
      // Link-local destinations only make sense on the interface they came in on.
      reply.ipi6_ifindex = IN6_IS_ADDR_LINKLOCAL(&in6.ipi6_addr) ? in6.ipi6_ifindex : 0;
      std::memset(control, 0, size);
      msghdr tmp{};
      tmp.msg_control = control;
      tmp.msg_controllen = CMSG_SPACE(sizeof reply);
      cmsghdr* o = CMSG_FIRSTHDR(&tmp);
      o->cmsg_level = IPPROTO_IPV6;
      o->cmsg_type = IPV6_PKTINFO;
      o->cmsg_len = CMSG_LEN(sizeof reply);
      std::memcpy(CMSG_DATA(o), &reply, sizeof reply);
      return CMSG_SPACE(sizeof reply);
    }
  }
  return 0;
}

// Everything one UDP socket needs to take in up to udp_batch datagrams with
// one recvmmsg and send their replies with one sendmmsg, allocated when the
// socket is bound. Query i is read into slot i of `queries` and answered into
// slot i of `replies`; pages of a slot that no datagram reaches are never
// touched, so the 64 KiB slots cost address space, not memory.
struct udp_batch_buffers {
  struct alignas(cmsghdr) control_block {
    std::uint8_t bytes[pktinfo_control_size];
  };

  udp_batch_buffers()
      : queries(std::make_unique_for_overwrite<std::uint8_t[]>(udp_batch * max_message)),
        replies(std::make_unique_for_overwrite<std::uint8_t[]>(udp_batch * max_message)) {
    for (std::size_t i = 0; i < udp_batch; ++i) {
      in_iov[i] = {queries.get() + i * max_message, max_message};
      msghdr& m = in[i].msg_hdr;
      m.msg_name = &peer[i];
      m.msg_iov = &in_iov[i];
      m.msg_iovlen = 1;
      m.msg_control = in_control[i].bytes;
    }
  }

  // The kernel overwrites the lengths of what it returned.
  void prepare_receive() {
    for (auto& message : in) {
      message.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      message.msg_hdr.msg_controllen = sizeof(control_block::bytes);
      message.msg_hdr.msg_flags = 0;
      message.msg_len = 0;
    }
  }

  std::span<const std::uint8_t> query(std::size_t i) const {
    return {queries.get() + i * max_message, in[i].msg_len};
  }
  std::span<std::uint8_t> reply_slot(std::size_t i) {
    return {replies.get() + i * max_message, max_message};
  }

  /// Queues the reply of `len` bytes in slot i to the sender of query i; with
  /// `set_source`, it leaves from the address query i was sent to.
  void add_reply(std::size_t i, std::size_t len, bool set_source) {
    const std::size_t j = out_count++;
    out_iov[j] = {replies.get() + i * max_message, len};
    msghdr& o = out[j].msg_hdr;
    o = msghdr{};
    o.msg_name = &peer[i];
    o.msg_namelen = in[i].msg_hdr.msg_namelen;
    o.msg_iov = &out_iov[j];
    o.msg_iovlen = 1;
    if (set_source) {
      const std::size_t control_len =
          reply_source(in[i].msg_hdr, out_control[j].bytes, sizeof(control_block::bytes));
      if (control_len != 0) {
        o.msg_control = out_control[j].bytes;
        o.msg_controllen = control_len;
      }
    }
  }

  [[nodiscard]] bool replies_pending() const { return out_sent < out_count; }

  std::unique_ptr<std::uint8_t[]> queries;
  std::unique_ptr<std::uint8_t[]> replies;
  std::array<mmsghdr, udp_batch> in{};
  std::array<iovec, udp_batch> in_iov{};
  std::array<sockaddr_storage, udp_batch> peer{};  // of query i, and where its reply goes
  std::array<control_block, udp_batch> in_control{};
  std::array<mmsghdr, udp_batch> out{};  // out[j]: the j-th reply of the batch
  std::array<iovec, udp_batch> out_iov{};
  std::array<control_block, udp_batch> out_control{};
  std::size_t out_count = 0;  // replies queued in `out`
  std::size_t out_sent = 0;   // of which the kernel took these
};

struct listener_metrics {
  common::metrics::counter_family* queries = nullptr;
  std::array<common::metrics::counter*, 2> dropped{};
  std::array<common::metrics::histogram*, 2> latency{};
  common::metrics::gauge* tcp_open = nullptr;
  common::metrics::counter* tcp_accepted = nullptr;
  common::metrics::counter* tcp_refused = nullptr;
  common::metrics::counter* tcp_refused_per_address = nullptr;
  common::metrics::counter* tcp_evicted = nullptr;
  common::metrics::counter* tcp_evicted_per_address = nullptr;
  common::metrics::counter* tcp_idle_closed = nullptr;
  common::metrics::counter* tcp_bad_frame = nullptr;
  common::metrics::counter* udp_send_failed = nullptr;
  common::metrics::counter* processor_failed = nullptr;
  common::metrics::counter* accept_failed = nullptr;

  explicit listener_metrics(common::metrics::registry& reg) {
    queries =
        &reg.add_counter_family("zonemesh_dns_queries_total",
                                "DNS queries answered, by transport, query type and response code.",
                                {"transport", "qtype", "rcode"});
    auto& dropped_family = reg.add_counter_family(
        "zonemesh_dns_dropped_total", "DNS messages dropped without a reply.", {"transport"});
    auto& latency_family =
        reg.add_histogram_family("zonemesh_dns_query_duration_seconds",
                                 "Time the query processor took per message, by transport.",
                                 {"transport"}, common::metrics::default_latency_buckets());
    for (std::size_t t = 0; t < 2; ++t) {
      dropped[t] = &dropped_family.with({transport_names[t]});
      latency[t] = &latency_family.with({transport_names[t]});
    }
    tcp_open = &reg.add_gauge("zonemesh_dns_tcp_connections", "DNS-over-TCP connections open.");
    auto& conns = reg.add_counter_family(
        "zonemesh_dns_tcp_connections_total",
        "DNS-over-TCP connections: accepted; refused over tcp_max_connections or "
        "tcp_max_connections_per_address with no idle connection to close; idle ones closed "
        "(evicted) to make room under either limit; closed when idle past tcp_idle_timeout_ms.",
        {"result"});
    tcp_accepted = &conns.with({"accepted"});
    tcp_refused = &conns.with({"refused"});
    tcp_refused_per_address = &conns.with({"refused_per_address"});
    tcp_evicted = &conns.with({"evicted"});
    tcp_evicted_per_address = &conns.with({"evicted_per_address"});
    tcp_idle_closed = &conns.with({"idle_timeout"});
    auto& errors = reg.add_counter_family("zonemesh_dns_errors_total",
                                          "DNS transport errors, by kind.", {"kind"});
    tcp_bad_frame = &errors.with({"tcp_bad_frame"});
    udp_send_failed = &errors.with({"udp_send"});
    processor_failed = &errors.with({"processor_exception"});
    accept_failed = &errors.with({"tcp_accept"});
  }
};

}  // namespace

// ---- worker ------------------------------------------------------------------

struct dns_listener_set::impl {
  struct worker;
  class tcp_connection;

  struct udp_endpoint {
    udp_endpoint(udp::socket s, bool any)
        : socket(std::move(s)),
          wildcard(any),
          send_retry(socket.get_executor()),
          batch(std::make_unique<udp_batch_buffers>()) {}
    udp::socket socket;
    bool wildcard;                  // bound to 0.0.0.0 or ::, replies need their source set
    asio::steady_timer send_retry;  // while the send buffer is full
    // Per socket, not per worker: replies waiting for the socket to become
    // writable keep their slots while the worker's other sockets go on.
    std::unique_ptr<udp_batch_buffers> batch;
  };

  struct tcp_listener {
    tcp_listener(tcp::acceptor a, asio::io_context& io) : acceptor(std::move(a)), retry(io) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry;
  };

  dns_listener_options options;
  processor_factory factory;
  listener_metrics metrics;
  std::atomic<std::size_t> open_connections{0};
  // Open connections per client address (bytes of the address), over all workers.
  std::mutex per_address_mutex;
  std::unordered_map<std::string, std::size_t> per_address;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<bound_dns_address> bound;
  bool started = false;

  impl(dns_listener_options o, processor_factory f, common::metrics::registry& reg)
      : options(std::move(o)), factory(std::move(f)), metrics(reg) {}

  void bind_all();
  void bind_address(std::size_t index);
};

class dns_listener_set::impl::tcp_connection : public std::enable_shared_from_this<tcp_connection> {
 public:
  /// `address_key` is counted in impl::per_address (given back on destruction).
  tcp_connection(worker& w, tcp::socket socket, std::string address_key);
  ~tcp_connection();
  tcp_connection(const tcp_connection&) = delete;
  tcp_connection& operator=(const tcp_connection&) = delete;

  void start();
  void close();
  /// Nothing being answered: no reply queued or being written, no transfer
  /// streaming. A partial query does not count (a slow client is idle).
  [[nodiscard]] bool idle() const {
    return !closed_ && !writing_ && out_pending_.empty() && !stream_;
  }
  /// When something last happened on the connection (its idle deadline less the timeout).
  [[nodiscard]] clock_type::time_point deadline() const { return deadline_; }
  [[nodiscard]] const std::string& address_key() const { return address_key_; }

 private:
  void read();
  void on_read(const asio::error_code& ec, std::size_t n);
  void process_frames();
  void queue_reply(std::size_t length);
  /// Queues the stream's next message (or ends the stream); false when the
  /// stream failed and the connection was closed.
  bool pull_stream();
  void flush();
  void on_written(const asio::error_code& ec);
  void arm_idle_timer();
  void finish_if_done();
  [[nodiscard]] bool output_full() const {
    return out_pending_.size() + out_writing_.size() >= max_pending_;
  }

  worker& worker_;
  tcp::socket socket_;
  std::string address_key_;
  asio::steady_timer idle_timer_;
  clock_type::time_point deadline_;
  query_context ctx_;
  std::vector<std::uint8_t> in_;
  std::size_t in_used_ = 0;
  std::vector<std::uint8_t> out_pending_;
  std::vector<std::uint8_t> out_writing_;
  std::unique_ptr<message_stream> stream_;  ///< rest of a multi-message reply
  std::size_t max_pending_;
  bool reading_ = false;
  bool writing_ = false;
  bool read_closed_ = false;
  bool closed_ = false;
};

struct dns_listener_set::impl::worker {
  worker(impl& o, unsigned i) : owner(o), index(i) {}

  impl& owner;
  unsigned index;
  // Declared before io so they outlive it: destroying io destroys pending
  // handlers, which may hold the last reference to a connection.
  std::unordered_set<tcp_connection*> connections;
  std::vector<common::metrics::counter*> query_counters =
      std::vector<common::metrics::counter*>(2 * qtype_slots * rcode_slots, nullptr);
  clock_type::time_point last_error_log{};
  clock_type::time_point last_limit_log{};
  std::size_t limit_events_unlogged = 0;

  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::unique_ptr<query_processor> processor;
  std::vector<std::unique_ptr<udp_endpoint>> udp_sockets;
  std::vector<std::unique_ptr<tcp_listener>> tcp_listeners;
  std::unique_ptr<std::uint8_t[]> reply_buffer =
      std::make_unique<std::uint8_t[]>(max_message);  // TCP
  std::thread thread;
  bool stopping = false;

  // Runs the processor on one message, writing the reply to `reply`; returns
  // the reply length (0 = drop).
  std::size_t answer(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                     const query_context& ctx) {
    const auto t = static_cast<std::size_t>(ctx.proto);
    const auto start = clock_type::now();
    std::size_t len = 0;
    try {
      len = processor->process(query, reply, ctx);
      if (len > reply.size()) throw std::length_error("reply longer than the reply buffer");
    } catch (const std::exception& e) {
      len = 0;
      owner.metrics.processor_failed->inc();
      log_error_rarely("query processor failed: {}", e.what());
    } catch (...) {
      len = 0;
      owner.metrics.processor_failed->inc();
      log_error_rarely("query processor failed: {}", "unknown exception");
    }
    owner.metrics.latency[t]->observe(
        std::chrono::duration<double>(clock_type::now() - start).count());
    if (len == 0) {
      owner.metrics.dropped[t]->inc();
      return 0;
    }
    const std::size_t qslot = qtype_slot(dns_query_type(query.data(), query.size()));
    const std::size_t rcode = len >= 4 ? (reply[3] & 0x0fU) : rcode_slots - 1;
    const std::size_t rslot = std::min(rcode, rcode_slots - 1);
    auto*& counter = query_counters[(t * qtype_slots + qslot) * rcode_slots + rslot];
    if (counter == nullptr) {
      try {
        counter = &owner.metrics.queries->with(
            {transport_names[t], qtype_label(qslot), rcode_names[rslot]});
      } catch (...) {
        return len;  // out of memory for a new series: answer anyway
      }
    }
    counter->inc();
    return len;
  }

  template <typename... Args>
  void log_error_rarely(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    const auto now = clock_type::now();
    if (now - last_error_log < std::chrono::seconds(1)) return;
    last_error_log = now;
    try {
      spdlog::error(fmt, std::forward<Args>(args)...);
    } catch (...) {
    }
  }

  // ---- UDP ----
  //
  // Each wake-up reads up to udp_batch datagrams with one recvmmsg, answers
  // them all and sends the replies with one sendmmsg, so a busy server makes
  // two system calls per batch instead of two per query. On a wildcard
  // address (0.0.0.0, ::) each reply leaves from the address its query was
  // sent to (IP_PKTINFO): with several addresses on a host (anycast), the
  // kernel's own choice would be one the client did not ask, and it would
  // drop the reply.

  enum class udp_progress { drained, more_waiting, blocked_on_send };

  void udp_wait(udp_endpoint& ep) {
    ep.socket.async_wait(udp::socket::wait_read, [this, &ep](const asio::error_code& ec) {
      if (stopping || ec == asio::error::operation_aborted) return;
      if (ec) {
        log_error_rarely("UDP wait failed: {}", ec.message());
        udp_wait(ep);
        return;
      }
      udp_serve(ep);
    });
  }

  void udp_serve(udp_endpoint& ep) {
    switch (udp_serve_batch(ep)) {
      case udp_progress::drained:
        udp_wait(ep);
        return;
      case udp_progress::more_waiting:
        // A full batch: more are likely queued. Read on without waiting for
        // a new readiness event, after this worker's other handlers (TCP)
        // had their turn.
        asio::post(io, [this, &ep] {
          if (!stopping) udp_serve(ep);
        });
        return;
      case udp_progress::blocked_on_send:
        // Stop reading this socket until its replies are out: queries that
        // arrive meanwhile wait in (or overflow) the kernel's receive buffer.
        udp_retry_send(ep);
        return;
    }
  }

  // Tries the queued replies again in a millisecond. A timer, not
  // async_wait(wait_write): asio 1.22's epoll reactor only asks for EPOLLOUT
  // on behalf of a write it tried first, so that wait may never end.
  void udp_retry_send(udp_endpoint& ep) {
    ep.send_retry.expires_after(std::chrono::milliseconds(1));
    ep.send_retry.async_wait([this, &ep](const asio::error_code& ec) {
      if (stopping || ec == asio::error::operation_aborted) return;
      if (!udp_send_replies(ep)) {
        udp_retry_send(ep);
        return;
      }
      udp_serve(ep);  // what arrived meanwhile woke no one
    });
  }

  udp_progress udp_serve_batch(udp_endpoint& ep) {
    auto& b = *ep.batch;
    const int fd = ep.socket.native_handle();
    b.prepare_receive();
    int got = 0;
    do {
      got = ::recvmmsg(fd, b.in.data(), udp_batch, MSG_DONTWAIT, nullptr);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::debug("UDP receive: {}", std::strerror(errno));
      }
      return udp_progress::drained;
    }
    query_context ctx;
    ctx.proto = transport::udp;
    b.out_count = b.out_sent = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(got); ++i) {
      if (!fill_peer(ctx, b.peer[i])) continue;
      const std::size_t len = answer(b.query(i), b.reply_slot(i), ctx);
      if (len != 0) b.add_reply(i, len, ep.wildcard);
    }
    if (!udp_send_replies(ep)) return udp_progress::blocked_on_send;
    return static_cast<std::size_t>(got) == udp_batch ? udp_progress::more_waiting
                                                      : udp_progress::drained;
  }

  // Sends the queued replies; false when the socket's send buffer is full
  // and some are still queued. A reply the kernel refuses for another reason
  // (no route, no buffer) is dropped and counted, and the rest still go.
  bool udp_send_replies(udp_endpoint& ep) {
    auto& b = *ep.batch;
    const int fd = ep.socket.native_handle();
    while (b.replies_pending()) {
      const int sent =
          ::sendmmsg(fd, b.out.data() + b.out_sent, static_cast<unsigned>(b.out_count - b.out_sent),
                     MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent > 0) {
        b.out_sent += static_cast<std::size_t>(sent);
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      // sendmmsg reports an error only for the first message it was given.
      owner.metrics.udp_send_failed->inc();
      ++b.out_sent;
    }
    b.out_count = b.out_sent = 0;
    return true;
  }

  // ---- TCP ----

  void accept(tcp_listener& l) {
    l.acceptor.async_accept([this, &l](const asio::error_code& ec, tcp::socket socket) {
      if (stopping || ec == asio::error::operation_aborted) return;
      if (ec) {
        owner.metrics.accept_failed->inc();
        log_error_rarely("TCP accept failed: {}", ec.message());
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
            ec == asio::error::no_memory || ec.value() == ENFILE) {
          // Out of file descriptors: give connections time to close instead of spinning.
          l.retry.expires_after(std::chrono::milliseconds(100));
          l.retry.async_wait([this, &l](const asio::error_code& wait_ec) {
            if (!stopping && !wait_ec) accept(l);
          });
          return;
        }
        accept(l);
        return;
      }
      on_accepted(std::move(socket));
      accept(l);
    });
  }

  /// Closes the connection of this worker that has been idle longest (of
  /// `address_key` only, unless empty); false when none is idle.
  bool evict_oldest_idle(const std::string& address_key) {
    tcp_connection* oldest = nullptr;
    for (auto* c : connections) {
      if (!c->idle() || (!address_key.empty() && c->address_key() != address_key)) continue;
      if (oldest == nullptr || c->deadline() < oldest->deadline()) oldest = c;
    }
    if (oldest == nullptr) return false;
    oldest->close();
    return true;
  }

  /// A warning about a TCP limit, at most once per 10 s per worker.
  void log_limit(const char* what, const std::string& address) {
    ++limit_events_unlogged;
    const auto now = clock_type::now();
    if (now - last_limit_log < std::chrono::seconds(10)) return;
    last_limit_log = now;
    try {
      spdlog::warn("DNS over TCP: {} (latest new connection from {}; {} such in the last 10 s on worker {})",
                   what, address, limit_events_unlogged, index);
    } catch (...) {
    }
    limit_events_unlogged = 0;
  }

  void on_accepted(tcp::socket socket) {
    asio::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) {  // reset before we got here
      socket.close(ec);
      return;
    }
    const auto address = remote.address();
    std::string key;
    if (address.is_v4()) {
      const auto b = address.to_v4().to_bytes();
      key.assign(b.begin(), b.end());
    } else {
      const auto b = address.to_v6().to_bytes();
      key.assign(b.begin(), b.end());
    }
    const std::size_t per_address_limit = owner.options.tcp_max_connections_per_address;
    if (per_address_limit != 0) {
      bool full = false;
      {
        std::lock_guard lock(owner.per_address_mutex);
        full = owner.per_address[key] >= per_address_limit;
      }
      if (full) {
        if (evict_oldest_idle(key)) {
          owner.metrics.tcp_evicted_per_address->inc();
          log_limit("tcp_max_connections_per_address reached: closed that address's oldest idle connection",
                    address.to_string());
        } else {
          owner.metrics.tcp_refused_per_address->inc();
          log_limit("tcp_max_connections_per_address reached and none idle: connection refused",
                    address.to_string());
          socket.close(ec);
          std::lock_guard lock(owner.per_address_mutex);
          if (auto it = owner.per_address.find(key); it != owner.per_address.end() && it->second == 0) {
            owner.per_address.erase(it);
          }
          return;
        }
      }
    }
    const std::size_t before = owner.open_connections.fetch_add(1, std::memory_order_relaxed);
    if (before >= owner.options.tcp_max_connections) {
      // As Knot does: the oldest idle connection makes room for the new
      // client (the closed one's slot comes back when it is destroyed).
      if (evict_oldest_idle({})) {
        owner.metrics.tcp_evicted->inc();
        log_limit("tcp_max_connections reached: closed the oldest idle connection", address.to_string());
      } else {
        owner.open_connections.fetch_sub(1, std::memory_order_relaxed);
        owner.metrics.tcp_refused->inc();
        log_limit("tcp_max_connections reached and none idle: connection refused", address.to_string());
        socket.close(ec);
        std::lock_guard lock(owner.per_address_mutex);
        if (auto it = owner.per_address.find(key); it != owner.per_address.end() && it->second == 0) {
          owner.per_address.erase(it);
        }
        return;
      }
    }
    owner.metrics.tcp_accepted->inc();
    owner.metrics.tcp_open->add(1);
    std::shared_ptr<tcp_connection> conn;
    try {
      {
        std::lock_guard lock(owner.per_address_mutex);
        ++owner.per_address[key];
      }
      conn = std::make_shared<tcp_connection>(*this, std::move(socket), key);
    } catch (const std::exception& e) {
      // The connection never existed, so its destructor will not give the slot back.
      owner.open_connections.fetch_sub(1, std::memory_order_relaxed);
      owner.metrics.tcp_open->sub(1);
      {
        std::lock_guard lock(owner.per_address_mutex);
        if (auto it = owner.per_address.find(key); it != owner.per_address.end() && --it->second == 0) {
          owner.per_address.erase(it);
        }
      }
      log_error_rarely("TCP connection setup failed: {}", e.what());
      return;
    }
    try {
      conn->start();
    } catch (const std::exception& e) {
      conn->close();
      log_error_rarely("TCP connection setup failed: {}", e.what());
    }
  }

  void close_all() {
    stopping = true;
    asio::error_code ignored;
    for (auto& ep : udp_sockets) {
      ep->socket.close(ignored);
      ep->send_retry.cancel();
    }
    for (auto& l : tcp_listeners) {
      l->acceptor.close(ignored);
      l->retry.cancel();
    }
    for (auto* c : connections) c->close();
  }

  void run() {
    const std::string name = "zm-dns-" + std::to_string(index);
    ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        // Handlers catch their own errors; this is the last line of defence.
        spdlog::error("DNS worker {}: {}", index, e.what());
      } catch (...) {
        spdlog::error("DNS worker {}: unknown exception", index);
      }
    }
  }
};

// ---- TCP connection ------------------------------------------------------------

dns_listener_set::impl::tcp_connection::tcp_connection(worker& w, tcp::socket socket,
                                                       std::string address_key)
    : worker_(w),
      socket_(std::move(socket)),
      address_key_(std::move(address_key)),
      idle_timer_(w.io),
      max_pending_(w.owner.options.tcp_max_pending_output) {
  worker_.connections.insert(this);
  ctx_.proto = transport::tcp;
}

dns_listener_set::impl::tcp_connection::~tcp_connection() {
  worker_.connections.erase(this);
  worker_.owner.open_connections.fetch_sub(1, std::memory_order_relaxed);
  worker_.owner.metrics.tcp_open->sub(1);
  std::lock_guard lock(worker_.owner.per_address_mutex);
  auto& counts = worker_.owner.per_address;
  if (auto it = counts.find(address_key_); it != counts.end() && --it->second == 0) counts.erase(it);
}

void dns_listener_set::impl::tcp_connection::start() {
  asio::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  if (ec) {  // reset before we got here
    close();
    return;
  }
  fill_peer(ctx_, remote.address(), remote.port());
  socket_.set_option(tcp::no_delay(true), ec);
  in_.resize(tcp_initial_buffer);
  deadline_ = clock_type::now() + worker_.owner.options.tcp_idle_timeout;
  arm_idle_timer();
  read();
}

void dns_listener_set::impl::tcp_connection::close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  idle_timer_.cancel();
}

void dns_listener_set::impl::tcp_connection::arm_idle_timer() {
  idle_timer_.expires_at(deadline_);
  idle_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec == asio::error::operation_aborted || self->closed_) return;
    if (clock_type::now() >= self->deadline_) {
      self->worker_.owner.metrics.tcp_idle_closed->inc();
      self->close();
    } else {
      self->arm_idle_timer();
    }
  });
}

void dns_listener_set::impl::tcp_connection::read() {
  if (reading_ || read_closed_ || closed_) return;
  // Make room for at least the rest of the frame being received.
  std::size_t need = in_used_ + 1;
  if (in_used_ >= 2) need = std::max(need, std::size_t{2} + read_u16(in_.data()));
  if (in_.size() < need) in_.resize(need);
  reading_ = true;
  socket_.async_read_some(asio::buffer(in_.data() + in_used_, in_.size() - in_used_),
                          [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
}

void dns_listener_set::impl::tcp_connection::on_read(const asio::error_code& ec, std::size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec == asio::error::eof) {
    read_closed_ = true;
    finish_if_done();
    return;
  }
  if (ec) {  // reset, aborted: nothing more to say to this peer
    if (ec != asio::error::operation_aborted) spdlog::debug("DNS TCP read: {}", ec.message());
    close();
    return;
  }
  in_used_ += n;
  deadline_ = clock_type::now() + worker_.owner.options.tcp_idle_timeout;
  process_frames();
  if (closed_) return;
  flush();
  if (!output_full()) read();
}

void dns_listener_set::impl::tcp_connection::process_frames() {
  std::size_t offset = 0;
  while (!output_full()) {
    if (stream_) {  // the rest of a zone transfer goes before the next query
      if (!pull_stream()) return;
      continue;
    }
    if (in_used_ - offset < 2) break;
    const std::size_t len = read_u16(in_.data() + offset);
    if (len == 0) {  // cannot be a DNS message, and nothing sensible follows it
      worker_.owner.metrics.tcp_bad_frame->inc();
      close();
      return;
    }
    if (in_used_ - offset - 2 < len) break;
    const std::size_t reply_len = worker_.answer({in_.data() + offset + 2, len},
                                                 {worker_.reply_buffer.get(), max_message}, ctx_);
    if (reply_len != 0) {
      queue_reply(reply_len);
      stream_ = worker_.processor->take_stream();
    }
    offset += 2 + len;
  }
  if (offset > 0) {
    std::memmove(in_.data(), in_.data() + offset, in_used_ - offset);
    in_used_ -= offset;
  }
}

void dns_listener_set::impl::tcp_connection::queue_reply(std::size_t length) {
  out_pending_.push_back(static_cast<std::uint8_t>(length >> 8));
  out_pending_.push_back(static_cast<std::uint8_t>(length & 0xff));
  out_pending_.insert(out_pending_.end(), worker_.reply_buffer.get(), worker_.reply_buffer.get() + length);
}

bool dns_listener_set::impl::tcp_connection::pull_stream() {
  std::size_t n = 0;
  try {
    n = stream_->next({worker_.reply_buffer.get(), max_message});
  } catch (const std::exception& e) {
    // A transfer cut short must not look complete: the client sees the
    // connection close before the closing SOA.
    worker_.log_error_rarely("zone transfer stream failed: {}", e.what());
    stream_.reset();
    close();
    return false;
  }
  if (n == 0) {
    stream_.reset();
  } else {
    queue_reply(n);
  }
  return true;
}

void dns_listener_set::impl::tcp_connection::flush() {
  if (writing_ || closed_ || out_pending_.empty()) return;
  std::swap(out_pending_, out_writing_);
  out_pending_.clear();
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_writing_),
                    [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                      self->on_written(ec);
                    });
}

void dns_listener_set::impl::tcp_connection::on_written(const asio::error_code& ec) {
  writing_ = false;
  out_writing_.clear();
  if (closed_) return;
  if (ec) {
    if (ec != asio::error::operation_aborted) spdlog::debug("DNS TCP write: {}", ec.message());
    close();
    return;
  }
  deadline_ = clock_type::now() + worker_.owner.options.tcp_idle_timeout;
  process_frames();  // frames held back while the output was full
  if (closed_) return;
  flush();
  if (read_closed_) {
    finish_if_done();
  } else if (!output_full()) {
    read();
  }
}

void dns_listener_set::impl::tcp_connection::finish_if_done() {
  // After the client's FIN: answer what was complete, then close.
  process_frames();
  if (closed_) return;
  flush();
  if (!output_full() && in_used_ > 0) {  // the client stopped in the middle of a frame
    worker_.owner.metrics.tcp_bad_frame->inc();
    in_used_ = 0;
  }
  if (!writing_ && out_pending_.empty()) close();
}

// ---- binding -------------------------------------------------------------------

namespace {

template <typename Socket, typename Endpoint>
void open_and_bind(Socket& socket, const Endpoint& endpoint, bool reuse) {
  socket.open(endpoint.protocol());
  if (endpoint.address().is_v6()) socket.set_option(asio::ip::v6_only(true));
  if (reuse) socket.set_option(reuse_port(true));
  socket.bind(endpoint);
}

// A port free for UDP and TCP on `address`, found with sockets that do not
// set SO_REUSEPORT (a reuse-port bind to port 0 may share a port with another
// program of the same user).
std::uint16_t pick_free_port(const asio::ip::address& address, bool want_udp, bool want_tcp) {
  asio::io_context io;
  for (int attempt = 0; attempt < 20; ++attempt) {
    udp::socket u(io);
    tcp::acceptor a(io);
    std::uint16_t port = 0;
    try {
      if (want_udp) {
        open_and_bind(u, udp::endpoint(address, 0), false);
        port = u.local_endpoint().port();
      }
      if (want_tcp) {
        open_and_bind(a, tcp::endpoint(address, port), false);
        port = a.local_endpoint().port();
      }
      return port;
    } catch (const asio::system_error&) {
      if (port == 0) throw;  // not a clash on a chosen port: a real error
    }
  }
  throw std::runtime_error("no port free for both UDP and TCP on " + address.to_string());
}

}  // namespace

void dns_listener_set::impl::bind_address(std::size_t index) {
  const auto& configured = options.addresses[index];
  asio::error_code ec;
  const auto address = asio::ip::make_address(configured.address, ec);
  if (ec) throw std::runtime_error("bad listen address " + configured.to_string());

  const bool ephemeral = configured.port == 0;
  for (int attempt = 0;; ++attempt) {
    std::uint16_t port = configured.port;
    std::string what = "udp";
    try {
      if (ephemeral) port = pick_free_port(address, options.udp, options.tcp);
      std::vector<std::unique_ptr<udp_endpoint>> udp_made;
      std::vector<std::unique_ptr<tcp_listener>> tcp_made;
      for (auto& w : workers) {
        if (options.udp) {
          what = "udp";
          udp::socket s(w->io);
          open_and_bind(s, udp::endpoint(address, port), true);
          s.non_blocking(true);
          const bool wildcard = address.is_unspecified();
          if (wildcard) enable_pktinfo(s);
          udp_made.push_back(std::make_unique<udp_endpoint>(std::move(s), wildcard));
        }
        if (options.tcp) {
          what = "tcp";
          tcp::acceptor a(w->io);
          a.open(address.is_v6() ? tcp::v6() : tcp::v4());
          if (address.is_v6()) a.set_option(asio::ip::v6_only(true));
          a.set_option(tcp::acceptor::reuse_address(true));
          a.set_option(reuse_port(true));
          a.bind(tcp::endpoint(address, port));
          a.listen(asio::socket_base::max_listen_connections);
          tcp_made.push_back(std::make_unique<tcp_listener>(std::move(a), w->io));
        }
      }
      for (std::size_t i = 0; i < workers.size(); ++i) {
        if (options.udp) workers[i]->udp_sockets.push_back(std::move(udp_made[i]));
        if (options.tcp) workers[i]->tcp_listeners.push_back(std::move(tcp_made[i]));
      }
      bound.push_back({configured, options.udp ? port : std::uint16_t{0},
                       options.tcp ? port : std::uint16_t{0}});
      return;
    } catch (const std::system_error& e) {
      // Someone took the port between picking and binding: pick another.
      if (ephemeral && attempt < 10 && e.code() == asio::error::address_in_use) continue;
      throw std::runtime_error(
          "cannot listen for DNS over " + what + " on " +
          common::listen_address{configured.address, port, configured.is_ipv6}.to_string() + ": " +
          e.code().message());
    }
  }
}

void dns_listener_set::impl::bind_all() {
  for (std::size_t i = 0; i < options.addresses.size(); ++i) bind_address(i);
}

// ---- public API ----------------------------------------------------------------

dns_listener_options dns_listener_options::from_config(const common::server_settings& settings) {
  dns_listener_options o;
  o.addresses = settings.listen;
  o.workers = settings.effective_workers();
  o.tcp_idle_timeout = settings.tcp_idle_timeout;
  o.tcp_max_connections = settings.tcp_max_connections;
  o.tcp_max_connections_per_address = settings.tcp_max_connections_per_address;
  return o;
}

dns_listener_set::dns_listener_set(dns_listener_options options, processor_factory factory,
                                   common::metrics::registry& metrics)
    : impl_(std::make_unique<impl>(std::move(options), std::move(factory), metrics)) {}

dns_listener_set::~dns_listener_set() { stop(); }

void dns_listener_set::start() {
  auto& m = *impl_;
  if (m.started) throw std::logic_error("dns_listener_set started twice");
  if (m.options.workers == 0) throw std::invalid_argument("dns_listener_set needs a worker");
  if (!m.factory) throw std::invalid_argument("dns_listener_set needs a processor factory");
  m.bound.clear();
  try {
    for (unsigned i = 0; i < m.options.workers; ++i) {
      auto w = std::make_unique<impl::worker>(m, i);
      w->processor = m.factory(i);
      if (!w->processor) throw std::runtime_error("processor factory returned nothing");
      m.workers.push_back(std::move(w));
    }
    m.bind_all();
  } catch (...) {
    m.workers.clear();  // nothing was started: sockets close, no handler pending
    m.bound.clear();
    throw;
  }
  for (auto& w : m.workers) {
    w->guard.emplace(w->io.get_executor());
    for (auto& ep : w->udp_sockets) w->udp_wait(*ep);
    for (auto& l : w->tcp_listeners) w->accept(*l);
    w->thread = std::thread([wp = w.get()] { wp->run(); });
  }
  m.started = true;
  for (const auto& b : m.bound) {
    const std::uint16_t port = b.udp_port != 0 ? b.udp_port : b.tcp_port;
    spdlog::info(
        "DNS listening on {} ({}{}{}, {} workers)",
        common::listen_address{b.configured.address, port, b.configured.is_ipv6}.to_string(),
        b.udp_port != 0 ? "udp" : "", b.udp_port != 0 && b.tcp_port != 0 ? "+" : "",
        b.tcp_port != 0 ? "tcp" : "", m.workers.size());
  }
}

void dns_listener_set::stop() {
  auto& m = *impl_;
  if (!m.started) return;
  m.started = false;
  for (auto& w : m.workers) {
    asio::post(w->io, [wp = w.get()] { wp->close_all(); });
    w->guard.reset();
  }
  for (auto& w : m.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  m.workers.clear();
}

std::vector<bound_dns_address> dns_listener_set::bound_addresses() const { return impl_->bound; }

std::size_t dns_listener_set::tcp_connections() const {
  return impl_->open_connections.load(std::memory_order_relaxed);
}

int dns_query_type(const std::uint8_t* query, std::size_t size) noexcept {
  constexpr std::size_t header = 12;
  if (query == nullptr || size < header) return -1;
  if (read_u16(query + 4) == 0) return -1;  // no question
  std::size_t pos = header;
  for (;;) {
    if (pos >= size) return -1;
    const std::uint8_t label = query[pos];
    if (label == 0) {
      pos += 1;
      break;
    }
    if ((label & 0xc0) == 0xc0) {  // compression pointer ends the name
      pos += 2;
      break;
    }
    if ((label & 0xc0) != 0) return -1;  // reserved label types
    pos += 1 + label;
  }
  if (pos + 2 > size) return -1;
  return read_u16(query + pos);
}

}  // namespace zonemesh::server
