// Property test of the apply function (architecture.md rules 3, 4, 5, 9):
// random changes from three simulated origins (inserts, updates, deletes,
// zone deletes, same-row conflicts, equal clock readings) applied to three
// real databases in different random orders, batchings and with duplicates
// end identical in every replicated table, tombstone and zone serial, and
// equal to what a plain last-writer-wins model of the same changes says.
//
// ZONEMESH_PROPERTY_SEEDS sets how many seeds run (default 60);
// ZONEMESH_PROPERTY_SEED runs one seed, to reproduce a failure.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using nlohmann::json;

struct stamp {
  long long hlc;
  std::string origin;
  bool operator<(const stamp& o) const { return hlc != o.hlc ? hlc < o.hlc : origin < o.origin; }
};

struct version {
  stamp s;
  bool is_delete;
};

// A plain model of the rules: per key the newest version wins; a zone's
// deletion removes every zone-scoped row older than it.
struct model {
  std::map<std::pair<std::string, std::string>, version> newest;  // (tbl, key) -> version
  std::map<std::pair<std::string, std::string>, std::string> zone_of;
  std::map<std::string, stamp> zone_deleted;                       // zone -> newest delete

  void add(const json& change, const std::string& origin) {
    stamp s{change["hlc"].get<long long>(), origin};
    auto k = std::make_pair(change["tbl"].get<std::string>(), change["key"].dump());
    bool del = change["op"] == "D";
    auto it = newest.find(k);
    if (it == newest.end() || it->second.s < s) newest[k] = {s, del};
    if (change.contains("zone") && !change["zone"].is_null()) zone_of[k] = change["zone"];
    if (del && k.first == "zones") {
      auto z = change["key"]["name"].get<std::string>();
      auto zit = zone_deleted.find(z);
      if (zit == zone_deleted.end() || zit->second < s) zone_deleted[z] = s;
    }
  }

  // "tbl key hlc origin" of every live row, sorted.
  std::set<std::string> live_rows() const {
    std::set<std::string> out;
    for (const auto& [k, v] : newest) {
      if (v.is_delete) continue;
      if (k.first != "zones" && zone_of.count(k)) {
        auto zit = zone_deleted.find(zone_of.at(k));
        if (zit != zone_deleted.end() && !(zit->second < v.s)) continue;
      }
      out.insert(k.first + " " + json::parse(k.second).dump() + " " + std::to_string(v.s.hlc) + " " +
                 v.s.origin);
    }
    return out;
  }
};

class history {
 public:
  history(std::uint64_t seed, long long base_hlc) : rng_(seed) {
    for (const char* o : {"oa", "ob", "oc"}) clock_[o] = base_hlc;
  }

  std::vector<json> generate(int txs_per_origin) {
    std::vector<json> all;
    for (const auto& [origin, unused] : clock_) {
      (void)unused;
      for (int seq = 1; seq <= txs_per_origin; ++seq) {
        json tx = {{"origin", origin}, {"seq", seq}, {"changes", json::array()}};
        int n = pick(1, 4);
        for (int i = 0; i < n; ++i) tx["changes"].push_back(change(origin));
        all.push_back(tx);
      }
    }
    return all;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // Each origin's clock moves forward by 1..3 ticks per change, all starting
  // together: equal readings across origins are common, as intended.
  long long tick(const std::string& origin) { return clock_[origin] += pick(1, 3); }

  json change(const std::string& origin) {
    long long h = tick(origin);
    int zi = pick(0, 2);
    std::string zone = "z" + std::to_string(zi) + ".test";
    const std::string modified = "2026-01-01T00:00:00+00:00";
    int kind = pick(0, 99);
    json c = {{"hlc", h}, {"zone", zone}};
    if (kind < 45 || kind >= 94) {  // records
      std::string id = "00000000-0000-4000-8000-0000000" + std::to_string(100 + zi) + std::to_string(10 + pick(0, 7));
      c["tbl"] = "records";
      c["key"] = {{"id", id}};
      if (kind < 40) {
        c["op"] = "U";
        c["data"] = {{"id", id}, {"zone", zone}, {"name", "n" + id.substr(id.size() - 2) + "." + zone},
                     {"type", "A"}, {"ttl", pick(1, 5) * 60},
                     {"content", "192.0.2." + std::to_string(pick(1, 254))},
                     {"disabled", pick(0, 9) == 0}, {"modified", modified}};
      } else {
        c["op"] = "D";
      }
    } else if (kind < 60) {  // zones
      c["tbl"] = "zones";
      c["key"] = {{"name", zone}};
      if (kind < 55) {
        c["op"] = "U";
        c["data"] = {{"name", zone}, {"kind", pick(0, 1) ? "native" : "primary"},
                     {"created", "2026-01-0" + std::to_string(pick(1, 3)) + "T00:00:00+00:00"},
                     {"modified", modified}};
      } else {
        c["op"] = "D";
      }
    } else if (kind < 72) {  // zone_metadata
      std::string content = "c" + std::to_string(pick(0, 1));
      c["tbl"] = "zone_metadata";
      c["key"] = {{"zone", zone}, {"kind", "ALSO-NOTIFY"}, {"content", content}};
      c["op"] = pick(0, 2) ? "U" : "D";
      if (c["op"] == "U") c["data"] = {{"zone", zone}, {"kind", "ALSO-NOTIFY"}, {"content", content}, {"modified", modified}};
    } else if (kind < 82) {  // tsig_keys
      std::string name = "k" + std::to_string(pick(0, 1));
      c["tbl"] = "tsig_keys";
      c["zone"] = nullptr;
      c["key"] = {{"name", name}};
      c["op"] = pick(0, 2) ? "U" : "D";
      if (c["op"] == "U") {
        c["data"] = {{"name", name}, {"algorithm", "hmac-sha256"},
                     {"secret", "c2VjcmV0" + std::to_string(pick(10, 99))}, {"modified", modified}};
      }
    } else {  // dnssec_keys
      std::string id = "00000000-0000-4000-9000-0000000" + std::to_string(100 + zi) + std::to_string(10 + pick(0, 1));
      c["tbl"] = "dnssec_keys";
      c["key"] = {{"id", id}};
      c["op"] = pick(0, 2) ? "U" : "D";
      if (c["op"] == "U") {
        c["data"] = {{"id", id}, {"zone", zone}, {"flags", pick(0, 1) ? 257 : 256}, {"algorithm", 13},
                     {"private_key", "key" + std::to_string(pick(1, 9))}, {"active", pick(0, 1) == 1},
                     {"published", true}, {"created", modified}, {"modified", modified}};
      }
    }
    if (c["op"] == "U") {
      c["data"]["hlc"] = h;
      c["data"]["origin"] = origin;
    }
    return c;
  }

  std::mt19937_64 rng_;
  std::map<std::string, long long> clock_;
};

void apply_batches(const std::string& db, const std::vector<json>& txs, std::mt19937_64& rng,
                   int max_batch) {
  pqxx::connection c(db);
  for (std::size_t i = 0; i < txs.size();) {
    std::size_t n = std::uniform_int_distribution<std::size_t>(1, static_cast<std::size_t>(max_batch))(rng);
    json batch = json::array();
    for (std::size_t j = i; j < std::min(txs.size(), i + n); ++j) batch.push_back(txs[j]);
    pqxx::work w(c);
    auto counts = json::parse(w.exec_params1("SELECT zonemesh.apply_batch($1::jsonb)", batch.dump())[0].c_str());
    w.commit();
    if (counts["failed"].get<int>() != 0) {
      throw std::runtime_error("apply_batch failed: " +
                               sql_value(db, "SELECT string_agg(error, '; ') FROM zonemesh.apply_errors"));
    }
    i += n;
  }
}

std::set<std::string> live_rows_in(const std::string& db) {
  pqxx::connection c(db);
  pqxx::read_transaction tx(c);
  std::set<std::string> out;
  for (const auto& row : tx.exec(R"sql(
      SELECT t.tbl, zonemesh.row_key(t.tbl, r.j)::text, r.j ->> 'hlc', r.j ->> 'origin'
        FROM zonemesh.replicated_tables t,
             LATERAL (SELECT to_jsonb(x) AS j FROM public.zones x WHERE t.tbl = 'zones'
                      UNION ALL SELECT to_jsonb(x) FROM public.records x WHERE t.tbl = 'records'
                      UNION ALL SELECT to_jsonb(x) FROM public.zone_metadata x WHERE t.tbl = 'zone_metadata'
                      UNION ALL SELECT to_jsonb(x) FROM public.tsig_keys x WHERE t.tbl = 'tsig_keys'
                      UNION ALL SELECT to_jsonb(x) FROM public.dnssec_keys x WHERE t.tbl = 'dnssec_keys') r)sql")) {
    out.insert(std::string(row[0].c_str()) + " " + json::parse(row[1].c_str()).dump() + " " + row[2].c_str() +
               " " + row[3].c_str());
  }
  return out;
}

TEST(ConvergenceProperty, RandomHistoriesConvergeInAnyOrderWithDuplicates) {
  cluster sites(3, {"--no-server", "--no-replicator"});
  const std::string a = sites.at(0).pg, b = sites.at(1).pg, c = sites.at(2).pg;
  int seeds = 60;
  std::uint64_t first = 1;
  if (const char* s = std::getenv("ZONEMESH_PROPERTY_SEEDS")) seeds = std::atoi(s);
  if (const char* s = std::getenv("ZONEMESH_PROPERTY_SEED")) {
    first = std::strtoull(s, nullptr, 10);
    seeds = 1;
  }
  int nontrivial = 0;
  for (std::uint64_t seed = first; seed < first + static_cast<std::uint64_t>(seeds); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with ZONEMESH_PROPERTY_SEED=" +
                 std::to_string(seed) + ")");
    for (const auto& db : {a, b, c}) reset_site(db);
    long long base = std::stoll(sql_value(a, "SELECT zonemesh.physical_hlc() - (600000::bigint << 16)"));
    history h(seed, base);
    auto txs = h.generate(20);
    model m;
    for (const auto& tx : txs) {
      for (const auto& ch : tx["changes"]) m.add(ch, tx["origin"]);
    }

    // a: one random order, one transaction per batch.
    auto order_a = txs;
    std::shuffle(order_a.begin(), order_a.end(), h.rng());
    apply_batches(a, order_a, h.rng(), 1);
    // b: another random order, a third of the transactions twice, random batches.
    auto order_b = txs;
    for (const auto& tx : txs) {
      if (h.rng()() % 3 == 0) order_b.push_back(tx);
    }
    std::shuffle(order_b.begin(), order_b.end(), h.rng());
    apply_batches(b, order_b, h.rng(), 10);
    // c: each origin's stream in order, the streams interleaved, then everything again.
    auto order_c = txs;
    std::stable_sort(order_c.begin(), order_c.end(),
                     [](const json& x, const json& y) { return x["seq"] < y["seq"]; });
    apply_batches(c, order_c, h.rng(), 5);
    apply_batches(c, txs, h.rng(), 20);

    auto dump_a = dump_replicated_state(a);
    ASSERT_EQ(dump_a, dump_replicated_state(b));
    ASSERT_EQ(dump_a, dump_replicated_state(c));
    auto expected = m.live_rows();
    ASSERT_EQ(live_rows_in(a), expected) << "the databases agree, but not with last-writer-wins";
    for (const auto& db : {a, b, c}) {
      ASSERT_EQ(sql_value(db, "SELECT zonemesh.version_vector()"), R"({"oa": 20, "ob": 20, "oc": 20})");
      ASSERT_EQ(sql_value(db, "SELECT count(*) FROM zonemesh.received"), "0");
    }
    if (!expected.empty() && sql_value(a, "SELECT count(*) FROM zonemesh.tombstones") != "0") ++nontrivial;
  }
  EXPECT_GT(nontrivial, seeds / 2) << "the generator should produce live rows and tombstones";
}

}  // namespace
}  // namespace zonemesh::test
