// libFuzzer target: arbitrary bytes through the query processor, UDP and TCP,
// checking that every non-empty reply is a well-formed DNS message.
//
// Build (not part of CMake; from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Iserver -Itests/fuzz \
//     tests/fuzz/query_fuzz.cpp lib/dns/*.cpp lib/store/*.cpp lib/zonefile/*.cpp lib/dnssec/*.cpp \
//     server/answer.cpp server/query_processor_impl.cpp -lldns -lcrypto -o /tmp/query_fuzz
//   /tmp/query_fuzz -max_len=1024 -runs=1000000
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "check_message.hpp"
#include "dns/wire.hpp"
#include "dnssec/zone_signing.hpp"
#include "query_processor_impl.hpp"
#include "store/zone_set.hpp"
#include "zonefile/zonefile.hpp"

using namespace zonemesh;

namespace {

std::unique_ptr<server::query_processor_impl> make_processor() {
  const zonefile::text_record records[] = {
      {"example.com", "SOA", 3600, "ns1.example.com h.example.com 1 2 3 4 300"},
      {"example.com", "NS", 3600, "ns1.example.com"},
      {"example.com", "MX", 3600, "10 mail.example.com"},
      {"ns1.example.com", "A", 3600, "192.0.2.1"},
      {"mail.example.com", "A", 3600, "192.0.2.2"},
      {"www.example.com", "A", 300, "192.0.2.3"},
      {"a.example.com", "CNAME", 300, "b.example.com"},
      {"b.example.com", "CNAME", 300, "a.example.com"},
      {"*.w.example.com", "CNAME", 300, "www.example.com"},
      {"d.example.com", "DNAME", 300, "example.com"},
      {"sub.example.com", "NS", 300, "ns.sub.example.com"},
      {"ns.sub.example.com", "A", 300, "192.0.2.4"},
  };
  auto zones = std::make_shared<store::zone_publisher>();
  // example.com signed with NSEC, example.org (the same records) with NSEC3
  // opt-out, example.net unsigned: DO=1 reaches every proof path.
  for (const char* origin : {"example.com", "example.org", "example.net"}) {
    dns::name apex;
    (void)dns::name::from_text(origin, apex);
    store::zone_builder builder(apex);
    for (auto r : records) {
      for (std::string* field : {&r.name, &r.content}) {
        for (auto at = field->find("example.com"); at != std::string::npos; at = field->find("example.com", at + 1)) {
          field->replace(at, 11, origin);
        }
      }
      store::record rec;
      if (!zonefile::to_wire(r, rec).empty() || !builder.add(rec).empty()) std::abort();
    }
    auto zone = builder.build(1).zone;
    if (std::string_view(origin) != "example.net") {
      dnssec::zone_signing_policy policy;
      policy.keys.emplace_back(dnssec::make_signing_key(13), 257, true, true);
      std::string error;
      if (std::string_view(origin) == "example.org") policy.nsec3 = dnssec::parse_nsec3param("1 1 1 ab", error);
      dnssec::signature_cache cache;
      dnssec::sign_stats stats;
      auto signed_zone = dnssec::sign_zone(*zone, policy, cache, 1800000000, stats);
      if (!signed_zone) std::abort();
      zone = signed_zone.zone;
    }
    zones->put_zone(zone);
  }
  server::server_identity id;
  id.hostname = "fuzz";
  id.nsid = std::vector<std::uint8_t>{'f'};
  return std::make_unique<server::query_processor_impl>(zones, id);
}


}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto processor = make_processor();
  static std::vector<std::uint8_t> reply(65535);
  for (const auto proto : {server::transport::udp, server::transport::tcp}) {
    server::query_context ctx;
    ctx.proto = proto;
    const std::size_t n = processor->process({data, size}, reply, ctx);
    if (n > reply.size() || (proto == server::transport::udp && n > 1232)) std::abort();
    if (n > 0) fuzz::check_message({reply.data(), n});
  }
  return 0;
}
