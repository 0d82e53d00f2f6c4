// DNS message reader and compressing writer.
#include "dns/wire.hpp"

#include <cstring>

#include "dns/types.hpp"

namespace zonemesh::dns {

std::string_view to_string(read_status s) {
  switch (s) {
    case read_status::ok:
      return "ok";
    case read_status::truncated:
      return "message truncated";
    case read_status::bad_label_type:
      return "unsupported label type";
    case read_status::name_too_long:
      return "name longer than 255 octets";
    case read_status::bad_pointer:
      return "bad compression pointer";
    case read_status::too_many_pointers:
      return "compression pointer loop";
    case read_status::bad_rdata:
      return "malformed RDATA";
  }
  return "unknown";
}

read_status reader::u8(std::uint8_t& out) {
  if (remaining() < 1) return read_status::truncated;
  out = msg_[pos_++];
  return read_status::ok;
}

read_status reader::u16(std::uint16_t& out) {
  if (remaining() < 2) return read_status::truncated;
  out = static_cast<std::uint16_t>((msg_[pos_] << 8) | msg_[pos_ + 1]);
  pos_ += 2;
  return read_status::ok;
}

read_status reader::u32(std::uint32_t& out) {
  if (remaining() < 4) return read_status::truncated;
  out = (static_cast<std::uint32_t>(msg_[pos_]) << 24) |
        (static_cast<std::uint32_t>(msg_[pos_ + 1]) << 16) |
        (static_cast<std::uint32_t>(msg_[pos_ + 2]) << 8) | msg_[pos_ + 3];
  pos_ += 4;
  return read_status::ok;
}

read_status reader::bytes(std::size_t n, std::span<const std::uint8_t>& out) {
  if (remaining() < n) return read_status::truncated;
  out = msg_.subspan(pos_, n);
  pos_ += n;
  return read_status::ok;
}

read_status reader::skip(std::size_t n) {
  if (remaining() < n) return read_status::truncated;
  pos_ += n;
  return read_status::ok;
}

read_status read_name_at(std::span<const std::uint8_t> message, std::size_t offset, name& out,
                         std::size_t& next_offset) {
  std::array<std::uint8_t, max_name_length> buf{};
  std::size_t len = 0;
  std::size_t pos = offset;
  std::size_t segment_start = offset;  // a pointer must point before this
  bool jumped = false;
  std::size_t hops = 0;
  while (true) {
    if (pos >= message.size()) return read_status::truncated;
    const std::uint8_t octet = message[pos];
    const std::uint8_t kind = octet & 0xc0;
    if (kind == 0xc0) {
      if (pos + 1 >= message.size()) return read_status::truncated;
      const std::size_t target = (static_cast<std::size_t>(octet & 0x3f) << 8) | message[pos + 1];
      if (!jumped) next_offset = pos + 2;
      // Strictly before the current segment: offsets decrease, so no loop.
      if (target >= segment_start) return read_status::bad_pointer;
      if (++hops > max_labels) return read_status::too_many_pointers;
      jumped = true;
      pos = target;
      segment_start = target;
      continue;
    }
    if (kind != 0) return read_status::bad_label_type;
    if (octet == 0) {
      if (len + 1 > max_name_length) return read_status::name_too_long;
      buf[len++] = 0;
      if (!jumped) next_offset = pos + 1;
      break;
    }
    if (pos + 1 + octet > message.size()) return read_status::truncated;
    if (len + 1 + octet + 1 > max_name_length) return read_status::name_too_long;
    std::memcpy(buf.data() + len, message.data() + pos, 1 + static_cast<std::size_t>(octet));
    len += 1 + static_cast<std::size_t>(octet);
    pos += 1 + static_cast<std::size_t>(octet);
  }
  std::size_t used = 0;
  if (name::from_wire_prefix(std::span(buf.data(), len), out, used) != name_status::ok) {
    return read_status::name_too_long;
  }
  return read_status::ok;
}

read_status reader::name(dns::name& out) {
  std::size_t next = pos_;
  if (auto s = read_name_at(msg_, pos_, out, next); s != read_status::ok) return s;
  pos_ = next;
  return read_status::ok;
}

read_status reader::header(dns::header& out) {
  if (remaining() < header_size) return read_status::truncated;
  dns::header h;
  (void)u16(h.id);
  (void)u16(h.flags);
  (void)u16(h.qdcount);
  (void)u16(h.ancount);
  (void)u16(h.nscount);
  (void)u16(h.arcount);
  out = h;
  return read_status::ok;
}

read_status reader::rr(dns::name& owner, rr_header& fields, std::span<const std::uint8_t>& rdata) {
  if (auto s = name(owner); s != read_status::ok) return s;
  if (remaining() < 10) return read_status::truncated;
  (void)u16(fields.type);
  (void)u16(fields.rrclass);
  (void)u32(fields.ttl);
  (void)u16(fields.rdlength);
  return bytes(fields.rdlength, rdata);
}

// ---------------------------------------------------------------------------

bool writer::u8(std::uint8_t v) {
  if (!fits(1)) return false;
  buf_[pos_++] = v;
  return true;
}

bool writer::u16(std::uint16_t v) {
  if (!fits(2)) return false;
  buf_[pos_] = static_cast<std::uint8_t>(v >> 8);
  buf_[pos_ + 1] = static_cast<std::uint8_t>(v);
  pos_ += 2;
  return true;
}

bool writer::u32(std::uint32_t v) {
  if (!fits(4)) return false;
  buf_[pos_] = static_cast<std::uint8_t>(v >> 24);
  buf_[pos_ + 1] = static_cast<std::uint8_t>(v >> 16);
  buf_[pos_ + 2] = static_cast<std::uint8_t>(v >> 8);
  buf_[pos_ + 3] = static_cast<std::uint8_t>(v);
  pos_ += 4;
  return true;
}

bool writer::bytes(std::span<const std::uint8_t> data) {
  if (!fits(data.size())) return false;
  if (!data.empty()) std::memcpy(buf_.data() + pos_, data.data(), data.size());
  pos_ += data.size();
  return true;
}

bool writer::header(const dns::header& h) {
  if (!fits(header_size)) return false;
  return u16(h.id) && u16(h.flags) && u16(h.qdcount) && u16(h.ancount) && u16(h.nscount) &&
         u16(h.arcount);
}

void writer::patch_u16(std::size_t offset, std::uint16_t v) {
  if (offset + 2 > pos_) return;
  buf_[offset] = static_cast<std::uint8_t>(v >> 8);
  buf_[offset + 1] = static_cast<std::uint8_t>(v);
}

void writer::rollback(std::size_t offset) {
  if (offset >= pos_) return;
  pos_ = offset;
  while (target_count_ > 0 && targets_[target_count_ - 1] >= offset) --target_count_;
}

// Does the (possibly compressed) name at `at` in our own buffer equal the
// uncompressed name `wire` from `label_at` on, ignoring case?
std::size_t writer::find_suffix(std::span<const std::uint8_t> wire, std::size_t label_at) const {
  for (std::size_t t = 0; t < target_count_; ++t) {
    std::size_t p = targets_[t];
    std::size_t q = label_at;
    bool equal = true;
    for (std::size_t hops = 0; hops < 2 * max_labels; ++hops) {
      std::uint8_t octet = buf_[p];
      if ((octet & 0xc0) == 0xc0) {
        p = (static_cast<std::size_t>(octet & 0x3f) << 8) | buf_[p + 1];
        continue;
      }
      if (octet != wire[q]) {
        equal = false;
        break;
      }
      if (octet == 0) break;
      for (std::size_t k = 1; k <= octet; ++k) {
        if (to_lower(buf_[p + k]) != to_lower(wire[q + k])) {
          equal = false;
          break;
        }
      }
      if (!equal) break;
      p += 1 + static_cast<std::size_t>(octet);
      q += 1 + static_cast<std::size_t>(octet);
    }
    if (equal) return targets_[t];
  }
  return 0;  // 0 is never a valid target: the header lives there
}

bool writer::name(std::span<const std::uint8_t> wire, bool compress) {
  std::array<std::uint8_t, max_labels + 1> offsets{};
  const std::size_t labels = label_offsets(wire, offsets);
  std::size_t literal = wire.size();  // octets written as-is (the root included when no pointer)
  std::size_t pointer = 0;
  if (compress) {
    for (std::size_t i = 0; i < labels; ++i) {
      if (std::size_t at = find_suffix(wire, offsets[i]); at != 0) {
        literal = offsets[i];
        pointer = at;
        break;
      }
    }
  }
  if (!fits(literal + (pointer != 0 ? 2 : 0))) return false;
  const std::size_t start = pos_;
  std::memcpy(buf_.data() + pos_, wire.data(), literal);
  pos_ += literal;
  if (pointer != 0) (void)u16(static_cast<std::uint16_t>(0xc000 | pointer));
  if (compress) {
    for (std::size_t i = 0; i < labels && offsets[i] < literal; ++i) {
      const std::size_t at = start + offsets[i];
      if (at >= 0x4000 || target_count_ == max_targets) break;
      targets_[target_count_++] = static_cast<std::uint16_t>(at);
    }
  }
  return true;
}

bool writer::rdata(std::uint16_t type, std::span<const std::uint8_t> rd) {
  if (!rdata_names_compressible(type)) return bytes(rd);
  const std::size_t start = pos_;
  std::size_t pos = 0;
  auto put_name = [&]() -> bool {
    dns::name n;
    std::size_t used = 0;
    if (name::from_wire_prefix(rd.subspan(pos), n, used) != name_status::ok) return false;
    pos += used;
    return name(n.wire(), true);
  };
  bool ok = true;
  switch (type) {
    case rr_type::mx:
      ok = rd.size() >= 2 && bytes(rd.first(2));
      pos = 2;
      ok = ok && put_name();
      break;
    case rr_type::soa:
    case rr_type::minfo:
      ok = put_name() && put_name();
      break;
    default:
      ok = put_name();
      break;
  }
  ok = ok && bytes(rd.subspan(pos));  // SOA's 20 octets; nothing for the others
  if (!ok) {
    rollback(start);
    return bytes(rd);  // not the expected layout: copy as stored
  }
  return true;
}

bool writer::rr(std::span<const std::uint8_t> owner, std::uint16_t type, std::uint16_t rrclass,
                std::uint32_t ttl, std::span<const std::uint8_t> rd) {
  const std::size_t start = pos_;
  if (!(name(owner, true) && u16(type) && u16(rrclass) && u32(ttl) && u16(0))) {
    rollback(start);
    return false;
  }
  const std::size_t rdlen_at = pos_ - 2;
  if (!rdata(type, rd)) {
    rollback(start);
    return false;
  }
  const std::size_t len = pos_ - rdlen_at - 2;
  if (len > 0xffff) {
    rollback(start);
    return false;
  }
  patch_u16(rdlen_at, static_cast<std::uint16_t>(len));
  return true;
}

}  // namespace zonemesh::dns
