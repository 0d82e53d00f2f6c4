#pragma once
// The peer protocol's framing: [length: 4 bytes, big-endian][type: 1 byte]
// [payload: length - 1 bytes, JSON]. Version 1 (see replicator/README.md).

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace zonemesh::replicator {

inline constexpr int protocol_version = 1;
inline constexpr std::size_t frame_header_size = 5;
inline constexpr std::uint32_t max_frame_size = 256u * 1024 * 1024;
/// Default limit on a frame received before the peer's hello has been
/// accepted (a hello is a few hundred bytes per site in the cluster).
inline constexpr std::uint32_t default_max_frame_before_hello = 64u * 1024;

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

/// Splits received bytes into frames. The payload buffer grows as bytes
/// arrive (at most `chunk` more than received so far), never to the length a
/// header claims, and a header over the current limit is refused before any
/// of its payload is read.
class frame_reader {
 public:
  enum class [[nodiscard]] status : std::uint8_t {
    need_more,     ///< every byte given was taken; no whole frame yet
    frame_ready,   ///< a whole frame: type() and take_payload()
    too_large,     ///< the header claims more than the limit
    empty,         ///< the header claims 0 bytes
    unknown_type,  ///< the header's type is not one of frame_type
  };

  explicit frame_reader(std::uint32_t limit) : limit_(limit) {}

  /// Frames over this many bytes (type byte included) are refused from the
  /// next header on.
  void set_limit(std::uint32_t limit) { limit_ = limit; }
  [[nodiscard]] std::uint32_t limit() const { return limit_; }

  /// Takes bytes from the front of `data` (advancing it) until a frame is
  /// whole or the bytes run out. After an error, feed nothing more.
  status consume(std::span<const std::uint8_t>& data);

  /// The last whole frame's type and payload (moved out; the reader then
  /// starts on the next header).
  [[nodiscard]] frame_type type() const { return type_; }
  std::string take_payload();

  /// The last header's claimed length (for error messages).
  [[nodiscard]] std::uint32_t claimed() const { return claimed_; }
  /// Bytes of the frame being received so far (header included).
  [[nodiscard]] std::size_t buffered() const { return header_used_ + payload_.size(); }

 private:
  static constexpr std::size_t chunk = 64 * 1024;
  std::uint32_t limit_;
  std::uint8_t header_[frame_header_size] = {};
  std::size_t header_used_ = 0;
  std::uint32_t claimed_ = 0;
  std::uint32_t payload_size_ = 0;
  frame_type type_{};
  bool in_payload_ = false;
  bool ready_ = false;
  std::string payload_;
};

/// A peer's hello, as parsed from its JSON payload.
struct hello_message {
  long long protocol = 0;
  std::string node;
  std::map<std::string, long long> vector;  ///< per origin, the highest contiguous seq
  long long clock_ms = 0;
  std::set<std::string> links;
  bool has_links = false;
};

enum class [[nodiscard]] hello_status : std::uint8_t { ok, not_json, not_an_object, bad_field };

/// Parses a hello payload: a JSON object with an integer "protocol", a string
/// "node", an object "vector" of integers, an integer "clock_ms" and an array
/// "links" of strings (each but "protocol" and "node" may be missing; other
/// keys are ignored). Never throws; `error` says what is wrong.
hello_status parse_hello(std::string_view payload, hello_message& hello, std::string& error);

}  // namespace zonemesh::replicator
