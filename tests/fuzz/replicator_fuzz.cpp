// libFuzzer target: arbitrary bytes through the replicator's frame reader
// (replicator/frame.hpp), fed in pieces of sizes taken from the input, as
// they arrive from a peer before and after hello, and every hello frame's
// payload through parse_hello. Checks that a header over the limit is
// refused before any of its payload is buffered, that the buffer never grows
// past what was received (plus one read chunk), and that whole frames are
// what was sent. Built and run by tests/fuzz/run.sh OUTDIR SECONDS replicator.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "frame.hpp"

using namespace zonemesh::replicator;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // The first byte picks the read sizes, the second the limit before hello.
  const std::size_t step = 1 + data[0] % 64;
  const std::uint32_t small_limit = 16 + std::uint32_t{data[1]} * 16;
  std::span<const std::uint8_t> rest(data + 2, size - 2);
  frame_reader reader(small_limit);
  bool hello_seen = false;
  std::size_t received = 0;
  while (!rest.empty()) {
    auto piece = rest.first(std::min(step, rest.size()));
    rest = rest.subspan(piece.size());
    received += piece.size();
    while (!piece.empty()) {
      const auto st = reader.consume(piece);
      if (reader.buffered() > received) std::abort();  // grew past what arrived
      if (st == frame_reader::status::need_more) {
        if (!piece.empty()) std::abort();  // need_more takes every byte
        continue;
      }
      if (st != frame_reader::status::frame_ready) {
        if (st == frame_reader::status::too_large && reader.claimed() <= reader.limit()) std::abort();
        return 0;  // the link is closed
      }
      const frame_type type = reader.type();
      const std::string payload = reader.take_payload();
      if (payload.size() + 1 != reader.claimed()) std::abort();
      if (type == frame_type::hello && !hello_seen) {
        hello_message hello;
        std::string error;
        if (parse_hello(payload, hello, error) == hello_status::ok) {
          hello_seen = true;
          reader.set_limit(1u << 20);  // after hello, larger frames (bounded here)
        } else if (error.empty()) {
          std::abort();  // a refusal always says why
        }
      }
    }
  }
  return 0;
}
