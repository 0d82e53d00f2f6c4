#pragma once
// The one interface between network listeners and query processing: a
// listener hands over the bytes of one DNS message and gets the bytes of the
// reply. Listeners never see zones or the database (see architecture.md).

#include <cstddef>
#include <cstdint>
#include <memory>
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

/// The rest of a reply that takes several messages (a zone transfer over
/// TCP). The listener pulls messages as its output drains, so a large zone
/// never sits in memory as wire; the stream holds what it needs (e.g. the
/// zone snapshot it started from) until it is done.
class message_stream {
 public:
  virtual ~message_stream() = default;
  /// Writes the next message into `out` (up to 65535 octets) and returns its
  /// length, or 0 when the stream has ended.
  virtual std::size_t next(std::span<std::uint8_t> out) = 0;
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
  /// After process() over TCP: the messages that follow its reply, if any
  /// (null for all ordinary answers). The listener sends them in order
  /// before it answers the next query of the connection.
  virtual std::unique_ptr<message_stream> take_stream() { return nullptr; }
  /// After process(): whether the query proved its source address (a valid
  /// DNS server cookie, RFC 7873), which exempts it from rate limiting.
  virtual bool client_verified() const { return false; }
};

}  // namespace zonemesh::server
