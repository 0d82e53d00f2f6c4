#pragma once
// RR types, classes, opcodes and rcodes: numeric constants and mnemonics.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zonemesh::dns {

namespace rr_type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t md = 3;
inline constexpr std::uint16_t mf = 4;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t soa = 6;
inline constexpr std::uint16_t mb = 7;
inline constexpr std::uint16_t mg = 8;
inline constexpr std::uint16_t mr = 9;
inline constexpr std::uint16_t null_ = 10;
inline constexpr std::uint16_t wks = 11;
inline constexpr std::uint16_t ptr = 12;
inline constexpr std::uint16_t hinfo = 13;
inline constexpr std::uint16_t minfo = 14;
inline constexpr std::uint16_t mx = 15;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t rp = 17;
inline constexpr std::uint16_t afsdb = 18;
inline constexpr std::uint16_t rt = 21;
inline constexpr std::uint16_t key = 25;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t loc = 29;
inline constexpr std::uint16_t srv = 33;
inline constexpr std::uint16_t naptr = 35;
inline constexpr std::uint16_t kx = 36;
inline constexpr std::uint16_t cert = 37;
inline constexpr std::uint16_t dname = 39;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t apl = 42;
inline constexpr std::uint16_t ds = 43;
inline constexpr std::uint16_t sshfp = 44;
inline constexpr std::uint16_t ipseckey = 45;
inline constexpr std::uint16_t rrsig = 46;
inline constexpr std::uint16_t nsec = 47;
inline constexpr std::uint16_t dnskey = 48;
inline constexpr std::uint16_t dhcid = 49;
inline constexpr std::uint16_t nsec3 = 50;
inline constexpr std::uint16_t nsec3param = 51;
inline constexpr std::uint16_t tlsa = 52;
inline constexpr std::uint16_t smimea = 53;
inline constexpr std::uint16_t hip = 55;
inline constexpr std::uint16_t cds = 59;
inline constexpr std::uint16_t cdnskey = 60;
inline constexpr std::uint16_t openpgpkey = 61;
inline constexpr std::uint16_t csync = 62;
inline constexpr std::uint16_t zonemd = 63;
inline constexpr std::uint16_t svcb = 64;
inline constexpr std::uint16_t https = 65;
inline constexpr std::uint16_t spf = 99;
inline constexpr std::uint16_t nid = 104;
inline constexpr std::uint16_t l32 = 105;
inline constexpr std::uint16_t l64 = 106;
inline constexpr std::uint16_t lp = 107;
inline constexpr std::uint16_t eui48 = 108;
inline constexpr std::uint16_t eui64 = 109;
inline constexpr std::uint16_t tkey = 249;
inline constexpr std::uint16_t tsig = 250;
inline constexpr std::uint16_t ixfr = 251;
inline constexpr std::uint16_t axfr = 252;
inline constexpr std::uint16_t mailb = 253;
inline constexpr std::uint16_t maila = 254;
inline constexpr std::uint16_t any = 255;
inline constexpr std::uint16_t uri = 256;
inline constexpr std::uint16_t caa = 257;
}  // namespace rr_type

namespace rr_class {
inline constexpr std::uint16_t in = 1;
inline constexpr std::uint16_t ch = 3;
inline constexpr std::uint16_t hs = 4;
inline constexpr std::uint16_t none = 254;
inline constexpr std::uint16_t any = 255;
}  // namespace rr_class

namespace opcode {
inline constexpr std::uint8_t query = 0;
inline constexpr std::uint8_t iquery = 1;
inline constexpr std::uint8_t status = 2;
inline constexpr std::uint8_t notify = 4;
inline constexpr std::uint8_t update = 5;
}  // namespace opcode

namespace rcode {
inline constexpr std::uint16_t noerror = 0;
inline constexpr std::uint16_t formerr = 1;
inline constexpr std::uint16_t servfail = 2;
inline constexpr std::uint16_t nxdomain = 3;
inline constexpr std::uint16_t notimp = 4;
inline constexpr std::uint16_t refused = 5;
inline constexpr std::uint16_t yxdomain = 6;
inline constexpr std::uint16_t yxrrset = 7;
inline constexpr std::uint16_t nxrrset = 8;
inline constexpr std::uint16_t notauth = 9;
inline constexpr std::uint16_t notzone = 10;
inline constexpr std::uint16_t badvers = 16;    ///< extended rcode, needs OPT (RFC 6891)
inline constexpr std::uint16_t badcookie = 23;  ///< extended rcode, needs OPT (RFC 7873)
}  // namespace rcode

/// "A", "MX", ... or "TYPE65280" for types without a mnemonic (RFC 3597).
std::string type_to_string(std::uint16_t type);
/// Mnemonic (case-insensitive) or TYPEnnn to a number.
std::optional<std::uint16_t> type_from_string(std::string_view text);
/// "IN", "CH", ... or "CLASSnnn" (RFC 3597).
std::string class_to_string(std::uint16_t rrclass);
std::optional<std::uint16_t> class_from_string(std::string_view text);
/// "NOERROR", "NXDOMAIN", ... or the number.
std::string rcode_to_string(std::uint16_t rcode);

/// True for types whose RDATA names may be compressed on the wire and must
/// be decompressed by readers (RFC 3597 section 4: the RFC 1035 types only).
bool rdata_names_compressible(std::uint16_t type);
/// True for meta / query-only types that can never be stored in a zone.
bool is_meta_type(std::uint16_t type);

}  // namespace zonemesh::dns
