// libFuzzer target: arbitrary bytes through the query processor, UDP and TCP,
// checking that every non-empty reply is a well-formed DNS message.
//
// Build (not part of CMake; from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Iserver -Itests/fuzz \
//     tests/fuzz/query_fuzz.cpp lib/dns/*.cpp lib/store/*.cpp lib/zonefile/*.cpp \
//     server/answer.cpp server/query_processor_impl.cpp -lldns -o /tmp/query_fuzz
//   /tmp/query_fuzz -max_len=1024 -runs=1000000
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "check_message.hpp"
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
  store::zone_builder builder([] {
    dns::name apex;
    (void)dns::name::from_text("example.com", apex);
    return apex;
  }());
  for (const auto& r : records) {
    store::record rec;
    if (!zonefile::to_wire(r, rec).empty() || !builder.add(rec).empty()) std::abort();
  }
  auto zones = std::make_shared<store::zone_publisher>();
  zones->put_zone(builder.build(1).zone);
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
