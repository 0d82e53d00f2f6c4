#pragma once
// EDNS(0) OPT pseudo-RR parsing and building (RFC 6891), NSID (RFC 5001).

#include <cstdint>
#include <span>

#include "dns/wire.hpp"

namespace zonemesh::dns {

namespace edns_option {
inline constexpr std::uint16_t nsid = 3;
inline constexpr std::uint16_t client_subnet = 8;
inline constexpr std::uint16_t cookie = 10;
inline constexpr std::uint16_t padding = 12;
}  // namespace edns_option

inline constexpr std::uint16_t edns_do_bit = 0x8000;

/// The fields of an OPT RR, as read from a message. `options` views the RDATA.
struct opt_record {
  std::uint16_t udp_payload_size = 0;  ///< the CLASS field
  std::uint8_t extended_rcode = 0;     ///< upper 8 bits of the 12-bit rcode
  std::uint8_t version = 0;
  std::uint16_t flags = 0;  ///< DO and the Z bits
  std::span<const std::uint8_t> options;

  bool dnssec_ok() const { return (flags & edns_do_bit) != 0; }
};

/// Interprets an OPT RR's class, TTL and RDATA; fails when the options do not
/// exactly fill the RDATA.
read_status parse_opt(std::uint16_t rrclass, std::uint32_t ttl, std::span<const std::uint8_t> rdata,
                      opt_record& out);

/// Walks the options of an OPT RDATA that parse_opt accepted.
class option_iterator {
 public:
  explicit option_iterator(std::span<const std::uint8_t> options) : rest_(options) {}
  /// False at the end (or on a framing error, which parse_opt already rejects).
  bool next(std::uint16_t& code, std::span<const std::uint8_t>& data);

 private:
  std::span<const std::uint8_t> rest_;
};

/// One option to write.
struct edns_option_data {
  std::uint16_t code = 0;
  std::span<const std::uint8_t> data;
};

/// Writes an OPT RR (root owner) with the given fields and options.
[[nodiscard]] bool write_opt(writer& w, std::uint16_t udp_payload_size, std::uint8_t extended_rcode,
                             std::uint8_t version, bool dnssec_ok,
                             std::span<const edns_option_data> options = {});

/// Octets write_opt needs for these option payload sizes.
constexpr std::size_t opt_size(std::size_t option_payload_octets, std::size_t option_count) {
  return 11 + option_payload_octets + 4 * option_count;
}

}  // namespace zonemesh::dns
