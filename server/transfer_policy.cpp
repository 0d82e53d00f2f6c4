#include "transfer_policy.hpp"

#include <arpa/inet.h>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "changelog_follow.hpp"
#include "common/metrics.hpp"

namespace zonemesh::server {
namespace {

std::string map_key(const dns::name& n) { return n.lowercased().to_string(); }

std::optional<dns::name> parse_name(std::string_view text) {
  dns::name n;
  if (dns::name::from_text(text, n) != dns::name_status::ok) return std::nullopt;
  return n;
}

}  // namespace

std::optional<network> network::parse(std::string_view text) {
  network net;
  std::string addr(text.substr(0, text.find('/')));
  int max_prefix = 32;
  if (inet_pton(AF_INET, addr.c_str(), net.address.data()) == 1) {
    net.v6 = false;
  } else if (inet_pton(AF_INET6, addr.c_str(), net.address.data()) == 1) {
    net.v6 = true;
    max_prefix = 128;
  } else {
    return std::nullopt;
  }
  int prefix = max_prefix;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix < 0 ||
        prefix > max_prefix) {
      return std::nullopt;
    }
  }
  net.prefix = static_cast<std::uint8_t>(prefix);
  return net;
}

bool network::contains(bool peer_v6, const std::uint8_t* peer) const {
  const std::uint8_t* a = peer;
  std::array<std::uint8_t, 16> unmapped{};
  if (peer_v6 && !v6) {
    // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(peer, mapped, 12) != 0) return false;
    std::memcpy(unmapped.data(), peer + 12, 4);
    a = unmapped.data();
  } else if (peer_v6 != v6) {
    return false;
  }
  const std::size_t full = prefix / 8;
  if (std::memcmp(a, address.data(), full) != 0) return false;
  if (const unsigned rest = prefix % 8; rest != 0) {
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    if ((a[full] & mask) != (address[full] & mask)) return false;
  }
  return true;
}

bool network::contains(const query_context& peer) const {
  return contains(peer.peer_is_ipv6, peer.peer_address);
}

std::optional<notify_target> notify_target::parse(std::string_view text) {
  notify_target t;
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  std::array<std::uint8_t, 16> buf{};
  const std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), buf.data()) != 1 &&
      inet_pton(AF_INET6, h.c_str(), buf.data()) != 1) {
    return std::nullopt;
  }
  t.address = h;
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
      return std::nullopt;
    t.port = static_cast<std::uint16_t>(p);
  }
  return t;
}

const tsig::key* transfer_policy::find_key(const dns::name& name) const {
  auto it = keys_.find(map_key(name));
  return it == keys_.end() ? nullptr : &it->second;
}

const zone_policy* transfer_policy::find_zone(const dns::name& apex) const {
  auto it = zones_.find(map_key(apex));
  return it == zones_.end() ? nullptr : &it->second;
}

namespace {
bool allows(const zone_policy& z, const query_context& peer, const dns::name* key) {
  if (key != nullptr) {
    for (const auto& k : z.allow_transfer_keys) {
      if (k == *key) return true;
    }
  }
  for (const auto& net : z.allow_transfer_from) {
    if (net.contains(peer)) return true;
  }
  return false;
}
}  // namespace

bool transfer_policy::may_transfer(const dns::name& apex, const query_context& peer,
                                   const dns::name* key) const {
  const zone_policy* z = find_zone(apex);
  return (z != nullptr && allows(*z, peer, key)) || allows(catalogs_, peer, key);
}

bool transfer_policy::may_update(const dns::name& apex, const query_context& peer,
                                 const dns::name* key) const {
  const zone_policy* z = find_zone(apex);
  if (z == nullptr || (z->allow_update_from.empty() && z->allow_update_keys.empty())) return false;
  if (!z->allow_update_from.empty() &&
      std::none_of(z->allow_update_from.begin(), z->allow_update_from.end(),
                   [&](const network& n) { return n.contains(peer); })) {
    return false;
  }
  if (!z->allow_update_keys.empty() &&
      (key == nullptr || std::none_of(z->allow_update_keys.begin(), z->allow_update_keys.end(),
                                      [&](const dns::name& k) { return k == *key; }))) {
    return false;
  }
  return true;
}

bool transfer_policy::any_expired() const {
  return std::any_of(zones_.begin(), zones_.end(), [](const auto& z) { return z.second.expired; });
}

bool transfer_policy::is_expired(const dns::name& apex) const {
  const zone_policy* z = find_zone(apex);
  return z != nullptr && z->expired;
}

bool transfer_policy::is_primary_of(const dns::name& apex, const query_context& peer) const {
  const zone_policy* z = find_zone(apex);
  if (z == nullptr || !z->secondary) return false;
  return std::any_of(z->primaries.begin(), z->primaries.end(), [&](const notify_target& t) {
    auto net = network::parse(t.address);
    return net && net->contains(peer);
  });
}

std::vector<notify_target> transfer_policy::notify_targets(const dns::name& apex) const {
  std::vector<notify_target> out;
  if (const zone_policy* z = find_zone(apex)) out = z->also_notify;
  for (const auto& t : catalogs_.also_notify) {
    const bool dup = std::any_of(out.begin(), out.end(), [&](const notify_target& o) {
      return o.address == t.address && o.port == t.port;
    });
    if (!dup) out.push_back(t);
  }
  return out;
}

const tsig::key* transfer_policy::notify_key(const dns::name& apex) const {
  if (const zone_policy* z = find_zone(apex)) {
    for (const auto& k : z->allow_transfer_keys) {
      if (const auto* key = find_key(k)) return key;
    }
  }
  for (const auto& k : catalogs_.allow_transfer_keys) {
    if (const auto* key = find_key(k)) return key;
  }
  return nullptr;
}

void transfer_policy::add_catalog(const dns::name& apex) {
  const zone_policy* z = find_zone(apex);
  if (z == nullptr) return;
  catalogs_.allow_transfer_from.insert(catalogs_.allow_transfer_from.end(),
                                       z->allow_transfer_from.begin(),
                                       z->allow_transfer_from.end());
  catalogs_.allow_transfer_keys.insert(catalogs_.allow_transfer_keys.end(),
                                       z->allow_transfer_keys.begin(),
                                       z->allow_transfer_keys.end());
  catalogs_.also_notify.insert(catalogs_.also_notify.end(), z->also_notify.begin(),
                               z->also_notify.end());
}

void transfer_policy::add_key(tsig::key k) {
  auto name = map_key(k.name);
  keys_.insert_or_assign(std::move(name), std::move(k));
}

zone_policy& transfer_policy::zone(const dns::name& apex) { return zones_[map_key(apex)]; }

// ---- follower --------------------------------------------------------------------

struct policy_follower::impl {
  impl(std::string c, std::shared_ptr<policy_publisher> o, common::metrics::registry& metrics,
       std::chrono::milliseconds poll)
      : conninfo(std::move(c)),
        out(std::move(o)),
        poll_interval(poll),
        errors(metrics.add_counter(
            "zonemesh_transfer_policy_errors_total",
            "tsig_keys and zone_metadata rows skipped because they do not parse.")),
        keys_gauge(metrics.add_gauge("zonemesh_tsig_keys", "TSIG keys loaded from tsig_keys.")) {}

  void run();
  void load(pqxx::connection_base& conn);
  bool sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    return !cv.wait_for(lock, d, [this] { return stopping; });
  }
  bool stop_requested() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  std::string conninfo;
  std::shared_ptr<policy_publisher> out;
  std::chrono::milliseconds poll_interval;
  common::metrics::counter& errors;
  common::metrics::gauge& keys_gauge;
  std::int64_t loaded_at = -1;  // change-log position the published policy reflects
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;
};

void policy_follower::impl::load(pqxx::connection_base& conn) {
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  const auto pos =
      tx.exec1("SELECT coalesce(max(pos), 0) FROM zonemesh.changelog")[0].as<std::int64_t>();
  if (pos == loaded_at) return;
  auto next = std::make_shared<transfer_policy>();
  std::vector<dns::name> catalogs;
  for (const auto& row :
       tx.exec("SELECT name, algorithm, secret FROM public.tsig_keys ORDER BY name")) {
    try {
      next->add_key(tsig::make_key(row[0].c_str(), row[1].c_str(), row[2].c_str()));
    } catch (const std::exception& e) {
      errors.inc();
      spdlog::warn("tsig_keys: {}; key skipped", e.what());
    }
  }
  for (const auto& row : tx.exec(
           "SELECT zone, kind, content FROM public.zone_metadata "
           "WHERE kind IN ('ALLOW-AXFR-FROM', 'TSIG-ALLOW-AXFR', 'ALSO-NOTIFY', 'CATALOG-ZONE', "
           "'ALLOW-DNSUPDATE-FROM', 'TSIG-ALLOW-DNSUPDATE', 'PRIMARY', 'AXFR-MASTER-TSIG', "
           "'SECONDARY-SITE', 'X-ZONEMESH-EXPIRED') "
           "ORDER BY zone, kind, content")) {
    const std::string zone = row[0].c_str(), kind = row[1].c_str(), content = row[2].c_str();
    auto apex = parse_name(zone);
    if (!apex) continue;  // the zones table's validation makes this unreachable
    if (kind == "CATALOG-ZONE") {
      catalogs.push_back(*apex);
      continue;
    }
    auto& z = next->zone(*apex);
    bool ok = true;
    if (kind == "ALLOW-AXFR-FROM" || kind == "ALLOW-DNSUPDATE-FROM") {
      if (auto net = network::parse(content)) {
        (kind == "ALLOW-AXFR-FROM" ? z.allow_transfer_from : z.allow_update_from).push_back(*net);
      } else {
        ok = false;
      }
    } else if (kind == "TSIG-ALLOW-AXFR" || kind == "TSIG-ALLOW-DNSUPDATE") {
      if (auto key = parse_name(content)) {
        (kind == "TSIG-ALLOW-AXFR" ? z.allow_transfer_keys : z.allow_update_keys).push_back(*key);
      } else {
        ok = false;
      }
    } else if (kind == "AXFR-MASTER-TSIG") {
      if (auto key = parse_name(content)) {
        z.primary_key = *key;
      } else {
        ok = false;
      }
    } else if (kind == "X-ZONEMESH-EXPIRED") {
      z.expired = true;
    } else if (kind == "SECONDARY-SITE") {
      z.secondary_sites.push_back(content);
    } else if (auto target = notify_target::parse(content)) {
      (kind == "PRIMARY" ? z.primaries : z.also_notify).push_back(*target);
    } else {
      ok = false;
    }
    if (!ok) {
      errors.inc();
      spdlog::warn("zone {} metadata {} = '{}' is not valid; skipped", zone, kind, content);
    }
  }
  for (const auto& row :
       tx.exec("SELECT name FROM public.zones WHERE kind = 'secondary' ORDER BY name")) {
    if (auto apex = parse_name(row[0].c_str())) next->zone(*apex).secondary = true;
  }
  tx.commit();
  for (const auto& c : catalogs) next->add_catalog(c);
  keys_gauge.set(static_cast<double>(next->key_count()));
  out->publish(std::move(next));
  loaded_at = pos;
}

void policy_follower::impl::run() {
  // The last policy stays published through errors: transfers go on as they
  // were allowed.
  follow_changelog(
      conninfo, poll_interval, "transfer policy", [this](pqxx::connection_base& c) { load(c); },
      [this] { return stop_requested(); }, [this](std::chrono::milliseconds d) { return sleep_for(d); });
}

policy_follower::policy_follower(std::string conninfo, std::shared_ptr<policy_publisher> out,
                                 common::metrics::registry& metrics,
                                 std::chrono::milliseconds poll_interval)
    : impl_(std::make_unique<impl>(std::move(conninfo), std::move(out), metrics, poll_interval)) {}

policy_follower::~policy_follower() { stop(); }

void policy_follower::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void policy_follower::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace zonemesh::server
