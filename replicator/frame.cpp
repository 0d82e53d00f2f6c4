// The peer protocol's framing.

#include "frame.hpp"

namespace zonemesh::replicator {

std::string_view to_string(frame_type t) {
  switch (t) {
    case frame_type::hello: return "hello";
    case frame_type::changes: return "changes";
    case frame_type::ack: return "ack";
    case frame_type::ping: return "ping";
    case frame_type::pong: return "pong";
    case frame_type::snapshot_begin: return "snapshot_begin";
    case frame_type::snapshot_rows: return "snapshot_rows";
    case frame_type::snapshot_tombstones: return "snapshot_tombstones";
    case frame_type::snapshot_end: return "snapshot_end";
    case frame_type::error: return "error";
  }
  return "unknown";
}

std::string encode_frame(frame_type type, std::string_view payload) {
  std::string out;
  auto length = static_cast<std::uint32_t>(payload.size() + 1);
  out.reserve(frame_header_size + payload.size());
  out.push_back(static_cast<char>(length >> 24));
  out.push_back(static_cast<char>(length >> 16));
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length));
  out.push_back(static_cast<char>(type));
  out.append(payload);
  return out;
}

frame_status parse_frame_header(const std::uint8_t (&header)[frame_header_size], std::uint32_t& payload_size,
                                frame_type& type) {
  std::uint32_t length = (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
                         (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
  if (length == 0) return frame_status::empty;
  if (length > max_frame_size) return frame_status::too_large;
  if (header[4] < static_cast<std::uint8_t>(frame_type::hello) ||
      header[4] > static_cast<std::uint8_t>(frame_type::error)) {
    return frame_status::unknown_type;
  }
  payload_size = length - 1;
  type = static_cast<frame_type>(header[4]);
  return frame_status::ok;
}

}  // namespace zonemesh::replicator
