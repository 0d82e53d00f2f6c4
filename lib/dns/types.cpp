// Mnemonic tables for RR types, classes and rcodes.
#include "dns/types.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace zonemesh::dns {
namespace {

struct mnemonic {
  std::uint16_t value;
  std::string_view text;
};

constexpr std::array type_names{
    mnemonic{rr_type::a, "A"},
    mnemonic{rr_type::ns, "NS"},
    mnemonic{rr_type::md, "MD"},
    mnemonic{rr_type::mf, "MF"},
    mnemonic{rr_type::cname, "CNAME"},
    mnemonic{rr_type::soa, "SOA"},
    mnemonic{rr_type::mb, "MB"},
    mnemonic{rr_type::mg, "MG"},
    mnemonic{rr_type::mr, "MR"},
    mnemonic{rr_type::null_, "NULL"},
    mnemonic{rr_type::wks, "WKS"},
    mnemonic{rr_type::ptr, "PTR"},
    mnemonic{rr_type::hinfo, "HINFO"},
    mnemonic{rr_type::minfo, "MINFO"},
    mnemonic{rr_type::mx, "MX"},
    mnemonic{rr_type::txt, "TXT"},
    mnemonic{rr_type::rp, "RP"},
    mnemonic{rr_type::afsdb, "AFSDB"},
    mnemonic{rr_type::rt, "RT"},
    mnemonic{rr_type::key, "KEY"},
    mnemonic{rr_type::aaaa, "AAAA"},
    mnemonic{rr_type::loc, "LOC"},
    mnemonic{rr_type::srv, "SRV"},
    mnemonic{rr_type::naptr, "NAPTR"},
    mnemonic{rr_type::kx, "KX"},
    mnemonic{rr_type::cert, "CERT"},
    mnemonic{rr_type::dname, "DNAME"},
    mnemonic{rr_type::opt, "OPT"},
    mnemonic{rr_type::apl, "APL"},
    mnemonic{rr_type::ds, "DS"},
    mnemonic{rr_type::sshfp, "SSHFP"},
    mnemonic{rr_type::ipseckey, "IPSECKEY"},
    mnemonic{rr_type::rrsig, "RRSIG"},
    mnemonic{rr_type::nsec, "NSEC"},
    mnemonic{rr_type::dnskey, "DNSKEY"},
    mnemonic{rr_type::dhcid, "DHCID"},
    mnemonic{rr_type::nsec3, "NSEC3"},
    mnemonic{rr_type::nsec3param, "NSEC3PARAM"},
    mnemonic{rr_type::tlsa, "TLSA"},
    mnemonic{rr_type::smimea, "SMIMEA"},
    mnemonic{rr_type::hip, "HIP"},
    mnemonic{rr_type::cds, "CDS"},
    mnemonic{rr_type::cdnskey, "CDNSKEY"},
    mnemonic{rr_type::openpgpkey, "OPENPGPKEY"},
    mnemonic{rr_type::csync, "CSYNC"},
    mnemonic{rr_type::zonemd, "ZONEMD"},
    mnemonic{rr_type::svcb, "SVCB"},
    mnemonic{rr_type::https, "HTTPS"},
    mnemonic{rr_type::spf, "SPF"},
    mnemonic{rr_type::nid, "NID"},
    mnemonic{rr_type::l32, "L32"},
    mnemonic{rr_type::l64, "L64"},
    mnemonic{rr_type::lp, "LP"},
    mnemonic{rr_type::eui48, "EUI48"},
    mnemonic{rr_type::eui64, "EUI64"},
    mnemonic{rr_type::tkey, "TKEY"},
    mnemonic{rr_type::tsig, "TSIG"},
    mnemonic{rr_type::ixfr, "IXFR"},
    mnemonic{rr_type::axfr, "AXFR"},
    mnemonic{rr_type::mailb, "MAILB"},
    mnemonic{rr_type::maila, "MAILA"},
    mnemonic{rr_type::any, "ANY"},
    mnemonic{rr_type::uri, "URI"},
    mnemonic{rr_type::caa, "CAA"},
};

constexpr std::array class_names{
    mnemonic{rr_class::in, "IN"},     mnemonic{rr_class::ch, "CH"},   mnemonic{rr_class::hs, "HS"},
    mnemonic{rr_class::none, "NONE"}, mnemonic{rr_class::any, "ANY"},
};

constexpr std::array rcode_names{
    mnemonic{rcode::noerror, "NOERROR"},     mnemonic{rcode::formerr, "FORMERR"},
    mnemonic{rcode::servfail, "SERVFAIL"},   mnemonic{rcode::nxdomain, "NXDOMAIN"},
    mnemonic{rcode::notimp, "NOTIMP"},       mnemonic{rcode::refused, "REFUSED"},
    mnemonic{rcode::yxdomain, "YXDOMAIN"},   mnemonic{rcode::yxrrset, "YXRRSET"},
    mnemonic{rcode::nxrrset, "NXRRSET"},     mnemonic{rcode::notauth, "NOTAUTH"},
    mnemonic{rcode::notzone, "NOTZONE"},     mnemonic{rcode::badvers, "BADVERS"},
    mnemonic{rcode::badcookie, "BADCOOKIE"},
};

char to_lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower_ascii(a[i]) != to_lower_ascii(b[i])) return false;
  }
  return true;
}

template <std::size_t N>
std::optional<std::uint16_t> lookup(const std::array<mnemonic, N>& table, std::string_view text,
                                    std::string_view generic_prefix) {
  for (const auto& m : table) {
    if (iequals(m.text, text)) return m.value;
  }
  if (text.size() > generic_prefix.size() &&
      iequals(text.substr(0, generic_prefix.size()), generic_prefix)) {
    const auto digits = text.substr(generic_prefix.size());
    unsigned value = 0;
    const auto* end = digits.data() + digits.size();
    auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec == std::errc{} && ptr == end && value <= 0xffff && digits[0] != '+') {
      return static_cast<std::uint16_t>(value);
    }
  }
  return std::nullopt;
}

template <std::size_t N>
std::string name_of(const std::array<mnemonic, N>& table, std::uint16_t value,
                    std::string_view generic_prefix) {
  for (const auto& m : table) {
    if (m.value == value) return std::string(m.text);
  }
  return std::string(generic_prefix) + std::to_string(value);
}

}  // namespace

std::string type_to_string(std::uint16_t type) { return name_of(type_names, type, "TYPE"); }
std::optional<std::uint16_t> type_from_string(std::string_view text) {
  return lookup(type_names, text, "TYPE");
}
std::string class_to_string(std::uint16_t rrclass) {
  return name_of(class_names, rrclass, "CLASS");
}
std::optional<std::uint16_t> class_from_string(std::string_view text) {
  return lookup(class_names, text, "CLASS");
}
std::string rcode_to_string(std::uint16_t code) { return name_of(rcode_names, code, ""); }

bool rdata_names_compressible(std::uint16_t type) {
  switch (type) {
    case rr_type::ns:
    case rr_type::md:
    case rr_type::mf:
    case rr_type::cname:
    case rr_type::soa:
    case rr_type::mb:
    case rr_type::mg:
    case rr_type::mr:
    case rr_type::ptr:
    case rr_type::minfo:
    case rr_type::mx:
      return true;
    default:
      return false;
  }
}

bool is_meta_type(std::uint16_t type) {
  return type == rr_type::opt || (type >= 128 && type <= 255) || type == 0;
}

}  // namespace zonemesh::dns
