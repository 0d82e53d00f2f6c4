#pragma once
// The one interface between network listeners and query processing: a
// listener hands over the bytes of one DNS message and gets the bytes of the
// reply. Listeners never see zones or the database (see architecture.md).

#include <cstddef>
#include <cstdint>
#include <span>

namespace zonemesh::server {

enum class transport : std::uint8_t { udp, tcp };

/// What a listener knows about the query besides its bytes.
struct query_context {
  transport proto = transport::udp;
  bool peer_is_ipv6 = false;
  std::uint8_t peer_address[16] = {};  ///< IPv4 in the first 4 bytes
  std::uint16_t peer_port = 0;
};

/// Answers DNS messages. One instance per worker thread, so an implementation
/// may keep reusable buffers and needs no locking of its own.
class query_processor {
 public:
  virtual ~query_processor() = default;
  /// Writes the reply to `query` into `reply` (at most reply.size() bytes;
  /// 65535 for TCP, 65535 for UDP as well: the processor truncates to the
  /// client's advertised size itself) and returns its length, or 0 when the
  /// message must be dropped without a reply.
  virtual std::size_t process(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                              const query_context& ctx) = 0;
};

}  // namespace zonemesh::server
