#pragma once
// The peer protocol's framing: [length: 4 bytes, big-endian][type: 1 byte]
// [payload: length - 1 bytes, JSON]. Version 1 (see replicator/README.md).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zonemesh::replicator {

inline constexpr int protocol_version = 1;
inline constexpr std::size_t frame_header_size = 5;
inline constexpr std::uint32_t max_frame_size = 256u * 1024 * 1024;

enum class frame_type : std::uint8_t {
  hello = 1,                ///< {"protocol", "node", "vector", "clock_ms"}
  changes = 2,              ///< [source transaction, ...] (see sql/004_apply.sql)
  ack = 3,                  ///< {"vector", "applied", "failed"}
  ping = 4,                 ///< {"clock_ms"}
  pong = 5,                 ///< {"clock_ms"}
  snapshot_begin = 6,       ///< zonemesh.snapshot_header()
  snapshot_rows = 7,        ///< {"tbl", "rows": [...]}
  snapshot_tombstones = 8,  ///< [{"tbl", "key", "hlc", "origin", "zone"}, ...]
  snapshot_end = 9,         ///< {}
  error = 10,               ///< {"error"}: the sender closes after it
};

std::string_view to_string(frame_type t);

/// A whole frame, ready to write.
std::string encode_frame(frame_type type, std::string_view payload);

enum class [[nodiscard]] frame_status : std::uint8_t { ok, too_large, empty, unknown_type };

/// Checks a received header; on ok sets the payload length and type.
frame_status parse_frame_header(const std::uint8_t (&header)[frame_header_size], std::uint32_t& payload_size,
                                frame_type& type);

}  // namespace zonemesh::replicator
