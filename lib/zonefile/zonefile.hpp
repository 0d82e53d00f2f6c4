#pragma once
// Load-time ldns glue: record text (PowerDNS presentation) to wire RDATA and
// back, BIND zone file import and export. Never used per packet.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.hpp"
#include "store/zone.hpp"

namespace zonemesh::zonefile {

/// One record as the database holds it: names without trailing dots, content
/// in presentation format with absolute names that have no trailing dot
/// (MX "10 mail.example.com", TXT "\"v=spf1 -all\"").
struct text_record {
  std::string name;
  std::string type;
  std::uint32_t ttl = 0;
  std::string content;
  bool operator==(const text_record&) const = default;
};

/// Converts one record to wire form. Returns an empty string on success,
/// else a message naming the record and what is wrong with it.
std::string to_wire(const text_record& rec, store::record& out);

/// The same from views (the fields of a COPY row, say), for bulk loads:
/// nothing is copied for the common types, `out`'s RDATA buffer is reused,
/// and with `owner_parsed` `out.owner` already holds `name` parsed (the
/// previous record's owner) and is not parsed again. On an error `out` is
/// left unspecified.
std::string to_wire(std::string_view name, std::string_view type, std::uint32_t ttl, std::string_view content,
                    store::record& out, bool owner_parsed = false);

/// The other way: wire RDATA to PowerDNS-style content.
std::string to_text(const store::record& rec, text_record& out);

struct zone_file_result {
  std::vector<text_record> records;
  std::vector<int> lines;  ///< per record, the line of the file where it starts
  std::string error;       ///< empty on success; names the line otherwise
};

/// Parses a BIND-style zone file (RFC 1035 5; $ORIGIN, $TTL, relative names).
/// `origin` is used for relative names until a $ORIGIN says otherwise.
/// Known types in RFC 3597 generic form come out in their usual form; a
/// TXT or SPF string longer than 255 octets is split into 255-octet strings,
/// as BIND and Knot do when loading.
zone_file_result parse_zone_file(std::string_view text, std::string_view origin,
                                 std::uint32_t default_ttl = 3600);

/// The zone-file text with every quoted string of a TXT or SPF record that is
/// longer than 255 octets split into strings of 255 octets (line numbers are
/// kept). Exposed for tests.
std::string split_long_strings(std::string_view text);

/// Formats records as a zone file with absolute names (SOA first when present).
/// Returns an empty string in `error` on success.
std::string format_zone_file(std::span<const text_record> records, std::string& error);

}  // namespace zonemesh::zonefile
