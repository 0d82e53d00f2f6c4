// The online signer: dnssec_keys follower and signing thread (see zone_signer.hpp).
#include "zone_signer.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include "changelog_follow.hpp"
#include "common/metrics.hpp"
#include "dnssec/zone_signing.hpp"

namespace zonemesh::server {
namespace {

using clock = std::chrono::steady_clock;

/// Signing policies of all zones with keys, by lowercase apex text.
struct policy_set {
  struct zone_entry {
    std::string fingerprint;  ///< the rows it was made from (compared, never logged)
    std::shared_ptr<const dnssec::zone_signing_policy> policy;
  };
  std::map<std::string, zone_entry> zones;
};

std::string apex_key(const dns::name& apex) { return apex.lowercased().to_string(); }

std::string apex_key(const std::string& zone) {
  dns::name n;
  if (dns::name::from_text(zone, n) != dns::name_status::ok) return {};
  return apex_key(n);
}

/// What the signer keeps per signed zone between passes.
struct zone_state {
  std::shared_ptr<const store::zone_snapshot> raw;     ///< the unsigned version signed last
  std::shared_ptr<const dnssec::zone_signing_policy> policy;
  std::shared_ptr<const store::zone_snapshot> served;  ///< its signed version
  std::int64_t resign_at = 0;                          ///< epoch seconds
  dnssec::signature_cache cache;
  std::size_t cache_after_full = 0;  ///< cache entries after the last whole-zone pass
  bool failed = false;  ///< the last attempt failed (logged once per change)
};

}  // namespace

struct zone_signer::impl {
  impl(std::string c, std::shared_ptr<store::zone_publisher> i, std::shared_ptr<store::zone_publisher> o,
       common::metrics::registry& metrics, signer_options opts)
      : conninfo(std::move(c)),
        in(std::move(i)),
        out(std::move(o)),
        options(opts),
        signed_zones(metrics.add_gauge("zonemesh_dnssec_signed_zones", "Zones served signed (DNSSEC)")),
        keys_gauge(metrics.add_gauge("zonemesh_dnssec_keys", "DNSSEC keys loaded from dnssec_keys")),
        made(metrics.add_counter("zonemesh_dnssec_signatures_made_total", "RRSIGs computed")),
        reused(metrics.add_counter("zonemesh_dnssec_signatures_reused_total",
                                   "RRSIGs reused from the signature cache")),
        sign_errors(metrics.add_counter("zonemesh_dnssec_sign_errors_total",
                                        "Zone versions that could not be signed")),
        key_errors(metrics.add_counter("zonemesh_dnssec_key_errors_total",
                                       "dnssec_keys rows and NSEC3PARAM metadata skipped as invalid")),
        sign_ms(metrics.add_counter("zonemesh_dnssec_sign_milliseconds_total",
                                    "Time spent signing zone versions, in milliseconds")),
        incremental_passes(metrics.add_counter("zonemesh_dnssec_incremental_signings_total",
                                               "Zone versions signed by re-signing only what changed")),
        whole_passes(metrics.add_counter("zonemesh_dnssec_whole_zone_signings_total",
                                         "Zone versions signed as a whole (first, keys changed, expiry due, "
                                         "cuts changed)")) {}

  // ---- keys ----
  void keys_run();
  void load_keys(pqxx::connection_base& conn);
  // ---- signing ----
  void sign_run();
  void sign_pass();

  void wake() {
    {
      std::lock_guard lock(mutex);
      dirty = true;
    }
    cv.notify_all();
  }
  bool stop_requested() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  std::string conninfo;
  std::shared_ptr<store::zone_publisher> in;
  std::shared_ptr<store::zone_publisher> out;
  signer_options options;
  common::metrics::gauge& signed_zones;
  common::metrics::gauge& keys_gauge;
  common::metrics::counter& made;
  common::metrics::counter& reused;
  common::metrics::counter& sign_errors;
  common::metrics::counter& key_errors;
  common::metrics::counter& sign_ms;
  common::metrics::counter& incremental_passes;
  common::metrics::counter& whole_passes;

  std::atomic<std::shared_ptr<const policy_set>> policies;  ///< null until the first load
  std::int64_t keys_loaded_at = -1;

  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  bool dirty = false;
  std::thread key_thread;
  std::thread sign_thread;

  // Signing thread only.
  std::map<std::string, zone_state> states;
  std::shared_ptr<const store::zone_set> last_in;
  std::shared_ptr<const policy_set> last_policies;
};

void zone_signer::impl::load_keys(pqxx::connection_base& conn) {
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  const auto pos = tx.exec1("SELECT coalesce(max(pos), 0) FROM zonemesh.changelog")[0].as<std::int64_t>();
  if (pos == keys_loaded_at) return;
  struct rows {
    std::string fingerprint;
    std::string zone;
    std::vector<std::array<std::string, 6>> keys;
    std::vector<std::string> nsec3;
  };
  std::map<std::string, rows> by_zone;
  for (const auto& row : tx.exec("SELECT zone, id::text, flags, algorithm, private_key, active, published "
                                 "FROM public.dnssec_keys ORDER BY zone, id")) {
    const std::string key = apex_key(row[0].c_str());
    if (key.empty()) continue;
    auto& z = by_zone[key];
    z.zone = row[0].c_str();
    z.keys.push_back({row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str(), row[5].c_str(), row[6].c_str()});
    for (int i = 1; i <= 6; ++i) (z.fingerprint += row[i].c_str()) += '\x1f';
  }
  for (const auto& row : tx.exec("SELECT zone, content FROM public.zone_metadata WHERE kind = 'NSEC3PARAM' "
                                 "ORDER BY zone, content")) {
    const std::string key = apex_key(row[0].c_str());
    auto it = by_zone.find(key);
    if (it == by_zone.end()) continue;  // no keys: the zone is not signed
    it->second.nsec3.push_back(row[1].c_str());
    (it->second.fingerprint += "NSEC3PARAM ") += row[1].c_str();
  }
  tx.commit();

  const auto previous = policies.load();
  auto next = std::make_shared<policy_set>();
  std::size_t key_count = 0;
  for (auto& [key, z] : by_zone) {
    key_count += z.keys.size();
    if (previous) {
      if (auto it = previous->zones.find(key); it != previous->zones.end() && it->second.fingerprint == z.fingerprint) {
        next->zones[key] = it->second;
        continue;
      }
    }
    auto policy = std::make_shared<dnssec::zone_signing_policy>();
    policy->validity = static_cast<std::uint32_t>(options.validity.count());
    policy->refresh = static_cast<std::uint32_t>(options.refresh.count());
    for (const auto& k : z.keys) {
      // k: id, flags, algorithm, private_key, active, published
      try {
        const int flags = std::stoi(k[1]);
        const int algorithm = std::stoi(k[2]);
        if (flags != dnssec::key_flags::ksk && flags != dnssec::key_flags::zsk) {
          throw std::runtime_error("flags must be 256 (ZSK) or 257 (KSK/CSK), not " + k[1]);
        }
        auto parsed = dnssec::parse_private_key(k[3]);
        if (parsed.algorithm() != algorithm) {
          throw std::runtime_error("algorithm column says " + k[2] + " but the private key is algorithm " +
                                   std::to_string(parsed.algorithm()));
        }
        policy->keys.emplace_back(std::move(parsed), static_cast<std::uint16_t>(flags), k[5] == "t", k[4] == "t");
      } catch (const std::exception& e) {
        key_errors.inc();
        spdlog::error("zone {}: dnssec_keys row {}: {}; key not used", z.zone, k[0], e.what());
      }
    }
    if (!z.nsec3.empty()) {
      std::string error;
      if (auto p = dnssec::parse_nsec3param(z.nsec3.front(), error)) {
        policy->nsec3 = *p;
      } else {
        key_errors.inc();
        spdlog::error("zone {}: NSEC3PARAM metadata '{}': {}; using NSEC", z.zone, z.nsec3.front(), error);
      }
      if (z.nsec3.size() > 1) spdlog::warn("zone {}: {} NSEC3PARAM rows, using the first", z.zone, z.nsec3.size());
    }
    spdlog::info("zone {}: DNSSEC {} with {} key(s) ({} active), {}", z.zone,
                 policy->signs() ? "signing" : "not signing (no active key)", policy->keys.size(),
                 std::count_if(policy->keys.begin(), policy->keys.end(), [](const auto& x) { return x.active; }),
                 policy->nsec3 ? "NSEC3" : "NSEC");
    next->zones[key] = {z.fingerprint, std::move(policy)};
  }
  keys_gauge.set(static_cast<double>(key_count));
  policies.store(std::move(next));
  keys_loaded_at = pos;
  wake();
}

void zone_signer::impl::keys_run() {
  // The last keys stay in use through errors: signed zones go on being
  // served signed.
  follow_changelog(
      conninfo, options.poll_interval, "dnssec keys", [this](pqxx::connection_base& c) { load_keys(c); },
      [this] { return stop_requested(); },
      [this](std::chrono::milliseconds d) {
        std::unique_lock lock(mutex);
        return !cv.wait_for(lock, d, [this] { return stopping; });
      });
}

void zone_signer::impl::sign_pass() {
  const auto pols = policies.load();
  if (!pols) return;  // keys not read yet: signed zones must not be served unsigned
  const auto raw = in->current();
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  auto served = raw;
  bool changed = raw != last_in || pols != last_policies;
  std::map<std::string, zone_state> next_states;
  std::size_t signed_count = 0;
  for (const auto& zone : raw->zones()) {
    const std::string key = apex_key(zone->apex());
    const auto p = pols->zones.find(key);
    if (p == pols->zones.end() || !p->second.policy->signs()) continue;  // served unsigned, as is
    auto node = states.extract(key);
    zone_state& st = node.empty() ? next_states[key] : (next_states[key] = std::move(node.mapped()));
    const bool fresh = st.raw == zone && st.policy == p->second.policy;
    if (!fresh || now >= st.resign_at || !st.served) {
      if (!fresh) st.failed = false;
      const auto started = clock::now();
      dnssec::sign_stats stats;
      store::build_result result;
      bool incremental = false;
      try {
        // A new version with the same keys and nothing due: only what
        // changed is signed again. The cache keeps the signatures of
        // removed RRsets until the next whole pass sweeps them; past twice
        // its size after that pass, a whole pass comes early.
        if (st.served && st.raw && st.policy == p->second.policy && now < st.resign_at &&
            st.cache.size() <= 2 * st.cache_after_full + 10000) {
          auto inc = dnssec::sign_zone_incremental(*st.raw, *st.served, *zone, *p->second.policy, st.cache, now,
                                                   stats);
          if (inc.zone) {
            result.zone = inc.zone;
            incremental = true;
          } else {
            spdlog::debug("zone {}: whole-zone signing: {}", zone->apex().to_string(), inc.fallback);
            stats = {};
          }
        }
        if (!incremental) result = dnssec::sign_zone(*zone, *p->second.policy, st.cache, now, stats);
      } catch (const std::exception& e) {
        result.error = e.what();
      }
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
      sign_ms.inc(static_cast<std::uint64_t>(ms));
      if (result) {
        if (!incremental) {
          st.cache.sweep();
          st.cache_after_full = st.cache.size();
          st.resign_at = stats.earliest_expiration - p->second.policy->refresh;
        }
        st.raw = zone;
        st.policy = p->second.policy;
        st.served = result.zone;
        st.failed = false;
        (incremental ? incremental_passes : whole_passes).inc();
        made.inc(stats.signatures_made);
        reused.inc(stats.signatures_reused);
        changed = true;
        spdlog::log(stats.signatures_made > 100 ? spdlog::level::info : spdlog::level::debug,
                    "zone {} serial {} signed ({}): {} signatures made, {} reused, {} denial records, {} ms",
                    zone->apex().to_string(), zone->serial(), incremental ? "changes" : "whole zone",
                    stats.signatures_made, stats.signatures_reused, stats.denial_records, static_cast<long long>(ms));
      } else {
        if (!st.failed) {
          sign_errors.inc();
          spdlog::error("zone {} serial {}: cannot sign: {}; serving {}", zone->apex().to_string(), zone->serial(),
                        result.error, st.served ? "the last signed version" : "it unsigned");
        }
        st.failed = true;
        st.raw = zone;
        st.policy = p->second.policy;
        st.resign_at = now + 60;  // try again in a minute
      }
    }
    if (st.served) {
      served = served->with_zone(st.served);
      ++signed_count;
    }
  }
  states = std::move(next_states);
  last_in = raw;
  last_policies = pols;
  signed_zones.set(static_cast<double>(signed_count));
  if (changed) out->publish(served);
}

void zone_signer::impl::sign_run() {
  while (true) {
    {
      std::unique_lock lock(mutex);
      // Wake for a new zone version or new keys, else when the earliest
      // signatures are due (checked at least every minute).
      const auto now = static_cast<std::int64_t>(std::time(nullptr));
      std::int64_t due = now + 60;
      for (const auto& [key, st] : states) due = std::min(due, st.resign_at);
      const auto wait = std::chrono::seconds(std::max<std::int64_t>(0, due - now));
      cv.wait_for(lock, wait, [this] { return stopping || dirty; });
      if (stopping) return;
      dirty = false;
    }
    try {
      sign_pass();
    } catch (const std::exception& e) {
      sign_errors.inc();
      spdlog::error("dnssec signer: {}", e.what());
    }
  }
}

zone_signer::zone_signer(std::string conninfo, std::shared_ptr<store::zone_publisher> in,
                         std::shared_ptr<store::zone_publisher> out, common::metrics::registry& metrics,
                         signer_options options)
    : impl_(std::make_unique<impl>(std::move(conninfo), std::move(in), std::move(out), metrics, options)) {
  impl_->in->on_publish([i = impl_.get()] { i->wake(); });
}

zone_signer::~zone_signer() {
  stop();
  impl_->in->on_publish(nullptr);
}

void zone_signer::start() {
  impl_->key_thread = std::thread([this] { impl_->keys_run(); });
  impl_->sign_thread = std::thread([this] { impl_->sign_run(); });
}

void zone_signer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->key_thread.joinable()) impl_->key_thread.join();
  if (impl_->sign_thread.joinable()) impl_->sign_thread.join();
}

}  // namespace zonemesh::server
