// libFuzzer target: arbitrary bytes through the transfer processor (TSIG
// parsing and verification, AXFR/IXFR streams, NOTIFY, UPDATE parsing), UDP
// and TCP, checking that every message it writes is a well-formed DNS
// message. UPDATEs stop before the database (no executor): NOTIMP.
// Built and run by tests/fuzz/run.sh OUTDIR SECONDS transfer.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "check_message.hpp"
#include "dns/wire.hpp"
#include "store/zone_set.hpp"
#include "transfer_processor.hpp"
#include "zonefile/zonefile.hpp"

using namespace zonemesh;

namespace {

dns::name name(const char* text) {
  dns::name n;
  if (dns::name::from_text(text, n) != dns::name_status::ok) std::abort();
  return n;
}

std::unique_ptr<server::transfer_processor> make_processor() {
  const zonefile::text_record records[] = {
      {"example.com", "SOA", 3600, "ns1.example.com h.example.com 1 2 3 4 300"},
      {"example.com", "NS", 3600, "ns1.example.com"},
      {"example.com", "MX", 3600, "10 mail.example.com"},
      {"ns1.example.com", "A", 3600, "192.0.2.1"},
      {"mail.example.com", "A", 3600, "192.0.2.2"},
      {"www.example.com", "TXT", 300, "\"some text\""},
      {"sub.example.com", "NS", 300, "ns.sub.example.com"},
      {"ns.sub.example.com", "A", 300, "192.0.2.4"},
  };
  store::zone_builder builder(name("example.com"));
  for (const auto& r : records) {
    store::record rec;
    if (!zonefile::to_wire(r, rec).empty() || !builder.add(rec).empty()) std::abort();
  }
  auto zones = std::make_shared<store::zone_publisher>();
  zones->put_zone(builder.build(1).zone);
  auto pol = std::make_shared<server::transfer_policy>();
  // The key "k." with secret "secret" (c2VjcmV0), hmac-sha256: inputs may
  // carry a valid signature, as the seed does.
  pol->add_key(server::tsig::make_key("k.", "hmac-sha256", "c2VjcmV0"));
  auto& z = pol->zone(name("example.com"));
  z.allow_transfer_keys.push_back(name("k."));
  z.allow_transfer_from.push_back(*server::network::parse("0.0.0.0/0"));
  z.allow_update_keys.push_back(name("k."));
  auto policy = std::make_shared<server::policy_publisher>();
  policy->publish(pol);
  auto history = std::make_shared<server::zone_history>();
  history->observe(zones->current());
  server::transfer_options opts;
  opts.now = [] { return std::uint64_t{1700000000}; };
  opts.message_size = 1024;  // several messages even for this small zone
  return std::make_unique<server::transfer_processor>(zones, policy, server::server_identity{},
                                                      server::processor_options{}, opts, nullptr,
                                                      history);
}


}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto processor = make_processor();
  static std::vector<std::uint8_t> reply(65535);
  for (const auto proto : {server::transport::udp, server::transport::tcp}) {
    server::query_context ctx;
    ctx.proto = proto;
    const std::size_t n = processor->process({data, size}, reply, ctx);
    if (n > reply.size()) std::abort();
    if (n > 0) fuzz::check_message({reply.data(), n});
    auto stream = processor->take_stream();
    if (stream && proto == server::transport::udp) std::abort();  // streams are for TCP only
    for (int i = 0; stream && i < 1000; ++i) {
      const std::size_t m = stream->next(reply);
      if (m == 0) break;
      fuzz::check_message({reply.data(), m});
    }
  }
  return 0;
}
