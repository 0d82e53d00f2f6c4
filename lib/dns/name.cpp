// Domain name parsing, formatting and comparison.
#include "dns/name.hpp"

#include <algorithm>
#include <cstring>

namespace zonemesh::dns {

std::string_view to_string(name_status s) {
  switch (s) {
    case name_status::ok:
      return "ok";
    case name_status::empty_label:
      return "empty label";
    case name_status::label_too_long:
      return "label longer than 63 octets";
    case name_status::name_too_long:
      return "name longer than 255 octets";
    case name_status::bad_escape:
      return "malformed escape";
    case name_status::bad_wire:
      return "malformed wire-format name";
  }
  return "unknown";
}

name_status name::from_text(std::string_view text, name& out) {
  if (text.empty() || text == ".") {
    out = name{};
    return name_status::ok;
  }
  std::array<std::uint8_t, max_name_length> buf{};
  std::size_t pos = 0;       // write position in buf
  std::size_t label_at = 0;  // position of the current label's length octet
  std::size_t label_len = 0;
  bool label_open = false;
  auto push = [&](std::uint8_t c) -> name_status {
    if (!label_open) {
      if (pos + 1 >= max_name_length) return name_status::name_too_long;
      label_at = pos++;
      label_len = 0;
      label_open = true;
    }
    if (label_len == max_label_length) return name_status::label_too_long;
    if (pos + 1 >= max_name_length) return name_status::name_too_long;  // keep room for root
    buf[pos++] = c;
    ++label_len;
    return name_status::ok;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c == '.') {
      if (!label_open) return name_status::empty_label;
      buf[label_at] = static_cast<std::uint8_t>(label_len);
      label_open = false;
      if (i + 1 == text.size()) break;  // trailing dot
      continue;
    }
    std::uint8_t value = c;
    if (c == '\\') {
      if (i + 1 >= text.size()) return name_status::bad_escape;
      const auto d = static_cast<std::uint8_t>(text[i + 1]);
      if (d >= '0' && d <= '9') {
        if (i + 3 >= text.size()) return name_status::bad_escape;
        unsigned v = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          const auto e = static_cast<std::uint8_t>(text[i + k]);
          if (e < '0' || e > '9') return name_status::bad_escape;
          v = v * 10 + (e - '0');
        }
        if (v > 255) return name_status::bad_escape;
        value = static_cast<std::uint8_t>(v);
        i += 3;
      } else {
        value = d;
        i += 1;
      }
    }
    if (auto s = push(value); s != name_status::ok) return s;
  }
  if (label_open) buf[label_at] = static_cast<std::uint8_t>(label_len);
  buf[pos++] = 0;
  std::memcpy(out.wire_.data(), buf.data(), pos);
  out.length_ = pos;
  return name_status::ok;
}

name_status name::from_wire_prefix(std::span<const std::uint8_t> wire, name& out,
                                   std::size_t& used) {
  std::size_t pos = 0;
  while (true) {
    if (pos >= wire.size()) return name_status::bad_wire;
    const std::uint8_t len = wire[pos];
    if (len > max_label_length) return name_status::bad_wire;  // also rejects pointers
    if (pos + 1 + len > max_name_length) return name_status::name_too_long;
    if (len == 0) {
      ++pos;
      break;
    }
    if (pos + 1 + len > wire.size()) return name_status::bad_wire;
    pos += 1 + len;
  }
  std::memcpy(out.wire_.data(), wire.data(), pos);
  out.length_ = pos;
  used = pos;
  return name_status::ok;
}

name_status name::from_wire(std::span<const std::uint8_t> wire, name& out) {
  std::size_t used = 0;
  name tmp;
  if (auto s = from_wire_prefix(wire, tmp, used); s != name_status::ok) return s;
  if (used != wire.size()) return name_status::bad_wire;
  out = tmp;
  return name_status::ok;
}

std::size_t name::label_count() const {
  std::size_t n = 0;
  for (std::size_t pos = 0; wire_[pos] != 0; pos += 1 + wire_[pos]) ++n;
  return n;
}

std::string name::to_string() const {
  if (is_root()) return ".";
  std::string out;
  out.reserve(length_ + 8);
  for (std::size_t pos = 0; wire_[pos] != 0; pos += 1 + wire_[pos]) {
    const std::uint8_t len = wire_[pos];
    for (std::size_t k = 1; k <= len; ++k) {
      const std::uint8_t c = wire_[pos + k];
      if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' ||
          c == '$') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7f) {
        char esc[5] = {'\\', static_cast<char>('0' + c / 100),
                       static_cast<char>('0' + (c / 10) % 10), static_cast<char>('0' + c % 10), 0};
        out.append(esc, 4);
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('.');
  }
  return out;
}

void name::to_lower() {
  for (std::size_t pos = 0; wire_[pos] != 0; pos += 1 + wire_[pos]) {
    for (std::size_t k = 1; k <= wire_[pos]; ++k) wire_[pos + k] = dns::to_lower(wire_[pos + k]);
  }
}

name name::lowercased() const {
  name copy = *this;
  copy.to_lower();
  return copy;
}

bool wire_names_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;  // length octets are < 64, unaffected
  }
  return true;
}

bool name::equals(const name& other) const { return wire_names_equal(wire(), other.wire()); }

bool name::is_subdomain_of(const name& ancestor) const {
  if (ancestor.length_ > length_) return false;
  // Walk our labels until the remaining suffix has the ancestor's length.
  std::size_t pos = 0;
  while (length_ - pos > ancestor.length_) pos += 1 + wire_[pos];
  if (length_ - pos != ancestor.length_) return false;
  return wire_names_equal(std::span(wire_.data() + pos, ancestor.length_), ancestor.wire());
}

void name::strip_left(std::size_t n) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n && wire_[pos] != 0; ++i) pos += 1 + wire_[pos];
  if (pos == 0) return;
  std::memmove(wire_.data(), wire_.data() + pos, length_ - pos);
  length_ -= pos;
}

name name::parent() const {
  name copy = *this;
  copy.strip_left(1);
  return copy;
}

name_status name::replace_suffix(const name& old_suffix, const name& new_suffix, name& out) const {
  if (!is_subdomain_of(old_suffix)) return name_status::bad_wire;
  const std::size_t prefix = length_ - old_suffix.length_;
  if (prefix + new_suffix.length_ > max_name_length) return name_status::name_too_long;
  name tmp;
  std::memcpy(tmp.wire_.data(), wire_.data(), prefix);
  std::memcpy(tmp.wire_.data() + prefix, new_suffix.wire_.data(), new_suffix.length_);
  tmp.length_ = prefix + new_suffix.length_;
  out = tmp;
  return name_status::ok;
}

name_status name::prepend_label(std::string_view label) {
  if (label.empty()) return name_status::empty_label;
  if (label.size() > max_label_length) return name_status::label_too_long;
  if (length_ + 1 + label.size() > max_name_length) return name_status::name_too_long;
  std::memmove(wire_.data() + 1 + label.size(), wire_.data(), length_);
  wire_[0] = static_cast<std::uint8_t>(label.size());
  std::memcpy(wire_.data() + 1, label.data(), label.size());
  length_ += 1 + label.size();
  return name_status::ok;
}

std::size_t label_offsets(std::span<const std::uint8_t> wire,
                          std::array<std::uint8_t, max_labels + 1>& offsets) {
  std::size_t n = 0;
  for (std::size_t pos = 0; pos < wire.size() && wire[pos] != 0 && n <= max_labels;
       pos += 1 + wire[pos]) {
    offsets[n++] = static_cast<std::uint8_t>(pos);
  }
  return n;
}

int canonical_compare(const name& a, const name& b) {
  std::array<std::uint8_t, max_labels + 1> oa{};
  std::array<std::uint8_t, max_labels + 1> ob{};
  std::size_t na = label_offsets(a.wire(), oa);
  std::size_t nb = label_offsets(b.wire(), ob);
  while (na > 0 && nb > 0) {
    --na;
    --nb;
    const std::uint8_t* la = a.wire_.data() + oa[na];
    const std::uint8_t* lb = b.wire_.data() + ob[nb];
    const std::size_t common = std::min(la[0], lb[0]);
    for (std::size_t i = 1; i <= common; ++i) {
      const std::uint8_t ca = to_lower(la[i]);
      const std::uint8_t cb = to_lower(lb[i]);
      if (ca != cb) return ca < cb ? -1 : 1;
    }
    if (la[0] != lb[0]) return la[0] < lb[0] ? -1 : 1;
  }
  if (na == nb) return 0;
  return na < nb ? -1 : 1;
}

}  // namespace zonemesh::dns
