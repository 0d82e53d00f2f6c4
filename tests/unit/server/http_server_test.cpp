// Tests for server/http_server.*: router rules, and a real server on 127.0.0.1
// and ::1 spoken to with raw HTTP over sockets.
#include "http_server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "common/metrics.hpp"

namespace zonemesh::server {
namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

struct parsed_response {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
  [[nodiscard]] bool has_header(const std::string& line) const {
    return head.find("\r\n" + line + "\r\n") != std::string::npos;
  }
};

void set_receive_timeout(tcp::socket& s, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Reads one response (Content-Length framed) from `s`, keeping any excess in `buffer`.
// status 0 when the connection closed first.
parsed_response read_response(tcp::socket& s, std::string& buffer, bool head_request = false) {
  set_receive_timeout(s, 3000ms);
  parsed_response r;
  char chunk[4096];
  std::size_t head_end;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    asio::error_code ec;
    const auto n = s.read_some(asio::buffer(chunk), ec);
    if (ec) return r;
    buffer.append(chunk, n);
  }
  r.head = buffer.substr(0, head_end + 2);
  std::size_t length = 0;
  const auto cl = r.head.find("Content-Length: ");
  if (cl != std::string::npos && !head_request) length = std::stoul(r.head.substr(cl + 16));
  while (buffer.size() < head_end + 4 + length) {
    asio::error_code ec;
    const auto n = s.read_some(asio::buffer(chunk), ec);
    if (ec) return r;
    buffer.append(chunk, n);
  }
  r.body = buffer.substr(head_end + 4, length);
  buffer.erase(0, head_end + 4 + length);
  r.status = std::stoi(r.head.substr(9, 3));
  return r;
}

bool closed_by_server(tcp::socket& s, std::chrono::milliseconds timeout = 2000ms) {
  set_receive_timeout(s, timeout);
  char byte;
  asio::error_code ec;
  s.read_some(asio::buffer(&byte, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

class HttpServer : public testing::Test {
 protected:
  void SetUp() override {
    metrics_.add_counter("zonemesh_test_requests_total", "Test counter.").inc(5);
    add_metrics_route(router_, metrics_);
    add_health_route(router_, [this] {
      return healthy_ ? health_status{true, ""}
                      : health_status{false, "database unreachable since 12:00"};
    });
    router_.add("POST", "/echo", [](const http_request& req) {
      auto res = http_response::text(200, req.body);
      res.headers.emplace_back("X-Method", req.method);
      return res;
    });
    router_.add_prefix("GET", "/api/v1", [](const http_request& req) {
      return http_response::json(200, "{\"path\":\"" + req.path + "\"}");
    });
    router_.add("GET", "/throws",
                [](const http_request&) -> http_response { throw std::runtime_error("boom"); });
  }

  void start(std::string address = "127.0.0.1", http_server_options options = {}) {
    address_ = address;
    server_ = std::make_unique<http_server>(address, 0, router_, options);
    server_->start();
    ASSERT_NE(server_->port(), 0);
  }

  tcp::socket connect() {
    tcp::socket s(io_);
    s.connect({asio::ip::make_address(address_), server_->port()});
    return s;
  }

  // One request on a fresh connection.
  parsed_response request(const std::string& raw) {
    auto s = connect();
    asio::write(s, asio::buffer(raw));
    std::string buffer;
    return read_response(s, buffer, raw.starts_with("HEAD "));
  }

  asio::io_context io_;
  common::metrics::registry metrics_;
  http_router router_;
  std::atomic<bool> healthy_{true};
  std::string address_;
  std::unique_ptr<http_server> server_;
};

TEST_F(HttpServer, MetricsServesPrometheusText) {
  start();
  const auto r = request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.has_header("Content-Type: text/plain; version=0.0.4; charset=utf-8")) << r.head;
  EXPECT_NE(r.body.find("# TYPE zonemesh_test_requests_total counter\n"
                        "zonemesh_test_requests_total 5\n"),
            std::string::npos)
      << r.body;
}

TEST_F(HttpServer, HealthFollowsTheCallback) {
  start();
  auto r = request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  healthy_ = false;
  r = request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "database unreachable since 12:00\n");
  EXPECT_TRUE(r.has_header("Cache-Control: no-store"));
}

TEST_F(HttpServer, WorksOnIpv6) {
  start("::1");
  const auto r = request("GET /health HTTP/1.1\r\nHost: [::1]\r\n\r\n");
  EXPECT_EQ(r.status, 200);
}

TEST_F(HttpServer, KeepAliveServesSeveralRequestsAndPipelining) {
  start();
  auto s = connect();
  std::string buffer;
  asio::write(s, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  auto r = read_response(s, buffer);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.has_header("Connection: keep-alive"));
  // Two pipelined requests in one write, the second with a body.
  asio::write(s,
              asio::buffer(std::string("GET /api/v1/servers/localhost HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5"
                                       "\r\n\r\nhello")));
  r = read_response(s, buffer);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.has_header("Content-Type: application/json"));
  EXPECT_EQ(r.body, "{\"path\":\"/api/v1/servers/localhost\"}");
  r = read_response(s, buffer);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_TRUE(r.has_header("X-Method: POST"));
  // Connection: close is honoured.
  asio::write(
      s, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  r = read_response(s, buffer);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.has_header("Connection: close"));
  EXPECT_TRUE(closed_by_server(s));
}

TEST_F(HttpServer, Http10ClosesUnlessKeepAlive) {
  start();
  auto s = connect();
  asio::write(s, asio::buffer(std::string("GET /health HTTP/1.0\r\n\r\n")));
  std::string buffer;
  EXPECT_EQ(read_response(s, buffer).status, 200);
  EXPECT_TRUE(closed_by_server(s));
}

TEST_F(HttpServer, BodySplitAcrossWrites) {
  start();
  auto s = connect();
  asio::write(s, asio::buffer(std::string("POST /echo HTTP/1.1\r\nHo")));
  std::this_thread::sleep_for(20ms);
  asio::write(s, asio::buffer(std::string("st: x\r\nContent-Length: 10\r\n\r\n01234")));
  std::this_thread::sleep_for(20ms);
  asio::write(s, asio::buffer(std::string("56789")));
  std::string buffer;
  const auto r = read_response(s, buffer);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "0123456789");
}

TEST_F(HttpServer, ExpectContinueGetsInterimResponse) {
  start();
  auto s = connect();
  asio::write(s, asio::buffer(std::string("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                                          "Expect: 100-continue\r\n\r\n")));
  set_receive_timeout(s, 2000ms);
  std::string interim(25, '\0');
  asio::error_code ec;
  asio::read(s, asio::buffer(interim), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(s, asio::buffer(std::string("body")));
  std::string buffer;
  const auto r = read_response(s, buffer);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "body");
}

TEST_F(HttpServer, HeadGetsHeadersWithoutBody) {
  start();
  auto s = connect();
  asio::write(s, asio::buffer(std::string("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
                                          "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string buffer;
  const auto head = read_response(s, buffer, true);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.has_header("Content-Length: 3"));
  const auto get = read_response(s, buffer);  // proves HEAD sent no body
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "ok\n");
}

TEST_F(HttpServer, ErrorStatuses) {
  start();
  EXPECT_EQ(request("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  const auto r405 = request("DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r405.status, 405);
  EXPECT_TRUE(r405.has_header("Allow: GET, HEAD")) << r405.head;
  EXPECT_EQ(request("GET /throws HTTP/1.1\r\nHost: x\r\n\r\n").status, 500);
  EXPECT_EQ(request("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n0\r\n\r\n")
                .status,
            501);
  EXPECT_EQ(request("GET /health HTTP/2.0\r\nHost: x\r\n\r\n").status, 505);
}

TEST_F(HttpServer, MalformedRequestsGet400AndClose) {
  start();
  for (const std::string raw : {
           "garbage\r\n\r\n",
           "GET /health\r\n\r\n",
           "GET  /health HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET health HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /health HTTP/1.1\r\n\r\n",  // no Host
           "GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
           "GET /health HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
           "GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
           "GET /he%zzlth HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /he%00lth HTTP/1.1\r\nHost: x\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
           "GET /health HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n",
           "G(T /health HTTP/1.1\r\nHost: x\r\n\r\n",
       }) {
    auto s = connect();
    asio::write(s, asio::buffer(raw));
    std::string buffer;
    const auto r = read_response(s, buffer);
    EXPECT_EQ(r.status, 400) << raw;
    EXPECT_TRUE(r.has_header("Connection: close")) << raw;
    EXPECT_TRUE(closed_by_server(s)) << raw;
  }
  EXPECT_EQ(request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status, 200) << "still serving";
}

TEST_F(HttpServer, SizeLimits) {
  http_server_options o;
  o.max_header_bytes = 1024;
  o.max_body_bytes = 100;
  start("127.0.0.1", o);
  const auto big_body = request("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n");
  EXPECT_EQ(big_body.status, 413);
  const auto huge =
      request("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n");
  EXPECT_EQ(huge.status, 413);
  const auto big_head =
      request("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big_head.status, 431);
  // A header that never ends is refused once it passes the limit.
  const auto endless = request("GET /health HTTP/1.1\r\nHost: x\r\nX: " + std::string(1100, 'b'));
  EXPECT_EQ(endless.status, 431);
  const auto ok = request("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
                          std::string(100, 'c'));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), 100u);
}

TEST_F(HttpServer, IdleConnectionClosedAndConnectionLimit) {
  http_server_options o;
  o.idle_timeout = 200ms;
  o.max_connections = 1;
  start("127.0.0.1", o);
  auto a = connect();
  std::string buffer;
  asio::write(a, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  ASSERT_EQ(read_response(a, buffer).status, 200);
  auto b = connect();  // over the limit: closed at once
  EXPECT_TRUE(closed_by_server(b, 1000ms));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(a, 3000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  // The slot is free again.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
}

TEST_F(HttpServer, StopClosesConnections) {
  start();
  auto s = connect();
  std::string buffer;
  asio::write(s, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  ASSERT_EQ(read_response(s, buffer).status, 200);
  server_->stop();
  EXPECT_TRUE(closed_by_server(s));
  server_->stop();
}

TEST_F(HttpServer, BindFailureNamesTheAddress) {
  start();
  http_server second("127.0.0.1", server_->port(), router_);
  try {
    second.start();
    FAIL() << "second bind succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(server_->port())),
              std::string::npos)
        << e.what();
  }
}

TEST(HttpRouter, ExactBeatsPrefixAndLongestPrefixWins) {
  http_router router;
  const auto tag = [](std::string t) {
    return [t](const http_request&) { return http_response::text(200, t); };
  };
  router.add_prefix("GET", "/api", tag("api"));
  router.add_prefix("GET", "/api/v1/zones", tag("zones"));
  router.add("GET", "/api/v1/zones/special", tag("special"));
  router.add_prefix("GET", "/ui/", tag("ui"));
  const auto path = [&](std::string p) {
    http_request req;
    req.method = "GET";
    req.path = std::move(p);
    const auto r = router.dispatch(req);
    return r.status == 200 ? r.body : std::to_string(r.status);
  };
  EXPECT_EQ(path("/api"), "api");
  EXPECT_EQ(path("/api/v1/servers"), "api");
  EXPECT_EQ(path("/api/v1/zones"), "zones");
  EXPECT_EQ(path("/api/v1/zones/example.com."), "zones");
  EXPECT_EQ(path("/api/v1/zones/special"), "special");
  EXPECT_EQ(path("/apix"), "404") << "prefixes match whole segments";
  EXPECT_EQ(path("/ui/app.js"), "ui");
  EXPECT_EQ(path("/ui"), "404");
}

TEST(HttpRequest, HeaderAndQueryParameters) {
  http_request req;
  req.headers = {{"X-API-Key", "secret"}, {"Accept", "a"}};
  req.query = "zone=example.com.&rrsets=false&q=a+b%2Fc&flag";
  ASSERT_NE(req.header("x-api-key"), nullptr);
  EXPECT_EQ(*req.header("x-api-key"), "secret");
  EXPECT_EQ(req.header("Missing"), nullptr);
  EXPECT_EQ(req.query_param("zone"), "example.com.");
  EXPECT_EQ(req.query_param("rrsets"), "false");
  EXPECT_EQ(req.query_param("q"), "a b/c");
  EXPECT_EQ(req.query_param("flag"), "");
  EXPECT_FALSE(req.query_param("none"));
}

TEST(HttpRequest, ApiKeyCheck) {
  http_request req;
  EXPECT_FALSE(has_api_key(req, "k3y"));
  req.headers = {{"x-api-key", "k3y"}};
  EXPECT_TRUE(has_api_key(req, "k3y"));
  EXPECT_FALSE(has_api_key(req, "k3y2"));
  EXPECT_FALSE(has_api_key(req, "k3Y"));
  EXPECT_FALSE(has_api_key(req, "")) << "an empty configured key disables the API";
  req.headers = {{"X-API-Key", ""}};
  EXPECT_FALSE(has_api_key(req, ""));
}

}  // namespace
}  // namespace zonemesh::server

namespace zonemesh::server {
namespace {

// Background routes: a slow handler never holds up the other routes, its
// responses keep their order on a keep-alive connection, and stop() waits
// for it.
TEST(HttpServerBackground, SlowBackgroundRouteDoesNotBlockOthers) {
  http_router router;
  std::atomic<int> running{0};
  router.add_prefix_background("GET", "/slow", [&](const http_request& req) {
    ++running;
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    --running;
    return http_response::text(200, "slow " + req.path + "\n");
  });
  router.add("GET", "/fast",
             [](const http_request&) { return http_response::text(200, "fast\n"); });
  http_server server("127.0.0.1", 0, router);
  server.start();
  asio::io_context io;
  const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), server.port());
  tcp::socket slow(io);
  slow.connect(at);
  // Two pipelined requests on one connection: answered in order.
  asio::write(slow, asio::buffer(std::string("GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                             "GET /slow/2 HTTP/1.1\r\nHost: x\r\n\r\n")));
  for (int i = 0; i < 100 && running == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(running, 1);
  tcp::socket fast(io);
  fast.connect(at);
  asio::write(fast, asio::buffer(std::string("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string fast_buffer;
  const auto f = read_response(fast, fast_buffer);
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(f.body, "fast\n");
  EXPECT_EQ(running, 1) << "/fast was answered while /slow was still running";
  std::string slow_buffer;
  const auto s1 = read_response(slow, slow_buffer);
  const auto s2 = read_response(slow, slow_buffer);
  EXPECT_EQ(s1.body, "slow /slow/1\n");
  EXPECT_EQ(s2.body, "slow /slow/2\n");
  EXPECT_FALSE(router.runs_in_background(http_request{"GET", "/fast", "/fast", "", 1, {}, "", ""}));
  EXPECT_TRUE(
      router.runs_in_background(http_request{"HEAD", "/slow/x", "/slow/x", "", 1, {}, "", ""}));
  EXPECT_FALSE(
      router.runs_in_background(http_request{"POST", "/slow", "/slow", "", 1, {}, "", ""}));
  // Stopping while a background handler runs waits for it and closes the connection.
  asio::write(slow, asio::buffer(std::string("GET /slow/3 HTTP/1.1\r\nHost: x\r\n\r\n")));
  for (int i = 0; i < 100 && running == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server.stop();
  EXPECT_EQ(running, 0);
}

}  // namespace
}  // namespace zonemesh::server
