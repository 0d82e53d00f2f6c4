// Schema migrations: applies the embedded sql/ files once each, in order.

#include "db/migrations.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

#include <pqxx/pqxx>

namespace zonemesh::db {
namespace {

// A stable checksum of a migration's text (FNV-1a 64), so a database whose
// applied migration differs from ours is noticed.
std::string checksum(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = digits[h & 0xf];
  return out;
}

constexpr long long migration_lock_key = 0x7a6d6d6967726174;  // "zmmigrat"

void ensure_bookkeeping(pqxx::connection_base& conn) {
  pqxx::work tx(conn);
  tx.exec0(
      "CREATE SCHEMA IF NOT EXISTS zonemesh;"
      "CREATE TABLE IF NOT EXISTS zonemesh.schema_migrations ("
      "  version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
      "  applied_at timestamptz NOT NULL DEFAULT now())");
  tx.commit();
}

int database_version(pqxx::connection_base& conn) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec1(
      "SELECT CASE WHEN to_regclass('zonemesh.schema_migrations') IS NULL THEN -1 ELSE 0 END");
  if (r[0].as<int>() < 0) return 0;
  return tx.exec1("SELECT coalesce(max(version), 0) FROM zonemesh.schema_migrations")[0].as<int>();
}

void check_not_newer(int db_version) {
  if (db_version > newest_known_version()) {
    throw schema_error("the database schema is at version " + std::to_string(db_version) +
                             ", newer than this zonemesh binary knows (" +
                             std::to_string(newest_known_version()) +
                             "); upgrade zonemesh before running it against this database");
  }
}

}  // namespace

int newest_known_version() {
  const auto& all = embedded_migrations();
  return all.empty() ? 0 : all.back().version;
}

migrate_result migrate(pqxx::connection_base& conn) {
  ensure_bookkeeping(conn);
  migrate_result result;
  {
    // One runner at a time; a second one waits, then finds nothing to do.
    pqxx::nontransaction lock(conn);
    lock.exec_params("SELECT pg_advisory_lock($1)", migration_lock_key);
  }
  try {
    result.from_version = database_version(conn);
    check_not_newer(result.from_version);
    for (const auto& m : embedded_migrations()) {
      pqxx::work tx(conn);
      auto applied = tx.exec_params("SELECT checksum FROM zonemesh.schema_migrations WHERE version = $1",
                                    m.version);
      if (!applied.empty()) {
        if (applied[0][0].as<std::string>() != checksum(m.sql)) {
          throw schema_error("migration " + std::string(m.name) +
                                   " was applied to this database with different content; "
                                   "refusing to continue (was sql/ edited after release?)");
        }
        continue;
      }
      tx.exec0(std::string(m.sql));
      tx.exec_params0("INSERT INTO zonemesh.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                      m.version, std::string(m.name), checksum(m.sql));
      tx.commit();
      result.applied.emplace_back(m.name);
    }
    result.to_version = database_version(conn);
  } catch (...) {
    pqxx::nontransaction unlock(conn);
    unlock.exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
    throw;
  }
  pqxx::nontransaction unlock(conn);
  unlock.exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
  return result;
}

void require_current_schema(pqxx::connection_base& conn) {
  int v = database_version(conn);
  check_not_newer(v);
  if (v < newest_known_version()) {
    throw schema_error("the database schema is at version " + std::to_string(v) +
                             ", older than this zonemesh binary needs (" +
                             std::to_string(newest_known_version()) +
                             "); run: zonemesh-admin migrate --db ...");
  }
}

void set_node_id(pqxx::connection_base& conn, const std::string& node_id) {
  pqxx::work tx(conn);
  auto cur = tx.exec1("SELECT node_id FROM zonemesh.node FOR UPDATE");
  if (!cur[0].is_null()) {
    auto existing = cur[0].as<std::string>();
    if (existing == node_id) return;
    throw std::runtime_error("this database belongs to node \"" + existing +
                             "\"; refusing to rename it to \"" + node_id +
                             "\" (a site's identity must not change under its data)");
  }
  tx.exec_params0("UPDATE zonemesh.node SET node_id = $1", node_id);
  tx.commit();
}

}  // namespace zonemesh::db
