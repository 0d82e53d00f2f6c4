#pragma once
// Domain names: presentation and uncompressed wire form, case-preserving,
// compared case-insensitively and in RFC 4034 canonical order.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace zonemesh::dns {

inline constexpr std::size_t max_name_length = 255;  ///< wire octets, root label included
inline constexpr std::size_t max_label_length = 63;
inline constexpr std::size_t max_labels = 127;  ///< labels besides the root

enum class [[nodiscard]] name_status : std::uint8_t{
    ok,
    empty_label,     ///< ".." or a leading dot in presentation form
    label_too_long,  ///< more than 63 octets
    name_too_long,   ///< more than 255 octets in wire form
    bad_escape,      ///< malformed \X or \DDD
    bad_wire,        ///< wire bytes not a valid uncompressed name
};

std::string_view to_string(name_status s);

/// ASCII-only lowercase, as DNS comparisons require (RFC 4343).
constexpr std::uint8_t to_lower(std::uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + 32) : c;
}

/// A fully qualified domain name held in uncompressed wire form in a fixed
/// buffer (no heap). The case of the input is preserved; comparisons ignore it.
class name {
 public:
  /// The root name ".".
  name() { wire_[0] = 0; }

  /// Parses presentation format ("www.Example.com", trailing dot optional,
  /// "\." and "\DDD" escapes). "." and "" are the root. Names are absolute.
  static name_status from_text(std::string_view text, name& out);
  /// Validates and copies an uncompressed wire name that must fill `wire` exactly.
  static name_status from_wire(std::span<const std::uint8_t> wire, name& out);
  /// Like from_wire but `wire` may continue after the name; `used` gets its length.
  static name_status from_wire_prefix(std::span<const std::uint8_t> wire, name& out,
                                      std::size_t& used);

  std::span<const std::uint8_t> wire() const { return {wire_.data(), length_}; }
  std::size_t wire_length() const { return length_; }
  /// Number of labels, the root not counted ("a.b." has 2).
  std::size_t label_count() const;
  bool is_root() const { return length_ == 1; }
  /// True when the leftmost label is "*".
  bool is_wildcard() const { return length_ >= 3 && wire_[0] == 1 && wire_[1] == '*'; }

  /// Presentation format with a trailing dot, escaping as RFC 4343 requires.
  std::string to_string() const;
  void to_lower();
  name lowercased() const;

  /// Case-insensitive equality.
  bool equals(const name& other) const;
  /// True when this name equals `ancestor` or lies below it.
  bool is_subdomain_of(const name& ancestor) const;
  /// Removes the `n` leftmost labels (not past the root).
  void strip_left(std::size_t n);
  /// The name without its leftmost label (root stays root).
  name parent() const;
  /// Replaces the suffix `old_suffix` (which this name must be a subdomain
  /// of) by `new_suffix`, into `out` (DNAME substitution, RFC 6672 2.2).
  name_status replace_suffix(const name& old_suffix, const name& new_suffix, name& out) const;
  /// Prepends one label.
  name_status prepend_label(std::string_view label);

  /// RFC 4034 6.1 canonical order: <0, 0, >0.
  friend int canonical_compare(const name& a, const name& b);
  friend bool operator==(const name& a, const name& b) { return a.equals(b); }

 private:
  std::array<std::uint8_t, max_name_length> wire_{};
  std::size_t length_ = 1;
};

/// Offsets of each label start in an uncompressed wire name, leftmost first,
/// the root label excluded. Returns the label count (at most max_labels).
std::size_t label_offsets(std::span<const std::uint8_t> wire,
                          std::array<std::uint8_t, max_labels + 1>& offsets);

/// Case-insensitive equality of two uncompressed wire names.
bool wire_names_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace zonemesh::dns
