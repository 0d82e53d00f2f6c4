// The database follower: full load, then the change-log, into the published
// zone set. Everything read for one publication comes from one REPEATABLE
// READ snapshot, so a query never sees half of a committed transaction.

#include "zone_follower.hpp"

#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/metrics.hpp"
#include "db/migrations.hpp"
#include "dns/types.hpp"
#include "zonefile/zonefile.hpp"

namespace zonemesh::server {

bool split_copy_line(std::string& line, std::span<std::string_view> fields) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (std::memchr(line.data(), '\\', line.size()) == nullptr) {
    // No escape at all (the usual row): the fields are the text between tabs.
    const char* at = line.data();
    const char* const end = at + line.size();
    std::size_t field = 0;
    while (true) {
      if (field >= fields.size()) return false;
      const auto* tab = static_cast<const char*>(std::memchr(at, '\t', static_cast<std::size_t>(end - at)));
      const char* stop = tab == nullptr ? end : tab;
      fields[field++] = std::string_view(at, static_cast<std::size_t>(stop - at));
      if (tab == nullptr) break;
      at = tab + 1;
    }
    return field == fields.size();
  }
  char* const begin = line.data();
  const char* in = begin;
  const char* const end = begin + line.size();
  char* out = begin;
  std::size_t field = 0;
  char* field_start = out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  while (true) {
    if (in == end || *in == '\t') {
      if (field >= fields.size()) return false;
      fields[field++] = std::string_view(field_start, static_cast<std::size_t>(out - field_start));
      if (in == end) break;
      ++in;
      field_start = out;
      continue;
    }
    if (*in != '\\') {
      *out++ = *in++;
      continue;
    }
    if (++in == end) return false;
    const char c = *in++;
    switch (c) {
      case 'b': *out++ = '\b'; break;
      case 'f': *out++ = '\f'; break;
      case 'n': *out++ = '\n'; break;
      case 'r': *out++ = '\r'; break;
      case 't': *out++ = '\t'; break;
      case 'v': *out++ = '\v'; break;
      case 'N': return false;  // NULL: no column read here may be NULL
      case 'x': {
        int v = 0, digits = 0;
        for (; digits < 2 && in != end && hex(*in) >= 0; ++digits) v = v * 16 + hex(*in++);
        if (digits == 0) return false;
        *out++ = static_cast<char>(v);
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int digits = 1; digits < 3 && in != end && *in >= '0' && *in <= '7'; ++digits) {
            v = v * 8 + (*in++ - '0');
          }
          *out++ = static_cast<char>(v);
        } else {
          *out++ = c;
        }
    }
  }
  return field == fields.size();
}


namespace {

using snapshot_tx = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;
using clock = std::chrono::steady_clock;

constexpr int changes_batch = 2000;     // change-log entries read at a time
constexpr long long big_entry = 20000;  // changes re-read RRset by RRset at most; more: zone reload
constexpr long long parallel_load_pages = 256;  // records table pages (2 MiB) worth two COPY streams

/// A PostgreSQL array literal of text values.
std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}


long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now().time_since_epoch()).count();
}

/// What one batch of change-log entries asks of one zone.
struct zone_plan {
  bool remove = false;
  bool reload = false;
  std::set<std::pair<std::string, std::string>> rrsets;  ///< (owner, type) to re-read
};

}  // namespace

struct zone_follower::impl {
  impl(std::string conninfo_, std::shared_ptr<store::zone_publisher> zones_,
       common::metrics::registry& metrics, follower_options options_)
      : conninfo(std::move(conninfo_)),
        zones(std::move(zones_)),
        options(options_),
        position_gauge(metrics.add_gauge("zonemesh_changelog_position",
                                         "Last local change-log position served")),
        connected_gauge(metrics.add_gauge("zonemesh_database_connected",
                                          "1 when the database connection is up")),
        entries(metrics.add_counter("zonemesh_changelog_entries_total",
                                    "Change-log entries (committed transactions) applied")),
        record_errors(metrics.add_counter("zonemesh_record_errors_total",
                                          "Records skipped because they could not be parsed")),
        zone_errors(metrics.add_counter("zonemesh_zone_errors_total",
                                        "Zones that could not be built (not served)")),
        db_errors(metrics.add_counter("zonemesh_database_errors_total",
                                      "Database connections lost or failed")) {
    auto published = zones;
    metrics.add_gauge_callback("zonemesh_zones", "Zones served",
                               [published] { return static_cast<double>(published->current()->size()); });
    metrics.add_gauge_callback("zonemesh_records", "Records served", [published] {
      double n = 0;
      for (const auto& z : published->current()->zones()) n += static_cast<double>(z->record_count());
      return n;
    });
  }

  void run();
  void session();
  void full_load(snapshot_tx& tx);
  bool catch_up(pqxx::connection& conn);
  std::map<std::string, std::shared_ptr<const store::zone_snapshot>> load_zones(
      snapshot_tx& tx, const std::vector<std::string>* only);
  /// Streams the rows of `query` (zone, name, type, ttl, content) into the
  /// builders of their zones; returns the number of rows.
  std::size_t read_records(pqxx::transaction_base& tx, const std::string& query,
                           std::map<std::string, store::zone_builder, std::less<>>& builders);
  bool sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    return !cv.wait_for(lock, d, [&] { return stopping; });
  }
  void set_error(const std::string& e) {
    std::lock_guard lock(mutex);
    last_error = e;
  }

  std::string conninfo;
  std::shared_ptr<store::zone_publisher> zones;
  follower_options options;
  common::metrics::gauge& position_gauge;
  common::metrics::gauge& connected_gauge;
  common::metrics::counter& entries;
  common::metrics::counter& record_errors;
  common::metrics::counter& zone_errors;
  common::metrics::counter& db_errors;

  std::thread thread;
  mutable std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::string last_error;
  std::atomic<std::int64_t> pos{-1};  ///< -1 until the first full load
  std::atomic<bool> connected{false};
  std::atomic<long long> last_read{0};  ///< steady ms of the last successful read
};

std::map<std::string, std::shared_ptr<const store::zone_snapshot>> zone_follower::impl::load_zones(
    snapshot_tx& tx, const std::vector<std::string>* only) {
  const auto started = clock::now();
  std::string filter = only ? " WHERE z.name = ANY(" + tx.quote(text_array(*only)) + "::text[])" : "";
  std::map<std::string, std::uint32_t> serials;
  std::map<std::string, store::zone_builder, std::less<>> builders;
  for (const auto& row : tx.exec("SELECT z.name, zonemesh.zone_serial(z.name) FROM zones z" + filter)) {
    dns::name apex;
    std::string zone = row[0].c_str();
    if (dns::name::from_text(zone, apex) != dns::name_status::ok) {
      spdlog::error("zone {}: bad name, not served", zone);
      zone_errors.inc();
      continue;
    }
    serials[zone] = static_cast<std::uint32_t>(row[1].as<long long>());
    builders.emplace(zone, store::zone_builder(apex));
  }
  // The records stream in with COPY: PostgreSQL writes rows while this
  // thread turns the previous ones into wire form, with no round trip per
  // batch and no result set held in memory. Records of zones not listed
  // above (none, as records reference zones) are skipped.
  std::string query = "(SELECT r.zone, r.name, r.type, r.ttl, r.content FROM records r WHERE NOT r.disabled";
  if (only) query += " AND r.zone = ANY(" + tx.quote(text_array(*only)) + "::text[])";
  std::size_t rows = 0;
  int parts = 1;
  const long long pages =
      only ? 0
           : tx.exec1("SELECT pg_relation_size('public.records') / current_setting('block_size')::bigint")[0]
                 .as<long long>();
  // One zone (the common case for a big table): room for its records at once.
  long long estimate = 0;
  if (builders.size() == 1 && pages >= parallel_load_pages) {
    estimate = tx.exec1("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'public.records'::regclass")[0]
                   .as<long long>();
    builders.begin()->second.reserve(static_cast<std::size_t>(estimate / 2 + estimate / 16), 40);
  }
  if (pages < parallel_load_pages) {
    rows = read_records(tx, query + ")", builders);
  } else {
    // A large table: the second half of its pages is read at the same time
    // on a second connection that imports this transaction's snapshot, so
    // both halves are one consistent state; PostgreSQL's side of the COPY is
    // what takes longest. Each part fills its own builders, joined after.
    const std::string snapshot = tx.exec1("SELECT pg_export_snapshot()")[0].c_str();
    const std::string middle = "'(" + std::to_string(pages / 2) + ",0)'::tid";
    std::map<std::string, store::zone_builder, std::less<>> second;
    for (const auto& [zone, builder] : builders) {
      dns::name apex;
      (void)dns::name::from_text(zone, apex);
      second.emplace(zone, store::zone_builder(apex))
          .first->second.reserve(static_cast<std::size_t>(estimate / 2 + estimate / 16), 40);
    }
    std::string helper_error;
    std::size_t helper_rows = 0;
    std::thread helper([&] {
      try {
        pqxx::connection conn(conninfo);
        snapshot_tx part(conn);
        part.exec0("SET TRANSACTION SNAPSHOT " + part.quote(snapshot));
        helper_rows = read_records(part, query + " AND r.ctid >= " + middle + ")", second);
        part.commit();
      } catch (const std::exception& e) {
        helper_error = e.what();
      }
    });
    try {
      rows = read_records(tx, query + " AND r.ctid < " + middle + ")", builders);
    } catch (...) {
      helper.join();
      throw;
    }
    helper.join();
    if (!helper_error.empty()) throw std::runtime_error("reading records in parallel: " + helper_error);
    rows += helper_rows;
    parts = 2;
    for (auto& [zone, builder] : builders) {
      if (auto error = builder.absorb(std::move(second.at(zone))); !error.empty()) {
        throw std::runtime_error("zone " + zone + ": " + error);
      }
    }
  }
  const auto read = clock::now();
  std::map<std::string, std::shared_ptr<const store::zone_snapshot>> out;
  for (auto& [zone, builder] : builders) {
    // A large zone's nodes are written on two threads, as it was read.
    auto built = builder.build(serials[zone], 2);
    builder = store::zone_builder(dns::name());  // frees the record log now
    if (!built) {
      spdlog::error("zone {}: not served: {}", zone, built.error);
      zone_errors.inc();
      out[zone] = nullptr;
      continue;
    }
    out[zone] = built.zone;
  }
  builders.clear();
  spdlog::info("read {} records of {} zones in {} ms (in {} part{}), built in {} ms", rows, out.size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(read - started).count(), parts,
               parts == 1 ? "" : "s",
               std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - read).count());
  return out;
}

std::size_t zone_follower::impl::read_records(
    pqxx::transaction_base& tx, const std::string& query,
    std::map<std::string, store::zone_builder, std::less<>>& builders) {
  std::size_t rows = 0;
  pqxx::stream_from stream(tx, query);
  std::string line;
  std::array<std::string_view, 5> fields;
  store::record rec;
  // The rows of one owner name usually follow each other (they are stored
  // as they were inserted): its name is parsed once for all of them.
  std::string last_name;
  bool last_name_parsed = false;
  std::string_view last_zone;
  auto builder = builders.end();
  while (stream.get_raw_line(line)) {
    ++rows;
    if (!split_copy_line(line, fields)) {
      spdlog::warn("record skipped: malformed COPY row {}", rows);
      record_errors.inc();
      continue;
    }
    if (builder == builders.end() || fields[0] != last_zone) {
      builder = builders.find(fields[0]);
      if (builder == builders.end()) continue;
      last_zone = builder->first;
    }
    std::uint32_t ttl = 0;
    const auto ttl_end = fields[3].data() + fields[3].size();
    if (std::from_chars(fields[3].data(), ttl_end, ttl).ptr != ttl_end) {
      spdlog::warn("zone {}: record skipped: {} {}: bad TTL {}", builder->first, fields[1], fields[2],
                   fields[3]);
      record_errors.inc();
      continue;
    }
    const bool same_name = last_name_parsed && fields[1] == last_name;
    std::string error = zonefile::to_wire(fields[1], fields[2], ttl, fields[4], rec, same_name);
    if (!same_name) last_name.assign(fields[1]);
    last_name_parsed = error.empty();
    if (error.empty()) error = builder->second.add(rec);
    if (!error.empty()) {
      spdlog::warn("zone {}: record skipped: {}", builder->first, error);
      record_errors.inc();
    }
  }
  stream.complete();
  // Sorted here, on the thread that read them: the parts of a parallel load
  // are sorted at the same time.
  for (auto& [zone, part] : builders) part.prepare();
  return rows;
}

void zone_follower::impl::full_load(snapshot_tx& tx) {
  auto start = clock::now();
  auto p = tx.exec1("SELECT last_pos FROM zonemesh.node")[0].as<std::int64_t>();
  auto loaded = load_zones(tx, nullptr);
  auto set = std::make_shared<const store::zone_set>();
  std::size_t records = 0;
  for (const auto& [zone, snapshot] : loaded) {
    if (!snapshot) continue;
    records += snapshot->record_count();
    set = set->with_zone(snapshot);
  }
  zones->publish(set);
  pos = p;
  position_gauge.set(static_cast<double>(p));
  // The record log and COPY buffers were large and short-lived: give their
  // pages back rather than keep them as free heap (once the zones are served).
  malloc_trim(0);
  spdlog::info("loaded {} zones, {} records at change-log position {} in {} ms", set->size(), records, p,
               std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count());
}

bool zone_follower::impl::catch_up(pqxx::connection& conn) {
  snapshot_tx tx(conn);
  const std::int64_t from = pos;
  // The entries first, with their sizes; then the changes of as many as make
  // a reasonable batch. A transaction too large to re-read RRset by RRset
  // (a zone import) reloads the zones it touched instead.
  auto rows = tx.exec_params(
      "SELECT l.pos, l.origin, l.entry, (SELECT count(*) FROM zonemesh.changes c WHERE c.entry = l.entry) "
      "FROM zonemesh.changelog l WHERE l.pos > $1 ORDER BY l.pos LIMIT $2",
      from, changes_batch);
  if (rows.empty()) return false;
  if (rows[0][0].as<std::int64_t>() != from + 1) {
    spdlog::warn("change-log entries after position {} were pruned; reloading everything", from);
    full_load(tx);
    tx.commit();
    return false;
  }
  std::vector<std::string> entry_ids;
  std::size_t taken = 0;
  long long changes_in_batch = 0;
  for (const auto& row : rows) {
    if (std::string_view(row[1].c_str()) == "~snapshot") {
      // The replicator merged a snapshot from a peer: reload everything.
      full_load(tx);
      tx.commit();
      return false;
    }
    long long n = row[3].as<long long>();
    if (taken > 0 && changes_in_batch + n > big_entry) break;
    entry_ids.push_back(row[2].c_str());
    changes_in_batch += n;
    ++taken;
  }
  const bool whole_zones = changes_in_batch > big_entry;

  auto current = zones->current();
  std::map<std::string, zone_plan> plans;
  if (whole_zones) {
    for (const auto& z : tx.exec_params("SELECT DISTINCT zone FROM zonemesh.changes WHERE entry = $1 AND zone IS NOT NULL",
                                        entry_ids.front())) {
      plans[z[0].c_str()].reload = true;
    }
  } else {
    // The range on entry (entries of neighbouring positions are neighbours)
    // keeps this an index scan: with "= ANY" alone the planner estimated a
    // tenth of the table and scanned all of it (in parallel), every read of a
    // catch-up, as many times over as the change-log had grown.
    std::string list;
    long long lo = 0, hi = 0;
    for (const auto& e : entry_ids) {
      long long id = std::stoll(e);
      lo = list.empty() ? id : std::min(lo, id);
      hi = list.empty() ? id : std::max(hi, id);
      list += (list.empty() ? "" : ",") + e;
    }
    auto changed = tx.exec_params(
        "SELECT c.tbl, c.op, c.zone, c.data ->> 'name', c.data ->> 'type', c.old ->> 'name', c.old ->> 'type', "
        "c.applied FROM zonemesh.changes c WHERE c.entry = ANY($1::bigint[]) AND c.entry BETWEEN $2 AND $3 "
        "AND c.zone IS NOT NULL ORDER BY c.entry, c.n",
        "{" + list + "}", lo, hi);
    for (const auto& ch : changed) {
      std::string zone = ch[2].c_str();
      auto& plan = plans[zone];
      // A change that lost here changes no row, but it counts in the zone's
      // serial (sql/README.md): the zone is touched, its serial re-read.
      if (!ch[7].as<bool>()) continue;
      std::string_view tbl = ch[0].c_str();
      if (tbl == "zones") {
        if (std::string_view(ch[1].c_str()) == "D") {
          plan = zone_plan{};
          plan.remove = true;
        } else if (dns::name apex; plan.remove || dns::name::from_text(zone, apex) != dns::name_status::ok ||
                                   !current->find_exact(apex)) {
          plan.remove = false;
          plan.reload = true;
        }
      } else if (tbl == "records" || tbl == "rrsets") {  // a replaced RRset names itself in old
        if (!ch[3].is_null()) plan.rrsets.emplace(ch[3].c_str(), ch[4].c_str());
        if (!ch[5].is_null()) plan.rrsets.emplace(ch[5].c_str(), ch[6].c_str());
      }
    }
  }

  // Everything the plans need, read from the same snapshot as the entries.
  std::vector<std::string> reload, touched, rz, rn, rt;
  for (const auto& [zone, plan] : plans) {
    if (plan.reload) {
      reload.push_back(zone);
    } else if (!plan.remove) {
      touched.push_back(zone);
      for (const auto& [owner, type] : plan.rrsets) {
        rz.push_back(zone);
        rn.push_back(owner);
        rt.push_back(type);
      }
    }
  }
  auto reloaded = reload.empty() ? decltype(load_zones(tx, nullptr)){} : load_zones(tx, &reload);
  std::map<std::string, std::uint32_t> serials;
  for (const auto& row : tx.exec_params("SELECT u.z, zonemesh.zone_serial(u.z) FROM unnest($1::text[]) u(z)",
                                        text_array(touched))) {
    serials[row[0].c_str()] = static_cast<std::uint32_t>(row[1].as<long long>());
  }
  std::map<std::string, std::vector<store::record_change>> changes;
  for (std::size_t i = 0; i < rz.size(); ++i) {
    store::record_change remove;
    remove.what = store::record_change::action::remove_rrset;
    auto type = dns::type_from_string(rt[i]);
    if (!type || dns::name::from_text(rn[i], remove.rr.owner) != dns::name_status::ok) continue;
    remove.rr.type = *type;
    changes[rz[i]].push_back(std::move(remove));
  }
  if (!rz.empty()) {
    auto rows_now = tx.exec_params(
        "SELECT r.zone, r.name, r.type, r.ttl, r.content FROM records r "
        "JOIN unnest($1::text[], $2::text[], $3::text[]) AS u(z, n, t) "
        "ON r.zone = u.z AND r.name = u.n AND r.type = u.t WHERE NOT r.disabled",
        text_array(rz), text_array(rn), text_array(rt));
    zonefile::text_record text;
    for (const auto& row : rows_now) {
      store::record_change add;
      text.name = row[1].c_str();
      text.type = row[2].c_str();
      text.ttl = row[3].as<std::uint32_t>();
      text.content = row[4].c_str();
      if (auto error = zonefile::to_wire(text, add.rr); !error.empty()) {
        spdlog::warn("zone {}: record skipped: {}", row[0].c_str(), error);
        record_errors.inc();
        continue;
      }
      changes[row[0].c_str()].push_back(std::move(add));
    }
  }

  // Build every changed zone, then publish them together.
  auto next = current;
  for (const auto& [zone, plan] : plans) {
    dns::name apex;
    if (dns::name::from_text(zone, apex) != dns::name_status::ok) continue;
    if (plan.remove) {
      next = next->without_zone(apex);
      continue;
    }
    if (plan.reload) {
      auto it = reloaded.find(zone);
      if (it == reloaded.end()) {
        next = next->without_zone(apex);  // deleted in the meantime
      } else if (it->second) {
        next = next->with_zone(it->second);
      }
      continue;
    }
    auto base = next->find_exact(apex);
    if (!base) continue;  // not served here (e.g. records arriving before their zone)
    auto built = store::apply_changes(*base, changes[zone], serials[zone]);
    if (built) {
      next = next->with_zone(built.zone);
      continue;
    }
    spdlog::warn("zone {}: incremental update failed ({}); reloading the zone", zone, built.error);
    std::vector<std::string> one{zone};
    auto again = load_zones(tx, &one);
    if (again[zone]) {
      next = next->with_zone(again[zone]);
    } else {
      next = next->without_zone(apex);
    }
  }
  tx.commit();
  zones->publish(next);
  if (!reload.empty()) malloc_trim(0);  // as after a full load
  auto last = rows[static_cast<int>(taken) - 1][0].as<std::int64_t>();
  entries.inc(static_cast<std::uint64_t>(last - from));
  pos = last;
  position_gauge.set(static_cast<double>(last));
  return taken < rows.size() || rows.size() == static_cast<std::size_t>(changes_batch);
}

namespace {
class wakeups : public pqxx::notification_receiver {
 public:
  wakeups(pqxx::connection_base& c) : pqxx::notification_receiver(c, "zonemesh_changelog") {}
  void operator()(const std::string&, int) override {}
};
}  // namespace

void zone_follower::impl::session() {
  pqxx::connection data(conninfo);
  pqxx::connection listen(conninfo);
  // Small indexed queries only: JIT compiling them costs more than running them.
  pqxx::nontransaction(data).exec("SET jit = off");
  db::require_current_schema(data);
  wakeups wake(listen);  // LISTEN before the load: nothing committed after it is missed
  connected = true;
  connected_gauge.set(1);
  if (pos < 0) {
    snapshot_tx tx(data);
    full_load(tx);
    tx.commit();
  }
  set_error("");
  while (true) {
    while (catch_up(data)) {
    }
    last_read = now_ms();
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(options.poll_interval).count();
    listen.await_notification(static_cast<long>(us / 1000000), static_cast<long>(us % 1000000));
  }
}

void zone_follower::impl::run() {
  auto backoff = options.min_backoff;
  while (true) {
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
    }
    try {
      session();
      return;  // stopping
    } catch (const db::schema_error& e) {
      connected = false;
      connected_gauge.set(0);
      set_error(e.what());
      spdlog::critical("{}", e.what());
      if (options.on_fatal) options.on_fatal(e.what());
      return;
    } catch (const std::exception& e) {
      bool was_connected = connected.exchange(false);
      connected_gauge.set(0);
      db_errors.inc();
      set_error(e.what());
      if (was_connected) {
        spdlog::error("database connection lost: {}; serving the last data (position {})", e.what(),
                      pos.load());
        backoff = options.min_backoff;
      } else {
        spdlog::warn("database unavailable: {}; retrying in {} ms", e.what(), backoff.count());
      }
    }
    if (!sleep_for(backoff)) return;
    backoff = std::min(backoff * 2, options.max_backoff);
  }
}

zone_follower::zone_follower(std::string conninfo, std::shared_ptr<store::zone_publisher> zones,
                             common::metrics::registry& metrics, follower_options options)
    : impl_(std::make_unique<impl>(std::move(conninfo), std::move(zones), metrics, options)) {}

zone_follower::~zone_follower() { stop(); }

void zone_follower::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void zone_follower::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

follower_health zone_follower::health() const {
  std::string error;
  {
    std::lock_guard lock(impl_->mutex);
    error = impl_->last_error;
  }
  if (impl_->pos < 0) {
    return {false, "initial load not done" + (error.empty() ? std::string() : ": " + error)};
  }
  if (!impl_->connected) {
    return {false, "database unreachable (" + error + "); serving data as of change-log position " +
                       std::to_string(impl_->pos.load())};
  }
  auto age = now_ms() - impl_->last_read;
  if (age > impl_->options.stale_after.count()) {
    return {false, "change-log not read for " + std::to_string(age) + " ms"};
  }
  return {true, ""};
}

std::int64_t zone_follower::position() const { return impl_->pos; }

}  // namespace zonemesh::server
