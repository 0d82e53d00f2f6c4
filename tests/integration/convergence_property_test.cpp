// Property test of the apply function (architecture.md rules 3, 4, 5, 9;
// sql/README.md's RRset rules): random changes from three simulated origins
// (inserts, updates, deletes, zone deletes and creations, RRset replaces,
// extends and deletes, same-row conflicts, equal clock readings) applied to
// three real databases in different random orders, batchings and with
// duplicates end identical in every replicated table, tombstone and zone
// serial, and equal to what a plain model of the rules says: last writer wins
// per row, a zone's deletion covers its older rows, and an RRset's newest
// replace covers the older rows of that RRset.
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
  std::string rrset;  ///< "zone name type" of a records row's version; "" otherwise
};

std::string rrset_key(const std::string& zone, const std::string& name, const std::string& type) {
  return zone + " " + name + " " + type;
}

// A plain model of the rules: per key the newest version wins; a zone's
// deletion removes every zone-scoped row older than it; an RRset's newest
// replace (an "rrsets" D change) removes every records row of that RRset
// whose stamp is strictly older.
struct model {
  std::map<std::pair<std::string, std::string>, version> newest;  // (tbl, key) -> version
  std::map<std::pair<std::string, std::string>, std::string> zone_of;
  std::map<std::string, stamp> zone_deleted;                       // zone -> newest delete
  std::map<std::string, stamp> rrset_replaced;                     // "zone name type" -> newest replace
  struct replace_seen {
    stamp s;
    bool has_saw;                // data.saw was sent (a replace made by a site says what it removed)
    std::set<std::string> saw;   // "hlc origin" of the rows the replace was made with
  };
  std::map<std::string, std::vector<replace_seen>> rrset_replaces;  // "zone name type" -> every replace
  std::map<std::string, stamp> rrset_tombstones;                   // rrsets key (JSON) -> newest replace
  std::set<std::string> replace_stamps;                            // "zone hlc origin" of every replace
  std::set<std::string> record_stamps;                             // "zone hlc origin" of every records write

  void add(const json& change, const std::string& origin) {
    stamp s{change["hlc"].get<long long>(), origin};
    const std::string tbl = change["tbl"].get<std::string>();
    bool del = change["op"] == "D";
    if (tbl == "rrsets") {
      // A replace: not a row, a stamp on the RRset.
      EXPECT_TRUE(del) << change.dump();
      const json& k = change["key"];
      auto rk = rrset_key(k["zone"], k["name"], k["type"]);
      auto it = rrset_replaced.find(rk);
      if (it == rrset_replaced.end() || it->second < s) rrset_replaced[rk] = s;
      replace_seen seen{s, change.contains("data") && change["data"].contains("saw"), {}};
      if (seen.has_saw) {
        for (const auto& w : change["data"]["saw"]) {
          seen.saw.insert(std::to_string(w[0].get<long long>()) + " " + w[1].get<std::string>());
        }
      }
      rrset_replaces[rk].push_back(std::move(seen));
      auto t = rrset_tombstones.find(k.dump());
      if (t == rrset_tombstones.end() || t->second < s) rrset_tombstones[k.dump()] = s;
      replace_stamps.insert(k["zone"].get<std::string>() + " " + std::to_string(s.hlc) + " " + origin);
      return;
    }
    auto k = std::make_pair(tbl, change["key"].dump());
    std::string rrset;
    if (tbl == "records" && !del) {
      const json& d = change["data"];
      rrset = rrset_key(d["zone"], d["name"], d["type"]);
      record_stamps.insert(d["zone"].get<std::string>() + " " + std::to_string(s.hlc) + " " + origin);
    }
    auto it = newest.find(k);
    if (it == newest.end() || it->second.s < s) newest[k] = {s, del, rrset};
    if (change.contains("zone") && !change["zone"].is_null()) zone_of[k] = change["zone"];
    if (del && k.first == "zones") {
      auto z = change["key"]["name"].get<std::string>();
      auto zit = zone_deleted.find(z);
      if (zit == zone_deleted.end() || zit->second < s) zone_deleted[z] = s;
    }
  }

  bool zone_covers(const std::pair<std::string, std::string>& k, const version& v) const {
    if (k.first == "zones" || !zone_of.count(k)) return false;
    auto zit = zone_deleted.find(zone_of.at(k));
    return zit != zone_deleted.end() && !(zit->second < v.s);
  }

  bool rrset_covers(const version& v) const {
    if (v.rrset.empty()) return false;
    auto rit = rrset_replaced.find(v.rrset);
    return rit != rrset_replaced.end() && v.s < rit->second;
  }

  // "tbl key hlc origin" of every live row, sorted.
  std::set<std::string> live_rows() const {
    std::set<std::string> out;
    for (const auto& [k, v] : newest) {
      if (v.is_delete || zone_covers(k, v) || rrset_covers(v)) continue;
      out.insert(k.first + " " + json::parse(k.second).dump() + " " + std::to_string(v.s.hlc) + " " +
                 v.s.origin);
    }
    return out;
  }

  // "key hlc origin" of every RRset tombstone.
  std::set<std::string> rrset_tombstone_rows() const {
    std::set<std::string> out;
    for (const auto& [k, s] : rrset_tombstones) out.insert(k + " " + std::to_string(s.hlc) + " " + s.origin);
    return out;
  }

  // "zone hlc origin" of the rows that last-writer-wins per row would keep
  // but that replaces made without them remove: whatever the arrival order,
  // each site removes or drops such a row because of a replace whose saw
  // does not name it, and logs it.
  std::set<std::string> removed_by_unaware_replace() const {
    std::set<std::string> out;
    for (const auto& [k, v] : newest) {
      if (v.is_delete || zone_covers(k, v) || !rrset_covers(v)) continue;
      bool unaware = true;
      const std::string row = std::to_string(v.s.hlc) + " " + v.s.origin;
      for (const auto& r : rrset_replaces.at(v.rrset)) {
        if (v.s < r.s && (!r.has_saw || r.saw.count(row))) unaware = false;
      }
      if (unaware) out.insert(zone_of.at(k) + " " + row);
    }
    return out;
  }

  // Rows that last-writer-wins per row would keep but the RRset rule removes;
  // and of those, the ones decided by the origin name (equal clock readings).
  std::pair<int, int> covered_by_replace() const {
    int covered = 0, by_origin = 0;
    for (const auto& [k, v] : newest) {
      if (v.is_delete || zone_covers(k, v) || !rrset_covers(v)) continue;
      ++covered;
      if (rrset_replaced.at(v.rrset).hlc == v.s.hlc) ++by_origin;
    }
    return {covered, by_origin};
  }
};

// Record ids as the database derives them when a record is added (sql/README.md): from zone, owner,
// type and content; from zone, owner and type for CNAME and DNAME; from the
// zone for the SOA. Computed here with PostgreSQL's md5() from the rule, not
// asked from the code under test.
class record_ids {
 public:
  explicit record_ids(const std::string& db) : conn_(db) {}

  std::string rr(const std::string& zone, const std::string& name, const std::string& type,
                 const std::string& content) {
    std::string text = "zonemesh-rr:" + zone + " " + name + " " + type;
    if (type != "CNAME" && type != "DNAME") text += " " + content;
    return md5_uuid(text);
  }
  std::string soa(const std::string& zone) { return md5_uuid("zonemesh-soa:" + zone); }

 private:
  std::string md5_uuid(const std::string& text) {
    auto it = cache_.find(text);
    if (it != cache_.end()) return it->second;
    pqxx::read_transaction tx(conn_);
    std::string id = tx.exec_params1("SELECT md5($1)::uuid::text", text)[0].c_str();
    return cache_[text] = id;
  }

  pqxx::connection conn_;
  std::map<std::string, std::string> cache_;
};

class history {
 public:
  history(std::uint64_t seed, long long base_hlc, record_ids& ids) : rng_(seed), ids_(ids) {
    for (const char* o : {"oa", "ob", "oc"}) clock_[o] = base_hlc;
  }

  std::vector<json> generate(int txs_per_origin) {
    std::vector<json> all;
    for (const auto& [origin, unused] : clock_) {
      (void)unused;
      for (int seq = 1; seq <= txs_per_origin; ++seq) {
        json tx = {{"origin", origin}, {"seq", seq}, {"changes", json::array()}};
        int n = pick(1, 4);
        for (int i = 0; i < n; ++i) {
          for (auto& c : changes(origin)) tx["changes"].push_back(std::move(c));
        }
        all.push_back(tx);
      }
    }
    add_saw(all);
    return all;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  // What each replace says it was made with (data.saw), as a site sends it:
  // the rows of the RRset its origin wrote since its previous replace of it,
  // and some rows from the other origins, older than the replace (received
  // before it was made). A tenth say nothing (as a snapshot's tombstone).
  void add_saw(std::vector<json>& txs) {
    std::map<std::string, std::vector<stamp>> writes;  // "zone name type" -> every records write
    for (const auto& tx : txs) {
      for (const auto& c : tx["changes"]) {
        if (c["tbl"] == "records" && c["op"] == "U") {
          writes[rrset_key(c["data"]["zone"], c["data"]["name"], c["data"]["type"])].push_back(
              {c["hlc"].get<long long>(), tx["origin"].get<std::string>()});
        }
      }
    }
    std::map<std::pair<std::string, std::string>, std::vector<stamp>> own;  // (origin, RRset) -> since its replace
    for (auto& tx : txs) {  // each origin's transactions are in order
      const std::string origin = tx["origin"];
      for (auto& c : tx["changes"]) {
        if (c["tbl"] == "records" && c["op"] == "U") {
          own[{origin, rrset_key(c["data"]["zone"], c["data"]["name"], c["data"]["type"])}].push_back(
              {c["hlc"].get<long long>(), origin});
        } else if (c["tbl"] == "rrsets") {
          const std::string rk = rrset_key(c["key"]["zone"], c["key"]["name"], c["key"]["type"]);
          stamp r{c["hlc"].get<long long>(), origin};
          auto& mine = own[{origin, rk}];
          if (pick(0, 9) != 0) {
            json saw = json::array();
            for (const auto& w : mine) saw.push_back({w.hlc, w.origin});
            for (const auto& w : writes[rk]) {
              if (w.origin != origin && w < r && pick(0, 3) == 0) saw.push_back({w.hlc, w.origin});
            }
            c["data"] = {{"saw", saw}};
          }
          mine.clear();
        }
      }
    }
  }

  static constexpr const char* modified = "2026-01-01T00:00:00+00:00";

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // Each origin's clock moves forward by 1..3 ticks per change, all starting
  // together: equal readings across origins are common, as intended.
  long long tick(const std::string& origin) { return clock_[origin] += pick(1, 3); }

  // A few RRsets per zone with a few possible contents each, so that the
  // same record written at two origins (one derived id) is common.
  struct rrset_choice {
    std::string name, type;
  };
  rrset_choice some_rrset(const std::string& zone) {
    int n = pick(0, 3);
    if (n == 3) return {"cn." + zone, "CNAME"};
    return {"n" + std::to_string(n) + "." + zone, "A"};
  }
  std::string some_content(const std::string& type) {
    if (type == "CNAME") return "t" + std::to_string(pick(0, 2)) + ".example.net";
    return "192.0.2." + std::to_string(pick(1, 5));
  }

  json record_write(const std::string& origin, long long h, const std::string& zone, const std::string& name,
                    const std::string& type, const std::string& content, int ttl) {
    std::string id = type == "SOA" ? ids_.soa(zone) : ids_.rr(zone, name, type, content);
    return {{"tbl", "records"}, {"op", "U"}, {"key", {{"id", id}}}, {"hlc", h}, {"zone", zone},
            {"data", {{"id", id}, {"zone", zone}, {"name", name}, {"type", type}, {"ttl", ttl},
                      {"content", content}, {"disabled", pick(0, 9) == 0}, {"modified", modified},
                      {"hlc", h}, {"origin", origin}}}};
  }
  json record_delete(long long h, const std::string& zone, const std::string& id) {
    return {{"tbl", "records"}, {"op", "D"}, {"key", {{"id", id}}}, {"hlc", h}, {"zone", zone}};
  }
  json rrset_replace(long long h, const std::string& zone, const std::string& name, const std::string& type) {
    return {{"tbl", "rrsets"}, {"op", "D"}, {"key", {{"name", name}, {"type", type}, {"zone", zone}}},
            {"hlc", h}, {"zone", zone}};
  }

  // The changes one RRset operation of a source transaction carries.
  std::vector<json> record_changes(const std::string& origin, const std::string& zone) {
    auto [name, type] = some_rrset(zone);
    bool single = type == "CNAME";
    std::vector<json> out;
    int op = pick(0, 99);
    int ttl = pick(1, 5) * 60;
    if (op < 22) {  // REPLACE: the RRset's stamp and its new rows, all with the same hlc
      long long h = tick(origin);
      out.push_back(rrset_replace(h, zone, name, type));
      std::set<std::string> contents;
      for (int i = pick(0, single ? 1 : 3); i > 0; --i) contents.insert(some_content(type));
      for (const auto& c : contents) out.push_back(record_write(origin, h, zone, name, type, c, ttl));
    } else if (op < 37) {  // EXTEND: adds, each with its own stamp
      for (int i = pick(1, single ? 1 : 2); i > 0; --i) {
        out.push_back(record_write(origin, tick(origin), zone, name, type, some_content(type), ttl));
      }
    } else if (op < 52) {  // INSERT of one record
      out.push_back(record_write(origin, tick(origin), zone, name, type, some_content(type), ttl));
    } else if (op < 62) {  // UPDATE of the TTL: every row the origin knows of gets it
      for (int i = pick(1, single ? 1 : 2); i > 0; --i) {
        out.push_back(record_write(origin, tick(origin), zone, name, type, some_content(type), ttl));
      }
    } else if (op < 74) {  // UPDATE of the content: the row keeps its id (derived when it was added)
      std::string from = some_content(type), to = some_content(type);
      json w = record_write(origin, tick(origin), zone, name, type, to, ttl);
      std::string id = ids_.rr(zone, name, type, from);
      w["key"]["id"] = id;
      w["data"]["id"] = id;
      out.push_back(std::move(w));
    } else if (op < 88) {  // DELETE of one record
      out.push_back(record_delete(tick(origin), zone, ids_.rr(zone, name, type, some_content(type))));
    } else {  // DELETE of the RRset: a replace with nothing
      out.push_back(rrset_replace(tick(origin), zone, name, type));
    }
    return out;
  }

  std::vector<json> changes(const std::string& origin) {
    int zi = pick(0, 2);
    std::string zone = "z" + std::to_string(zi) + ".test";
    int kind = pick(0, 99);
    if (kind < 45 || kind >= 94) return record_changes(origin, zone);
    long long h = tick(origin);
    json c = {{"hlc", h}, {"zone", zone}};
    if (kind < 60) {  // zones
      c["tbl"] = "zones";
      c["key"] = {{"name", zone}};
      if (kind < 55) {
        c["op"] = "U";
        c["data"] = {{"name", zone}, {"kind", pick(0, 1) ? "native" : "primary"},
                     {"created", "2026-01-0" + std::to_string(pick(1, 3)) + "T00:00:00+00:00"},
                     {"modified", modified}};
        if (pick(0, 1)) {
          // A creation: the zone, its SOA and its apex NS RRset as a replace.
          c["data"]["hlc"] = h;
          c["data"]["origin"] = origin;
          std::vector<json> out{c};
          out.push_back(record_write(origin, h, zone, zone, "SOA",
                                     "ns1.example.net hostmaster." + zone + " 0 10800 3600 604800 3600", 3600));
          out.push_back(rrset_replace(h, zone, zone, "NS"));
          std::set<std::string> ns;
          for (int i = pick(1, 2); i > 0; --i) ns.insert("ns" + std::to_string(pick(1, 3)) + ".example.net");
          for (const auto& n : ns) out.push_back(record_write(origin, h, zone, zone, "NS", n, 3600));
          return out;
        }
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
    return {c};
  }

  std::mt19937_64 rng_;
  record_ids& ids_;
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

// "key hlc origin" of every RRset tombstone (the stamp of its newest replace).
std::set<std::string> rrset_tombstones_in(const std::string& db) {
  pqxx::connection c(db);
  pqxx::read_transaction tx(c);
  std::set<std::string> out;
  for (const auto& row : tx.exec("SELECT key::text, hlc, origin FROM zonemesh.tombstones WHERE tbl = 'rrsets'")) {
    out.insert(json::parse(row[0].c_str()).dump() + " " + row[1].c_str() + " " + row[2].c_str());
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
  int nontrivial = 0, covering_seeds = 0, decided_by_origin = 0, conflicts_logged = 0, must_log_rows = 0;
  record_ids ids(a);
  for (std::uint64_t seed = first; seed < first + static_cast<std::uint64_t>(seeds); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with ZONEMESH_PROPERTY_SEED=" +
                 std::to_string(seed) + ")");
    for (const auto& db : {a, b, c}) reset_site(db);
    long long base = std::stoll(sql_value(a, "SELECT zonemesh.physical_hlc() - (600000::bigint << 16)"));
    history h(seed, base, ids);
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
    ASSERT_EQ(live_rows_in(a), expected)
        << "the databases agree, but not with last-writer-wins per row and the RRset and zone cover rules";
    ASSERT_EQ(rrset_tombstones_in(a), m.rrset_tombstone_rows()) << "each RRset keeps its newest replace stamp";
    // Every removal by a replace is logged with both stamps: the replace's
    // (kept) and the removed row's, or the older replace's (lost, strictly
    // older).
    const auto must_log = m.removed_by_unaware_replace();
    must_log_rows += static_cast<int>(must_log.size());
    for (const auto& db : {a, b, c}) {
      pqxx::connection conn(db);
      pqxx::read_transaction tx(conn);
      std::set<std::string> logged_lost;
      for (const auto& row : tx.exec("SELECT zone, kept_hlc, kept_origin, lost_hlc, lost_origin, tbl "
                                     "FROM zonemesh.conflicts WHERE kind = 'rrset_replaced'")) {
        ++conflicts_logged;
        if (std::string(row[5].c_str()) == "records") {
          logged_lost.insert(std::string(row[0].c_str()) + " " + row[3].c_str() + " " + row[4].c_str());
        }
        std::string zone = row[0].is_null() ? "" : row[0].c_str();
        std::string kept = zone + " " + (row[1].is_null() ? "" : row[1].c_str()) + " " +
                           (row[2].is_null() ? "" : row[2].c_str());
        std::string lost = zone + " " + (row[3].is_null() ? "" : row[3].c_str()) + " " +
                           (row[4].is_null() ? "" : row[4].c_str());
        EXPECT_TRUE(m.replace_stamps.count(kept)) << "kept is not a replace of that zone: " << kept;
        if (std::string(row[5].c_str()) == "rrsets") {
          EXPECT_TRUE(m.replace_stamps.count(lost)) << "lost is not a replace of that zone: " << lost;
        } else {
          EXPECT_TRUE(m.record_stamps.count(lost)) << "lost is not a records write of that zone: " << lost;
        }
        ASSERT_FALSE(row[1].is_null() || row[3].is_null());
        EXPECT_TRUE((stamp{row[3].as<long long>(), row[4].c_str()} < stamp{row[1].as<long long>(), row[2].c_str()}))
            << "a replace removes only older rows: kept " << kept << ", lost " << lost;
      }
      for (const auto& row : must_log) {
        EXPECT_TRUE(logged_lost.count(row)) << "a row removed by a replace made without it is not logged as "
                                               "rrset_replaced (zone hlc origin): " << row;
      }
    }
    auto [covered, by_origin] = m.covered_by_replace();
    if (covered > 0) ++covering_seeds;
    decided_by_origin += by_origin;
    for (const auto& db : {a, b, c}) {
      ASSERT_EQ(sql_value(db, "SELECT zonemesh.version_vector()"), R"({"oa": 20, "ob": 20, "oc": 20})");
      ASSERT_EQ(sql_value(db, "SELECT count(*) FROM zonemesh.received"), "0");
    }
    if (!expected.empty() && sql_value(a, "SELECT count(*) FROM zonemesh.tombstones") != "0") ++nontrivial;
  }
  EXPECT_GT(nontrivial, seeds / 2) << "the generator should produce live rows and tombstones";
  EXPECT_GT(covering_seeds, seeds / 2) << "the generator should make replaces that remove rows per-row LWW keeps";
  if (seeds >= 20) {
    EXPECT_GT(decided_by_origin, 0) << "some replace should cover a row with an equal clock reading";
  }
  EXPECT_GT(conflicts_logged, 0) << "rows removed by replaces are logged as rrset_replaced";
  EXPECT_GT(must_log_rows, seeds / 3) << "the generator should make replaces that remove rows they were made without";
}

}  // namespace
}  // namespace zonemesh::test
