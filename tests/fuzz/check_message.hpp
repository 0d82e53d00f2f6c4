#pragma once
// What every fuzz target checks of what the server writes: a whole, well
// formed DNS message (header, questions, every RR, nothing after), or abort.

#include <cstdint>
#include <cstdlib>
#include <span>

#include "dns/wire.hpp"

namespace zonemesh::fuzz {

inline void check_message(std::span<const std::uint8_t> message) {
  dns::reader rd(message);
  dns::header h;
  if (rd.header(h) != dns::read_status::ok) std::abort();
  dns::name n;
  for (unsigned i = 0; i < h.qdcount; ++i) {
    if (rd.name(n) != dns::read_status::ok || rd.skip(4) != dns::read_status::ok) std::abort();
  }
  dns::rr_header f;
  std::span<const std::uint8_t> rdata;
  for (unsigned i = 0; i < unsigned{h.ancount} + h.nscount + h.arcount; ++i) {
    if (rd.rr(n, f, rdata) != dns::read_status::ok) std::abort();
  }
  if (rd.remaining() != 0) std::abort();
}

}  // namespace zonemesh::fuzz
