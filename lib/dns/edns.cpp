// EDNS(0) OPT parsing and building.
#include "dns/edns.hpp"

#include "dns/types.hpp"

namespace zonemesh::dns {

read_status parse_opt(std::uint16_t rrclass, std::uint32_t ttl, std::span<const std::uint8_t> rdata,
                      opt_record& out) {
  opt_record r;
  r.udp_payload_size = rrclass;
  r.extended_rcode = static_cast<std::uint8_t>(ttl >> 24);
  r.version = static_cast<std::uint8_t>(ttl >> 16);
  r.flags = static_cast<std::uint16_t>(ttl);
  r.options = rdata;
  std::size_t pos = 0;
  while (pos < rdata.size()) {
    if (rdata.size() - pos < 4) return read_status::bad_rdata;
    const std::size_t len = (static_cast<std::size_t>(rdata[pos + 2]) << 8) | rdata[pos + 3];
    if (rdata.size() - pos - 4 < len) return read_status::bad_rdata;
    pos += 4 + len;
  }
  out = r;
  return read_status::ok;
}

bool option_iterator::next(std::uint16_t& code, std::span<const std::uint8_t>& data) {
  if (rest_.size() < 4) return false;
  const std::size_t len = (static_cast<std::size_t>(rest_[2]) << 8) | rest_[3];
  if (rest_.size() - 4 < len) return false;
  code = static_cast<std::uint16_t>((rest_[0] << 8) | rest_[1]);
  data = rest_.subspan(4, len);
  rest_ = rest_.subspan(4 + len);
  return true;
}

bool write_opt(writer& w, std::uint16_t udp_payload_size, std::uint8_t extended_rcode,
               std::uint8_t version, bool dnssec_ok, std::span<const edns_option_data> options) {
  std::size_t rdlen = 0;
  for (const auto& o : options) rdlen += 4 + o.data.size();
  if (rdlen > 0xffff || w.size() + 11 + rdlen > w.limit()) return false;
  const std::uint32_t ttl = (static_cast<std::uint32_t>(extended_rcode) << 24) |
                            (static_cast<std::uint32_t>(version) << 16) |
                            (dnssec_ok ? edns_do_bit : 0u);
  bool ok = w.u8(0) && w.u16(rr_type::opt) && w.u16(udp_payload_size) && w.u32(ttl) &&
            w.u16(static_cast<std::uint16_t>(rdlen));
  for (const auto& o : options) {
    ok = ok && w.u16(o.code) && w.u16(static_cast<std::uint16_t>(o.data.size())) && w.bytes(o.data);
  }
  return ok;
}

}  // namespace zonemesh::dns
