// HTTP/1.1 server on asio: one thread, keep-alive, Content-Length bodies,
// strict parsing of hostile input, and the method/path router.
#include "http_server.hpp"

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <atomic>
#include <charconv>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "common/metrics.hpp"

namespace zonemesh::server {

namespace {

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t read_chunk = 8192;
constexpr std::size_t max_header_count = 100;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) {
             return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; nullopt on a bad escape or a decoded NUL.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string http_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[64];
  const auto n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

enum class parse_state { incomplete, complete, failed };

struct parse_result {
  parse_state state = parse_state::incomplete;
  std::size_t consumed = 0;    // bytes of the buffer this request used
  int error_status = 0;        // when failed
  std::string error;           // when failed, for the response body
  bool head_complete = false;  // when incomplete: only the body is missing
};

parse_result fail(int status, std::string why) {
  return {parse_state::failed, 0, status, std::move(why)};
}

// Parses one request from the start of `in`. Never reads past in.size().
parse_result parse_request(std::string_view in, const http_server_options& limits,
                           http_request& req) {
  // Clients may send a stray CRLF between requests (RFC 9112 2.2).
  std::size_t start = 0;
  while (start < in.size() && (in[start] == '\r' || in[start] == '\n')) ++start;
  if (start > 0 && start == in.size()) return {parse_state::incomplete, 0, 0, {}};

  // Lines end with CRLF (a bare LF is tolerated); an empty line ends the head.
  std::vector<std::string_view> lines;
  std::size_t pos = start;
  std::size_t head_end = std::string_view::npos;
  while (pos < in.size()) {
    const auto nl = in.find('\n', pos);
    if (nl == std::string_view::npos) break;
    std::string_view line = in.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (line.empty()) {
      head_end = pos;
      break;
    }
    lines.push_back(line);
    if (lines.size() > max_header_count + 1) {
      return fail(431, "too many header fields");
    }
  }
  if (head_end == std::string_view::npos) {
    if (in.size() - start > limits.max_header_bytes) {
      return fail(
          431, "request header larger than " + std::to_string(limits.max_header_bytes) + " bytes");
    }
    return {parse_state::incomplete, 0, 0, {}};
  }
  if (head_end - start > limits.max_header_bytes) {
    return fail(431,
                "request header larger than " + std::to_string(limits.max_header_bytes) + " bytes");
  }
  if (lines.empty()) return fail(400, "empty request");

  // Request line: method SP target SP version
  const std::string_view request_line = lines.front();
  const auto sp1 = request_line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "malformed request line");
  }
  const auto method = request_line.substr(0, sp1);
  const auto target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = request_line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "malformed method");
  if (target.empty() || target.front() != '/' ||
      std::any_of(target.begin(), target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return fail(400, "malformed request target");
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return fail(400, "malformed HTTP version");
  }
  if (version[5] != '1') return fail(505, "only HTTP/1.x is supported");

  req = http_request{};
  req.method = std::string(method);
  req.target = std::string(target);
  req.version_minor = version[7] - '0';
  const auto qmark = target.find('?');
  auto path = percent_decode(target.substr(0, qmark), false);
  if (!path) return fail(400, "bad percent-encoding in path");
  req.path = std::move(*path);
  if (qmark != std::string_view::npos) req.query = std::string(target.substr(qmark + 1));

  std::optional<std::size_t> content_length;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto line = lines[i];
    if (line.front() == ' ' || line.front() == '\t') return fail(400, "obsolete line folding");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail(400, "header line without ':'");
    const auto name = line.substr(0, colon);
    if (!is_token(name)) return fail(400, "malformed header name");
    const auto value = trim_ows(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char c) {
          return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
        })) {
      return fail(400, "control character in header value");
    }
    if (iequals(name, "Content-Length")) {
      std::size_t n = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size()) {
        if (ec == std::errc::result_out_of_range) return fail(413, "request body too large");
        return fail(400, "malformed Content-Length");
      }
      if (content_length && *content_length != n) return fail(400, "conflicting Content-Length");
      content_length = n;
    } else if (iequals(name, "Transfer-Encoding")) {
      return fail(501, "Transfer-Encoding is not supported; send Content-Length");
    }
    req.headers.emplace_back(std::string(name), std::string(value));
  }
  if (req.version_minor >= 1 && req.header("Host") == nullptr) {
    return fail(400, "HTTP/1.1 request without Host");
  }
  const std::size_t body_len = content_length.value_or(0);
  if (body_len > limits.max_body_bytes) {
    return fail(413,
                "request body larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  }
  if (in.size() - head_end < body_len) return {parse_state::incomplete, 0, 0, {}, true};
  req.body = std::string(in.substr(head_end, body_len));
  return {parse_state::complete, head_end + body_len, 0, {}};
}

bool wants_keep_alive(const http_request& req) {
  const std::string* conn = req.header("Connection");
  bool close = req.version_minor == 0;
  if (conn != nullptr) {
    std::string_view rest = *conn;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const auto token = trim_ows(rest.substr(0, comma));
      if (iequals(token, "close")) return false;
      if (iequals(token, "keep-alive")) close = false;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return !close;
}

std::string serialize(const http_response& res, bool head_only, bool keep_alive) {
  const bool bodyless =
      res.status == 204 || res.status == 304 || (res.status >= 100 && res.status < 200);
  std::string out;
  out.reserve(256 + (head_only ? 0 : res.body.size()));
  out += "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  out += http_reason(res.status);
  out += "\r\nDate: ";
  out += http_date();
  out += "\r\nServer: zonemesh\r\n";
  if (!bodyless) {
    out += "Content-Type: ";
    out += res.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(res.body.size());
    out += "\r\n";
  }
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : res.headers) {
    // Handlers are ours, but a CR/LF in a header would split the response.
    if (name.find_first_of("\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  if (!head_only && !bodyless) out += res.body;
  return out;
}

}  // namespace

// ---- request / response / router ----------------------------------------------------

const std::string* http_request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return &v;
  }
  return nullptr;
}

std::optional<std::string> http_request::query_param(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    const auto key = percent_decode(pair.substr(0, eq), true);
    if (key && *key == name) {
      if (eq == std::string_view::npos) return std::string();
      return percent_decode(pair.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

http_response http_response::text(int status, std::string body) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http_response http_response::json(int status, std::string body) {
  http_response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

std::string_view http_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void http_router::add(std::string method, std::string path, http_handler handler) {
  routes_.push_back({std::move(method), std::move(path), false, std::move(handler)});
}

void http_router::add_prefix(std::string method, std::string prefix, http_handler handler) {
  routes_.push_back({std::move(method), std::move(prefix), true, std::move(handler)});
}

void http_router::add_prefix_background(std::string method, std::string prefix,
                                        http_handler handler) {
  routes_.push_back({std::move(method), std::move(prefix), true, std::move(handler), true});
}

bool http_router::runs_in_background(const http_request& request) const {
  const route* best = nullptr;
  const route* chosen = find(request, &best);
  return chosen != nullptr && chosen->background;
}

const http_router::route* http_router::find(const http_request& request,
                                            const route** best_path) const {
  const auto path_matches = [&](const route& r) {
    if (!r.prefix) return request.path == r.path;
    if (!request.path.starts_with(r.path)) return false;
    return request.path.size() == r.path.size() || r.path.ends_with('/') ||
           request.path[r.path.size()] == '/';
  };
  // The best path match: exact routes first, then the longest prefix.
  const route* best = nullptr;
  for (const auto& r : routes_) {
    if (!path_matches(r)) continue;
    if (best == nullptr || (best->prefix && !r.prefix) ||
        (best->prefix == r.prefix && r.path.size() > best->path.size())) {
      best = &r;
    }
  }
  *best_path = best;
  if (best == nullptr) return nullptr;
  const route* chosen = nullptr;
  const route* get_route = nullptr;
  for (const auto& r : routes_) {
    if (r.prefix != best->prefix || r.path != best->path) continue;
    if (r.method == request.method) chosen = &r;
    if (r.method == "GET") get_route = &r;
  }
  if (chosen == nullptr && request.method == "HEAD") chosen = get_route;
  return chosen;
}

http_response http_router::dispatch(const http_request& request) const {
  const route* best = nullptr;
  const route* chosen = find(request, &best);
  if (best == nullptr) return http_response::text(404, "not found\n");
  if (chosen == nullptr) {
    std::string allow;
    const route* get_route = nullptr;
    for (const auto& r : routes_) {
      if (r.prefix != best->prefix || r.path != best->path) continue;
      if (r.method == "GET") get_route = &r;
      if (!allow.empty()) allow += ", ";
      allow += r.method;
    }
    if (get_route != nullptr) allow += ", HEAD";
    auto res = http_response::text(405, "method not allowed\n");
    res.headers.emplace_back("Allow", allow);
    return res;
  }
  try {
    return chosen->handler(request);
  } catch (const std::exception& e) {
    spdlog::error("HTTP {} {}: handler failed: {}", request.method, request.path, e.what());
  } catch (...) {
    spdlog::error("HTTP {} {}: handler failed", request.method, request.path);
  }
  return http_response::text(500, "internal error\n");
}

// ---- server ----------------------------------------------------------------------

struct http_server::impl {
  class connection;

  impl(std::string a, std::uint16_t p, const http_router& r, http_server_options o)
      : address(std::move(a)), requested_port(p), router(r), options(o) {}

  void accept();
  void close_all();

  std::string address;
  std::uint16_t requested_port;
  const http_router& router;
  http_server_options options;
  std::unordered_set<connection*> connections;  // outlives io (see dns_listener.cpp)
  std::size_t open_connections = 0;             // touched on the server thread only
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::uint16_t bound_port = 0;
  std::thread thread;
  asio::thread_pool background{1};  // handlers of background routes, one at a time
  bool started = false;
  bool stopping = false;
};

class http_server::impl::connection : public std::enable_shared_from_this<connection> {
 public:
  connection(impl& server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(server.io) {
    server_.connections.insert(this);
    ++server_.open_connections;
  }
  ~connection() {
    server_.connections.erase(this);
    --server_.open_connections;
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void start() {
    asio::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    if (ec) {
      close();
      return;
    }
    peer_ = remote.address().to_string();
    touch();
    arm_timer();
    handle_buffered();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

 private:
  void touch() { deadline_ = clock_type::now() + server_.options.idle_timeout; }

  void arm_timer() {
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec == asio::error::operation_aborted || self->closed_) return;
      if (self->busy_) {  // a background handler is working on our request
        self->touch();
        self->arm_timer();
      } else if (clock_type::now() >= self->deadline_) {
        self->close();
      } else {
        self->arm_timer();
      }
    });
  }

  void read() {
    if (closed_) return;
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                              if (self->closed_) return;
                              if (ec) {  // EOF, reset or shutdown: nothing left to answer
                                self->close();
                                return;
                              }
                              self->touch();
                              self->in_.append(self->chunk_.data(), n);
                              self->handle_buffered();
                            });
  }

  // Answers the next complete request in the buffer, or reads more.
  void handle_buffered() {
    http_request req;
    const auto result = parse_request(in_, server_.options, req);
    if (result.state == parse_state::incomplete) {
      const std::string* expect = result.head_complete ? req.header("Expect") : nullptr;
      if (expect != nullptr && !continue_sent_ && req.version_minor >= 1 &&
          iequals(*expect, "100-continue")) {
        // curl and others wait for this before sending a large body.
        continue_sent_ = true;
        send_continue();
        return;
      }
      read();
      return;
    }
    if (result.state == parse_state::failed) {
      spdlog::debug("HTTP {}: {} {}", peer_, result.error_status, result.error);
      write(serialize(http_response::text(result.error_status, result.error + "\n"), false, false),
            false);
      return;
    }
    in_.erase(0, result.consumed);
    continue_sent_ = false;
    req.peer = peer_;
    const bool keep_alive = wants_keep_alive(req) && !server_.stopping;
    if (server_.router.runs_in_background(req)) {
      // Answered on the background thread; the response is written from
      // this one. Nothing is read meanwhile, so requests stay in order.
      busy_ = true;
      asio::post(server_.background, [self = shared_from_this(), r = std::move(req), keep_alive] {
        http_response res = self->server_.router.dispatch(r);
        const bool head = r.method == "HEAD";
        asio::post(self->server_.io, [self, res = std::move(res), head, keep_alive] {
          self->busy_ = false;
          if (self->closed_) return;
          const bool keep = keep_alive && !self->server_.stopping;
          self->touch();
          self->write(serialize(res, head, keep), keep);
        });
      });
      return;
    }
    const http_response res = server_.router.dispatch(req);
    write(serialize(res, req.method == "HEAD", keep_alive), keep_alive);
  }

  void send_continue() {
    static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(socket_, asio::buffer(interim),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) {
                          self->close();
                          return;
                        }
                        self->read();
                      });
  }

  void write(std::string data, bool keep_alive) {
    out_ = std::move(data);
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this(), keep_alive](const asio::error_code& ec, std::size_t) {
          if (self->closed_) return;
          if (ec || !keep_alive) {
            self->close();
            return;
          }
          self->touch();
          self->handle_buffered();  // a pipelined request may be waiting
        });
  }

  impl& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  clock_type::time_point deadline_;
  std::array<char, read_chunk> chunk_{};
  std::string in_;
  std::string out_;
  std::string peer_;
  bool closed_ = false;
  bool continue_sent_ = false;  // 100 Continue already sent for the request being read
  bool busy_ = false;           // a background handler is answering a request of ours
};

void http_server::impl::accept() {
  acceptor.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {
      spdlog::warn("HTTP accept failed: {}", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const asio::error_code& wait_ec) {
        if (!wait_ec && !stopping) accept();
      });
      return;
    }
    if (open_connections >= options.max_connections) {
      asio::error_code ignored;
      socket.close(ignored);
    } else {
      try {
        std::make_shared<connection>(*this, std::move(socket))->start();
      } catch (const std::exception& e) {
        spdlog::error("HTTP connection setup failed: {}", e.what());
      }
    }
    accept();
  });
}

void http_server::impl::close_all() {
  stopping = true;
  asio::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  for (auto* c : connections) c->close();
}

http_server::http_server(std::string address, std::uint16_t port, const http_router& router,
                         http_server_options options)
    : impl_(std::make_unique<impl>(std::move(address), port, router, options)) {}

http_server::~http_server() { stop(); }

void http_server::start() {
  auto& m = *impl_;
  if (m.started || m.stopping) throw std::logic_error("http_server can be started once");
  const std::string where =
      (m.address.find(':') != std::string::npos ? "[" + m.address + "]" : m.address) + ":" +
      std::to_string(m.requested_port);
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(m.address), m.requested_port);
    m.acceptor.open(endpoint.protocol());
    if (endpoint.address().is_v6()) m.acceptor.set_option(asio::ip::v6_only(true));
    m.acceptor.set_option(tcp::acceptor::reuse_address(true));
    m.acceptor.bind(endpoint);
    m.acceptor.listen(asio::socket_base::max_listen_connections);
    m.bound_port = m.acceptor.local_endpoint().port();
  } catch (const std::system_error& e) {
    asio::error_code ignored;
    m.acceptor.close(ignored);
    throw std::runtime_error("cannot listen for HTTP on " + where + ": " + e.code().message());
  }
  m.guard.emplace(m.io.get_executor());
  m.accept();
  m.thread = std::thread([&m] {
    for (;;) {
      try {
        m.io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("HTTP server: {}", e.what());
      }
    }
  });
  m.started = true;
  spdlog::info("HTTP listening on {}:{}",
               m.address.find(':') != std::string::npos ? "[" + m.address + "]" : m.address,
               m.bound_port);
}

void http_server::stop() {
  auto& m = *impl_;
  if (!m.started) return;
  m.started = false;
  asio::post(m.io, [&m] { m.close_all(); });
  m.guard.reset();
  if (m.thread.joinable()) m.thread.join();
  // A background handler still running finishes; what it posts back is
  // never run (the connections are closed) and goes with the io_context.
  m.background.join();
}

std::uint16_t http_server::port() const { return impl_->bound_port; }

bool has_api_key(const http_request& request, std::string_view expected) {
  const std::string* given = request.header("X-API-Key");
  if (expected.empty() || given == nullptr || given->size() != expected.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>((*given)[i] ^ expected[i]);
  }
  return diff == 0;
}

// ---- standard routes ---------------------------------------------------------------

void add_metrics_route(http_router& router, const common::metrics::registry& registry) {
  router.add("GET", "/metrics", [&registry](const http_request&) {
    http_response res;
    res.content_type = std::string(common::metrics::registry::content_type);
    res.headers.emplace_back("Cache-Control", "no-store");
    res.body = registry.render();
    return res;
  });
}

void add_health_route(http_router& router, std::function<health_status()> check) {
  router.add("GET", "/health", [check = std::move(check)](const http_request&) {
    health_status status;
    try {
      status = check ? check() : health_status{};
    } catch (const std::exception& e) {
      status = {false, std::string("health check failed: ") + e.what()};
    }
    auto res =
        status.ok
            ? http_response::text(200, "ok\n")
            : http_response::text(
                  503, (status.reason.empty() ? std::string("unhealthy") : status.reason) + "\n");
    res.headers.emplace_back("Cache-Control", "no-store");
    return res;
  });
}

}  // namespace zonemesh::server
