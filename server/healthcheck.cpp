// zonemesh-healthcheck's logic: configuration, DNS and HTTP probes, the
// verdict, the rise/fall state and the BIRD include (see healthcheck.hpp).
#include "healthcheck.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "common/ini.hpp"
#include "dns/name.hpp"
#include "dns/types.hpp"
#include "dns/wire.hpp"

extern char** environ;

namespace zonemesh::healthcheck {

namespace {

constexpr std::string_view example_text = R"(# zonemesh-healthcheck configuration.
#
# The checker asks the local zonemesh-server a DNS question and reads its
# /health every interval; after `rise` good checks in a row it announces the
# anycast service address (BIRD include: define SYMBOL = 1), after `fall` bad
# ones it withdraws it (define SYMBOL = 0), each time rewriting the include
# atomically and running `birdc configure`. It starts withdrawn.
# Same format as zonemesh-server's file: `key = value` in [sections].

[check]
# The local server's DNS address (UDP). Default 127.0.0.1:53.
dns = 127.0.0.1:53

# The question (required) and its type (default SOA). Pick a name every site
# serves and nobody deletes, e.g. the apex of a zone kept for this purpose.
name = example.com
type = SOA

# Expected answer: an address (A, AAAA), the text (TXT) or a name (NS, CNAME,
# PTR, DNAME); empty (default): any record of the type at the name.
expect =

# The local server's /health: 200 = fresh; 503 = degraded (database down,
# change-log not read). Empty: DNS only.
health_url = http://127.0.0.1:8081/health

# Seconds between checks, and how long one probe may take (milliseconds).
interval_ms = 1000
timeout_ms = 1000

# Good checks in a row before announcing; bad checks in a row before
# withdrawing. 1 to 100.
rise = 3
fall = 3

# After a withdrawal for failures, announce again only once the last failure
# is this old (milliseconds; flap damping). 0 to 86400000.
hold_down_ms = 30000

# While this file exists the address is withdrawn at once (planned
# maintenance: drain). Empty: no maintenance file.
maintenance_file = /etc/zonemesh/maintenance

# Other sites, asked only when this one fails, to tell a local failure
# (withdraw) from one every site shares (keep announcing): a label, the
# peer's DNS address and, optionally, its /health. Repeatable.
# peer = site2 198.51.100.6:53 http://198.51.100.6:8081/health

[bird]
# The include file the checker owns (BIRD's configuration includes it).
include = /etc/bird/zonemesh-anycast.conf
# The constant it defines: 1 announce, 0 withdraw.
symbol = ZONEMESH_ANYCAST_ANNOUNCE
# birdc and BIRD's control socket (empty: birdc's default).
birdc = birdc
socket =

[http]
# /metrics (Prometheus: announced, checks by verdict, birdc failures) and
# /health (503 while birdc configure fails). Empty (default): no HTTP.
listen =

[log]
# trace, debug, info (default), warn, error, critical or off.
level = info
)";

[[noreturn]] void fail_at(std::string_view source, int line, const std::string& problem) {
  std::ostringstream msg;
  msg << source;
  if (line != 0) msg << ':' << line;
  msg << ": " << problem;
  throw std::runtime_error(msg.str());
}

template <typename Int>
std::optional<Int> parse_integer(std::string_view text, Int min, Int max) {
  Int value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, 10);
  if (text.empty() || ec != std::errc{} || ptr != end || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

bool valid_symbol(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<std::string_view> split_blanks(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const auto start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

// A socket that closes itself.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Fills a sockaddr for an IP literal; false when it is not one.
bool make_sockaddr(const std::string& host, std::uint16_t port, bool ipv6, sockaddr_storage& out,
                   socklen_t& len) {
  std::memset(&out, 0, sizeof out);
  if (ipv6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    if (::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) return false;
    std::memcpy(&out, &a, sizeof a);
    len = sizeof a;
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) return false;
    std::memcpy(&out, &a, sizeof a);
    len = sizeof a;
  }
  return true;
}

using steady = std::chrono::steady_clock;

int remaining_ms(steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

std::string errno_text(int err) { return std::strerror(err); }

// TXT RDATA: character-strings concatenated.
std::optional<std::string> txt_text(std::span<const std::uint8_t> rdata) {
  std::string out;
  std::size_t i = 0;
  while (i < rdata.size()) {
    const std::size_t n = rdata[i];
    if (i + 1 + n > rdata.size()) return std::nullopt;
    out.append(reinterpret_cast<const char*>(rdata.data() + i + 1), n);
    i += 1 + n;
  }
  return out;
}

}  // namespace

// ---- configuration ----------------------------------------------------------

std::string http_url::to_string() const {
  std::string out = "http://";
  out += is_ipv6 ? "[" + host + "]" : host;
  out += ':' + std::to_string(port) + path;
  return out;
}

std::optional<http_url> parse_http_url(std::string_view text, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (text.substr(0, scheme.size()) != scheme) {
    error = "not an http:// URL: " + std::string(text);
    return std::nullopt;
  }
  auto rest = text.substr(scheme.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  http_url url;
  url.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view host = authority;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' in " + std::string(text);
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    url.is_ipv6 = true;
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        error = "bad address in " + std::string(text);
        return std::nullopt;
      }
      port_text = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  url.host = std::string(host);
  if (!port_text.empty() || authority.ends_with(":")) {
    const auto port = parse_integer<std::uint16_t>(port_text, 1, 65535);
    if (!port) {
      error = "bad port in " + std::string(text);
      return std::nullopt;
    }
    url.port = *port;
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (!make_sockaddr(url.host, url.port, url.is_ipv6, ss, len)) {
    error = "the host must be an IP address (IPv6 in brackets): " + std::string(text);
    return std::nullopt;
  }
  return url;
}

settings parse_settings(std::string_view text, std::string_view source) {
  settings s;
  bool have_name = false;
  bool have_include = false;
  std::vector<std::string> seen;
  for (const auto& e : common::parse_ini(text, source)) {
    const std::string key = e.section + "." + e.key;
    const auto fail = [&](const std::string& problem) { fail_at(source, e.line, problem); };
    if (key != "check.peer") {
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        fail("[" + e.section + "] " + e.key + " given twice");
      }
      seen.push_back(key);
    }
    const auto& v = e.value;
    const auto integer = [&](long long min, long long max) {
      const auto n = parse_integer<long long>(v, min, max);
      if (!n) {
        fail(e.key + " must be an integer from " + std::to_string(min) + " to " +
             std::to_string(max) + ", not \"" + v + "\"");
      }
      return *n;
    };
    std::string why;
    if (key == "check.dns") {
      auto addr = common::parse_listen_address(v, why);
      if (!addr || addr->port == 0) fail("dns: " + (why.empty() ? "port 0" : why));
      s.dns = *addr;
    } else if (key == "check.name") {
      dns::name n;
      if (v.empty() || dns::name::from_text(v, n) != dns::name_status::ok) {
        fail("name: not a domain name: \"" + v + "\"");
      }
      s.query_name = v;
      have_name = true;
    } else if (key == "check.type") {
      const auto t = dns::type_from_string(v);
      if (!t || dns::is_meta_type(*t)) fail("type: unknown or meta RR type \"" + v + "\"");
      s.query_type = *t;
    } else if (key == "check.expect") {
      s.expect = v;
    } else if (key == "check.health_url") {
      if (v.empty()) {
        s.health.reset();
      } else {
        auto url = parse_http_url(v, why);
        if (!url) fail("health_url: " + why);
        s.health = *url;
      }
    } else if (key == "check.interval_ms") {
      s.interval = std::chrono::milliseconds(integer(50, 3'600'000));
    } else if (key == "check.timeout_ms") {
      s.timeout = std::chrono::milliseconds(integer(10, 60'000));
    } else if (key == "check.rise") {
      s.rise = static_cast<unsigned>(integer(1, 100));
    } else if (key == "check.fall") {
      s.fall = static_cast<unsigned>(integer(1, 100));
    } else if (key == "check.hold_down_ms") {
      s.hold_down = std::chrono::milliseconds(integer(0, 86'400'000));
    } else if (key == "check.maintenance_file") {
      s.maintenance_file = v;
    } else if (key == "check.peer") {
      const auto parts = split_blanks(v);
      if (parts.size() < 2 || parts.size() > 3) {
        fail("peer: expected \"LABEL DNS-ADDRESS [HEALTH-URL]\", not \"" + v + "\"");
      }
      peer_target p;
      p.label = std::string(parts[0]);
      auto addr = common::parse_listen_address(parts[1], why);
      if (!addr || addr->port == 0) fail("peer " + p.label + ": " + (why.empty() ? "port 0" : why));
      p.dns = *addr;
      if (parts.size() == 3) {
        auto url = parse_http_url(parts[2], why);
        if (!url) fail("peer " + p.label + ": " + why);
        p.health = *url;
      }
      s.peers.push_back(std::move(p));
    } else if (key == "bird.include") {
      if (v.empty()) fail("include: empty");
      s.include_file = v;
      have_include = true;
    } else if (key == "bird.symbol") {
      if (!valid_symbol(v)) fail("symbol: not a BIRD symbol name: \"" + v + "\"");
      s.symbol = v;
    } else if (key == "bird.birdc") {
      if (v.empty()) fail("birdc: empty");
      s.birdc = v;
    } else if (key == "bird.socket") {
      s.bird_socket = v;
    } else if (key == "http.listen") {
      if (v.empty()) {
        s.http.reset();
      } else {
        auto addr = common::parse_listen_address(v, why);
        if (!addr) fail("listen: " + why);
        s.http = *addr;
      }
    } else if (key == "log.level") {
      const auto level = common::parse_log_level(v);
      if (!level) fail("level: unknown log level \"" + v + "\"");
      s.log_level = *level;
    } else {
      fail("unknown key " + e.key + " in [" + e.section + "]");
    }
  }
  if (!have_name) fail_at(source, 0, "[check] name is required");
  if (!have_include) fail_at(source, 0, "[bird] include is required");
  if (s.timeout > s.interval) fail_at(source, 0, "[check] timeout_ms must not exceed interval_ms");
  if (!s.expect.empty()) {
    const auto t = s.query_type;
    using namespace dns::rr_type;
    if (t != a && t != aaaa && t != txt && t != ns && t != cname && t != ptr && t != dname) {
      fail_at(source, 0, "[check] expect works with A, AAAA, TXT, NS, CNAME, PTR and DNAME only");
    }
  }
  return s;
}

settings load_settings(const std::filesystem::path& path) {
  return parse_settings(common::read_text_file(path.string()), path.string());
}

std::string_view example_settings() { return example_text; }

// ---- DNS --------------------------------------------------------------------

std::vector<std::uint8_t> build_query(std::uint16_t id, std::string_view name, std::uint16_t type,
                                      std::uint16_t qclass) {
  dns::name qname;
  if (dns::name::from_text(name, qname) != dns::name_status::ok) return {};
  std::vector<std::uint8_t> buf(512);
  dns::writer w(buf);
  dns::header h;
  h.id = id;
  h.qdcount = 1;
  if (!w.header(h) || !w.name(qname, false) || !w.u16(type) || !w.u16(qclass)) return {};
  buf.resize(w.size());
  return buf;
}

dns_result judge_response(std::span<const std::uint8_t> response, std::uint16_t id,
                          std::string_view name, std::uint16_t type, std::string_view expect) {
  dns_result r;
  dns::name qname;
  if (dns::name::from_text(name, qname) != dns::name_status::ok) {
    r.detail = "bad query name";
    return r;
  }
  dns::reader rd(response);
  dns::header h;
  if (rd.header(h) != dns::read_status::ok || h.id != id || !h.has(dns::flag::qr) ||
      h.qdcount != 1) {
    r.detail = "not a response to our query";
    return r;
  }
  dns::name echoed;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  if (rd.name(echoed) != dns::read_status::ok || rd.u16(qtype) != dns::read_status::ok ||
      rd.u16(qclass) != dns::read_status::ok || !echoed.equals(qname) || qtype != type) {
    r.detail = "response with another question";
    return r;
  }
  r.answered = true;
  if (h.has(dns::flag::tc)) {
    r.detail = "truncated response";
    return r;
  }
  if (h.rcode() != dns::rcode::noerror) {
    r.detail = "rcode " + dns::rcode_to_string(h.rcode());
    return r;
  }
  if (!h.has(dns::flag::aa)) {
    r.detail = "answer not authoritative";
    return r;
  }
  std::vector<std::string> seen;
  bool found = false;
  for (unsigned i = 0; i < h.ancount; ++i) {
    dns::name owner;
    dns::rr_header f;
    std::span<const std::uint8_t> rdata;
    if (rd.rr(owner, f, rdata) != dns::read_status::ok) {
      r.detail = "malformed answer section";
      return r;
    }
    if (f.type != type || !owner.equals(qname)) continue;
    found = true;
    if (expect.empty()) continue;
    std::string value;
    if (type == dns::rr_type::a || type == dns::rr_type::aaaa) {
      const bool v6 = type == dns::rr_type::aaaa;
      if (rdata.size() != (v6 ? 16U : 4U)) continue;
      char text[INET6_ADDRSTRLEN] = {};
      ::inet_ntop(v6 ? AF_INET6 : AF_INET, rdata.data(), text, sizeof text);
      value = text;
      // Compare addresses, not spellings.
      unsigned char want[16] = {};
      if (::inet_pton(v6 ? AF_INET6 : AF_INET, std::string(expect).c_str(), want) == 1 &&
          std::memcmp(want, rdata.data(), rdata.size()) == 0) {
        r.correct = true;
        r.detail = value;
        return r;
      }
    } else if (type == dns::rr_type::txt) {
      value = txt_text(rdata).value_or("");
      if (value == expect) {
        r.correct = true;
        r.detail = value;
        return r;
      }
    } else {
      dns::name target;
      dns::name want;
      std::size_t next = 0;
      const auto offset = static_cast<std::size_t>(rdata.data() - response.data());
      if (dns::read_name_at(response, offset, target, next) != dns::read_status::ok) continue;
      value = target.to_string();
      if (dns::name::from_text(expect, want) == dns::name_status::ok && want.equals(target)) {
        r.correct = true;
        r.detail = value;
        return r;
      }
    }
    seen.push_back(value);
  }
  if (!found) {
    r.detail = "no " + dns::type_to_string(type) + " record in the answer";
    return r;
  }
  if (expect.empty()) {
    r.correct = true;
    r.detail = std::to_string(h.ancount) + " answer record(s)";
    return r;
  }
  r.detail = "expected " + std::string(expect) + ", got";
  for (const auto& v : seen) r.detail += " " + v;
  return r;
}

dns_result probe_dns(const common::listen_address& server, std::string_view name,
                     std::uint16_t type, std::string_view expect,
                     std::chrono::milliseconds timeout) {
  dns_result r;
  static thread_local std::mt19937 rng{std::random_device{}()};
  const auto id = static_cast<std::uint16_t>(rng());
  const auto query = build_query(id, name, type);
  sockaddr_storage to{};
  socklen_t to_len = 0;
  if (query.empty() || !make_sockaddr(server.address, server.port, server.is_ipv6, to, to_len)) {
    r.detail = "bad query or address";
    return r;
  }
  fd_guard fd(::socket(server.is_ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    r.detail = "socket: " + errno_text(errno);
    return r;
  }
  // connect() so that ICMP port unreachable comes back as ECONNREFUSED and
  // only the server's address can answer.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), to_len) != 0) {
    r.detail = "connect " + server.to_string() + ": " + errno_text(errno);
    return r;
  }
  if (::send(fd.get(), query.data(), query.size(), 0) < 0) {
    r.detail = "send to " + server.to_string() + ": " + errno_text(errno);
    return r;
  }
  const auto deadline = steady::now() + timeout;
  std::vector<std::uint8_t> buf(65535);
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r.detail = "no answer from " + server.to_string() + " within " +
                 std::to_string(timeout.count()) + " ms";
      return r;
    }
    const auto got = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      r.detail = "no answer from " + server.to_string() + ": " + errno_text(errno);
      return r;
    }
    auto judged = judge_response(std::span(buf.data(), static_cast<std::size_t>(got)), id, name,
                                 type, expect);
    if (judged.answered) return judged;
    // Not ours (a late answer to an earlier query): keep waiting.
  }
}

// ---- HTTP -------------------------------------------------------------------

http_result probe_http(const http_url& url, std::chrono::milliseconds timeout) {
  http_result r;
  sockaddr_storage to{};
  socklen_t to_len = 0;
  if (!make_sockaddr(url.host, url.port, url.is_ipv6, to, to_len)) {
    r.body = "bad address " + url.host;
    return r;
  }
  fd_guard fd(
      ::socket(url.is_ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    r.body = "socket: " + errno_text(errno);
    return r;
  }
  const auto deadline = steady::now() + timeout;
  const auto wait_for = [&](short events) {
    for (;;) {
      pollfd p{fd.get(), events, 0};
      const int n = ::poll(&p, 1, remaining_ms(deadline));
      if (n < 0 && errno == EINTR) continue;
      return n > 0;
    }
  };
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), to_len) != 0) {
    if (errno != EINPROGRESS) {
      r.body = "connect " + url.to_string() + ": " + errno_text(errno);
      return r;
    }
    if (!wait_for(POLLOUT)) {
      r.body = "connect " + url.to_string() + ": timed out";
      return r;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      r.body = "connect " + url.to_string() + ": " + errno_text(err);
      return r;
    }
  }
  const std::string request =
      "GET " + url.path + " HTTP/1.0\r\nHost: " + (url.is_ipv6 ? "[" + url.host + "]" : url.host) +
      "\r\nConnection: close\r\nUser-Agent: zonemesh-healthcheck\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    if (!wait_for(POLLOUT)) {
      r.body = "send " + url.to_string() + ": timed out";
      return r;
    }
    const auto n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      r.body = "send " + url.to_string() + ": " + errno_text(errno);
      return r;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buf[4096];
  while (response.size() < 64 * 1024) {
    if (!wait_for(POLLIN)) break;
    const auto n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  // "HTTP/1.x NNN reason"
  if (response.size() < 12 || response.compare(0, 7, "HTTP/1.") != 0 || response[8] != ' ') {
    r.body = response.empty() ? "no HTTP response from " + url.to_string() + " within " +
                                    std::to_string(timeout.count()) + " ms"
                              : "not an HTTP response from " + url.to_string();
    return r;
  }
  const auto status = parse_integer<int>(std::string_view(response).substr(9, 3), 100, 599);
  if (!status) {
    r.body = "bad HTTP status line from " + url.to_string();
    return r;
  }
  r.reached = true;
  r.status = *status;
  const auto body_at = response.find("\r\n\r\n");
  if (body_at != std::string::npos) {
    auto body = response.substr(body_at + 4);
    body = body.substr(0, body.find('\n'));
    r.body = body.substr(0, 300);
  }
  return r;
}

// ---- verdict ----------------------------------------------------------------

bool site_probe::fully_healthy() const {
  return dns.correct && (!health || (health->reached && health->status == 200));
}

check_outcome evaluate(const site_probe& local, const std::vector<site_probe>& peers) {
  if (!local.dns.answered) return {verdict::fail, "DNS: " + local.dns.detail};
  const auto peer_correct =
      std::any_of(peers.begin(), peers.end(), [](const site_probe& p) { return p.dns.correct; });
  if (!local.dns.correct) {
    if (peer_correct)
      return {verdict::fail, "DNS: " + local.dns.detail + " (a peer answers correctly)"};
    return {verdict::pass_shared, "DNS: " + local.dns.detail +
                                      ", and no peer answers correctly either: a shared failure, "
                                      "keeping the announcement"};
  }
  if (local.fully_healthy()) return {verdict::pass, "DNS: " + local.dns.detail + ", /health 200"};
  const auto& h = *local.health;
  const std::string why =
      h.reached ? "/health " + std::to_string(h.status) + " " + h.body : "/health: " + h.body;
  const auto peer_healthy = std::any_of(peers.begin(), peers.end(),
                                        [](const site_probe& p) { return p.fully_healthy(); });
  if (peer_healthy) return {verdict::fail, why + " (a peer is healthy)"};
  return {verdict::pass_shared,
          why +
              "; DNS answers from the last good data and no peer is healthier: keeping the "
              "announcement"};
}

// ---- state ------------------------------------------------------------------

announce_state::announce_state(unsigned rise, unsigned fall, std::chrono::milliseconds hold_down)
    : rise_(rise == 0 ? 1 : rise), fall_(fall == 0 ? 1 : fall), hold_down_(hold_down) {}

bool announce_state::record(verdict v, clock::time_point now) {
  const bool before = announced_;
  if (v == verdict::fail) {
    passes_ = 0;
    ++failures_;
    last_failure_ = now;
    if (announced_ && failures_ >= fall_) {
      announced_ = false;
      held_ = true;
    }
  } else {
    failures_ = 0;
    ++passes_;
    if (!announced_ && !maintenance_ && passes_ >= rise_) {
      const bool held = held_ && last_failure_ && now - *last_failure_ < hold_down_;
      if (!held) {
        announced_ = true;
        held_ = false;
      }
    }
  }
  if (maintenance_) announced_ = false;
  return before != announced_;
}

bool announce_state::set_maintenance(bool on) {
  const bool before = announced_;
  if (on == maintenance_) return false;
  maintenance_ = on;
  passes_ = 0;
  if (on) announced_ = false;
  return before != announced_;
}

// ---- BIRD -------------------------------------------------------------------

std::string include_text(std::string_view symbol, bool announce) {
  std::string out =
      "# Written by zonemesh-healthcheck; do not edit. 1: the service address is\n"
      "# announced, 0: withdrawn.\n";
  out += "define " + std::string(symbol) + " = " + (announce ? "1" : "0") + ";\n";
  return out;
}

void write_include(const std::filesystem::path& file, std::string_view symbol, bool announce) {
  const auto text = include_text(symbol, announce);
  auto tmp = file;
  tmp += ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp.string() + ": " + errno_text(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + tmp.string() + ": " + errno_text(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + tmp.string() + ": " + errno_text(err));
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp.string() + " to " + file.string() + ": " +
                             errno_text(err));
  }
}

std::optional<bool> read_include(const std::filesystem::path& file, std::string_view symbol) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  const std::string prefix = "define " + std::string(symbol) + " = ";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) {
      const auto value = line.substr(prefix.size());
      if (value == "1;") return true;
      if (value == "0;") return false;
    }
  }
  return std::nullopt;
}

command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout) {
  command_result r;
  if (argv.empty()) return r;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    r.output = "pipe: " + errno_text(errno);
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child starts with no blocked signals (the checker blocks SIGTERM to
  // wait for it) and default handlers.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int err = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  fd_guard out(pipefd[0]);
  if (err != 0) {
    r.output = "cannot run " + argv[0] + ": " + errno_text(err);
    return r;
  }
  const auto deadline = steady::now() + timeout;
  char buf[4096];
  bool timed_out = false;
  for (;;) {
    pollfd p{out.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      timed_out = true;
      break;
    }
    const auto got = ::read(out.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (r.output.size() < 64 * 1024) r.output.append(buf, static_cast<std::size_t>(got));
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    r.output += "\n(killed after " + std::to_string(timeout.count()) + " ms)";
    r.exit_code = -1;
  } else {
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return r;
}

bool bird_configure(const settings& s, std::string& error) {
  std::vector<std::string> argv{s.birdc};
  if (!s.bird_socket.empty()) {
    argv.push_back("-s");
    argv.push_back(s.bird_socket);
  }
  argv.push_back("configure");
  const auto r = run_command(argv, std::chrono::seconds(10));
  // birdc exits 0 even when BIRD refuses the configuration; read its reply.
  if (r.exit_code == 0 && r.output.find("Reconfigur") != std::string::npos) return true;
  error = r.output;
  while (!error.empty() && (error.back() == '\n' || error.back() == '\r')) error.pop_back();
  for (auto& c : error) {
    if (c == '\n') c = ' ';
  }
  if (error.empty()) error = s.birdc + " exited with " + std::to_string(r.exit_code);
  return false;
}

}  // namespace zonemesh::healthcheck
