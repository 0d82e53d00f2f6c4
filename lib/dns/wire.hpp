#pragma once
// Bounded DNS message reader and a compressing writer over caller buffers.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dns/name.hpp"

namespace zonemesh::dns {

enum class [[nodiscard]] read_status : std::uint8_t{
    ok,
    truncated,          ///< the message ends before the field does
    bad_label_type,     ///< label type 0b01 / 0b10 (RFC 6891 obsoleted extended labels)
    name_too_long,      ///< more than 255 octets once decompressed
    bad_pointer,        ///< pointer at or after itself, or past the end
    too_many_pointers,  ///< compression loop guard
    bad_rdata,          ///< RDATA that does not match its type's layout
};

std::string_view to_string(read_status s);

inline constexpr std::size_t header_size = 12;

namespace flag {
inline constexpr std::uint16_t qr = 0x8000;
inline constexpr std::uint16_t aa = 0x0400;
inline constexpr std::uint16_t tc = 0x0200;
inline constexpr std::uint16_t rd = 0x0100;
inline constexpr std::uint16_t ra = 0x0080;
inline constexpr std::uint16_t z = 0x0040;
inline constexpr std::uint16_t ad = 0x0020;
inline constexpr std::uint16_t cd = 0x0010;
}  // namespace flag

/// The fixed 12-octet message header.
struct header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;  ///< QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  std::uint8_t opcode() const { return static_cast<std::uint8_t>((flags >> 11) & 0xf); }
  std::uint8_t rcode() const { return static_cast<std::uint8_t>(flags & 0xf); }
  bool has(std::uint16_t f) const { return (flags & f) != 0; }
  void set_opcode(std::uint8_t op) {
    flags = static_cast<std::uint16_t>((flags & ~0x7800) | ((op & 0xf) << 11));
  }
  /// Sets the low 4 rcode bits (the rest of an extended rcode goes in OPT).
  void set_rcode(std::uint16_t rc) {
    flags = static_cast<std::uint16_t>((flags & ~0xf) | (rc & 0xf));
  }
};

/// The fixed part of a resource record after its owner name.
struct rr_header {
  std::uint16_t type = 0;
  std::uint16_t rrclass = 0;
  std::uint32_t ttl = 0;
  std::uint16_t rdlength = 0;
};

/// Reads a DNS message front to back, checking every length. Never throws.
class reader {
 public:
  explicit reader(std::span<const std::uint8_t> message) : msg_(message) {}

  read_status u8(std::uint8_t& out);
  read_status u16(std::uint16_t& out);
  read_status u32(std::uint32_t& out);
  /// A view of the next `n` octets (no copy).
  read_status bytes(std::size_t n, std::span<const std::uint8_t>& out);
  read_status skip(std::size_t n);
  /// A possibly compressed name; pointers must point strictly backwards.
  read_status name(dns::name& out);
  read_status header(dns::header& out);
  /// Owner, fixed fields and a view of the RDATA.
  read_status rr(dns::name& owner, rr_header& fields, std::span<const std::uint8_t>& rdata);

  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return msg_.size() - pos_; }
  std::span<const std::uint8_t> message() const { return msg_; }

 private:
  std::span<const std::uint8_t> msg_;
  std::size_t pos_ = 0;
};

/// Reads a name at `offset` of `message` (used for names inside RDATA).
read_status read_name_at(std::span<const std::uint8_t> message, std::size_t offset, name& out,
                         std::size_t& next_offset);

/// Writes a DNS message into a caller-provided buffer with name compression.
/// Every write checks the limit and reports failure, leaving the position
/// unchanged; callers roll back whole RRsets with `rollback`. No allocation.
class writer {
 public:
  explicit writer(std::span<std::uint8_t> buffer) : buf_(buffer), limit_(buffer.size()) {}

  /// Restricts writes to the first `limit` octets (at most the buffer size).
  void set_limit(std::size_t limit) { limit_ = limit < buf_.size() ? limit : buf_.size(); }
  std::size_t limit() const { return limit_; }
  std::size_t size() const { return pos_; }
  std::span<const std::uint8_t> data() const { return buf_.first(pos_); }

  [[nodiscard]] bool u8(std::uint8_t v);
  [[nodiscard]] bool u16(std::uint16_t v);
  [[nodiscard]] bool u32(std::uint32_t v);
  [[nodiscard]] bool bytes(std::span<const std::uint8_t> data);
  /// Writes `n` (uncompressed wire); when `compress`, reuses earlier names
  /// and offers this one's labels for later reuse.
  [[nodiscard]] bool name(std::span<const std::uint8_t> wire, bool compress = true);
  [[nodiscard]] bool name(const dns::name& n, bool compress = true) {
    return name(n.wire(), compress);
  }
  [[nodiscard]] bool header(const dns::header& h);
  /// Writes RDATA of `type`, compressing the embedded names of the RFC 1035
  /// types; `rdata` is uncompressed wire as stored.
  [[nodiscard]] bool rdata(std::uint16_t type, std::span<const std::uint8_t> rdata);

  /// One whole RR (owner, fixed fields, RDATA through `rdata()`); on
  /// failure nothing of it stays in the buffer.
  [[nodiscard]] bool rr(std::span<const std::uint8_t> owner, std::uint16_t type,
                        std::uint16_t rrclass, std::uint32_t ttl,
                        std::span<const std::uint8_t> rdata);

  /// Overwrites two octets at `offset` (< size()).
  void patch_u16(std::size_t offset, std::uint16_t v);
  /// Forgets everything from `offset` on, compression targets included.
  void rollback(std::size_t offset);
  /// Starts over with an empty message.
  void reset() { rollback(0); }

 private:
  bool fits(std::size_t n) const { return pos_ + n <= limit_; }
  std::size_t find_suffix(std::span<const std::uint8_t> wire, std::size_t label_at) const;

  static constexpr std::size_t max_targets = 128;
  std::span<std::uint8_t> buf_;
  std::size_t limit_;
  std::size_t pos_ = 0;
  std::array<std::uint16_t, max_targets> targets_{};  ///< offsets of written labels
  std::size_t target_count_ = 0;
};

}  // namespace zonemesh::dns
