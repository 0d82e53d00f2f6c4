#pragma once
// The PowerDNS API's textual conventions, as pure functions: zone ids
// ("example.com." with "=2F"-style escapes), names with trailing dots, zone
// kinds (Native, Master, Slave) and record content with absolute names.

#include <optional>
#include <string>
#include <string_view>

namespace zonemesh::server::api_format {

/// "example.com" -> "example.com.": PowerDNS's absolute form of a stored name.
[[nodiscard]] std::string absolute(std::string_view stored_name);

/// A zone's API id, as PowerDNS forms it: the absolute name with every octet
/// other than a letter, digit, '.' or '-' written as "=XX" (uppercase hex),
/// so "1/24.example.com" -> "1=2F24.example.com.".
[[nodiscard]] std::string zone_id(std::string_view stored_name);

/// The other way; nullopt when an "=" is not followed by two hex digits.
/// The result keeps its trailing dot (the SQL canonicalizes it away).
[[nodiscard]] std::optional<std::string> zone_name_from_id(std::string_view id);

/// "native" -> "Native", "primary" -> "Master", "secondary" -> "Slave".
[[nodiscard]] std::string kind_to_api(std::string_view stored_kind);

/// Native / Master / Primary / Slave / Secondary, any case -> the stored kind;
/// nullopt for anything else.
[[nodiscard]] std::optional<std::string> kind_from_api(std::string_view api_kind);

/// Stored content (names without trailing dots) -> PowerDNS's API content
/// (absolute names with trailing dots) for NS, CNAME, PTR, DNAME, MX, SRV and
/// SOA; `serial`, when given, replaces a SOA's stored serial. Other types are
/// returned as stored.
[[nodiscard]] std::string content_to_api(std::string_view type, std::string_view content,
                                         std::optional<long long> serial = std::nullopt);

}  // namespace zonemesh::server::api_format
