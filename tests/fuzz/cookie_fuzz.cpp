// libFuzzer target: DNS cookies. The input's first byte picks the client's
// address family and the transport, the rest is the COOKIE option's data,
// sent in a query to a processor with cookies on; the option is also split
// and checked directly. Every reply must be a well-formed message, never
// longer than the UDP limit, and carry a 24-octet cookie when the option
// was well formed.
//
//   tests/fuzz/run.sh OUTDIR SECONDS cookie
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "check_message.hpp"
#include "dns/cookie.hpp"
#include "dns/edns.hpp"
#include "dns/wire.hpp"
#include "query_processor_impl.hpp"
#include "store/zone_set.hpp"
#include "zonefile/zonefile.hpp"

using namespace zonemesh;

namespace {

std::unique_ptr<server::query_processor_impl> make_processor() {
  const zonefile::text_record records[] = {
      {"example.com", "SOA", 3600, "ns1.example.com h.example.com 1 2 3 4 300"},
      {"example.com", "NS", 3600, "ns1.example.com"},
      {"www.example.com", "A", 300, "192.0.2.3"},
  };
  dns::name apex;
  (void)dns::name::from_text("example.com", apex);
  store::zone_builder builder(apex);
  for (const auto& r : records) {
    store::record rec;
    if (!zonefile::to_wire(r, rec).empty() || !builder.add(rec).empty()) std::abort();
  }
  auto zones = std::make_shared<store::zone_publisher>();
  zones->put_zone(builder.build(1).zone);
  auto keys = std::make_shared<server::cookie_keys>();
  keys->current.fill(7);
  keys->also_accept.push_back(dns::cookie_secret{});
  server::processor_options o;
  o.cookies = keys;
  o.cookie_clock = [] { return std::uint32_t{1700000000}; };
  return std::make_unique<server::query_processor_impl>(zones, server::server_identity{}, o);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto processor = make_processor();
  static std::vector<std::uint8_t> query(2048);
  static std::vector<std::uint8_t> reply(65535);
  if (size < 1 || size > 512) return 0;
  const std::uint8_t mode = data[0];
  const std::span<const std::uint8_t> option(data + 1, size - 1);

  // The option alone.
  dns::cookie_view view;
  const auto status = dns::parse_cookie(option, view);
  if (status != dns::cookie_status::malformed) {
    if (view.client.size() != dns::client_cookie_size) std::abort();
    const std::uint8_t address[16] = {192, 0, 2, 1};
    const dns::cookie_secret key{};
    (void)dns::check_server_cookie(key, {}, view.client, view.server,
                                   {address, (mode & 1) ? 16u : 4u},
                                   static_cast<std::uint32_t>(mode) << 24);
  }

  // The option in a query (QDCOUNT 0 or 1).
  dns::writer w(query);
  dns::header h;
  h.id = 1;
  h.qdcount = (mode & 4) ? 0 : 1;
  h.arcount = 1;
  dns::name qname;
  (void)dns::name::from_text("www.example.com", qname);
  if (!w.header(h)) return 0;
  if (h.qdcount == 1 && !(w.name(qname, false) && w.u16(1) && w.u16(1))) return 0;
  const dns::edns_option_data opt{dns::edns_option::cookie, option};
  if (!dns::write_opt(w, 1232, 0, 0, (mode & 8) != 0, std::span(&opt, 1))) return 0;
  server::query_context ctx;
  ctx.proto = (mode & 2) ? server::transport::tcp : server::transport::udp;
  ctx.peer_is_ipv6 = (mode & 1) != 0;
  ctx.peer_address[0] = mode;
  const std::size_t n = processor->process({query.data(), w.size()}, reply, ctx);
  if (n > reply.size() || (ctx.proto == server::transport::udp && n > 1232)) std::abort();
  if (n > 0) fuzz::check_message({reply.data(), n});
  if (status != dns::cookie_status::malformed) {
    // A well-formed option is answered with a 24-octet cookie.
    dns::reader r({reply.data(), n});
    dns::header rh;
    if (r.header(rh) != dns::read_status::ok) std::abort();
    if (rh.qdcount == 1) {
      dns::name skip;
      if (r.name(skip) != dns::read_status::ok || r.skip(4) != dns::read_status::ok) std::abort();
    }
    bool found = false;
    for (unsigned i = 0; i < unsigned{rh.ancount} + rh.nscount + rh.arcount; ++i) {
      dns::name owner;
      dns::rr_header f;
      std::span<const std::uint8_t> rdata;
      if (r.rr(owner, f, rdata) != dns::read_status::ok) std::abort();
      if (f.type != 41) continue;
      dns::option_iterator it(rdata);
      std::uint16_t code = 0;
      std::span<const std::uint8_t> value;
      while (it.next(code, value)) found |= code == dns::edns_option::cookie && value.size() == 24;
    }
    if (!found) std::abort();
  }
  return 0;
}
