// Tests for server/dns_listener.*: real UDP and TCP sockets on 127.0.0.1 and ::1
// with ephemeral ports, answered by a small echoing test processor.
#include "dns_listener.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.hpp"

namespace zonemesh::server {
namespace {

using asio::ip::tcp;
using asio::ip::udp;
using namespace std::chrono_literals;

constexpr std::uint16_t drop_id = 0xdead;   // the test processor drops these
constexpr std::uint16_t throw_id = 0xbeef;  // and throws on these
constexpr std::uint16_t slow_id = 0x5105;   // and take 100 ms over these

// Echoes the query with QR set; rcode 3 (NXDOMAIN) when the id is odd.
// Messages shorter than a header are dropped.
class echo_processor final : public query_processor {
 public:
  explicit echo_processor(std::atomic<int>& calls) : calls_(calls) {}
  std::size_t process(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                      const query_context& ctx) override {
    calls_.fetch_add(1);
    last_proto = ctx.proto;
    if (query.size() < 12 || query.size() > reply.size()) return 0;
    const std::uint16_t id = static_cast<std::uint16_t>((query[0] << 8) | query[1]);
    if (id == drop_id) return 0;
    if (id == throw_id) throw std::runtime_error("test processor throws");
    if (id == slow_id) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::memcpy(reply.data(), query.data(), query.size());
    reply[2] |= 0x80;
    reply[3] = static_cast<std::uint8_t>((reply[3] & 0xf0) | ((id & 1) ? 3 : 0));
    return query.size();
  }
  transport last_proto = transport::udp;

 private:
  std::atomic<int>& calls_;
};

// A query for example.com with the given id and type.
std::vector<std::uint8_t> make_query(std::uint16_t id, std::uint16_t qtype = 1) {
  std::vector<std::uint8_t> q = {static_cast<std::uint8_t>(id >> 8),
                                 static_cast<std::uint8_t>(id & 0xff),
                                 0x01,
                                 0x00,  // RD
                                 0x00,
                                 0x01,  // QDCOUNT
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0};
  for (const char* label : {"example", "com"}) {
    q.push_back(static_cast<std::uint8_t>(std::strlen(label)));
    q.insert(q.end(), label, label + std::strlen(label));
  }
  q.push_back(0);
  q.push_back(static_cast<std::uint8_t>(qtype >> 8));
  q.push_back(static_cast<std::uint8_t>(qtype & 0xff));
  q.push_back(0);
  q.push_back(1);  // IN
  return q;
}

std::vector<std::uint8_t> framed(const std::vector<std::uint8_t>& msg) {
  std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(msg.size() >> 8),
                                   static_cast<std::uint8_t>(msg.size() & 0xff)};
  out.insert(out.end(), msg.begin(), msg.end());
  return out;
}

std::uint16_t id_of(const std::vector<std::uint8_t>& msg) {
  return msg.size() >= 2 ? static_cast<std::uint16_t>((msg[0] << 8) | msg[1]) : 0;
}

class DnsListener : public testing::Test {
 protected:
  void start(std::vector<common::listen_address> addresses, unsigned workers = 2,
             std::chrono::milliseconds idle = 5000ms, std::size_t max_conn = 100) {
    dns_listener_options o;
    o.addresses = std::move(addresses);
    o.workers = workers;
    o.tcp_idle_timeout = idle;
    o.tcp_max_connections = max_conn;
    listeners_ = std::make_unique<dns_listener_set>(
        o, [this](unsigned) { return std::make_unique<echo_processor>(calls_); }, metrics_);
    listeners_->start();
  }
  void start_v4(unsigned workers = 2, std::chrono::milliseconds idle = 5000ms,
                std::size_t max_conn = 100) {
    start({{"127.0.0.1", 0, false}}, workers, idle, max_conn);
  }

  tcp::endpoint tcp_endpoint(std::size_t i = 0) {
    const auto b = listeners_->bound_addresses().at(i);
    return {asio::ip::make_address(b.configured.address), b.tcp_port};
  }
  udp::endpoint udp_endpoint(std::size_t i = 0) {
    const auto b = listeners_->bound_addresses().at(i);
    return {asio::ip::make_address(b.configured.address), b.udp_port};
  }

  // Sends one UDP query and waits up to a second for the reply ({} on timeout).
  std::vector<std::uint8_t> udp_ask(const udp::endpoint& to, const std::vector<std::uint8_t>& q,
                                    std::chrono::milliseconds timeout = 1000ms) {
    udp::socket s(io_, to.protocol());
    s.send_to(asio::buffer(q), to);
    return udp_receive(s, timeout);
  }

  std::vector<std::uint8_t> udp_receive(udp::socket& s, std::chrono::milliseconds timeout) {
    s.non_blocking(true);
    std::vector<std::uint8_t> buf(65535);
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      asio::error_code ec;
      udp::endpoint from;
      const auto n = s.receive_from(asio::buffer(buf), from, 0, ec);
      if (!ec) {
        buf.resize(n);
        return buf;
      }
      std::this_thread::sleep_for(2ms);
    }
    return {};
  }

  // Collects the replies arriving on `s` within `timeout` and counts them by
  // id; false when one differs from its query in more than QR and RCODE.
  static bool udp_collect(udp::socket& s, std::vector<int>& replies_per_id, std::size_t expected,
                          std::chrono::milliseconds timeout) {
    s.non_blocking(true);
    std::vector<std::uint8_t> buf(65535);
    std::size_t got = 0;
    bool all_well_formed = true;
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      asio::error_code ec;
      const auto n = s.receive(asio::buffer(buf), 0, ec);
      if (ec) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      const std::vector<std::uint8_t> r(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      const auto q = make_query(id_of(r));
      all_well_formed = all_well_formed && r.size() == q.size() && (r[2] & 0x80) &&
                        std::equal(q.begin() + 4, q.end(), r.begin() + 4);
      ++replies_per_id[id_of(r)];
      // Once all came, wait a little longer for a reply sent twice.
      if (++got == expected) until = std::min(until, std::chrono::steady_clock::now() + 200ms);
    }
    return all_well_formed;
  }

  static void large_receive_buffer(udp::socket& s) {
    s.set_option(asio::socket_base::receive_buffer_size(4 << 20));  // capped at rmem_max
  }

  tcp::socket tcp_connect(std::size_t i = 0) {
    tcp::socket s(io_);
    s.connect(tcp_endpoint(i));
    return s;
  }

  // Reads one framed message; {} on EOF/error. Fails the test after `timeout`.
  static std::vector<std::uint8_t> tcp_read_message(tcp::socket& s,
                                                    std::chrono::milliseconds timeout = 2000ms) {
    set_receive_timeout(s, timeout);
    std::uint8_t len_bytes[2];
    asio::error_code ec;
    asio::read(s, asio::buffer(len_bytes), ec);
    if (ec) return {};
    std::vector<std::uint8_t> msg((len_bytes[0] << 8) | len_bytes[1]);
    asio::read(s, asio::buffer(msg), ec);
    if (ec) return {};
    return msg;
  }

  // True when the server closes the connection within `timeout` (EOF or reset).
  static bool closed_by_server(tcp::socket& s, std::chrono::milliseconds timeout) {
    set_receive_timeout(s, timeout);
    std::uint8_t byte;
    asio::error_code ec;
    s.read_some(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  static void set_receive_timeout(tcp::socket& s, std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds timeout = 2000ms) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return pred();
  }

  bool metrics_contain(const std::string& line) {
    return metrics_.render().find(line) != std::string::npos;
  }

  asio::io_context io_;
  std::atomic<int> calls_{0};
  common::metrics::registry metrics_;
  std::unique_ptr<dns_listener_set> listeners_;
};

TEST_F(DnsListener, UdpRoundTripOnIpv4AndIpv6) {
  start({{"127.0.0.1", 0, false}, {"::1", 0, true}});
  const auto bound = listeners_->bound_addresses();
  ASSERT_EQ(bound.size(), 2u);
  for (const auto& b : bound) {
    EXPECT_NE(b.udp_port, 0);
    EXPECT_EQ(b.udp_port, b.tcp_port) << "port 0 gives UDP and TCP the same port";
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const auto q = make_query(0x1230);
    const auto r = udp_ask(udp_endpoint(i), q);
    ASSERT_EQ(r.size(), q.size()) << "no reply on " << bound[i].configured.to_string();
    EXPECT_EQ(id_of(r), 0x1230);
    EXPECT_TRUE(r[2] & 0x80) << "QR set";
    EXPECT_TRUE(std::equal(q.begin() + 12, q.end(), r.begin() + 12));
  }
  EXPECT_TRUE(metrics_contain(
      "zonemesh_dns_queries_total{transport=\"udp\",qtype=\"A\",rcode=\"NOERROR\"} 2\n"))
      << metrics_.render();
  EXPECT_TRUE(metrics_contain("zonemesh_dns_query_duration_seconds_count{transport=\"udp\"} 2\n"));
}

TEST_F(DnsListener, UdpOnWildcardRepliesFromTheAddressAsked) {
  // 127.0.0.2 is a loopback address too, but not the one the kernel would
  // pick as the source of a reply to 127.0.0.1; a connected client socket
  // only accepts a reply from the address it sent to.
  start({{"0.0.0.0", 0, false}, {"::", 0, true}});
  for (const char* to : {"127.0.0.2", "127.0.0.1", "::1"}) {
    const auto address = asio::ip::make_address(to);
    const std::size_t index = address.is_v6() ? 1 : 0;
    udp::socket s(io_, address.is_v6() ? udp::v6() : udp::v4());
    s.connect({address, udp_endpoint(index).port()});
    s.send(asio::buffer(make_query(0x0a0a)));
    EXPECT_EQ(id_of(udp_receive(s, 1000ms)), 0x0a0a) << "no reply from " << to;
  }
}

TEST_F(DnsListener, UdpManyQueriesOverSeveralWorkers) {
  start_v4(4);
  udp::socket s(io_, udp::v4());
  int answered = 0;
  for (std::uint16_t id = 0; id < 200; id += 2) {
    s.send_to(asio::buffer(make_query(id, 28)), udp_endpoint());
    const auto r = udp_receive(s, 1000ms);
    if (id_of(r) == id) ++answered;
  }
  EXPECT_EQ(answered, 100);
  EXPECT_TRUE(metrics_contain(
      "zonemesh_dns_queries_total{transport=\"udp\",qtype=\"AAAA\",rcode=\"NOERROR\"} 100\n"));
}

TEST_F(DnsListener, UdpBurstSentBeforeReadingIsAnsweredOnceEach) {
  // One worker, busy for 100 ms with the first query while the other 200
  // arrive: more than one batch waits in the socket at once.
  start_v4(1);
  udp::socket s(io_, udp::v4());
  large_receive_buffer(s);
  s.connect(udp_endpoint());
  std::vector<std::uint16_t> ids = {slow_id};
  for (std::uint16_t id = 1; id <= 200; ++id) ids.push_back(id);
  for (const auto id : ids) s.send(asio::buffer(make_query(id)));

  std::vector<int> replies_per_id(65536, 0);
  EXPECT_TRUE(udp_collect(s, replies_per_id, ids.size(), 5000ms)) << "a reply is not its query's";
  for (const auto id : ids) EXPECT_EQ(replies_per_id[id], 1) << "replies to id " << id;
  int total = 0;
  for (const int n : replies_per_id) total += n;
  EXPECT_EQ(total, static_cast<int>(ids.size()));
  EXPECT_TRUE(metrics_contain("zonemesh_dns_query_duration_seconds_count{transport=\"udp\"} 201\n"))
      << metrics_.render();
}

TEST_F(DnsListener, UdpBurstOnWildcardRepliesFromEachAddressAsked) {
  // Queries to 127.0.0.1 and 127.0.0.2 alternate within the batches, with
  // messages that get no reply in between; each client socket is connected,
  // so it only sees replies from where it sent.
  start({{"0.0.0.0", 0, false}}, 1);
  udp::socket to_1(io_, udp::v4());
  udp::socket to_2(io_, udp::v4());
  for (auto* s : {&to_1, &to_2}) large_receive_buffer(*s);
  to_1.connect({asio::ip::make_address("127.0.0.1"), udp_endpoint().port()});
  to_2.connect({asio::ip::make_address("127.0.0.2"), udp_endpoint().port()});
  to_1.send(asio::buffer(make_query(slow_id)));
  const std::uint8_t runt[] = {1, 2, 3};
  for (std::uint16_t id = 1; id <= 200; ++id) {
    (id % 2 ? to_1 : to_2).send(asio::buffer(make_query(id)));
    if (id % 10 == 0) {
      to_1.send(asio::buffer(make_query(drop_id)));
      to_2.send(asio::buffer(runt));
    }
  }
  std::vector<int> on_1(65536, 0);
  std::vector<int> on_2(65536, 0);
  EXPECT_TRUE(udp_collect(to_1, on_1, 101, 5000ms));
  EXPECT_TRUE(udp_collect(to_2, on_2, 100, 1000ms));
  EXPECT_EQ(on_1[slow_id], 1);
  EXPECT_EQ(on_1[drop_id], 0);
  for (std::uint16_t id = 1; id <= 200; ++id) {
    EXPECT_EQ((id % 2 ? on_1 : on_2)[id], 1) << "replies to id " << id;
    EXPECT_EQ((id % 2 ? on_2 : on_1)[id], 0) << "id " << id << " answered to the wrong socket";
  }
  EXPECT_TRUE(metrics_contain("zonemesh_dns_dropped_total{transport=\"udp\"} 40\n"));
}

TEST_F(DnsListener, UdpDropAndProcessorExceptionAreCountedNotFatal) {
  start_v4(1);
  EXPECT_TRUE(udp_ask(udp_endpoint(), make_query(drop_id), 200ms).empty());
  EXPECT_TRUE(udp_ask(udp_endpoint(), make_query(throw_id), 200ms).empty());
  EXPECT_TRUE(udp_ask(udp_endpoint(), {0x01, 0x02, 0x03}, 200ms).empty());  // runt datagram
  const auto r = udp_ask(udp_endpoint(), make_query(7));
  ASSERT_FALSE(r.empty()) << "still answering after a throw";
  EXPECT_EQ(r[3] & 0x0f, 3);
  EXPECT_TRUE(metrics_contain("zonemesh_dns_dropped_total{transport=\"udp\"} 3\n"));
  EXPECT_TRUE(metrics_contain("zonemesh_dns_errors_total{kind=\"processor_exception\"} 1\n"));
  EXPECT_TRUE(metrics_contain(
      "zonemesh_dns_queries_total{transport=\"udp\",qtype=\"A\",rcode=\"NXDOMAIN\"} 1\n"));
}

TEST_F(DnsListener, TcpPipelinedQueriesInOneWriteAnsweredInOrder) {
  start({{"127.0.0.1", 0, false}, {"::1", 0, true}});
  for (std::size_t i = 0; i < 2; ++i) {
    auto s = tcp_connect(i);
    std::vector<std::uint8_t> batch;
    for (std::uint16_t id = 1; id <= 5; ++id) {
      const auto f = framed(make_query(id, 15));
      batch.insert(batch.end(), f.begin(), f.end());
    }
    asio::write(s, asio::buffer(batch));
    for (std::uint16_t id = 1; id <= 5; ++id) {
      const auto r = tcp_read_message(s);
      ASSERT_FALSE(r.empty()) << "reply " << id << " missing";
      EXPECT_EQ(id_of(r), id);
      EXPECT_TRUE(r[2] & 0x80);
    }
  }
  EXPECT_TRUE(metrics_contain(
      "zonemesh_dns_queries_total{transport=\"tcp\",qtype=\"MX\",rcode=\"NOERROR\"} 4\n"));
  EXPECT_TRUE(metrics_contain(
      "zonemesh_dns_queries_total{transport=\"tcp\",qtype=\"MX\",rcode=\"NXDOMAIN\"} 6\n"));
}

TEST_F(DnsListener, TcpQuerySplitAcrossSeveralWrites) {
  start_v4();
  auto s = tcp_connect();
  const auto f = framed(make_query(0x4242));
  asio::write(s, asio::buffer(f.data(), 1));  // half of the length
  std::this_thread::sleep_for(30ms);
  asio::write(s, asio::buffer(f.data() + 1, 5));
  std::this_thread::sleep_for(30ms);
  asio::write(s, asio::buffer(f.data() + 6, f.size() - 6));
  const auto r = tcp_read_message(s);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(id_of(r), 0x4242);
}

TEST_F(DnsListener, TcpLargeMessageGrowsTheBuffer) {
  start_v4(1);
  auto q = make_query(0x0102);
  q.resize(60000, 0xab);  // trailing junk after the question: the echo sends it back
  auto s = tcp_connect();
  asio::write(s, asio::buffer(framed(q)));
  const auto r = tcp_read_message(s);
  ASSERT_EQ(r.size(), q.size());
  EXPECT_EQ(r.back(), 0xab);
}

TEST_F(DnsListener, TcpClientHalfCloseStillGetsItsAnswers) {
  start_v4();
  auto s = tcp_connect();
  auto batch = framed(make_query(10));
  const auto second = framed(make_query(12));
  batch.insert(batch.end(), second.begin(), second.end());
  asio::write(s, asio::buffer(batch));
  s.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(id_of(tcp_read_message(s)), 10);
  EXPECT_EQ(id_of(tcp_read_message(s)), 12);
  EXPECT_TRUE(closed_by_server(s, 2000ms));
}

TEST_F(DnsListener, TcpIdleConnectionIsClosedAfterTimeout) {
  start_v4(1, 200ms);
  auto s = tcp_connect();
  asio::write(s, asio::buffer(framed(make_query(1))));
  ASSERT_EQ(id_of(tcp_read_message(s)), 1);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(s, 3000ms));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2000ms);
  EXPECT_TRUE(eventually([&] { return listeners_->tcp_connections() == 0; }));
  EXPECT_TRUE(metrics_contain("zonemesh_dns_tcp_connections_total{result=\"idle_timeout\"} 1\n"));
}

TEST_F(DnsListener, TcpActivityKeepsConnectionOpenPastTimeout) {
  start_v4(1, 300ms);
  auto s = tcp_connect();
  for (std::uint16_t id = 0; id < 6; ++id) {  // 6 x 100 ms > 300 ms
    asio::write(s, asio::buffer(framed(make_query(id))));
    ASSERT_EQ(id_of(tcp_read_message(s)), id) << "closed while active";
    std::this_thread::sleep_for(100ms);
  }
}

TEST_F(DnsListener, TcpAtTheLimitTheOldestIdleConnectionMakesRoom) {
  start_v4(1, 5000ms, 2);
  auto a = tcp_connect();
  asio::write(a, asio::buffer(framed(make_query(1))));
  ASSERT_EQ(id_of(tcp_read_message(a)), 1);
  std::this_thread::sleep_for(50ms);
  auto b = tcp_connect();
  asio::write(b, asio::buffer(framed(make_query(2))));
  ASSERT_EQ(id_of(tcp_read_message(b)), 2);
  EXPECT_EQ(listeners_->tcp_connections(), 2u);
  auto c = tcp_connect();  // over the limit: a, idle longest, is closed for it
  asio::write(c, asio::buffer(framed(make_query(3))));
  EXPECT_EQ(id_of(tcp_read_message(c)), 3);
  EXPECT_TRUE(closed_by_server(a, 1000ms));
  asio::write(b, asio::buffer(framed(make_query(4))));
  EXPECT_EQ(id_of(tcp_read_message(b)), 4) << "the newer idle connection stays";
  EXPECT_TRUE(metrics_contain("zonemesh_dns_tcp_connections_total{result=\"evicted\"} 1\n"));
  EXPECT_TRUE(eventually([&] { return listeners_->tcp_connections() == 2; }));
}

TEST_F(DnsListener, TcpPerAddressLimitClosesThatAddressesOldestIdle) {
  dns_listener_options o;
  o.addresses = {{"127.0.0.1", 0, false}};
  o.workers = 1;
  o.tcp_max_connections = 100;
  o.tcp_max_connections_per_address = 2;
  listeners_ = std::make_unique<dns_listener_set>(
      o, [this](unsigned) { return std::make_unique<echo_processor>(calls_); }, metrics_);
  listeners_->start();
  auto a = tcp_connect();
  asio::write(a, asio::buffer(framed(make_query(1))));
  ASSERT_EQ(id_of(tcp_read_message(a)), 1);
  auto b = tcp_connect();
  asio::write(b, asio::buffer(framed(make_query(2))));
  ASSERT_EQ(id_of(tcp_read_message(b)), 2);
  auto c = tcp_connect();
  asio::write(c, asio::buffer(framed(make_query(3))));
  EXPECT_EQ(id_of(tcp_read_message(c)), 3);
  EXPECT_TRUE(closed_by_server(a, 1000ms));
  EXPECT_TRUE(metrics_contain("zonemesh_dns_tcp_connections_total{result=\"evicted_per_address\"} 1\n"));
}

TEST_F(DnsListener, TcpZeroLengthFrameClosesOnlyThatConnection) {
  start_v4(1);
  auto s = tcp_connect();
  const std::uint8_t zero[] = {0, 0};
  asio::write(s, asio::buffer(zero));
  EXPECT_TRUE(closed_by_server(s, 1000ms));
  auto t = tcp_connect();
  asio::write(t, asio::buffer(framed(make_query(8))));
  EXPECT_EQ(id_of(tcp_read_message(t)), 8);
  EXPECT_TRUE(metrics_contain("zonemesh_dns_errors_total{kind=\"tcp_bad_frame\"} 1\n"));
}

TEST_F(DnsListener, TcpTruncatedFrameThenCloseIsHandled) {
  start_v4(1);
  {
    auto s = tcp_connect();
    const std::uint8_t partial[] = {0, 100, 1, 2, 3, 4, 5};  // says 100, sends 5
    asio::write(s, asio::buffer(partial));
    s.shutdown(tcp::socket::shutdown_send);
    EXPECT_TRUE(closed_by_server(s, 1000ms));
  }
  {
    auto s = tcp_connect();  // reset in the middle of a frame
    const std::uint8_t partial[] = {0, 50, 1, 2};
    asio::write(s, asio::buffer(partial));
    s.set_option(asio::socket_base::linger(true, 0));
    s.close();
  }
  ASSERT_TRUE(eventually([&] { return listeners_->tcp_connections() == 0; }));
  auto t = tcp_connect();
  asio::write(t, asio::buffer(framed(make_query(0x20))));
  EXPECT_EQ(id_of(tcp_read_message(t)), 0x20);
}

TEST_F(DnsListener, TcpRuntAndDroppedMessagesKeepTheConnection) {
  start_v4(1);
  auto s = tcp_connect();
  std::vector<std::uint8_t> batch = {0, 3, 9, 9, 9};  // 3-byte message: processor drops it
  const auto dropped = framed(make_query(drop_id));
  const auto good = framed(make_query(0x30));
  batch.insert(batch.end(), dropped.begin(), dropped.end());
  batch.insert(batch.end(), good.begin(), good.end());
  asio::write(s, asio::buffer(batch));
  EXPECT_EQ(id_of(tcp_read_message(s)), 0x30);
  EXPECT_TRUE(metrics_contain("zonemesh_dns_dropped_total{transport=\"tcp\"} 2\n"));
}

TEST_F(DnsListener, StopClosesConnectionsAndSockets) {
  start_v4(2);
  auto s = tcp_connect();
  asio::write(s, asio::buffer(framed(make_query(2))));
  ASSERT_EQ(id_of(tcp_read_message(s)), 2);
  const auto ep = tcp_endpoint();
  listeners_->stop();
  EXPECT_TRUE(closed_by_server(s, 1000ms));
  EXPECT_EQ(listeners_->tcp_connections(), 0u);
  tcp::socket late(io_);
  asio::error_code ec;
  late.connect(ep, ec);
  EXPECT_TRUE(ec) << "still accepting after stop";
  listeners_->stop();  // idempotent
}

TEST_F(DnsListener, BindFailureNamesTheAddress) {
  // Hold a port without SO_REUSEPORT so the listener cannot share it.
  udp::socket holder(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = holder.local_endpoint().port();
  try {
    start({{"127.0.0.1", port, false}});
    FAIL() << "bind succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("udp on 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << e.what();
  }
  listeners_.reset();  // destroying a listener set that never started is fine
}

TEST_F(DnsListener, ProcessorPerWorker) {
  std::atomic<unsigned> made{0};
  dns_listener_options o;
  o.addresses = {{"127.0.0.1", 0, false}};
  o.workers = 3;
  dns_listener_set set(
      o,
      [&](unsigned) {
        made.fetch_add(1);
        return std::make_unique<echo_processor>(calls_);
      },
      metrics_);
  set.start();
  EXPECT_EQ(made.load(), 3u);
  set.stop();
}

TEST(DnsQueryType, ReadsFirstQuestionWithBoundsChecks) {
  const auto q = make_query(1, 28);
  EXPECT_EQ(dns_query_type(q.data(), q.size()), 28);
  EXPECT_EQ(dns_query_type(q.data(), q.size() - 3), -1) << "qtype cut off";
  EXPECT_EQ(dns_query_type(q.data(), 11), -1) << "short header";
  EXPECT_EQ(dns_query_type(nullptr, 0), -1);
  auto no_question = q;
  no_question[5] = 0;
  EXPECT_EQ(dns_query_type(no_question.data(), no_question.size()), -1);
  auto long_label = q;
  long_label[12] = 63;  // label runs past the end
  EXPECT_EQ(dns_query_type(long_label.data(), long_label.size()), -1);
  std::vector<std::uint8_t> pointer = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 16};
  EXPECT_EQ(dns_query_type(pointer.data(), pointer.size()), 16);
  auto reserved = q;
  reserved[12] = 0x80;
  EXPECT_EQ(dns_query_type(reserved.data(), reserved.size()), -1);
}

TEST(DnsListenerOptions, FromConfig) {
  common::server_settings s;
  s.listen = {{"127.0.0.1", 5353, false}};
  s.workers = 3;
  s.tcp_idle_timeout = 1234ms;
  s.tcp_max_connections = 9;
  const auto o = dns_listener_options::from_config(s);
  EXPECT_EQ(o.addresses, s.listen);
  EXPECT_EQ(o.workers, 3u);
  EXPECT_EQ(o.tcp_idle_timeout, 1234ms);
  EXPECT_EQ(o.tcp_max_connections, 9u);
}

}  // namespace
}  // namespace zonemesh::server
