// Zone-file import and export for zonemesh-admin, through plain SQL on the
// replicated tables so that every write passes the validation triggers.
#include "zone_import.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <pqxx/pqxx>

#include "zonefile/zonefile.hpp"

namespace zonemesh::admin {
namespace {

using zonefile::text_record;

bool is_signer_type(const std::string& type) {
  return type == "RRSIG" || type == "NSEC" || type == "NSEC3" || type == "NSEC3PARAM";
}

std::string describe(const text_record& r) { return r.name + " " + r.type + " " + r.content; }

/// The first line of a PostgreSQL error without its "ERROR:" prefix: the
/// trigger's own message.
std::string sql_message(const std::exception& e) {
  std::string m = e.what();
  if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  constexpr std::string_view prefix = "ERROR:";
  if (m.compare(0, prefix.size(), prefix) == 0) m.erase(0, prefix.size());
  m.erase(0, m.find_first_not_of(' '));
  return m;
}

std::vector<std::string> fields(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

/// Two SOA contents that differ at most in the serial: the stored serial is
/// never served (zonemesh.zone_serial is), so it is no reason to write.
bool same_soa_but_serial(const std::string& a, const std::string& b) {
  auto fa = fields(a);
  auto fb = fields(b);
  if (fa.size() != 7 || fb.size() != 7) return a == b;
  fa[2] = fb[2];
  return fa == fb;
}

bool inside_zone(const std::string& name, const std::string& zone) {
  return name == zone || (name.size() > zone.size() + 1 && name.ends_with("." + zone) &&
                          name[name.size() - zone.size() - 1] == '.');
}

/// A name as the database keeps it: lower case, no trailing dot.
std::string lower_name(std::string n) {
  if (n.size() > 1 && n.back() == '.') n.pop_back();
  for (char& c : n) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return n;
}

std::string key_of(const text_record& r) { return r.name + '\0' + r.type + '\0' + r.content; }

struct stored_row {
  std::string id;
  text_record rec;
  bool disabled = false;
  bool used = false;
};

/// Runs one write for `rec`; a refusal becomes a zone_file_error naming it.
template <typename... Args>
void write_record(pqxx::work& tx, const text_record& rec, const char* what, const std::string& sql,
                  Args&&... args) {
  try {
    tx.exec_params(sql, std::forward<Args>(args)...);
  } catch (const pqxx::sql_error& e) {
    throw zone_file_error("cannot " + std::string(what) + " record " + describe(rec) + ": " +
                          sql_message(e));
  }
}

/// Sort key for export: labels from the root down, so a name's children
/// follow it; at one name SOA first, then NS, then the rest by type.
std::vector<std::string> reversed_labels(const std::string& name) {
  std::vector<std::string> labels;
  std::size_t start = 0;
  for (;;) {
    auto dot = name.find('.', start);
    labels.push_back(name.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::reverse(labels.begin(), labels.end());
  return labels;
}

int type_rank(const std::string& type) {
  if (type == "SOA") return 0;
  if (type == "NS") return 1;
  return 2;
}

}  // namespace

import_result import_zone(pqxx::connection_base& conn, const import_request& request) {
  import_result result;
  const std::string source = request.source.empty() ? "zone file" : request.source;

  auto parsed = zonefile::parse_zone_file(request.text, request.zone);
  if (!parsed.error.empty()) throw zone_file_error(source + ": " + parsed.error);

  std::map<std::string, std::size_t> skipped;
  std::vector<text_record> wanted;
  const std::string origin = lower_name(request.zone);
  for (std::size_t i = 0; i < parsed.records.size(); ++i) {
    auto& r = parsed.records[i];
    if (!inside_zone(lower_name(r.name), origin)) {
      // As Knot loads a zone: the record is left out with a warning, the rest
      // of the file is imported.
      const int line = i < parsed.lines.size() ? parsed.lines[i] : 0;
      result.warnings.push_back(source + (line > 0 ? ":" + std::to_string(line) : std::string()) +
                                ": record " + describe(r) + " skipped: owner is outside zone " +
                                origin);
      ++result.skipped_out_of_zone;
      continue;
    }
    if (is_signer_type(r.type)) {
      ++skipped[r.type];
    } else {
      wanted.push_back(std::move(r));
    }
  }
  for (const auto& [type, n] : skipped) {
    result.warnings.push_back("skipped " + std::to_string(n) + " " + type +
                              " record(s): they are made by the DNSSEC signer, not stored");
  }

  pqxx::work tx(conn, "import-zone");
  try {
    result.zone =
        tx.exec_params1("SELECT zonemesh.canonical_name($1, 'zone name')", request.zone)[0]
            .as<std::string>();
  } catch (const pqxx::sql_error& e) {
    throw zone_file_error(sql_message(e));
  }
  const std::string& zone = result.zone;

  // Bring every record to the database's normal form (the triggers' own
  // functions), so that the file can be compared with the stored rows.
  std::vector<text_record> records;
  std::unordered_map<std::string, std::size_t> seen;
  const text_record* soa = nullptr;
  std::size_t soa_count = 0;
  for (auto& r : wanted) {
    text_record n;
    try {
      auto row = tx.exec_params1(
          "SELECT zonemesh.canonical_name($1, 'record name', true), upper(btrim($2)), "
          "zonemesh.check_content(upper(btrim($2)), $3, $1)",
          r.name, r.type, r.content);
      n.name = row[0].as<std::string>();
      n.type = row[1].as<std::string>();
      n.content = row[2].as<std::string>();
      n.ttl = r.ttl;
    } catch (const pqxx::sql_error& e) {
      throw zone_file_error(source + ": record " + describe(r) + ": " + sql_message(e));
    }
    if (!inside_zone(n.name, zone)) {
      throw zone_file_error(source + ": record " + describe(r) + ": name is not inside zone " +
                            zone);
    }
    if (n.type == "SOA") {
      ++soa_count;
      if (n.name != zone) {
        throw zone_file_error(source + ": record " + describe(r) +
                              ": a SOA record belongs at the zone apex " + zone);
      }
    }
    auto [it, fresh] = seen.emplace(key_of(n), records.size());
    if (!fresh) {
      if (records[it->second].ttl != n.ttl) {
        result.warnings.push_back("duplicate record " + describe(n) + " with TTL " +
                                  std::to_string(n.ttl) + " ignored; kept TTL " +
                                  std::to_string(records[it->second].ttl));
      }
      continue;
    }
    records.push_back(std::move(n));
  }
  if (soa_count != 1) {
    throw zone_file_error(source + ": the file must hold exactly one SOA record for " + zone +
                          " (found " + std::to_string(soa_count) + ")");
  }
  for (const auto& r : records) {
    if (r.type == "SOA") soa = &r;
  }
  result.records = records.size();

  // The zone row, locked: FOR UPDATE conflicts with the FOR KEY SHARE that
  // every local record write takes on its zone, so no local writer slips in
  // between our read of the zone's rows and our commit.
  tx.exec("SELECT zonemesh.lock_local_writes()");  // before any row lock (sql/013)
  auto existing = tx.exec_params("SELECT kind FROM zones WHERE name = $1 FOR UPDATE", zone);
  std::vector<stored_row> stored;
  if (existing.empty()) {
    try {
      tx.exec_params("INSERT INTO zones (name, kind) VALUES ($1, $2)", zone,
                     request.kind.value_or("native"));
    } catch (const pqxx::sql_error& e) {
      throw zone_file_error("cannot create zone " + zone + ": " + sql_message(e));
    }
    result.created = true;
  } else {
    if (!request.replace) {
      throw zone_file_error("zone " + zone +
                            " exists already; use --replace to make its records equal to the "
                            "file's (nothing was written)");
    }
    if (request.kind && *request.kind != existing[0][0].as<std::string>()) {
      try {
        tx.exec_params("UPDATE zones SET kind = $2 WHERE name = $1", zone, *request.kind);
      } catch (const pqxx::sql_error& e) {
        throw zone_file_error("cannot change the kind of zone " + zone + ": " + sql_message(e));
      }
      result.kind_changed = true;
    }
    for (const auto& row : tx.exec_params(
             "SELECT id::text, name, type, ttl, content, disabled FROM records WHERE zone = $1 "
             "ORDER BY disabled, id",
             zone)) {
      stored_row s;
      s.id = row[0].as<std::string>();
      s.rec.name = row[1].as<std::string>();
      s.rec.type = row[2].as<std::string>();
      s.rec.ttl = row[3].as<std::uint32_t>();
      s.rec.content = row[4].as<std::string>();
      s.disabled = row[5].as<bool>();
      stored.push_back(std::move(s));
    }
  }

  // The diff. Rows are matched on (name, type, content); the SOA on its type
  // alone, since the zone has exactly one and its id is fixed.
  std::unordered_map<std::string, std::vector<stored_row*>> by_key;
  stored_row* stored_soa = nullptr;
  for (auto& s : stored) {
    if (s.rec.type == "SOA" && !stored_soa) {
      stored_soa = &s;
    } else {
      by_key[key_of(s.rec)].push_back(&s);
    }
  }
  struct update {
    const stored_row* row;
    const text_record* rec;
  };
  std::vector<update> updates;
  std::vector<const text_record*> inserts;
  for (const auto& r : records) {
    if (&r == soa && stored_soa) {
      stored_soa->used = true;
      if (r.ttl != stored_soa->rec.ttl || stored_soa->disabled ||
          !same_soa_but_serial(r.content, stored_soa->rec.content)) {
        updates.push_back({stored_soa, &r});
      }
      continue;
    }
    auto it = by_key.find(key_of(r));
    stored_row* match = nullptr;
    if (it != by_key.end()) {
      for (auto* s : it->second) {
        if (!s->used) {
          match = s;
          break;
        }
      }
    }
    if (!match) {
      inserts.push_back(&r);
      continue;
    }
    match->used = true;
    if (match->rec.ttl != r.ttl || match->disabled) updates.push_back({match, &r});
  }

  // Each RRset the file changes is replaced whole (zonemesh.replace_rrset,
  // sql/README.md "The conflict rules"): its rows go and the file's are
  // written, one decision that a newer replace made elsewhere overrules
  // whole. RRsets the file leaves as they are stay untouched. The SOA, one
  // row with a fixed id, is updated in place. Replaces first, so that a
  // CNAME may replace other data at its name; then the inserts, the SOA of
  // a new zone first.
  std::set<std::pair<std::string, std::string>> changed;
  for (const auto& s : stored) {
    if (s.used) continue;
    changed.emplace(s.rec.name, s.rec.type);
    ++result.removed;
  }
  for (const auto& u : updates) {
    if (u.rec->type != "SOA") changed.emplace(u.rec->name, u.rec->type);
    ++result.updated;
  }
  for (const auto* r : inserts) {
    changed.emplace(r->name, r->type);
    ++result.added;
  }
  for (const auto& [name, type] : changed) {
    if (type == "SOA" || result.created) continue;
    text_record rrset;
    rrset.name = name;
    rrset.type = type;
    write_record(tx, rrset, "replace", "SELECT zonemesh.replace_rrset($1, $2, $3)", zone, name, type);
  }
  for (const auto& u : updates) {
    if (u.rec->type != "SOA") continue;
    write_record(tx, *u.rec, "update",
                 "UPDATE records SET ttl = $2, content = $3, disabled = false WHERE id = $1::uuid",
                 u.row->id, static_cast<long long>(u.rec->ttl), u.rec->content);
  }
  std::vector<const text_record*> writes;
  for (const auto& r : records) {
    if (r.type == "SOA" ? result.created : changed.contains({r.name, r.type})) writes.push_back(&r);
  }
  std::stable_partition(writes.begin(), writes.end(),
                        [](const text_record* r) { return r->type == "SOA"; });
  for (const auto* r : writes) {
    write_record(tx, *r, "insert",
                 "INSERT INTO records (zone, name, type, ttl, content) VALUES ($1, $2, $3, $4, $5)",
                 zone, r->name, r->type, static_cast<long long>(r->ttl), r->content);
  }

  try {
    tx.commit();
  } catch (const pqxx::sql_error& e) {
    throw zone_file_error("cannot import zone " + zone + ": " + sql_message(e));
  }
  return result;
}

export_result export_zone(pqxx::connection_base& conn, const std::string& zone) {
  export_result result;
  // One snapshot for the records and the serial.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn, "export-zone");
  try {
    result.zone = tx.exec_params1("SELECT zonemesh.canonical_name($1, 'zone name')", zone)[0]
                      .as<std::string>();
  } catch (const pqxx::sql_error& e) {
    throw zone_file_error(sql_message(e));
  }
  if (tx.exec_params("SELECT 1 FROM zones WHERE name = $1", result.zone).empty()) {
    throw zone_file_error("zone " + result.zone + " does not exist");
  }
  result.serial = static_cast<std::uint32_t>(
      tx.exec_params1("SELECT zonemesh.zone_serial($1)", result.zone)[0].as<long long>());

  std::vector<text_record> records;
  for (const auto& row : tx.exec_params(
           "SELECT name, type, ttl, content FROM records WHERE zone = $1 AND NOT disabled",
           result.zone)) {
    text_record r;
    r.name = row[0].as<std::string>();
    r.type = row[1].as<std::string>();
    r.ttl = row[2].as<std::uint32_t>();
    r.content = row[3].as<std::string>();
    if (r.type == "SOA") {
      auto f = fields(r.content);
      if (f.size() == 7) {
        f[2] = std::to_string(result.serial);
        r.content.clear();
        for (const auto& x : f) r.content += (r.content.empty() ? "" : " ") + x;
      }
    }
    records.push_back(std::move(r));
  }
  tx.commit();

  std::vector<std::pair<std::vector<std::string>, const text_record*>> keyed;
  for (const auto& r : records) keyed.emplace_back(reversed_labels(r.name), &r);
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    const int ra = type_rank(a.second->type), rb = type_rank(b.second->type);
    if (ra != rb) return ra < rb;
    if (a.second->type != b.second->type) return a.second->type < b.second->type;
    return a.second->content < b.second->content;
  });
  std::vector<text_record> ordered;
  for (const auto& [key, r] : keyed) ordered.push_back(*r);

  std::string error;
  std::string body = zonefile::format_zone_file(ordered, error);
  if (!error.empty()) throw zone_file_error("cannot export zone " + result.zone + ": " + error);
  result.records = ordered.size();
  result.text = "; zone " + result.zone + ", serial " + std::to_string(result.serial) + ", " +
                std::to_string(result.records) + " records, exported by zonemesh-admin\n$ORIGIN " +
                result.zone + ".\n" + body;
  return result;
}

}  // namespace zonemesh::admin
