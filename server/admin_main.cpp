// zonemesh-admin: schema migrations and site identity (zone files come later).

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "db/migrations.hpp"

namespace {

void usage() {
  std::fputs(
      "usage: zonemesh-admin COMMAND [options]\n"
      "  migrate --db CONNINFO [--node SITE]   apply the schema migrations this binary\n"
      "                                        carries; with --node, set the site's id once\n"
      "  schema-version --db CONNINFO          print the database's and this binary's versions\n",
      stderr);
}

struct options {
  std::string command;
  std::string db;
  std::string node;
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
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.db.empty()) throw std::invalid_argument("--db CONNINFO is required");
  return o;
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
    std::fprintf(stderr, "zonemesh-admin: unknown command %s\n", o.command.c_str());
    usage();
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zonemesh-admin: %s\n", e.what());
    return 1;
  }
}
