#pragma once
// zonemesh-admin's zone-file import and export: BIND zone files to and from
// the replicated tables, through plain SQL and the same triggers as any write.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace zonemesh::admin {

/// An import or export that was refused; what() says why (and names the line
/// or the record). Nothing was written.
class zone_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct import_request {
  std::string zone;                 ///< the zone's name, also the origin for relative names
  std::string text;                 ///< the zone file's content
  std::string source;               ///< where the text came from, for messages (a path)
  bool replace = false;             ///< an existing zone's records become the file's
  std::optional<std::string> kind;  ///< native, primary or secondary; new zones default to native
};

struct import_result {
  std::string zone;           ///< canonical name
  bool created = false;       ///< the zone did not exist before
  bool kind_changed = false;  ///< --kind changed an existing zone's kind
  std::size_t records = 0;    ///< records the zone holds from the file
  std::size_t added = 0;
  std::size_t removed = 0;
  std::size_t updated = 0;
  std::size_t skipped_out_of_zone = 0;  ///< file records whose owner lies outside the zone
  std::vector<std::string> warnings;    ///< records skipped and why
};

/// Parses `request.text` and writes it into the zone in one transaction:
/// creates the zone when it is missing; with `replace`, makes an existing
/// zone's records equal to the file's with a minimal diff (the SOA row is
/// updated in place, never replaced). RRSIG, NSEC, NSEC3 and NSEC3PARAM, and
/// records whose owner lies outside the zone, are skipped with a warning (the
/// latter naming the line). Throws zone_file_error, and writes nothing, when
/// the file does not parse, the zone exists
/// and `replace` is false, or the database refuses a record.
import_result import_zone(pqxx::connection_base& conn, const import_request& request);

struct export_result {
  std::string zone;  ///< canonical name
  std::string text;  ///< the zone file, SOA first
  std::size_t records = 0;
  std::uint32_t serial = 0;  ///< the served serial, written into the SOA
};

/// Reads a zone's enabled records and formats them as a zone file with
/// absolute names; the SOA carries the served serial (zonemesh.zone_serial),
/// not the one in its stored content. Throws zone_file_error for an unknown
/// zone or a record ldns cannot format.
export_result export_zone(pqxx::connection_base& conn, const std::string& zone);

}  // namespace zonemesh::admin
