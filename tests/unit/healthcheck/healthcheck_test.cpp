// Tests for server/healthcheck.*: configuration, the DNS and HTTP probes over
// real sockets on 127.0.0.1, the shared-failure verdict, rise/fall/hold-down,
// and the BIRD include (checked with the real `bird -p` when installed).
#include "healthcheck.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "dns/name.hpp"
#include "dns/types.hpp"
#include "dns/wire.hpp"

namespace zonemesh::healthcheck {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// ---- configuration ------------------------------------------------------

TEST(HealthcheckSettings, ExampleParsesWithDocumentedDefaults) {
  const auto s = parse_settings(example_settings(), "example");
  EXPECT_EQ(s.dns.to_string(), "127.0.0.1:53");
  EXPECT_EQ(s.query_name, "example.com");
  EXPECT_EQ(s.query_type, dns::rr_type::soa);
  ASSERT_TRUE(s.health);
  EXPECT_EQ(s.health->to_string(), "http://127.0.0.1:8081/health");
  EXPECT_EQ(s.rise, 3U);
  EXPECT_EQ(s.fall, 3U);
  EXPECT_EQ(s.hold_down, 30'000ms);
  EXPECT_EQ(s.include_file, "/etc/bird/zonemesh-anycast.conf");
  EXPECT_EQ(s.symbol, "ZONEMESH_ANYCAST_ANNOUNCE");
}

TEST(HealthcheckSettings, PeersAndValues) {
  const auto s = parse_settings(
      "[check]\nname = health.example.\ntype = A\nexpect = 192.0.2.1\ndns = [::1]:5353\n"
      "health_url =\nrise = 2\nfall = 5\nhold_down_ms = 0\ninterval_ms = 200\ntimeout_ms = 100\n"
      "peer = site2 198.51.100.6:53 http://198.51.100.6:8081/health\npeer = site3 "
      "[2001:db8::3]:53\n"
      "[bird]\ninclude = /tmp/x.conf\nsocket = /tmp/bird.ctl\n");
  EXPECT_EQ(s.dns.to_string(), "[::1]:5353");
  EXPECT_FALSE(s.health);
  EXPECT_EQ(s.query_type, dns::rr_type::a);
  EXPECT_EQ(s.expect, "192.0.2.1");
  ASSERT_EQ(s.peers.size(), 2U);
  EXPECT_EQ(s.peers[0].label, "site2");
  ASSERT_TRUE(s.peers[0].health);
  EXPECT_EQ(s.peers[0].health->port, 8081);
  EXPECT_EQ(s.peers[1].dns.to_string(), "[2001:db8::3]:53");
  EXPECT_FALSE(s.peers[1].health);
  EXPECT_EQ(s.bird_socket, "/tmp/bird.ctl");
  EXPECT_FALSE(s.http);
  const auto h = parse_settings(
      "[check]\nname = a.example\n[bird]\ninclude = /x\n[http]\nlisten = 127.0.0.1:8083\n");
  ASSERT_TRUE(h.http);
  EXPECT_EQ(h.http->to_string(), "127.0.0.1:8083");
}

void expect_error(const std::string& text, const std::string& needle) {
  try {
    (void)parse_settings(text, "f.conf");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(HealthcheckSettings, BadInputIsRefusedWithTheLine) {
  const std::string bird = "[bird]\ninclude = /tmp/x\n";
  expect_error(bird, "[check] name is required");
  expect_error("[check]\nname = a.example\n", "[bird] include is required");
  expect_error("[check]\nname = a.example\nrise = 0\n" + bird, "f.conf:3: rise must be an integer");
  expect_error("[check]\nname = a.example\nbogus = 1\n" + bird, "f.conf:3: unknown key bogus");
  expect_error("[check]\nname = a.example\npeer = site2\n" + bird, "f.conf:3: peer: expected");
  expect_error("[check]\nname = a.example\nhealth_url = http://localhost/health\n" + bird,
               "must be an IP address");
  expect_error("[check]\nname = a.example\ntype = SOA\nexpect = x\n" + bird, "expect works with");
  expect_error("[check]\nname = a.example\ninterval_ms = 100\ntimeout_ms = 500\n" + bird,
               "timeout_ms must not exceed");
  expect_error("[check]\nname = a.example\nname = b.example\n" + bird,
               "f.conf:3: [check] name given twice");
  expect_error("[check]\nname = a.example\n[bird]\ninclude = /x\nsymbol = 1abc\n",
               "not a BIRD symbol");
  expect_error("[check]\nname = a.example\n[bird]\ninclude = /x\n[http]\nlisten = localhost:1\n",
               "f.conf:6: listen:");
}

TEST(HealthcheckSettings, HttpUrls) {
  std::string why;
  auto u = parse_http_url("http://[::1]:8081/health", why);
  ASSERT_TRUE(u) << why;
  EXPECT_TRUE(u->is_ipv6);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->path, "/health");
  u = parse_http_url("http://127.0.0.1", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->path, "/");
  EXPECT_FALSE(parse_http_url("https://127.0.0.1/", why));
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:99999/", why));
  EXPECT_FALSE(parse_http_url("http://[::1/", why));
}

// ---- DNS responses --------------------------------------------------------

// A response to build_query(id, name, type) with the given flags/rcode and answers.
struct answer_rr {
  std::string owner;
  std::uint16_t type;
  std::vector<std::uint8_t> rdata;
};

std::vector<std::uint8_t> make_response(const std::vector<std::uint8_t>& query, bool aa,
                                        std::uint16_t rcode,
                                        const std::vector<answer_rr>& answers) {
  std::vector<std::uint8_t> buf(1024);
  dns::writer w(buf);
  dns::reader r(query);
  dns::header h;
  EXPECT_EQ(r.header(h), dns::read_status::ok);
  dns::name q;
  EXPECT_EQ(r.name(q), dns::read_status::ok);
  std::uint16_t qtype = 0;
  EXPECT_EQ(r.u16(qtype), dns::read_status::ok);
  h.flags = dns::flag::qr | (aa ? dns::flag::aa : 0);
  h.set_rcode(rcode);
  h.ancount = static_cast<std::uint16_t>(answers.size());
  EXPECT_TRUE(w.header(h));
  EXPECT_TRUE(w.name(q));
  EXPECT_TRUE(w.u16(qtype));
  EXPECT_TRUE(w.u16(1));
  for (const auto& a : answers) {
    dns::name owner;
    EXPECT_EQ(dns::name::from_text(a.owner, owner), dns::name_status::ok);
    EXPECT_TRUE(w.rr(owner.wire(), a.type, 1, 300, a.rdata));
  }
  buf.resize(w.size());
  return buf;
}

std::vector<std::uint8_t> name_wire(const std::string& text) {
  dns::name n;
  EXPECT_EQ(dns::name::from_text(text, n), dns::name_status::ok);
  return {n.wire().begin(), n.wire().end()};
}

TEST(HealthcheckDns, JudgesAnswers) {
  const auto q = build_query(77, "health.example.", dns::rr_type::a);
  ASSERT_FALSE(q.empty());
  const answer_rr good{"health.example.", dns::rr_type::a, {192, 0, 2, 1}};
  const answer_rr other{"health.example.", dns::rr_type::a, {192, 0, 2, 9}};

  auto r = judge_response(make_response(q, true, 0, {good}), 77, "health.example.", dns::rr_type::a,
                          "192.0.2.1");
  EXPECT_TRUE(r.answered);
  EXPECT_TRUE(r.correct) << r.detail;

  r = judge_response(make_response(q, true, 0, {other}), 77, "health.example.", dns::rr_type::a,
                     "192.0.2.1");
  EXPECT_TRUE(r.answered);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.detail, "expected 192.0.2.1, got 192.0.2.9");

  // No expectation: any A at the name.
  r = judge_response(make_response(q, true, 0, {other}), 77, "health.example.", dns::rr_type::a,
                     "");
  EXPECT_TRUE(r.correct) << r.detail;

  r = judge_response(make_response(q, true, dns::rcode::servfail, {}), 77, "health.example.",
                     dns::rr_type::a, "");
  EXPECT_TRUE(r.answered);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.detail, "rcode SERVFAIL");

  r = judge_response(make_response(q, false, 0, {good}), 77, "health.example.", dns::rr_type::a,
                     "");
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.detail, "answer not authoritative");

  r = judge_response(make_response(q, true, 0, {}), 77, "health.example.", dns::rr_type::a, "");
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.detail, "no A record in the answer");

  // Another id is not our answer.
  r = judge_response(make_response(q, true, 0, {good}), 78, "health.example.", dns::rr_type::a, "");
  EXPECT_FALSE(r.answered);

  // Truncated garbage.
  const std::vector<std::uint8_t> junk = {0, 77, 0x84};
  r = judge_response(junk, 77, "health.example.", dns::rr_type::a, "");
  EXPECT_FALSE(r.answered);
}

TEST(HealthcheckDns, JudgesTxtAndNames) {
  const auto qt = build_query(5, "id.example.", dns::rr_type::txt);
  const answer_rr txt{"id.example.", dns::rr_type::txt, {5, 'h', 'e', 'l', 'l', 'o'}};
  EXPECT_TRUE(judge_response(make_response(qt, true, 0, {txt}), 5, "id.example.", dns::rr_type::txt,
                             "hello")
                  .correct);
  EXPECT_FALSE(
      judge_response(make_response(qt, true, 0, {txt}), 5, "id.example.", dns::rr_type::txt, "bye")
          .correct);
  const auto qn = build_query(6, "example.", dns::rr_type::ns);
  const answer_rr ns{"example.", dns::rr_type::ns, name_wire("ns1.example.")};
  EXPECT_TRUE(judge_response(make_response(qn, true, 0, {ns}), 6, "example.", dns::rr_type::ns,
                             "NS1.example")
                  .correct);
}

using replies = std::vector<std::vector<std::uint8_t>>;

// A UDP "server" on 127.0.0.1 that sends each query the datagrams `respond(query)`.
class udp_responder {
 public:
  explicit udp_responder(std::function<replies(const std::vector<std::uint8_t>&)> respond)
      : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{0, 100'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] {
      std::vector<std::uint8_t> buf(4096);
      while (!stop_) {
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        const auto n =
            ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n <= 0) continue;
        for (const auto& reply : respond_({buf.begin(), buf.begin() + n})) {
          ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
        }
      }
    });
  }
  ~udp_responder() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  common::listen_address address() const { return {"127.0.0.1", port_, false}; }

 private:
  std::function<replies(const std::vector<std::uint8_t>&)> respond_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(HealthcheckDns, ProbesOverRealUdp) {
  udp_responder good([](const std::vector<std::uint8_t>& q) {
    return replies{
        make_response(q, true, 0, {{"health.example.", dns::rr_type::a, {192, 0, 2, 1}}})};
  });
  auto r = probe_dns(good.address(), "health.example.", dns::rr_type::a, "192.0.2.1", 1000ms);
  EXPECT_TRUE(r.answered);
  EXPECT_TRUE(r.correct) << r.detail;

  // A stale answer with a wrong id first, then the real one: the probe waits for its own.
  udp_responder noisy([](const std::vector<std::uint8_t>& q) {
    auto good_reply =
        make_response(q, true, 0, {{"health.example.", dns::rr_type::a, {192, 0, 2, 1}}});
    auto other_id =
        make_response(q, true, 0, {{"health.example.", dns::rr_type::a, {192, 0, 2, 9}}});
    other_id[0] ^= 0xff;
    return replies{other_id, good_reply};
  });
  r = probe_dns(noisy.address(), "health.example.", dns::rr_type::a, "192.0.2.1", 1000ms);
  EXPECT_TRUE(r.correct) << r.detail;

  udp_responder silent([](const std::vector<std::uint8_t>&) { return replies{}; });
  r = probe_dns(silent.address(), "health.example.", dns::rr_type::a, "", 200ms);
  EXPECT_FALSE(r.answered);
  EXPECT_NE(r.detail.find("no answer from 127.0.0.1:"), std::string::npos) << r.detail;

  // A closed port: ICMP unreachable is reported at once.
  common::listen_address gone;
  {
    udp_responder tmp([](const std::vector<std::uint8_t>&) { return replies{}; });
    gone = tmp.address();
  }
  const auto started = std::chrono::steady_clock::now();
  r = probe_dns(gone, "health.example.", dns::rr_type::a, "", 2000ms);
  EXPECT_FALSE(r.answered);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1900ms) << r.detail;
}

// ---- HTTP -------------------------------------------------------------------

// A TCP server on 127.0.0.1 that sends `reply` to each connection, then closes it.
class http_responder {
 public:
  explicit http_responder(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[2048];
      std::string request;
      while (request.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      first_line = request.substr(0, request.find("\r\n"));
      ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      ::close(c);
    });
  }
  ~http_responder() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  http_url url() const { return {"127.0.0.1", port_, "/health", false}; }
  std::string first_line;

 private:
  std::string reply_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TEST(HealthcheckHttp, ReadsStatusAndReason) {
  {
    http_responder srv(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 30\r\n\r\ndatabase unreachable "
        "(refused)\n");
    const auto r = probe_http(srv.url(), 1000ms);
    EXPECT_TRUE(r.reached);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, "database unreachable (refused)");
    EXPECT_EQ(srv.first_line, "GET /health HTTP/1.0");
  }
  {
    http_responder srv("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    const auto r = probe_http(srv.url(), 1000ms);
    EXPECT_EQ(r.status, 200);
  }
  {
    http_responder srv("garbage");
    EXPECT_FALSE(probe_http(srv.url(), 1000ms).reached);
  }
  http_url gone;
  {
    http_responder srv("");
    gone = srv.url();
    // Let the thread finish: connect once.
    (void)probe_http(gone, 200ms);
  }
  const auto r = probe_http(gone, 500ms);
  EXPECT_FALSE(r.reached);
  EXPECT_NE(r.body.find("connect http://127.0.0.1:"), std::string::npos) << r.body;
}

// ---- verdict ---------------------------------------------------------------

site_probe probe(bool answered, bool correct, std::optional<int> health) {
  site_probe p;
  p.dns.answered = answered;
  p.dns.correct = correct;
  p.dns.detail = correct ? "ok" : "wrong";
  if (health) {
    p.health = http_result{*health != 0, *health, *health == 200 ? "" : "database unreachable"};
  }
  return p;
}

TEST(HealthcheckVerdict, LocalFailuresWithdrawSharedOnesDoNot) {
  const auto healthy = probe(true, true, 200);
  const auto degraded = probe(true, true, 503);
  const auto wrong = probe(true, false, 200);
  const auto dead = probe(false, false, 0);

  EXPECT_EQ(evaluate(healthy, {}).result, verdict::pass);
  // A server that does not answer is withdrawn whatever the peers say.
  EXPECT_EQ(evaluate(dead, {}).result, verdict::fail);
  EXPECT_EQ(evaluate(dead, {dead, dead}).result, verdict::fail);
  // Wrong data: withdraw only if a peer has it right.
  EXPECT_EQ(evaluate(wrong, {wrong, dead}).result, verdict::pass_shared);
  EXPECT_EQ(evaluate(wrong, {}).result, verdict::pass_shared);
  EXPECT_EQ(evaluate(wrong, {wrong, healthy}).result, verdict::fail);
  // Database down here: answers from the last good data; withdraw only when
  // some peer is fully healthy.
  EXPECT_EQ(evaluate(degraded, {degraded, degraded}).result, verdict::pass_shared);
  EXPECT_EQ(evaluate(degraded, {}).result, verdict::pass_shared);
  EXPECT_EQ(evaluate(degraded, {dead, healthy}).result, verdict::fail);
  const auto o = evaluate(degraded, {degraded});
  EXPECT_NE(o.reason.find("keeping the announcement"), std::string::npos) << o.reason;
  // /health unreachable while DNS answers counts as degraded.
  EXPECT_EQ(evaluate(probe(true, true, 0), {healthy}).result, verdict::fail);
  EXPECT_EQ(evaluate(probe(true, true, 0), {degraded}).result, verdict::pass_shared);
}

// ---- state -----------------------------------------------------------------

TEST(HealthcheckState, RiseFallAndHoldDown) {
  announce_state st(2, 3, 10'000ms);
  auto t = announce_state::clock::time_point{} + 1h;
  EXPECT_FALSE(st.announced());  // starts withdrawn
  EXPECT_FALSE(st.record(verdict::pass, t));
  EXPECT_TRUE(st.record(verdict::pass, t += 1s));  // rise 2
  EXPECT_TRUE(st.announced());
  EXPECT_FALSE(st.record(verdict::fail, t += 1s));
  EXPECT_FALSE(st.record(verdict::fail, t += 1s));
  EXPECT_FALSE(st.record(verdict::pass, t += 1s));  // resets the fall count
  EXPECT_FALSE(st.record(verdict::fail, t += 1s));
  EXPECT_FALSE(st.record(verdict::fail, t += 1s));
  EXPECT_TRUE(st.record(verdict::fail, t += 1s));  // fall 3
  EXPECT_FALSE(st.announced());
  const auto last_failure = t;
  // Healthy again, but within the hold-down after the last failure.
  EXPECT_FALSE(st.record(verdict::pass, t += 1s));
  EXPECT_FALSE(st.record(verdict::pass, t += 1s));
  EXPECT_FALSE(st.record(verdict::pass, t = last_failure + 9s));
  EXPECT_TRUE(st.record(verdict::pass, t = last_failure + 10s));
  EXPECT_TRUE(st.announced());
  // A shared failure keeps the announcement.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(st.record(verdict::pass_shared, t += 1s));
  EXPECT_TRUE(st.announced());
}

TEST(HealthcheckState, MaintenanceWithdrawsAtOnceAndNeedsRiseAfter) {
  announce_state st(2, 3, 60'000ms);
  auto t = announce_state::clock::time_point{} + 1h;
  (void)st.record(verdict::pass, t);
  (void)st.record(verdict::pass, t += 1s);
  ASSERT_TRUE(st.announced());
  EXPECT_TRUE(st.set_maintenance(true));
  EXPECT_FALSE(st.announced());
  EXPECT_FALSE(st.record(verdict::pass, t += 1s));
  EXPECT_FALSE(st.record(verdict::pass, t += 1s));
  EXPECT_FALSE(st.announced());
  EXPECT_FALSE(st.set_maintenance(false));
  EXPECT_FALSE(st.record(verdict::pass, t += 1s));
  EXPECT_TRUE(st.record(verdict::pass, t += 1s));  // no hold-down after maintenance
}

// ---- BIRD include ----------------------------------------------------------

class HealthcheckBird : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zonemesh-hc-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(HealthcheckBird, IncludeIsWrittenAtomicallyAndReadBack) {
  const auto file = dir_ / "anycast.conf";
  EXPECT_FALSE(read_include(file, "ZM_ANNOUNCE"));
  write_include(file, "ZM_ANNOUNCE", false);
  EXPECT_EQ(read_include(file, "ZM_ANNOUNCE"), false);
  write_include(file, "ZM_ANNOUNCE", true);
  EXPECT_EQ(read_include(file, "ZM_ANNOUNCE"), true);
  EXPECT_FALSE(read_include(file, "OTHER"));
  // Nothing but the file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
  EXPECT_THROW(write_include(dir_ / "missing" / "x.conf", "ZM_ANNOUNCE", true), std::runtime_error);
}

TEST_F(HealthcheckBird, BirdAcceptsBothIncludes) {
  if (!fs::exists("/usr/sbin/bird")) GTEST_SKIP() << "bird (bird2) not installed";
  const auto include = dir_ / "anycast.conf";
  const auto conf = dir_ / "bird.conf";
  std::ofstream(conf) << "router id 192.0.2.1;\ninclude \"" << include.string() << "\";\n"
                      << "protocol device {}\n"
                      << "protocol static svc4 { ipv4; route 192.0.2.53/32 blackhole; }\n"
                      << "filter only_if_announced { if ZM_ANNOUNCE = 1 then accept; reject; }\n";
  for (bool announce : {false, true}) {
    write_include(include, "ZM_ANNOUNCE", announce);
    const auto r = run_command({"/usr/sbin/bird", "-p", "-c", conf.string()}, 10s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  // A broken include is caught by the same check.
  std::ofstream(include) << "define ZM_ANNOUNCE = ;\n";
  EXPECT_NE(run_command({"/usr/sbin/bird", "-p", "-c", conf.string()}, 10s).exit_code, 0);
}

TEST(HealthcheckCommand, CapturesOutputAndExitCodeAndTimesOut) {
  auto r = run_command({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 5s);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.output, "out\nerr\n");
  r = run_command({"/bin/sleep", "5"}, 200ms);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.output.find("killed after 200 ms"), std::string::npos);
  // A caller that blocks SIGTERM (as the checker does) does not pass that on.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t old_mask;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);
  r = run_command({"/bin/sh", "-c", "kill -TERM $$; sleep 5; echo survived"}, 3s);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_EQ(r.output, "") << "the child ignored SIGTERM";
  r = run_command({"/nonexistent/birdc"}, 1s);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.output.find("cannot run /nonexistent/birdc"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace zonemesh::healthcheck
