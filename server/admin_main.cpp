// zonemesh-admin: schema migrations, site identity, zone-file import and export.

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
      "serial\n",
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
  std::printf("imported %s: %zu records (added %zu, removed %zu, updated %zu)\n", r.zone.c_str(),
              r.records, r.added, r.removed, r.updated);
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

}  // namespace

int main(int argc, char** argv) {
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
