#include "notifier.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <array>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.hpp"
#include "dns/types.hpp"
#include "dns/wire.hpp"

namespace zonemesh::server {
namespace {

using clock_type = std::chrono::steady_clock;

struct destination {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool v6 = false;

  static std::optional<destination> from(const notify_target& t) {
    destination d;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&d.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&d.addr);
    if (inet_pton(AF_INET, t.address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(t.port);
      d.len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, t.address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(t.port);
      d.len = sizeof(sockaddr_in6);
      d.v6 = true;
    } else {
      return std::nullopt;
    }
    return d;
  }
  bool same(const sockaddr_storage& from, socklen_t from_len) const {
    return from_len == len && std::memcmp(&from, &addr, len) == 0;
  }
};

/// One NOTIFY being delivered to one target.
struct pending {
  dns::name apex;
  std::uint32_t serial = 0;
  notify_target target;
  destination dest;
  std::uint16_t id = 0;
  unsigned sent = 0;
  clock_type::time_point next_send{};
};

std::string target_key(const dns::name& apex, const notify_target& t) {
  return apex.lowercased().to_string() + " " + t.address + " " + std::to_string(t.port);
}

}  // namespace

struct notifier::impl {
  impl(std::shared_ptr<const store::zone_publisher> z, std::shared_ptr<const policy_publisher> p,
       common::metrics::registry& metrics, notifier_options o, std::shared_ptr<zone_history> h)
      : zones(std::move(z)), policy(std::move(p)), options(o), history(std::move(h)) {
    auto& family = metrics.add_counter_family(
        "zonemesh_notify_total", "NOTIFY messages to secondaries by outcome.", {"result"});
    acknowledged = &family.with({"acknowledged"});
    failed = &family.with({"failed"});
    errors = &family.with({"error"});
  }
  ~impl() {
    if (sock4 >= 0) ::close(sock4);
    if (sock6 >= 0) ::close(sock6);
  }

  void run();
  void check_zones();
  void consider(const store::zone_snapshot& zone, const transfer_policy& pol);
  void send_due();
  void receive(int sock);
  bool send(pending& p);

  std::shared_ptr<const store::zone_publisher> zones;
  std::shared_ptr<const policy_publisher> policy;
  notifier_options options;
  std::shared_ptr<zone_history> history;
  common::metrics::counter* acknowledged = nullptr;
  common::metrics::counter* failed = nullptr;
  common::metrics::counter* errors = nullptr;

  int sock4 = -1, sock6 = -1;
  std::shared_ptr<const store::zone_set> seen_set;
  std::shared_ptr<const transfer_policy> seen_policy;
  std::map<std::string, std::uint32_t> notified;  ///< zone -> serial last queued
  std::map<std::string, pending> queue;           ///< by zone and target
  std::mt19937 ids{std::random_device{}()};

  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;
};

void notifier::impl::consider(const store::zone_snapshot& zone, const transfer_policy& pol) {
  const auto targets = pol.notify_targets(zone.apex());
  if (targets.empty()) return;
  auto key = zone.apex().lowercased().to_string();
  const std::uint32_t serial = zone.serial();
  auto [it, inserted] = notified.try_emplace(key, serial);
  if (!inserted && it->second == serial) return;
  it->second = serial;
  for (const auto& t : targets) {
    auto dest = destination::from(t);
    if (!dest) continue;
    pending p{zone.apex(), serial,           t, *dest, static_cast<std::uint16_t>(ids()),
              0,           clock_type::now()};
    queue.insert_or_assign(target_key(zone.apex(), t),
                           std::move(p));  // a newer serial replaces an older one
  }
}

void notifier::impl::check_zones() {
  auto set = zones->current();
  auto pol = policy->current();
  if (set == seen_set && pol == seen_policy) return;
  if (history) history->observe(set);
  const auto now_zones = set->zones();
  if (pol != seen_policy || !seen_set) {
    for (const auto& z : now_zones) consider(*z, *pol);
  } else {
    // Both sets are sorted in canonical order and share the zones that did
    // not change: only new or rebuilt snapshots can have a new serial.
    const auto before = seen_set->zones();
    std::size_t j = 0;
    for (const auto& z : now_zones) {
      while (j < before.size() && canonical_compare(before[j]->apex(), z->apex()) < 0) ++j;
      if (j < before.size() && before[j] == z) continue;
      consider(*z, *pol);
    }
  }
  seen_set = std::move(set);
  seen_policy = std::move(pol);
}

bool notifier::impl::send(pending& p) {
  std::array<std::uint8_t, 1024> buf{};
  dns::writer w(buf);
  dns::header h;
  h.id = p.id;
  h.flags = dns::flag::aa;
  h.set_opcode(dns::opcode::notify);
  h.qdcount = 1;
  if (!w.header(h) || !w.name(p.apex) || !w.u16(dns::rr_type::soa) || !w.u16(dns::rr_class::in))
    return false;
  std::size_t length = w.size();
  const auto pol = policy->current();
  {
    if (const auto* key = pol->notify_key(p.apex)) {
      tsig::sign_params params;
      params.time_signed =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
      std::vector<std::uint8_t> mac;
      length = tsig::sign_in_place(buf, length, *key, params, {}, mac);
      if (length == 0) return false;
    }
  }
  const int sock = p.dest.v6 ? sock6 : sock4;
  if (sock < 0) return false;
  return ::sendto(sock, buf.data(), length, 0, reinterpret_cast<const sockaddr*>(&p.dest.addr),
                  p.dest.len) == static_cast<ssize_t>(length);
}

void notifier::impl::send_due() {
  const auto now = clock_type::now();
  for (auto it = queue.begin(); it != queue.end();) {
    auto& p = it->second;
    if (p.next_send > now) {
      ++it;
      continue;
    }
    if (p.sent >= options.attempts) {
      failed->inc();
      spdlog::warn("NOTIFY for {} serial {} to {} port {}: no answer after {} attempts",
                   p.apex.to_string(), p.serial, p.target.address, p.target.port, p.sent);
      it = queue.erase(it);
      continue;
    }
    if (!send(p)) {
      errors->inc();
      spdlog::warn("NOTIFY for {} to {} port {} could not be sent", p.apex.to_string(),
                   p.target.address, p.target.port);
    }
    ++p.sent;
    p.next_send = now + options.retry_interval;
    ++it;
  }
}

void notifier::impl::receive(int sock) {
  std::array<std::uint8_t, 4096> buf{};
  while (true) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = ::recvfrom(sock, buf.data(), buf.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return;
    dns::reader r(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
    dns::header h;
    if (r.header(h) != dns::read_status::ok || !h.has(dns::flag::qr) ||
        h.opcode() != dns::opcode::notify)
      continue;
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (it->second.id != h.id || !it->second.dest.same(from, from_len)) continue;
      if (h.rcode() == dns::rcode::noerror) {
        acknowledged->inc();
        spdlog::debug("NOTIFY for {} serial {} acknowledged by {}", it->second.apex.to_string(),
                      it->second.serial, it->second.target.address);
      } else {
        // An answer that refuses is final: resending will not change it.
        failed->inc();
        spdlog::warn("NOTIFY for {} to {} port {} answered with rcode {}",
                     it->second.apex.to_string(), it->second.target.address, it->second.target.port,
                     h.rcode());
      }
      queue.erase(it);
      break;
    }
  }
}

void notifier::impl::run() {
  sock4 = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sock6 = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (sock4 < 0 && sock6 < 0) {
    spdlog::error("NOTIFY: no UDP socket: {}", std::strerror(errno));
    return;
  }
  while (true) {
    {
      std::unique_lock lock(mutex);
      if (stopping) return;
    }
    try {
      check_zones();
      send_due();
    } catch (const std::exception& e) {
      errors->inc();
      spdlog::error("NOTIFY: {}", e.what());
    }
    std::array<pollfd, 2> fds{pollfd{sock4, POLLIN, 0}, pollfd{sock6, POLLIN, 0}};
    const int timeout = static_cast<int>(options.check_interval.count());
    if (::poll(fds.data(), fds.size(), timeout) > 0) {
      if (sock4 >= 0 && (fds[0].revents & POLLIN) != 0) receive(sock4);
      if (sock6 >= 0 && (fds[1].revents & POLLIN) != 0) receive(sock6);
    }
  }
}

notifier::notifier(std::shared_ptr<const store::zone_publisher> zones,
                   std::shared_ptr<const policy_publisher> policy,
                   common::metrics::registry& metrics, notifier_options options,
                   std::shared_ptr<zone_history> history)
    : impl_(std::make_unique<impl>(std::move(zones), std::move(policy), metrics, options,
                                   std::move(history))) {}

notifier::~notifier() { stop(); }

void notifier::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void notifier::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace zonemesh::server
