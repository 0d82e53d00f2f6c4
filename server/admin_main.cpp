// zonemesh-admin: schema migrations, site identity, zone-file import and export,
// DNSSEC keys.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "db/migrations.hpp"
#include "dnssec/key.hpp"
#include "dnssec_admin.hpp"
#include "zone_import.hpp"

namespace {

void usage() {
  std::fputs(
      "usage: zonemesh-admin COMMAND [options]\n"
      "  migrate --db CONNINFO [--node SITE]   apply the schema migrations this binary\n"
      "                                        carries; with --node, set the site's id once\n"
      "  schema-version --db CONNINFO          print the database's and this binary's versions\n"
      "  import-zone --db CONNINFO --zone NAME --file PATH [--replace]\n"
      "              [--kind native|primary|secondary]\n"
      "                                        load a BIND zone file in one transaction; creates\n"
      "                                        the zone, or with --replace makes an existing\n"
      "                                        zone's records equal to the file's\n"
      "  export-zone --db CONNINFO --zone NAME [--file PATH]\n"
      "                                        write the zone's enabled records as a zone file\n"
      "                                        (to stdout without --file), with the served "
      "serial\n"
      "  dnssec enable ZONE --db CONNINFO [--algorithm ecdsap256|ed25519|rsasha256] [--csk]\n"
      "              [--nsec3 '1 0 0 -']\n"
      "                                        create a KSK and a ZSK (or one CSK); every site\n"
      "                                        signs the zone with them\n"
      "  dnssec disable ZONE --db CONNINFO     delete the zone's keys (remove the DS at the\n"
      "                                        parent first)\n"
      "  dnssec show ZONE --db CONNINFO        the keys, their states, DNSKEY and DS records\n"
      "  dnssec ds ZONE --db CONNINFO          the DS records to give the parent\n"
      "  dnssec nsec3 ZONE --db CONNINFO [--nsec3 '1 0 0 -']\n"
      "                                        set NSEC3 parameters, or without --nsec3 use NSEC\n"
      "  dnssec rollover-zsk ZONE --db CONNINFO --step 1|2|3\n"
      "  dnssec rollover-ksk ZONE --db CONNINFO --step 1|2\n"
      "                                        one step of a ZSK pre-publish or KSK double-\n"
      "                                        signature rollover (docs/dnssec.md)\n",
      stderr);
}

struct options {
  std::string command;
  std::string db;
  std::string node;
  std::string zone;
  std::string file;
  bool replace = false;
  std::optional<std::string> kind;
};

options parse(int argc, char** argv) {
  options o;
  if (argc < 2) throw std::invalid_argument("no command given");
  o.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--db") {
      o.db = value("--db");
    } else if (a == "--node") {
      o.node = value("--node");
    } else if (a == "--zone") {
      o.zone = value("--zone");
    } else if (a == "--file") {
      o.file = value("--file");
    } else if (a == "--replace") {
      o.replace = true;
    } else if (a == "--kind") {
      o.kind = value("--kind");
      if (*o.kind != "native" && *o.kind != "primary" && *o.kind != "secondary") {
        throw std::invalid_argument("--kind must be native, primary or secondary");
      }
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.db.empty()) throw std::invalid_argument("--db CONNINFO is required");
  const bool zone_command = o.command == "import-zone" || o.command == "export-zone";
  if (zone_command && o.zone.empty()) throw std::invalid_argument("--zone NAME is required");
  if (o.command == "import-zone" && o.file.empty()) {
    throw std::invalid_argument("--file PATH is required");
  }
  if (!zone_command && (!o.zone.empty() || !o.file.empty() || o.replace || o.kind)) {
    throw std::invalid_argument(
        "--zone, --file, --replace and --kind belong to import-zone and "
        "export-zone");
  }
  if (o.command != "import-zone" && (o.replace || o.kind)) {
    throw std::invalid_argument("--replace and --kind belong to import-zone");
  }
  return o;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error("cannot read " + path);
  return text.str();
}

int import_zone(pqxx::connection& conn, const options& o) {
  zonemesh::admin::import_request request;
  request.zone = o.zone;
  request.text = read_text_file(o.file);
  request.source = o.file;
  request.replace = o.replace;
  request.kind = o.kind;
  const auto r = zonemesh::admin::import_zone(conn, request);
  for (const auto& w : r.warnings) std::fprintf(stderr, "zonemesh-admin: warning: %s\n", w.c_str());
  if (r.created) std::printf("created zone %s\n", r.zone.c_str());
  if (r.kind_changed) std::printf("zone %s is now %s\n", r.zone.c_str(), o.kind->c_str());
  std::printf("imported %s: %zu records (added %zu, removed %zu, updated %zu", r.zone.c_str(),
              r.records, r.added, r.removed, r.updated);
  if (r.skipped_out_of_zone > 0)
    std::printf("; skipped %zu outside the zone", r.skipped_out_of_zone);
  std::printf(")\n");
  return 0;
}

int export_zone(pqxx::connection& conn, const options& o) {
  const auto r = zonemesh::admin::export_zone(conn, o.zone);
  if (o.file.empty()) {
    std::fwrite(r.text.data(), 1, r.text.size(), stdout);
    if (std::fflush(stdout) != 0) throw std::runtime_error("cannot write the zone to stdout");
    std::fprintf(stderr, "exported %s: %zu records, serial %u\n", r.zone.c_str(), r.records,
                 r.serial);
    return 0;
  }
  // Write beside the target and rename, so a failed export never leaves half a file.
  const std::string tmp = o.file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << r.text;
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error("cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), o.file.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp + " to " + o.file);
  }
  std::printf("exported %s: %zu records, serial %u, to %s\n", r.zone.c_str(), r.records, r.serial,
              o.file.c_str());
  return 0;
}

struct dnssec_options {
  std::string action;
  std::string zone;
  std::string db;
  int algorithm = zonemesh::dnssec::algorithm::ecdsap256sha256;
  bool csk = false;
  std::optional<std::string> nsec3;
  int step = 0;
};

dnssec_options parse_dnssec(int argc, char** argv) {
  dnssec_options o;
  if (argc < 4) throw std::invalid_argument("usage: dnssec ACTION ZONE --db CONNINFO");
  o.action = argv[2];
  o.zone = argv[3];
  for (int i = 4; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--db") {
      o.db = value("--db");
    } else if (a == "--algorithm") {
      const auto text = value("--algorithm");
      o.algorithm = zonemesh::dnssec::algorithm_from_string(text);
      if (o.algorithm == 0) {
        throw std::invalid_argument("--algorithm " + text +
                                    ": use ecdsap256 (13), ed25519 (15) or rsasha256 (8)");
      }
    } else if (a == "--csk") {
      o.csk = true;
    } else if (a == "--nsec3") {
      o.nsec3 = value("--nsec3");
    } else if (a == "--step") {
      const auto text = value("--step");
      if (text.size() != 1 || text[0] < '1' || text[0] > '3') {
        throw std::invalid_argument("--step must be 1, 2 or 3");
      }
      o.step = text[0] - '0';
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.db.empty()) throw std::invalid_argument("--db CONNINFO is required");
  static const char* actions[] = {"enable", "disable", "show", "ds",
                                  "nsec3", "rollover-zsk", "rollover-ksk"};
  if (std::none_of(std::begin(actions), std::end(actions),
                   [&](const char* x) { return o.action == x; })) {
    throw std::invalid_argument("unknown dnssec action " + o.action);
  }
  const bool rollover = o.action.starts_with("rollover-");
  if (rollover != (o.step != 0)) {
    throw std::invalid_argument(rollover ? "--step N is required" : "--step belongs to rollover-zsk and rollover-ksk");
  }
  if (o.action != "enable" && o.csk) throw std::invalid_argument("--csk belongs to dnssec enable");
  if (o.nsec3 && o.action != "enable" && o.action != "nsec3") {
    throw std::invalid_argument("--nsec3 belongs to dnssec enable and dnssec nsec3");
  }
  return o;
}

std::string canonical_zone(pqxx::transaction_base& tx, const std::string& zone) {
  return tx.exec_params1("SELECT zonemesh.canonical_name($1, 'zone name')", zone)[0].c_str();
}

void print_keys(pqxx::transaction_base& tx, const std::string& zone) {
  const auto keys = zonemesh::admin::list_dnssec_keys(tx, zone);
  const auto nsec3 = zonemesh::admin::zone_nsec3param(tx, zone);
  const bool signed_zone =
      std::any_of(keys.begin(), keys.end(), [](const auto& k) { return k.active; });
  std::printf("zone %s: %s, %s, %zu key(s)\n", zone.c_str(), signed_zone ? "signed" : "not signed",
              nsec3.empty() ? "NSEC" : ("NSEC3 " + nsec3).c_str(), keys.size());
  for (const auto& k : keys) {
    std::string role = k.role;
    for (auto& c : role) c = static_cast<char>(c - 'a' + 'A');
    std::printf("%s tag %u %s %d bits, %s, %s; id %s, created %s\n", role.c_str(), k.tag,
                zonemesh::dnssec::algorithm_name(k.algorithm).c_str(), k.bits,
                k.published ? "published" : "not published", k.active ? "signing" : "not signing",
                k.id.c_str(), k.created.c_str());
    if (!k.problem.empty()) {
      std::printf("  unusable key: %s\n", k.problem.c_str());
      continue;
    }
    std::printf("  %s. IN DNSKEY %s\n", zone.c_str(), k.dnskey.c_str());
    for (const auto& ds : k.ds) std::printf("  %s. IN DS %s\n", zone.c_str(), ds.c_str());
  }
}

int dnssec_command(const dnssec_options& o) {
  pqxx::connection conn(o.db);
  pqxx::work tx(conn);
  const std::string zone = canonical_zone(tx, o.zone);
  if (o.action == "show") {
    print_keys(tx, zone);
    return 0;
  }
  if (o.action == "ds") {
    int printed = 0;
    for (const auto& k : zonemesh::admin::list_dnssec_keys(tx, zone)) {
      if (k.flags != zonemesh::dnssec::key_flags::ksk || !k.published || !k.active) continue;
      for (const auto& ds : k.ds) {
        std::printf("%s. IN DS %s\n", zone.c_str(), ds.c_str());
        ++printed;
      }
    }
    if (printed == 0) throw std::runtime_error("zone " + zone + " has no published, active KSK");
    return 0;
  }
  if (o.action == "enable") {
    const auto ids =
        zonemesh::admin::enable_dnssec(tx, zone, o.algorithm, o.csk, o.nsec3.value_or(""));
    tx.commit();
    std::printf("zone %s: created %zu key(s); every site signs it now\n", zone.c_str(),
                ids.size());
    pqxx::read_transaction rtx(conn);
    print_keys(rtx, zone);
    std::printf("give the parent the DS records above (zonemesh-admin dnssec ds %s)\n",
                zone.c_str());
    return 0;
  }
  if (o.action == "disable") {
    const auto n = zonemesh::admin::disable_dnssec(tx, zone);
    tx.commit();
    std::printf("zone %s: deleted %zu key(s); every site serves it unsigned now\n", zone.c_str(), n);
    return 0;
  }
  if (o.action == "nsec3") {
    zonemesh::admin::set_nsec3param(tx, zone, o.nsec3.value_or(""));
    tx.commit();
    pqxx::read_transaction rtx(conn);
    const auto p = zonemesh::admin::zone_nsec3param(rtx, zone);
    std::printf("zone %s: %s\n", zone.c_str(), p.empty() ? "NSEC" : ("NSEC3 " + p).c_str());
    return 0;
  }
  const auto r = o.action == "rollover-zsk" ? zonemesh::admin::rollover_zsk(tx, zone, o.step)
                                            : zonemesh::admin::rollover_ksk(tx, zone, o.step);
  tx.commit();
  std::printf("zone %s, %s step %d: %s\n", zone.c_str(), o.action.c_str(), o.step, r.done.c_str());
  if (!r.next.empty()) std::printf("next: %s\n", r.next.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "dnssec") == 0) {
    dnssec_options d;
    try {
      d = parse_dnssec(argc, argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zonemesh-admin: %s\n", e.what());
      usage();
      return 2;
    }
    try {
      return dnssec_command(d);
    } catch (const pqxx::sql_error& e) {
      std::string m = e.what();
      if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
      if (m.starts_with("ERROR:")) m.erase(0, m.find_first_not_of(' ', 6));
      std::fprintf(stderr, "zonemesh-admin: %s\n", m.c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zonemesh-admin: %s\n", e.what());
      return 1;
    }
  }
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zonemesh-admin: %s\n", e.what());
    usage();
    return 2;
  }
  try {
    pqxx::connection conn(o.db);
    if (o.command == "migrate") {
      auto r = zonemesh::db::migrate(conn);
      for (const auto& name : r.applied) std::printf("applied %s\n", name.c_str());
      std::printf("schema at version %d (was %d)\n", r.to_version, r.from_version);
      if (!o.node.empty()) {
        zonemesh::db::set_node_id(conn, o.node);
        std::printf("node id %s\n", o.node.c_str());
      }
      return 0;
    }
    if (o.command == "schema-version") {
      pqxx::read_transaction tx(conn);
      auto v = tx.exec1(
          "SELECT CASE WHEN to_regclass('zonemesh.schema_migrations') IS NULL THEN 0 "
          "ELSE (SELECT coalesce(max(version), 0) FROM zonemesh.schema_migrations) END");
      std::printf("database %d, binary %d\n", v[0].as<int>(), zonemesh::db::newest_known_version());
      return 0;
    }
    if (o.command == "import-zone") return import_zone(conn, o);
    if (o.command == "export-zone") return export_zone(conn, o);
    std::fprintf(stderr, "zonemesh-admin: unknown command %s\n", o.command.c_str());
    usage();
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zonemesh-admin: %s\n", e.what());
    return 1;
  }
}
