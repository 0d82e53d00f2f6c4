#pragma once
// Schema migrations: the numbered sql/ files compiled into every binary, and
// the runner that applies them once and refuses a schema newer than it knows.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace zonemesh::db {

/// The database's schema is not one this binary can use (newer, older, or
/// different from what it applied). Not worth retrying: programs stop.
class schema_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

/// Every migration this binary knows, in version order (generated at build time).
const std::vector<migration>& embedded_migrations();

/// The newest schema version this binary understands.
int newest_known_version();

struct migrate_result {
  int from_version = 0;
  int to_version = 0;
  std::vector<std::string> applied;  ///< names of the migrations applied now
};

/// Applies every migration the database lacks, each in its own transaction,
/// and records it in zonemesh.schema_migrations. Throws schema_error
/// with a clear message when the database holds a newer schema than this
/// binary knows, or when an applied migration differs from the embedded one.
migrate_result migrate(pqxx::connection_base& conn);

/// For binaries that only use the schema: throws schema_error unless
/// the database is at exactly the version this binary knows.
void require_current_schema(pqxx::connection_base& conn);

/// Sets this database's node id (site name) once; throws when a different id
/// is already set, since a site's identity must never change under its data.
void set_node_id(pqxx::connection_base& conn, const std::string& node_id);

}  // namespace zonemesh::db
