// The PowerDNS-compatible HTTP API and zonemesh's cluster endpoint. Every
// write is plain SQL on the replicated tables in one transaction, so it
// passes the validation triggers, is served by this site's DNS at once and
// replicates like any other write. Error bodies are {"error": "..."} with the
// database's own message for refused data (422).
#include "api.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api_format.hpp"
#include "common/metrics.hpp"
#include "dnssec/key.hpp"
#include "dnssec_admin.hpp"
#include "http_server.hpp"
#include "zone_import.hpp"
#include "zonefile/zonefile.hpp"

namespace zonemesh::server {

namespace {

using json = nlohmann::json;
namespace af = api_format;

/// The numeric PowerDNS version clients see: tools parse it to pick API
/// behaviour (octoDNS: 404 for an unknown zone from 4.2, soa_edit_api DEFAULT
/// from 4.3), so it names the PowerDNS release whose API this one follows.
constexpr std::string_view pdns_compatible_version = "4.7.3";
constexpr std::string_view server_url = "/api/v1/servers/localhost";
constexpr std::string_view default_soa_mname = "a.misconfigured.dns.server.invalid";
/// RRset comments live in zone_metadata under this kind, one row per comment
/// ({"name", "type", "content", "account", "modified_at"} as JSON), so they
/// replicate and go with their zone like any metadata. The metadata endpoints
/// neither show nor accept it.
constexpr std::string_view comment_kind = "X-ZONEMESH-RRSET-COMMENT";
/// A zone's "masters" (its primaries' addresses), kept the same way.
constexpr std::string_view masters_kind = "X-ZONEMESH-MASTERS";

bool reserved_kind(std::string_view kind) { return kind == comment_kind || kind == masters_kind; }

/// A refusal inside a handler: becomes {"error": message} with `status`.
struct api_error : std::runtime_error {
  api_error(int s, const std::string& m) : std::runtime_error(m), status(s) {}
  int status;
};

http_response json_response(int status, const json& body) {
  auto res = http_response::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
  res.headers.emplace_back("Cache-Control", "no-store");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return res;
}

http_response error_response(int status, const std::string& message) {
  return json_response(status, json{{"error", message}});
}

http_response no_content() {
  http_response res;
  res.status = 204;
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

/// The first line of a PostgreSQL error without "ERROR:": the trigger's message.
std::string sql_message(const std::exception& e) {
  std::string m = e.what();
  if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  constexpr std::string_view prefix = "ERROR:";
  if (m.compare(0, prefix.size(), prefix) == 0) m.erase(0, prefix.size());
  m.erase(0, m.find_first_not_of(' '));
  return m;
}

std::string lower(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

/// A name as the API gives it ("www.Example.com.") in the stored form the SQL
/// would make of it, for lookups; the SQL still checks it on write.
std::string stored_name(std::string name) {
  name = lower(std::move(name));
  while (!name.empty() && (name.back() == ' ')) name.pop_back();
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  return name;
}

bool inside_zone(const std::string& name, const std::string& zone) {
  return name == zone || (name.size() > zone.size() + 1 && name.ends_with("." + zone) &&
                          name[name.size() - zone.size() - 1] == '.');
}

json parse_body(const http_request& req) {
  if (req.body.empty()) throw api_error(400, "a JSON body is required");
  try {
    json body = json::parse(req.body);
    if (!body.is_object()) throw api_error(400, "the body must be a JSON object");
    return body;
  } catch (const json::parse_error& e) {
    throw api_error(400, std::string("Unable to parse JSON: ") + e.what());
  }
}

std::string string_field(const json& obj, const char* key, bool required,
                         const std::string& def = {}) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required)
      throw api_error(422, std::string("Key '") + key + "' not present or not a String");
    return def;
  }
  if (!it->is_string()) throw api_error(422, std::string("Key '") + key + "' is not a String");
  return it->get<std::string>();
}

bool bool_field(const json& obj, const char* key, bool def) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean()) throw api_error(422, std::string("Key '") + key + "' is not a Boolean");
  return it->get<bool>();
}

std::optional<long long> ttl_field(const json& obj) {
  const auto it = obj.find("ttl");
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) throw api_error(422, "Key 'ttl' is not an Integer");
  const auto ttl = it->get<long long>();
  if (ttl < 0 || ttl > 2147483647) {
    throw api_error(422, "TTL " + std::to_string(ttl) + " is out of range 0..2147483647");
  }
  return ttl;
}

const json& array_field(const json& obj, const char* key) {
  static const json empty = json::array();
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return empty;
  if (!it->is_array()) throw api_error(422, std::string("Key '") + key + "' is not an Array");
  return *it;
}

/// A record type as the API gives it, checked for shape ("A", "aaaa").
std::string record_type(const json& rrset) {
  std::string type = upper(string_field(rrset, "type", true));
  if (type.empty() || type.size() > 16 || !std::all_of(type.begin(), type.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      })) {
    throw api_error(422, "RRset type \"" + type + "\" is not a record type");
  }
  return type;
}

struct wanted_record {
  std::string content;  // normalized by zonemesh.check_content
  bool disabled = false;
};

struct stored_record {
  std::string id;
  std::string content;
  long long ttl = 0;
  bool disabled = false;
};

/// The records of an rrset in the request, each content normalized by the
/// same SQL function the trigger uses (so its error is the trigger's).
std::vector<wanted_record> wanted_records(pqxx::work& tx, const json& rrset,
                                          const std::string& name, const std::string& type) {
  std::vector<wanted_record> out;
  for (const auto& r : array_field(rrset, "records")) {
    if (!r.is_object()) throw api_error(422, "each entry of 'records' must be an object");
    wanted_record w;
    const std::string raw = string_field(r, "content", true);
    w.disabled = bool_field(r, "disabled", false);
    const auto row = tx.exec_params1("SELECT zonemesh.check_content($1, $2, $3)", type, raw, name);
    w.content = row[0].c_str();
    for (const auto& o : out) {
      if (o.content == w.content) {
        throw api_error(422, "Duplicate record in RRset " + af::absolute(name) + " IN " + type +
                                 " with content \"" + w.content + "\"");
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

/// Replaces the comments of (owner, type) with the rrset's "comments", when
/// the request has that key (PowerDNS: absent means "leave them").
void write_comments(pqxx::work& tx, const std::string& zone, const std::string& owner,
                    const std::string& type, const json& rrset, bool remove_only = false) {
  if (!remove_only && !rrset.contains("comments")) return;
  tx.exec_params(
      "DELETE FROM zone_metadata WHERE zone = $1 AND kind = $2 "
      "AND content::jsonb ->> 'name' = $3 AND content::jsonb ->> 'type' = $4",
      zone, std::string(comment_kind), owner, type);
  if (remove_only) return;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const json& comments = rrset.at("comments");
  if (!comments.is_array()) throw api_error(422, "Key 'comments' is not an Array");
  for (const auto& c : comments) {
    if (!c.is_object()) throw api_error(422, "each entry of 'comments' must be an object");
    json row = {{"name", owner},
                {"type", type},
                {"content", string_field(c, "content", true)},
                {"account", string_field(c, "account", false)},
                {"modified_at", now}};
    if (const auto m = c.find("modified_at"); m != c.end() && m->is_number_integer()) {
      row["modified_at"] = m->get<long long>();
    }
    tx.exec_params(
        "INSERT INTO zone_metadata (zone, kind, content) VALUES ($1, $2, $3) ON CONFLICT DO "
        "NOTHING",
        zone, std::string(comment_kind), row.dump());
  }
}

/// Sets a zone's masters from the request's "masters", when it has that key.
void write_masters(pqxx::work& tx, const std::string& zone, const json& body) {
  const auto it = body.find("masters");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_array()) throw api_error(422, "Key 'masters' is not an Array");
  tx.exec_params("DELETE FROM zone_metadata WHERE zone = $1 AND kind = $2", zone,
                 std::string(masters_kind));
  for (const auto& m : *it) {
    if (!m.is_string() || m.get<std::string>().empty() ||
        m.get<std::string>().find_first_of(" \t") != std::string::npos) {
      throw api_error(422, "masters must be addresses, e.g. \"192.0.2.1\" or \"192.0.2.1:5300\"");
    }
    tx.exec_params(
        "INSERT INTO zone_metadata (zone, kind, content) VALUES ($1, $2, $3) ON CONFLICT DO "
        "NOTHING",
        zone, std::string(masters_kind), m.get<std::string>());
  }
}

/// A zone created or changed with "dnssec": true gets a KSK and a ZSK
/// (ECDSAP256SHA256) when it has no keys; "nsec3param" sets NSEC3.
void write_dnssec(pqxx::work& tx, const std::string& zone, bool dnssec, const std::string& nsec3) {
  try {
    if (dnssec &&
        tx.exec_params1("SELECT count(*) FROM dnssec_keys WHERE zone = $1", zone)[0].as<int>() == 0) {
      admin::enable_dnssec(tx, zone, dnssec::algorithm::ecdsap256sha256, false, nsec3);
    } else if (!nsec3.empty()) {
      admin::set_nsec3param(tx, zone, nsec3);
    }
  } catch (const pqxx::failure&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw api_error(422, e.what());
  }
}

std::vector<stored_record> stored_rrset(pqxx::work& tx, const std::string& zone,
                                        const std::string& name, const std::string& type) {
  std::vector<stored_record> out;
  for (const auto& row :
       tx.exec_params("SELECT id::text, content, ttl, disabled FROM records "
                      "WHERE zone = $1 AND name = $2 AND type = $3 ORDER BY content, id",
                      zone, name, type)) {
    out.push_back(
        {row[0].c_str(), row[1].c_str(), row[2].as<long long>(), row[3].as<bool>()});
  }
  return out;
}

void insert_record(pqxx::work& tx, const std::string& zone, const std::string& name,
                   const std::string& type, long long ttl, const wanted_record& w) {
  tx.exec_params(
      "INSERT INTO records (zone, name, type, ttl, content, disabled) VALUES ($1, $2, $3, $4, $5, "
      "$6)",
      zone, name, type, ttl, w.content, w.disabled);
}

/// REPLACE: the rrset becomes exactly `want`, as one decision that a newer
/// replace made elsewhere overrules whole and an older one never mixes into
/// (zonemesh.replace_rrset, sql/README.md "The conflict rules"). Without a
/// TTL the RRset keeps its own.
void replace_rrset(pqxx::work& tx, const std::string& zone, const std::string& name,
                   const std::string& type, std::optional<long long> ttl,
                   const std::vector<wanted_record>& want) {
  const auto have = stored_rrset(tx, zone, name, type);
  long long new_ttl = 3600;
  if (ttl) {
    new_ttl = *ttl;
  } else if (!have.empty()) {
    new_ttl = std::min_element(have.begin(), have.end(), [](const auto& a, const auto& b) {
                return a.ttl < b.ttl;
              })->ttl;
  }
  // The same RRset again is no change (external-dns re-sends what it wants).
  const bool same =
      !have.empty() && have.size() == want.size() &&
      std::all_of(have.begin(), have.end(), [&](const stored_record& h) {
        return h.ttl == new_ttl && std::any_of(want.begin(), want.end(), [&](const wanted_record& w) {
                 return w.content == h.content && w.disabled == h.disabled;
               });
      });
  if (same) return;
  tx.exec_params("SELECT zonemesh.replace_rrset($1, $2, $3)", zone, name, type);
  for (const auto& w : want) insert_record(tx, zone, name, type, new_ttl, w);
}

std::string random_base64(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < raw.size(); i += 3) {
    const unsigned v = (raw[i] << 16) | ((i + 1 < raw.size() ? raw[i + 1] : 0) << 8) |
                       (i + 2 < raw.size() ? raw[i + 2] : 0);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < raw.size() ? alphabet[(v >> 6) & 63] : '=';
    out += i + 2 < raw.size() ? alphabet[v & 63] : '=';
  }
  return out;
}

std::vector<std::string> path_segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

}  // namespace

// ---- the API -----------------------------------------------------------------------

struct api::impl {
  impl(api_options o, common::metrics::registry& m)
      : options(std::move(o)),
        metrics(m),
        started(std::chrono::steady_clock::now()),
        limiter(options.auth_limits),
        auth_failures(m.add_counter("zonemesh_api_auth_failures_total",
                                    "API requests with a wrong or missing X-API-Key (answered 401)")),
        auth_refused(m.add_counter("zonemesh_api_auth_refused_total",
                                   "API requests refused with 429: their address sent too many wrong keys")),
        auth_blocked(m.add_gauge("zonemesh_api_auth_blocked_addresses",
                                 "Client addresses refused for now for sending too many wrong keys")) {}

  api_options options;
  const common::metrics::registry& metrics;
  std::chrono::steady_clock::time_point started;
  std::unique_ptr<pqxx::connection> conn;  // used on the HTTP background thread only
  // Key guessing, per client address (background thread only, like conn).
  auth_limiter limiter;
  common::metrics::counter& auth_failures;
  common::metrics::counter& auth_refused;
  common::metrics::gauge& auth_blocked;
  std::chrono::steady_clock::time_point auth_blocked_updated{};
  /// 401, or 429 once the address has sent too many wrong keys.
  http_response refuse_key(const http_request& req);

  pqxx::connection& db() {
    if (conn && !conn->is_open()) conn.reset();
    if (!conn) {
      // An unreachable database must fail a request soon, not hold every
      // API request queued behind it.
      std::string conninfo = options.conninfo;
      if (conninfo.find("connect_timeout") == std::string::npos) {
        if (conninfo.find("://") == std::string::npos) {
          conninfo += " connect_timeout=5";
        } else {
          conninfo +=
              conninfo.find('?') == std::string::npos ? "?connect_timeout=5" : "&connect_timeout=5";
        }
      }
      conn = std::make_unique<pqxx::connection>(conninfo);
      pqxx::nontransaction setup(*conn);
      setup.exec("SET application_name = 'zonemesh-api'; SET statement_timeout = '60s'");
    }
    return *conn;
  }

  http_response handle(const http_request& req);
  http_response route(const http_request& req);

  // servers
  json server_json() const;
  http_response statistics(const http_request& req);
  http_response cluster();
  http_response search(const http_request& req);
  // zones
  http_response list_zones(const http_request& req);
  http_response create_zone(const http_request& req);
  http_response get_zone(const http_request& req, const std::string& zone);
  http_response put_zone(const http_request& req, const std::string& zone);
  http_response patch_zone(const http_request& req, const std::string& zone);
  http_response delete_zone(const std::string& zone);
  http_response export_zone(const std::string& zone);
  // metadata
  http_response metadata(const http_request& req, const std::string& zone,
                         const std::optional<std::string>& kind);
  // TSIG keys
  http_response tsigkeys(const http_request& req, const std::optional<std::string>& id);
  // DNSSEC keys
  http_response cryptokeys(const http_request& req, const std::string& zone,
                           const std::optional<std::string>& key_id);

  /// The zone as PowerDNS shows it; `serial` is read when not given.
  json zone_json(pqxx::transaction_base& tx, const std::string& zone, const std::string& kind,
                 bool with_rrsets, const http_request* filters,
                 std::optional<long long> known_serial = std::nullopt,
                 std::optional<json> known_masters = std::nullopt,
                 std::optional<std::pair<bool, std::string>> known_dnssec = std::nullopt);
  /// The zone's stored name and kind; 404 when it does not exist.
  std::pair<std::string, std::string> find_zone(pqxx::transaction_base& tx,
                                                const std::string& zone);
};

http_response api::impl::refuse_key(const http_request& req) {
  const auto now = std::chrono::steady_clock::now();
  if (now - auth_blocked_updated >= std::chrono::seconds(1)) {
    auth_blocked_updated = now;
    auth_blocked.set(static_cast<double>(limiter.blocked_count(now)));
  }
  if (const long long wait = limiter.blocked_for(req.peer, now); wait > 0) {
    auth_refused.inc();
    auto res = error_response(429, "Too many wrong API keys from " + req.peer + "; try again later");
    res.headers.emplace_back("Retry-After", std::to_string(wait));
    return res;
  }
  if (options.api_key.empty()) {  // the API is off: nothing to guess
    return error_response(401, "Unauthorized: the API is disabled (no api_key configured)");
  }
  auth_failures.inc();
  if (limiter.failed(req.peer, now)) {
    // Once per block and address; never the key that was sent.
    spdlog::warn("API key guessing: {} wrong or missing API keys from {} within {} s; refusing it (429) "
                 "for {} s (api_auth_max_failures, api_auth_window_s, api_auth_block_s)",
                 options.auth_limits.max_failures, req.peer, options.auth_limits.window.count(),
                 options.auth_limits.block.count());
    auth_blocked.set(static_cast<double>(limiter.blocked_count(now)));
  }
  spdlog::debug("API {} {} from {}: 401 (no or wrong X-API-Key)", req.method, req.path, req.peer);
  return error_response(401, "Unauthorized");
}

http_response api::impl::handle(const http_request& req) {
  const auto now = std::chrono::steady_clock::now();
  if (limiter.blocked_for(req.peer, now) > 0 || !has_api_key(req, options.api_key)) return refuse_key(req);
  limiter.succeeded(req.peer);
  try {
    return route(req);
  } catch (const api_error& e) {
    return error_response(e.status, e.what());
  } catch (const json::exception& e) {
    return error_response(422, std::string("invalid JSON value: ") + e.what());
  } catch (const pqxx::broken_connection& e) {
    conn.reset();
    spdlog::warn("API {} {}: database connection lost: {}", req.method, req.path, sql_message(e));
    return error_response(503, "the database is unavailable; try again");
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    if (state.starts_with("22") || state.starts_with("23") || state == "P0001") {
      return error_response(422, sql_message(e));
    }
    if (state.starts_with("40")) return error_response(409, sql_message(e));
    spdlog::error("API {} {}: database error {}: {}", req.method, req.path, state, sql_message(e));
    return error_response(500, sql_message(e));
  } catch (const admin::zone_file_error& e) {
    return error_response(422, e.what());
  } catch (const pqxx::failure& e) {
    conn.reset();
    spdlog::error("API {} {}: {}", req.method, req.path, e.what());
    return error_response(503, "database failure; try again");
  } catch (const std::exception& e) {
    spdlog::error("API {} {}: {}", req.method, req.path, e.what());
    return error_response(500, "internal error");
  }
}

http_response api::impl::route(const http_request& req) {
  const auto s = path_segments(req.path);
  const std::string& m = req.method;
  const bool get = m == "GET" || m == "HEAD";
  const auto not_allowed = [] { return error_response(405, "Method not allowed"); };
  const auto not_found = [] { return error_response(404, "Not Found"); };

  if (s.size() == 1) {  // /api
    if (!get) return not_allowed();
    return json_response(200, json::array({{{"url", "/api/v1"}, {"version", 1}}}));
  }
  if (s.size() < 3 || s[1] != "v1") return not_found();
  if (s[2] == "cluster") {
    if (s.size() != 3) return not_found();
    if (!get) return not_allowed();
    return cluster();
  }
  if (s[2] != "servers") return not_found();
  if (s.size() == 3) {
    if (!get) return not_allowed();
    return json_response(200, json::array({server_json()}));
  }
  if (s[3] != "localhost") return not_found();
  if (s.size() == 4) {
    if (!get) return not_allowed();
    return json_response(200, server_json());
  }
  const std::string& what = s[4];
  if (what == "config" && s.size() == 5) {
    if (!get) return not_allowed();
    return json_response(
        200, json::array({
                 {{"type", "ConfigSetting"}, {"name", "api"}, {"value", "yes"}},
                 {{"type", "ConfigSetting"}, {"name", "launch"}, {"value", "zonemesh"}},
                 {{"type", "ConfigSetting"}, {"name", "server-id"}, {"value", options.node}},
             }));
  }
  if (what == "statistics" && s.size() == 5) {
    if (!get) return not_allowed();
    return statistics(req);
  }
  if (what == "search-data" && s.size() == 5) {
    if (!get) return not_allowed();
    return search(req);
  }
  if (what == "tsigkeys") {
    if (s.size() == 5) {
      if (!get && m != "POST") return not_allowed();
      return tsigkeys(req, std::nullopt);
    }
    if (s.size() == 6) {
      if (!get && m != "PUT" && m != "DELETE") return not_allowed();
      return tsigkeys(req, s[5]);
    }
    return not_found();
  }
  if (what != "zones") return not_found();
  if (s.size() == 5) {
    if (get) return list_zones(req);
    if (m == "POST") return create_zone(req);
    return not_allowed();
  }
  const auto name = af::zone_name_from_id(s[5]);
  if (!name) throw api_error(404, "Could not find domain '" + s[5] + "'");
  const std::string zone = stored_name(*name);
  if (s.size() == 6) {
    if (get) return get_zone(req, zone);
    if (m == "PUT") return put_zone(req, zone);
    if (m == "PATCH") return patch_zone(req, zone);
    if (m == "DELETE") return delete_zone(zone);
    return not_allowed();
  }
  const std::string& sub = s[6];
  if (sub == "export" && s.size() == 7) {
    if (!get) return not_allowed();
    return export_zone(zone);
  }
  // A collection under the zone: GET/POST on it, GET/PUT/DELETE on one item.
  auto collection = [&](auto handler) {
    if (s.size() == 7) {
      if (!get && m != "POST") return not_allowed();
      return (this->*handler)(req, zone, std::nullopt);
    }
    if (s.size() == 8) {
      if (!get && m != "PUT" && m != "DELETE") return not_allowed();
      return (this->*handler)(req, zone, s[7]);
    }
    return not_found();
  };
  if (sub == "metadata") return collection(&impl::metadata);
  if ((sub == "notify" || sub == "rectify") && s.size() == 7) {
    if (m != "PUT") return not_allowed();
    pqxx::read_transaction tx(db());
    find_zone(tx, zone);
    // Every site serves the change at once; there is nothing to rectify or notify.
    return json_response(200,
                         json{{"result", sub == "notify" ? "Notification queued" : "Rectified"}});
  }
  if (sub == "cryptokeys") return collection(&impl::cryptokeys);
  return not_found();
}

json api::impl::server_json() const {
  return {{"type", "Server"},
          {"id", "localhost"},
          {"daemon_type", "authoritative"},
          {"version", std::string(pdns_compatible_version)},
          {"url", std::string(server_url)},
          {"config_url", std::string(server_url) + "/config{/config_setting}"},
          {"zones_url", std::string(server_url) + "/zones{/zone}"},
          {"zonemesh_node", options.node}};
}

std::pair<std::string, std::string> api::impl::find_zone(pqxx::transaction_base& tx,
                                                         const std::string& zone) {
  const auto r = tx.exec_params("SELECT name, kind FROM zones WHERE name = $1", zone);
  if (r.empty()) throw api_error(404, "Could not find domain '" + af::absolute(zone) + "'");
  return {r[0][0].c_str(), r[0][1].c_str()};
}

json api::impl::zone_json(pqxx::transaction_base& tx, const std::string& zone,
                          const std::string& kind, bool with_rrsets, const http_request* filters,
                          std::optional<long long> known_serial,
                          std::optional<json> known_masters,
                          std::optional<std::pair<bool, std::string>> known_dnssec) {
  const long long serial =
      known_serial ? *known_serial
                   : tx.exec_params1("SELECT zonemesh.zone_serial($1)", zone)[0].as<long long>();
  const std::string id = af::zone_id(zone);
  json masters = json::array();
  if (known_masters) {
    masters = std::move(*known_masters);
  } else {
    for (const auto& row : tx.exec_params(
             "SELECT content FROM zone_metadata WHERE zone = $1 AND kind = $2 ORDER BY content",
             zone, std::string(masters_kind))) {
      masters.push_back(row[0].c_str());
    }
  }
  if (!known_dnssec) {
    const auto row = tx.exec_params1(
        "SELECT zone_is_signed($1), coalesce((SELECT content FROM zone_metadata WHERE zone = $1 "
        "AND kind = 'NSEC3PARAM' ORDER BY content LIMIT 1), '')",
        zone);
    known_dnssec.emplace(row[0].as<bool>(), row[1].c_str());
  }
  json z = {{"account", ""},
            {"api_rectify", false},
            {"catalog", ""},
            {"dnssec", known_dnssec->first},
            {"edited_serial", serial},
            {"id", id},
            {"kind", af::kind_to_api(kind)},
            {"last_check", 0},
            {"master_tsig_key_ids", json::array()},
            {"masters", std::move(masters)},
            {"name", af::absolute(zone)},
            {"notified_serial", 0},
            {"nsec3narrow", false},
            {"nsec3param", known_dnssec->second},
            {"serial", serial},
            {"slave_tsig_key_ids", json::array()},
            {"soa_edit", ""},
            {"soa_edit_api", "DEFAULT"},
            {"type", "Zone"},
            {"url", std::string(server_url) + "/zones/" + id}};
  if (!with_rrsets) return z;
  std::string sql =
      // One TTL per RRset, the one the DNS server serves (the lowest).
      "SELECT name, type, min(ttl) OVER (PARTITION BY name, type), content, disabled FROM records "
      "WHERE zone = $1 "
      "AND ($2 = '' OR name = $2) AND ($3 = '' OR type = $3) AND ($4 OR NOT disabled) "
      "ORDER BY name, type, content";
  std::string name_filter;
  std::string type_filter;
  bool include_disabled = true;
  if (filters != nullptr) {
    if (auto n = filters->query_param("rrset_name")) name_filter = stored_name(*n);
    if (auto t = filters->query_param("rrset_type")) type_filter = upper(*t);
    if (auto d = filters->query_param("include_disabled"))
      include_disabled = *d != "false" && *d != "0";
  }
  json rrsets = json::array();
  json* current = nullptr;
  std::string cur_name;
  std::string cur_type;
  for (const auto& row : tx.exec_params(sql, zone, name_filter, type_filter, include_disabled)) {
    const std::string name = row[0].c_str();
    const std::string type = row[1].c_str();
    if (current == nullptr || name != cur_name || type != cur_type) {
      rrsets.push_back({{"name", af::absolute(name)},
                        {"type", type},
                        {"ttl", row[2].as<long long>()},
                        {"records", json::array()},
                        {"comments", json::array()}});
      current = &rrsets.back();
      cur_name = name;
      cur_type = type;
    }
    (*current)["records"].push_back(
        {{"content",
          af::content_to_api(type, row[3].c_str(),
                             type == "SOA" ? std::optional<long long>(serial) : std::nullopt)},
         {"disabled", row[4].as<bool>()}});
  }
  // Comments, onto their rrsets; an rrset with comments and no records is
  // shown with no records, as PowerDNS shows it.
  for (const auto& row : tx.exec_params(
           "SELECT content FROM zone_metadata WHERE zone = $1 AND kind = $2 ORDER BY content", zone,
           std::string(comment_kind))) {
    const json c = json::parse(row[0].c_str(), nullptr, false);
    if (!c.is_object() || !c.contains("name") || !c.contains("type")) continue;
    const std::string name = c.value("name", "");
    const std::string type = c.value("type", "");
    if ((!name_filter.empty() && name != name_filter) ||
        (!type_filter.empty() && type != type_filter)) {
      continue;
    }
    auto it = std::find_if(rrsets.begin(), rrsets.end(), [&](const json& r) {
      return r["name"] == af::absolute(name) && r["type"] == type;
    });
    if (it == rrsets.end()) {
      rrsets.push_back({{"name", af::absolute(name)},
                        {"type", type},
                        {"ttl", 0},
                        {"records", json::array()},
                        {"comments", json::array()}});
      it = rrsets.end() - 1;
    }
    (*it)["comments"].push_back({{"content", c.value("content", "")},
                                 {"account", c.value("account", "")},
                                 {"modified_at", c.value("modified_at", 0LL)}});
  }
  z["rrsets"] = std::move(rrsets);
  return z;
}

http_response api::impl::list_zones(const http_request& req) {
  pqxx::read_transaction tx(db());
  std::string only;
  if (auto z = req.query_param("zone")) only = stored_name(*z);
  json out = json::array();
  for (const auto& row :
       tx.exec_params("SELECT z.name, z.kind, coalesce(((s.max_hlc >> 16) / 1000 + s.changes) % "
                      "4294967296, 0), "
                      "  (SELECT coalesce(json_agg(m.content ORDER BY m.content), '[]')::text FROM "
                      "zone_metadata m "
                      "    WHERE m.zone = z.name AND m.kind = $2), "
                      "  EXISTS (SELECT 1 FROM dnssec_keys k WHERE k.zone = z.name AND k.active) "
                      "FROM zones z LEFT JOIN zonemesh.zone_state s ON s.zone = z.name "
                      "WHERE $1 = '' OR z.name = $1 ORDER BY z.name",
                      only, std::string(masters_kind))) {
    // The serial as zonemesh.zone_serial computes it, for every zone in one query.
    json z = zone_json(tx, row[0].c_str(), row[1].c_str(), false, nullptr, row[2].as<long long>(),
                       json::parse(row[3].c_str()),
                       std::make_pair(row[4].as<bool>(), std::string()));
    // PowerDNS lists zones with these fields only.
    json brief;
    for (const char* k : {"account", "catalog", "dnssec", "edited_serial", "id", "kind",
                          "last_check", "masters", "name", "notified_serial", "serial", "url"}) {
      brief[k] = z[k];
    }
    out.push_back(std::move(brief));
  }
  return json_response(200, out);
}

http_response api::impl::get_zone(const http_request& req, const std::string& zone) {
  pqxx::read_transaction tx(db());
  const auto [name, kind] = find_zone(tx, zone);
  const auto rrsets = req.query_param("rrsets");
  const bool with_rrsets = !rrsets || (*rrsets != "false" && *rrsets != "0");
  return json_response(200, zone_json(tx, name, kind, with_rrsets, &req));
}

http_response api::impl::create_zone(const http_request& req) {
  const json body = parse_body(req);
  const std::string given = string_field(body, "name", true);
  const std::string zone = stored_name(given);
  std::string kind = "native";
  if (auto k = string_field(body, "kind", false); !k.empty()) {
    auto stored = af::kind_from_api(k);
    if (!stored) throw api_error(422, "Zone kind '" + k + "' is not one of Native, Master, Slave");
    kind = *stored;
  }
  const json& rrsets = array_field(body, "rrsets");
  const json& nameservers = array_field(body, "nameservers");
  const std::string zone_text = string_field(body, "zone", false);
  const bool want_dnssec = bool_field(body, "dnssec", false);
  const std::string nsec3param = string_field(body, "nsec3param", false);

  {
    pqxx::read_transaction check(db());
    if (!check.exec_params("SELECT 1 FROM zones WHERE name = $1", zone).empty()) {
      throw api_error(409, "Domain '" + af::absolute(zone) + "' already exists");
    }
  }

  if (!zone_text.empty()) {
    if (!rrsets.empty()) throw api_error(422, "You cannot give rrsets AND zone data as text");
    admin::import_request ir;
    ir.zone = zone;
    ir.text = zone_text;
    // A zone transfer's dump (dig axfr), which PowerDNS takes here, repeats
    // the SOA at its end: exact repeats are dropped before the import.
    auto parsed = zonefile::parse_zone_file(zone_text, zone);
    if (parsed.error.empty()) {
      std::set<std::tuple<std::string, std::string, std::string>> seen_records;
      std::vector<zonefile::text_record> unique;
      for (auto& r : parsed.records) {
        if (seen_records.emplace(r.name, r.type, r.content).second) unique.push_back(std::move(r));
      }
      if (unique.size() != parsed.records.size()) {
        std::string format_error;
        std::string text = zonefile::format_zone_file(unique, format_error);
        if (format_error.empty()) ir.text = std::move(text);
      }
    }
    ir.source = "zone";
    ir.kind = kind;
    const auto result = admin::import_zone(db(), ir);
    if (body.contains("masters") || want_dnssec || !nsec3param.empty()) {
      pqxx::work tx(db());
      write_masters(tx, result.zone, body);
      write_dnssec(tx, result.zone, want_dnssec, nsec3param);
      tx.commit();
    }
    spdlog::info("API: zone {} created from zone text ({} records)", result.zone, result.records);
  } else {
    pqxx::work tx(db());
    tx.exec_params("INSERT INTO zones (name, kind) VALUES ($1, $2)", zone, kind);
    write_masters(tx, zone, body);
    const std::string canonical =
        tx.exec_params1(
              "SELECT name FROM zones WHERE name = zonemesh.canonical_name($1, 'zone name')",
              given)[0]
            .c_str();
    bool has_soa = false;
    bool has_apex_ns = false;
    std::set<std::pair<std::string, std::string>> seen;
    struct pending {
      std::string name, type;
      long long ttl;
      std::vector<wanted_record> records;
    };
    std::vector<pending> todo;
    for (const auto& rrset : rrsets) {
      if (!rrset.is_object()) throw api_error(422, "each entry of 'rrsets' must be an object");
      const std::string name = stored_name(string_field(rrset, "name", true));
      const std::string type = record_type(rrset);
      if (!inside_zone(name, canonical)) {
        throw api_error(422,
                        "RRset " + af::absolute(name) + " IN " + type + ": Name is out of zone");
      }
      if (!seen.emplace(name, type).second) {
        throw api_error(422, "RRset " + af::absolute(name) + " IN " + type + " is given twice");
      }
      has_soa = has_soa || type == "SOA";
      has_apex_ns = has_apex_ns || (type == "NS" && name == canonical);
      todo.push_back(
          {name, type, ttl_field(rrset).value_or(3600), wanted_records(tx, rrset, name, type)});
    }
    if (has_apex_ns && !nameservers.empty()) {
      throw api_error(422, "Nameservers list MUST NOT be mixed with zone-level NS in rrsets");
    }
    std::string first_ns(default_soa_mname);
    if (!nameservers.empty()) {
      if (!nameservers.front().is_string()) throw api_error(422, "nameservers must be strings");
      first_ns = nameservers.front().get<std::string>();
    }
    if (!has_soa) {
      // PowerDNS's default SOA, with the first name server as the primary.
      tx.exec_params(
          "INSERT INTO records (zone, name, type, ttl, content) VALUES ($1, $1, 'SOA', 3600, "
          "$2 || ' hostmaster.' || $1 || ' 0 10800 3600 604800 3600')",
          canonical, first_ns);
    }
    for (const auto& ns : nameservers) {
      if (!ns.is_string()) throw api_error(422, "nameservers must be strings");
      insert_record(tx, canonical, canonical, "NS", 3600, {ns.get<std::string>(), false});
    }
    for (const auto& rrset : rrsets) {
      write_comments(tx, canonical, stored_name(string_field(rrset, "name", true)),
                     record_type(rrset), rrset);
    }
    for (const auto& p : todo) {
      if (p.type == "SOA") {
        if (p.records.size() != 1) throw api_error(422, "a zone has exactly one SOA record");
        insert_record(tx, canonical, p.name, p.type, p.ttl, p.records.front());
      } else {
        for (const auto& w : p.records) insert_record(tx, canonical, p.name, p.type, p.ttl, w);
      }
    }
    write_dnssec(tx, canonical, want_dnssec, nsec3param);
    tx.commit();
  }
  pqxx::read_transaction tx(db());
  const auto [name, stored_kind] = find_zone(tx, zone);
  auto res = json_response(201, zone_json(tx, name, stored_kind, true, nullptr));
  res.headers.emplace_back("Location", std::string(server_url) + "/zones/" + af::zone_id(name));
  return res;
}

http_response api::impl::put_zone(const http_request& req, const std::string& zone) {
  const json body = parse_body(req);
  if (body.contains("rrsets")) throw api_error(422, "rrsets are changed with PATCH, not PUT");
  pqxx::work tx(db());
  const auto [name, kind] = find_zone(tx, zone);
  if (auto k = string_field(body, "kind", false); !k.empty()) {
    auto stored = af::kind_from_api(k);
    if (!stored) throw api_error(422, "Zone kind '" + k + "' is not one of Native, Master, Slave");
    if (*stored != kind)
      tx.exec_params("UPDATE zones SET kind = $2 WHERE name = $1", name, *stored);
  }
  write_masters(tx, name, body);
  // PowerDNS: "dnssec" secures or unsecures the zone, "nsec3param" sets NSEC3 ("" for NSEC).
  const bool is_signed = tx.exec_params1("SELECT zone_is_signed($1)", name)[0].as<bool>();
  if (const auto it = body.find("dnssec"); it != body.end() && !it->is_null()) {
    const bool want = bool_field(body, "dnssec", false);
    if (want && !is_signed) {
      write_dnssec(tx, name, true, string_field(body, "nsec3param", false));
    } else if (!want && is_signed) {
      admin::disable_dnssec(tx, name);
    }
  }
  if (const auto it = body.find("nsec3param"); it != body.end() && !it->is_null()) {
    const std::string p = string_field(body, "nsec3param", false);
    if (p != admin::zone_nsec3param(tx, name)) admin::set_nsec3param(tx, name, p);
  }
  tx.commit();
  return no_content();
}

http_response api::impl::patch_zone(const http_request& req, const std::string& zone) {
  const json body = parse_body(req);
  const json& rrsets = array_field(body, "rrsets");
  pqxx::work tx(db());
  const auto [name, kind] = find_zone(tx, zone);
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& rrset : rrsets) {
    if (!rrset.is_object()) throw api_error(422, "each entry of 'rrsets' must be an object");
    const std::string owner = stored_name(string_field(rrset, "name", true));
    const std::string type = record_type(rrset);
    const std::string changetype = upper(string_field(rrset, "changetype", true));
    const std::string label = af::absolute(owner) + " IN " + type;
    if (!inside_zone(owner, name)) throw api_error(422, "RRset " + label + ": Name is out of zone");
    if (!seen.emplace(owner, type).second) {
      throw api_error(422, "Duplicate RRset " + label + " with changetype: " + changetype);
    }
    const auto ttl = ttl_field(rrset);
    if (changetype == "DELETE") {  // a replace with nothing: it covers older adds made elsewhere
      tx.exec_params("SELECT zonemesh.replace_rrset($1, $2, $3)", name, owner, type);
      write_comments(tx, name, owner, type, rrset, true);
    } else if (changetype == "REPLACE") {
      write_comments(tx, name, owner, type, rrset);
      if (!rrset.contains("records")) continue;  // comments only
      replace_rrset(tx, name, owner, type, ttl, wanted_records(tx, rrset, owner, type));
    } else if (changetype == "EXTEND") {
      const auto want = wanted_records(tx, rrset, owner, type);
      const auto have = stored_rrset(tx, name, owner, type);
      const long long new_ttl = ttl ? *ttl : (have.empty() ? 3600 : have.front().ttl);
      for (const auto& w : want) {
        if (std::none_of(have.begin(), have.end(),
                         [&](const stored_record& h) { return h.content == w.content; })) {
          insert_record(tx, name, owner, type, new_ttl, w);
        }
      }
    } else if (changetype == "PRUNE") {
      for (const auto& w : wanted_records(tx, rrset, owner, type)) {
        tx.exec_params(
            "DELETE FROM records WHERE zone = $1 AND name = $2 AND type = $3 AND content = $4",
            name, owner, type, w.content);
      }
    } else {
      throw api_error(
          422, "Changetype '" + changetype + "' not understood (REPLACE, DELETE, EXTEND or PRUNE)");
    }
  }
  tx.commit();
  return no_content();
}

http_response api::impl::delete_zone(const std::string& zone) {
  pqxx::work tx(db());
  const auto [name, kind] = find_zone(tx, zone);
  tx.exec_params("DELETE FROM zones WHERE name = $1", name);
  tx.commit();
  return no_content();
}

http_response api::impl::export_zone(const std::string& zone) {
  {
    pqxx::read_transaction tx(db());
    find_zone(tx, zone);
  }
  const auto result = admin::export_zone(db(), zone);
  auto res = http_response::text(200, result.text);
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

http_response api::impl::metadata(const http_request& req, const std::string& zone,
                                  const std::optional<std::string>& kind_in) {
  const auto object = [](const std::string& kind, json values) {
    return json{{"type", "Metadata"}, {"kind", kind}, {"metadata", std::move(values)}};
  };
  const auto values_of = [](pqxx::transaction_base& tx, const std::string& z,
                            const std::string& k) {
    json values = json::array();
    for (const auto& row : tx.exec_params(
             "SELECT content FROM zone_metadata WHERE zone = $1 AND kind = $2 ORDER BY content", z,
             k)) {
      values.push_back(row[0].c_str());
    }
    return values;
  };
  const auto check_kind = [](const std::string& k) {
    if (k.empty() || k.size() > 64 || !std::all_of(k.begin(), k.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-';
        })) {
      throw api_error(422, "metadata kind \"" + k + "\" must be letters, digits and \"-\"");
    }
    const std::string u = upper(k);
    // As PowerDNS: kinds the server manages itself are not set through the API.
    if (reserved_kind(u))
      throw api_error(422, "Metadata kind '" + u + "' is reserved for zonemesh");
    for (const char* p :
         {"NSEC3NARROW", "NSEC3PARAM", "PRESIGNED", "LUA-AXFR-SCRIPT", "API-RECTIFY-SOA"}) {
      if (u == p) throw api_error(422, "Cannot modify protected metadata kind '" + u + "'");
    }
    return u;
  };
  const auto string_list = [](const json& body) {
    const auto it = body.find("metadata");
    if (it == body.end() || !it->is_array()) {
      throw api_error(422, "Key 'metadata' not present or not an Array");
    }
    std::vector<std::string> out;
    for (const auto& v : *it) {
      if (!v.is_string()) throw api_error(422, "metadata values must be strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  };
  const bool get = req.method == "GET" || req.method == "HEAD";

  if (!kind_in) {
    if (get) {
      pqxx::read_transaction tx(db());
      const auto [name, zkind] = find_zone(tx, zone);
      std::map<std::string, json> grouped;
      for (const auto& row :
           tx.exec_params("SELECT kind, content FROM zone_metadata WHERE zone = $1 AND kind <> $2 "
                          "AND kind <> $3 "
                          "ORDER BY kind, content",
                          name, std::string(comment_kind), std::string(masters_kind))) {
        auto& v = grouped[row[0].c_str()];
        if (v.is_null()) v = json::array();
        v.push_back(row[1].c_str());
      }
      json out = json::array();
      for (auto& [k, v] : grouped) out.push_back(object(k, std::move(v)));
      return json_response(200, out);
    }
    // POST: adds values to a kind; values already there stay.
    const json body = parse_body(req);
    const std::string kind = check_kind(string_field(body, "kind", true));
    const auto values = string_list(body);
    pqxx::work tx(db());
    const auto [name, zkind] = find_zone(tx, zone);
    for (const auto& v : values) {
      tx.exec_params(
          "INSERT INTO zone_metadata (zone, kind, content) VALUES ($1, $2, $3) ON CONFLICT DO "
          "NOTHING",
          name, kind, v);
    }
    json out = object(kind, values_of(tx, name, kind));
    tx.commit();
    return json_response(201, out);
  }
  const std::string kind = check_kind(*kind_in);
  if (get) {
    pqxx::read_transaction tx(db());
    const auto [name, zkind] = find_zone(tx, zone);
    return json_response(200, object(kind, values_of(tx, name, kind)));
  }
  pqxx::work tx(db());
  const auto [name, zkind] = find_zone(tx, zone);
  if (req.method == "DELETE") {
    tx.exec_params("DELETE FROM zone_metadata WHERE zone = $1 AND kind = $2", name, kind);
    tx.commit();
    return no_content();
  }
  // PUT: the kind's values become exactly the given ones.
  const json body = parse_body(req);
  const auto values = string_list(body);
  std::set<std::string> keep(values.begin(), values.end());
  for (const auto& row : tx.exec_params(
           "SELECT content FROM zone_metadata WHERE zone = $1 AND kind = $2", name, kind)) {
    if (!keep.contains(row[0].c_str())) {
      tx.exec_params("DELETE FROM zone_metadata WHERE zone = $1 AND kind = $2 AND content = $3",
                     name, kind, row[0].c_str());
    }
  }
  for (const auto& v : keep) {
    tx.exec_params(
        "INSERT INTO zone_metadata (zone, kind, content) VALUES ($1, $2, $3) ON CONFLICT DO "
        "NOTHING",
        name, kind, v);
  }
  json out = object(kind, values_of(tx, name, kind));
  tx.commit();
  return json_response(200, out);
}

http_response api::impl::tsigkeys(const http_request& req, const std::optional<std::string>& id) {
  const auto object = [](const std::string& name, const std::string& algorithm,
                         const std::string& key) {
    return json{{"type", "TSIGKey"},
                {"id", af::zone_id(name)},
                {"name", name},
                {"algorithm", algorithm},
                {"key", key}};
  };
  const auto find_key = [](pqxx::transaction_base& tx, const std::string& name) {
    const auto r =
        tx.exec_params("SELECT name, algorithm, secret FROM tsig_keys WHERE name = $1", name);
    if (r.empty()) throw api_error(404, "TSIG key with name '" + name + "' not found");
    return std::make_tuple(std::string(r[0][0].c_str()), std::string(r[0][1].c_str()),
                           std::string(r[0][2].c_str()));
  };
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (!id) {
    if (get) {
      pqxx::read_transaction tx(db());
      json out = json::array();
      for (const auto& row : tx.exec("SELECT name, algorithm FROM tsig_keys ORDER BY name")) {
        out.push_back(object(row[0].c_str(), row[1].c_str(), ""));  // secrets only one by one
      }
      return json_response(200, out);
    }
    const json body = parse_body(req);
    const std::string name = stored_name(string_field(body, "name", true));
    const std::string algorithm = lower(string_field(body, "algorithm", false, "hmac-sha256"));
    std::string key = string_field(body, "key", false);
    if (key.empty()) key = random_base64(32);
    pqxx::work tx(db());
    if (!tx.exec_params("SELECT 1 FROM tsig_keys WHERE name = $1", name).empty()) {
      throw api_error(409, "A TSIG key with the name '" + name + "' already exists");
    }
    tx.exec_params("INSERT INTO tsig_keys (name, algorithm, secret) VALUES ($1, $2, $3)", name,
                   algorithm, key);
    const auto [n, a, k] = find_key(tx, name);
    tx.commit();
    return json_response(201, object(n, a, k));
  }
  const auto decoded = af::zone_name_from_id(*id);
  if (!decoded) throw api_error(404, "TSIG key with id '" + *id + "' not found");
  const std::string name = stored_name(*decoded);
  if (get) {
    pqxx::read_transaction tx(db());
    const auto [n, a, k] = find_key(tx, name);
    return json_response(200, object(n, a, k));
  }
  pqxx::work tx(db());
  const auto [n, a, k] = find_key(tx, name);
  if (req.method == "DELETE") {
    tx.exec_params("DELETE FROM tsig_keys WHERE name = $1", n);
    tx.commit();
    return no_content();
  }
  const json body = parse_body(req);
  const std::string new_name = stored_name(string_field(body, "name", false, n));
  const std::string algorithm = lower(string_field(body, "algorithm", false, a));
  const std::string key = string_field(body, "key", false, k);
  if (new_name != n) {
    if (!tx.exec_params("SELECT 1 FROM tsig_keys WHERE name = $1", new_name).empty()) {
      throw api_error(409, "A TSIG key with the name '" + new_name + "' already exists");
    }
    tx.exec_params("DELETE FROM tsig_keys WHERE name = $1", n);
    tx.exec_params("INSERT INTO tsig_keys (name, algorithm, secret) VALUES ($1, $2, $3)", new_name,
                   algorithm, key);
  } else if (algorithm != a || key != k) {
    tx.exec_params("UPDATE tsig_keys SET algorithm = $2, secret = $3 WHERE name = $1", n, algorithm,
                   key);
  }
  const auto [n2, a2, k2] = find_key(tx, new_name);
  tx.commit();
  return json_response(200, object(n2, a2, k2));
}

http_response api::impl::cryptokeys(const http_request& req, const std::string& zone,
                                    const std::optional<std::string>& key_id) {
  // PowerDNS 4.7's Cryptokey object. Ids are numbers there: ours is derived
  // from the row's UUID (admin::numeric_key_id), which is given as
  // "zonemesh_id" and accepted in the URL too.
  const auto object = [](const admin::dnssec_key_info& k, bool with_private) {
    json o = {{"type", "Cryptokey"},
              {"id", admin::numeric_key_id(k.id)},
              {"zonemesh_id", k.id},
              {"active", k.active},
              {"published", k.published},
              {"keytype", k.role},
              {"flags", k.flags},
              {"dnskey", k.dnskey},
              {"algorithm", dnssec::algorithm_name(k.algorithm)},
              {"bits", k.bits}};
    if (k.flags == dnssec::key_flags::ksk) o["ds"] = k.ds;
    if (!k.problem.empty()) o["error"] = "the stored key cannot be used: " + k.problem;
    if (with_private) o["privatekey"] = k.private_key;
    return o;
  };
  const auto find_key = [&](pqxx::transaction_base& tx, const std::string& name,
                            const std::string& wanted, bool with_private) {
    const auto keys = admin::list_dnssec_keys(tx, name, with_private);
    std::vector<admin::dnssec_key_info> found;
    for (const auto& k : keys) {
      if (k.id == lower(wanted) || std::to_string(admin::numeric_key_id(k.id)) == wanted) {
        found.push_back(k);
      }
    }
    if (found.empty()) throw api_error(404, "Could not find a key with id " + wanted + " in " + af::absolute(name));
    if (found.size() > 1) {
      throw api_error(409, "Key id " + wanted + " names " + std::to_string(found.size()) +
                               " keys; use the zonemesh_id instead");
    }
    return found.front();
  };
  const bool get = req.method == "GET" || req.method == "HEAD";
  try {
    if (!key_id) {
      if (get) {
        pqxx::read_transaction tx(db());
        const auto [name, kind] = find_zone(tx, zone);
        json out = json::array();
        for (const auto& k : admin::list_dnssec_keys(tx, name)) out.push_back(object(k, false));
        return json_response(200, out);
      }
      // POST: generate a key, or import one with "privatekey" ("content" in old clients).
      const json body = parse_body(req);
      const std::string keytype = lower(string_field(body, "keytype", true));
      if (keytype != "ksk" && keytype != "zsk" && keytype != "csk") {
        throw api_error(422, "Invalid keytype " + keytype);
      }
      const int flags = keytype == "zsk" ? dnssec::key_flags::zsk : dnssec::key_flags::ksk;
      const bool active = bool_field(body, "active", false);
      const bool published = bool_field(body, "published", true);
      std::string privatekey = string_field(body, "privatekey", false);
      if (privatekey.empty()) privatekey = string_field(body, "content", false);
      int algorithm = 0;
      if (const auto a = body.find("algorithm"); a != body.end() && !a->is_null()) {
        if (a->is_number_integer()) {
          algorithm = a->get<int>();
          if (!dnssec::algorithm_supported(algorithm)) algorithm = 0;
        } else if (a->is_string()) {
          algorithm = dnssec::algorithm_from_string(a->get<std::string>());
        }
        if (algorithm == 0) {
          throw api_error(422, "Unknown algorithm: " + a->dump() +
                                   " (ECDSAP256SHA256, ED25519 and RSASHA256 are supported)");
        }
      }
      const bool has_bits = body.contains("bits") && !body["bits"].is_null();
      if (!privatekey.empty() && (algorithm != 0 || has_bits)) {
        throw api_error(422,
                        "Either you submit just the 'privatekey' field or you leave 'privatekey' "
                        "empty and submit the other fields.");
      }
      if (algorithm == 0) algorithm = dnssec::algorithm::ecdsap256sha256;
      if (has_bits) {
        if (!body["bits"].is_number_integer() || body["bits"].get<long long>() <= 0) {
          throw api_error(422, "'bits' must be a positive integer value");
        }
        const long long bits = body["bits"].get<long long>();
        const long long supported = algorithm == dnssec::algorithm::rsasha256 ? 2048 : 256;
        if (bits != supported) {
          throw api_error(422, "The algorithm does not support the given bit size (" +
                                   std::to_string(supported) + " bits here).");
        }
      }
      pqxx::work tx(db());
      const auto [name, kind] = find_zone(tx, zone);
      std::string id;
      try {
        id = admin::add_dnssec_key(tx, name, flags, privatekey.empty() ? algorithm : 0, active,
                                   published,
                                   privatekey.empty() ? std::nullopt
                                                      : std::optional<std::string>(privatekey));
      } catch (const pqxx::failure&) {
        throw;
      } catch (const std::runtime_error& e) {
        throw api_error(422, std::string("Key could not be parsed. Make sure your key format is "
                                         "correct: ") + e.what());
      }
      // A "csk" in a zone with a ZSK would be a KSK: PowerDNS makes that distinction by
      // the keys present too, so the answer shows what the key is.
      const auto k = find_key(tx, name, id, false);
      tx.commit();
      spdlog::info("API: zone {}: added {} key {} (tag {})", name, k.role, k.id, k.tag);
      return json_response(201, object(k, false));
    }
    if (get) {
      pqxx::read_transaction tx(db());
      const auto [name, kind] = find_zone(tx, zone);
      return json_response(200, object(find_key(tx, name, *key_id, true), true));
    }
    pqxx::work tx(db());
    const auto [name, kind] = find_zone(tx, zone);
    const auto k = find_key(tx, name, *key_id, false);
    if (req.method == "DELETE") {
      tx.exec_params("DELETE FROM dnssec_keys WHERE id = $1::uuid", k.id);
      tx.commit();
      spdlog::info("API: zone {}: deleted {} key {} (tag {})", name, k.role, k.id, k.tag);
      return no_content();
    }
    // PUT: {"active": bool} and/or {"published": bool}
    const json body = parse_body(req);
    if (!body.contains("active") && !body.contains("published")) {
      throw api_error(422, "Key 'active' or 'published' must be given");
    }
    const bool active = bool_field(body, "active", k.active);
    const bool published = bool_field(body, "published", k.published);
    if (active != k.active || published != k.published) {
      tx.exec_params("UPDATE dnssec_keys SET active = $2, published = $3 WHERE id = $1::uuid", k.id,
                     active, published);
    }
    tx.commit();
    return no_content();
  } catch (const pqxx::failure&) {
    throw;
  } catch (const api_error&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw api_error(422, e.what());
  }
}

http_response api::impl::statistics(const http_request& req) {
  json items = json::array();
  const auto add = [&](const std::string& name, const std::string& value) {
    items.push_back({{"type", "StatisticItem"}, {"name", name}, {"value", value}});
  };
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
          .count();
  add("uptime", std::to_string(uptime));
  {
    pqxx::read_transaction tx(db());
    const auto row = tx.exec1(
        "SELECT (SELECT count(*) FROM zones), (SELECT count(*) FROM records),"
        " (SELECT count(*) FROM records WHERE disabled), (SELECT last_pos FROM zonemesh.node)");
    add("zones", row[0].c_str());
    add("records", row[1].c_str());
    add("records-disabled", row[2].c_str());
    add("changelog-position", row[3].c_str());
  }
  // The server's own metrics without labels, as in /metrics.
  const std::string text = metrics.render();
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line.front() == '#' || line.find('{') != std::string_view::npos) continue;
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    add(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  if (auto only = req.query_param("statistic")) {
    json filtered = json::array();
    for (const auto& i : items) {
      if (i["name"] == *only) filtered.push_back(i);
    }
    if (filtered.empty()) throw api_error(422, "Unknown statistic name");
    return json_response(200, filtered);
  }
  return json_response(200, items);
}

http_response api::impl::search(const http_request& req) {
  const auto q = req.query_param("q");
  if (!q || q->empty()) throw api_error(422, "Query q can't be blank");
  long long max = 100;
  if (auto m = req.query_param("max")) {
    try {
      max = std::stoll(*m);
    } catch (const std::exception&) {
      throw api_error(422, "max must be a number");
    }
    if (max < 1) throw api_error(422, "max must be a positive number");
  }
  const std::string object_type = req.query_param("object_type").value_or("all");
  if (object_type != "all" && object_type != "zone" && object_type != "record" &&
      object_type != "comment") {
    throw api_error(422, "object_type must be one of all, zone, record, comment");
  }
  // '*' and '?' are the wildcards; everything else matches itself.
  const auto like_pattern = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '*') {
        out += '%';
      } else if (c == '?') {
        out += '_';
      } else {
        if (c == '%' || c == '_' || c == '\\') out += '\\';
        out += c;
      }
    }
    return out;
  };
  const std::string pattern = like_pattern(stored_name(*q));
  const std::string raw_pattern = like_pattern(*q);
  pqxx::read_transaction tx(db());
  json out = json::array();
  if (object_type == "all" || object_type == "zone") {
    for (const auto& row : tx.exec_params(
             "SELECT name FROM zones WHERE name ILIKE $1 ORDER BY name LIMIT $2", pattern, max)) {
      const std::string z = row[0].c_str();
      out.push_back(
          {{"object_type", "zone"}, {"name", af::absolute(z)}, {"zone_id", af::zone_id(z)}});
    }
  }
  if (object_type == "all" || object_type == "record") {
    for (const auto& row : tx.exec_params(
             "SELECT zone, name, type, ttl, content, disabled FROM records "
             "WHERE name ILIKE $1 OR content ILIKE $2 ORDER BY zone, name, type, content LIMIT $3",
             pattern, raw_pattern, max)) {
      const std::string z = row[0].c_str();
      const std::string type = row[2].c_str();
      out.push_back({{"object_type", "record"},
                     {"name", af::absolute(row[1].c_str())},
                     {"type", type},
                     {"ttl", row[3].as<long long>()},
                     {"content", af::content_to_api(type, row[4].c_str())},
                     {"disabled", row[5].as<bool>()},
                     {"zone", af::absolute(z)},
                     {"zone_id", af::zone_id(z)}});
    }
  }
  if (static_cast<long long>(out.size()) > max) out.erase(out.begin() + max, out.end());
  return json_response(200, out);
}

http_response api::impl::cluster() {
  pqxx::read_transaction tx(db());
  const auto row = tx.exec1(
      "SELECT zonemesh.node_id(), zonemesh.version_vector()::text,"
      " (SELECT count(*) FROM zonemesh.apply_errors), (SELECT count(*) FROM zonemesh.conflicts),"
      " (SELECT coalesce(json_agg(json_build_object("
      "     'node', p.peer, 'address', p.address, 'port', p.port, 'connected', p.connected,"
      "     'last_contact', to_char(p.last_contact AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
      "     'last_error', p.last_error, 'clock_offset_ms', p.clock_offset_ms,"
      "     'changes_behind', p.changes_behind, 'seconds_behind', p.seconds_behind) ORDER BY "
      "p.peer),"
      "   '[]')::text FROM zonemesh.peer_status p),"
      " (SELECT last_pos FROM zonemesh.node)");
  const std::string me = row[0].c_str();
  json sites = json::array();
  sites.push_back({{"node", me},
                   {"self", true},
                   {"connected", true},
                   {"changes_behind", 0},
                   {"seconds_behind", 0.0}});
  for (auto& peer : json::parse(row[4].c_str())) {
    peer["self"] = false;
    sites.push_back(std::move(peer));
  }
  json vector = json::parse(row[1].c_str());
  return json_response(200, json{{"node", me},
                                 {"sites", std::move(sites)},
                                 {"version_vector", std::move(vector)},
                                 {"apply_errors", row[2].as<long long>()},
                                 {"conflicts", row[3].as<long long>()},
                                 {"changelog_position", row[5].as<long long>()}});
}

api::api(api_options options, common::metrics::registry& metrics)
    : impl_(std::make_unique<impl>(std::move(options), metrics)) {}

api::~api() = default;

void api::add_routes(http_router& router) {
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    router.add_prefix_background(method, "/api",
                                 [this](const http_request& req) { return impl_->handle(req); });
  }
}

}  // namespace zonemesh::server
