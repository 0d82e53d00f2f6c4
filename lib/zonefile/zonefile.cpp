// ldns-backed conversion between record text, wire RDATA and zone files.
#include "zonefile/zonefile.hpp"

#include <arpa/inet.h>

#include <stdbool.h>  // before ldns, which otherwise redefines bool
#include <stdio.h>

#include <ldns/ldns.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "dns/types.hpp"

namespace zonemesh::zonefile {
namespace {

struct rr_deleter {
  void operator()(ldns_rr* p) const { ldns_rr_free(p); }
};
struct rdf_deleter {
  void operator()(ldns_rdf* p) const { ldns_rdf_deep_free(p); }
};
struct buffer_deleter {
  void operator()(ldns_buffer* p) const { ldns_buffer_free(p); }
};
struct zone_deleter {
  void operator()(ldns_zone* p) const { ldns_zone_deep_free(p); }
};
struct file_deleter {
  void operator()(FILE* p) const { std::fclose(p); }
};
struct str_deleter {
  void operator()(char* p) const { std::free(p); }
};
using rr_ptr = std::unique_ptr<ldns_rr, rr_deleter>;
using rdf_ptr = std::unique_ptr<ldns_rdf, rdf_deleter>;
using buffer_ptr = std::unique_ptr<ldns_buffer, buffer_deleter>;
using zone_ptr = std::unique_ptr<ldns_zone, zone_deleter>;
using file_ptr = std::unique_ptr<FILE, file_deleter>;
using str_ptr = std::unique_ptr<char, str_deleter>;

std::string absolute(std::string_view n) {
  std::string s(n);
  if (s.empty() || s.back() != '.') s.push_back('.');
  return s;
}

std::string describe(const text_record& rec) {
  return rec.name + " " + rec.type + " \"" + rec.content + "\"";
}

/// Parses a text record into an ldns RR.
std::string make_rr(const text_record& rec, rr_ptr& out) {
  const auto type = dns::type_from_string(rec.type);
  if (!type) return describe(rec) + ": unknown type " + rec.type;
  if (dns::is_meta_type(*type)) return describe(rec) + ": type " + rec.type + " cannot be stored";
  dns::name owner;
  if (auto s = dns::name::from_text(rec.name, owner); s != dns::name_status::ok) {
    return describe(rec) + ": bad owner name: " + std::string(dns::to_string(s));
  }
  if (rec.content.find_first_of("\n\r") != std::string::npos) {
    return describe(rec) + ": content must be one line";
  }
  const std::string text = owner.to_string() + " " + std::to_string(rec.ttl) + " IN " +
                           dns::type_to_string(*type) + " " + rec.content;
  rdf_ptr root(ldns_dname_new_frm_str("."));
  ldns_rr* raw = nullptr;
  const ldns_status st = ldns_rr_new_frm_str(&raw, text.c_str(), rec.ttl, root.get(), nullptr);
  rr_ptr rr(raw);
  if (st != LDNS_STATUS_OK || !rr) {
    return describe(rec) + ": " + ldns_get_errorstr_by_id(st);
  }
  if (ldns_rr_get_type(rr.get()) != *type) return describe(rec) + ": type mismatch";
  out = std::move(rr);
  return {};
}

std::string strip_dot(std::string s) {
  if (s.size() > 1 && s.back() == '.' && s[s.size() - 2] != '\\') s.pop_back();
  return s;
}

std::string from_ldns(const ldns_rr* rr, text_record& out) {
  str_ptr owner(ldns_rdf2str(ldns_rr_owner(rr)));
  if (!owner) return "cannot format owner";
  text_record rec;
  rec.name = strip_dot(owner.get());
  rec.type = dns::type_to_string(static_cast<std::uint16_t>(ldns_rr_get_type(rr)));
  rec.ttl = ldns_rr_ttl(rr);
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* rdf = ldns_rr_rdf(rr, i);
    str_ptr text(ldns_rdf2str(rdf));
    if (!text) return "cannot format RDATA of " + rec.name;
    std::string field = text.get();
    if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME) field = strip_dot(field);
    if (!rec.content.empty()) rec.content.push_back(' ');
    rec.content += field;
  }
  if (rec.content.empty()) rec.content = "\\# 0";  // empty RDATA in RFC 3597 form
  out = std::move(rec);
  return {};
}

void put16(std::vector<std::uint8_t>& out, unsigned v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

bool put_name(std::vector<std::uint8_t>& out, std::string_view text) {
  dns::name n;
  if (text.empty() || dns::name::from_text(text, n) != dns::name_status::ok) return false;
  out.insert(out.end(), n.wire().begin(), n.wire().end());
  return true;
}

/// A decimal number of at most `max` with nothing else around it.
bool parse_number(std::string_view text, unsigned max, unsigned& v) {
  if (text.empty() || text.size() > 5) return false;
  v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v <= max;
}

/// Splits on single spaces; false when there are not exactly `n` fields.
bool split_fields(std::string_view text, std::string_view* fields, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    auto sp = text.find(' ');
    if (i + 1 < n) {
      if (sp == std::string_view::npos) return false;
      fields[i] = text.substr(0, sp);
      text.remove_prefix(sp + 1);
    } else {
      if (sp != std::string_view::npos) return false;
      fields[i] = text;
    }
  }
  return true;
}

/// Character strings of a TXT (or SPF) record in the database's normalized
/// form: one or more "..." separated by single spaces, each of at most 255
/// printable ASCII characters without quote, backslash, semicolon or
/// parenthesis. Anything else (escapes, unquoted words) is left to ldns.
bool put_character_strings(std::vector<std::uint8_t>& out, std::string_view text) {
  if (text.empty()) return false;
  std::size_t i = 0;
  while (true) {
    if (i >= text.size() || text[i] != '"') return false;
    const std::size_t start = ++i;
    while (i < text.size() && text[i] != '"') {
      const char c = text[i];
      if (c < 0x20 || c > 0x7e || c == '\\' || c == ';' || c == '(' || c == ')') return false;
      ++i;
    }
    if (i >= text.size() || i - start > 255) return false;
    out.push_back(static_cast<std::uint8_t>(i - start));
    out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(start),
               text.begin() + static_cast<std::ptrdiff_t>(i));
    ++i;  // the closing quote
    if (i == text.size()) return true;
    if (text[i] != ' ') return false;
    ++i;
  }
}

/// A record type, the common ones as the database writes them (upper case)
/// without a search of the mnemonic table.
std::optional<std::uint16_t> record_type(std::string_view text) {
  if (text == "A") return dns::rr_type::a;
  if (text == "AAAA") return dns::rr_type::aaaa;
  if (text == "TXT") return dns::rr_type::txt;
  if (text == "MX") return dns::rr_type::mx;
  if (text == "CNAME") return dns::rr_type::cname;
  if (text == "NS") return dns::rr_type::ns;
  return dns::type_from_string(text);
}

/// The common types in the database's normalized form, without ldns (which
/// allocates dozens of times per record, and a 64 KiB buffer each time: a
/// 1M-record zone loads much faster this way). Returns false for anything
/// else, which then goes through ldns, so both paths accept and produce the
/// same. Writes into `out`, reusing its RDATA buffer; with `owner_parsed`,
/// `out.owner` already holds `name` parsed.
bool fast_to_wire(std::string_view name, std::string_view type_text, std::uint32_t ttl,
                  std::string_view content, store::record& out, bool owner_parsed) {
  const auto type = record_type(type_text);
  if (!type) return false;
  std::vector<std::uint8_t>& rdata = out.rdata;
  rdata.clear();
  std::string_view f[4];
  unsigned a = 0, b = 0, c = 0;
  switch (*type) {
    case dns::rr_type::a: {
      in_addr v4;
      char copy[16];
      if (content.size() > 15) return false;
      std::memcpy(copy, content.data(), content.size());
      copy[content.size()] = '\0';
      if (inet_pton(AF_INET, copy, &v4) != 1) return false;
      const auto* p = reinterpret_cast<const std::uint8_t*>(&v4);
      rdata.assign(p, p + 4);
      break;
    }
    case dns::rr_type::aaaa: {
      in6_addr v6;
      char copy[46];
      if (content.size() > 45 || content.find('.') != std::string_view::npos) return false;
      std::memcpy(copy, content.data(), content.size());
      copy[content.size()] = '\0';
      if (inet_pton(AF_INET6, copy, &v6) != 1) return false;
      const auto* p = reinterpret_cast<const std::uint8_t*>(&v6);
      rdata.assign(p, p + 16);
      break;
    }
    case dns::rr_type::ns:
    case dns::rr_type::cname:
    case dns::rr_type::ptr:
    case dns::rr_type::dname:
      if (content.find(' ') != std::string_view::npos || content.find('\\') != std::string_view::npos ||
          !put_name(rdata, content)) {
        return false;
      }
      break;
    case dns::rr_type::mx:
      if (!split_fields(content, f, 2) || !parse_number(f[0], 65535, a) ||
          f[1].find('\\') != std::string_view::npos) {
        return false;
      }
      put16(rdata, a);
      if (!put_name(rdata, f[1])) return false;
      break;
    case dns::rr_type::srv:
      if (!split_fields(content, f, 4) || !parse_number(f[0], 65535, a) || !parse_number(f[1], 65535, b) ||
          !parse_number(f[2], 65535, c) || f[3].find('\\') != std::string_view::npos) {
        return false;
      }
      put16(rdata, a);
      put16(rdata, b);
      put16(rdata, c);
      if (!put_name(rdata, f[3])) return false;
      break;
    case dns::rr_type::txt:
    case dns::rr_type::spf:
      if (!put_character_strings(rdata, content)) return false;
      break;
    default:
      return false;
  }
  if (!owner_parsed && dns::name::from_text(name, out.owner) != dns::name_status::ok) return false;
  out.type = *type;
  out.rrclass = dns::rr_class::in;
  out.ttl = ttl;
  return true;
}

}  // namespace

std::string to_wire(std::string_view name, std::string_view type, std::uint32_t ttl, std::string_view content,
                    store::record& out, bool owner_parsed) {
  if (fast_to_wire(name, type, ttl, content, out, owner_parsed)) return {};
  return to_wire(text_record{std::string(name), std::string(type), ttl, std::string(content)}, out);
}

std::string to_wire(const text_record& rec, store::record& out) {
  if (fast_to_wire(rec.name, rec.type, rec.ttl, rec.content, out, false)) return {};
  rr_ptr rr;
  if (auto error = make_rr(rec, rr); !error.empty()) return error;
  buffer_ptr buf(ldns_buffer_new(512));
  if (!buf || ldns_rr_rdata2buffer_wire(buf.get(), rr.get()) != LDNS_STATUS_OK) {
    return describe(rec) + ": cannot convert to wire format";
  }
  const auto* data = ldns_buffer_begin(buf.get());
  store::record r;
  if (dns::name::from_text(rec.name, r.owner) != dns::name_status::ok) {
    return describe(rec) + ": bad owner name";
  }
  r.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr.get()));
  r.rrclass = dns::rr_class::in;
  r.ttl = rec.ttl;
  r.rdata.assign(data, data + ldns_buffer_position(buf.get()));
  out = std::move(r);
  return {};
}

std::string to_text(const store::record& rec, text_record& out) {
  std::vector<std::uint8_t> wire(rec.owner.wire().begin(), rec.owner.wire().end());
  const std::uint8_t fixed[] = {static_cast<std::uint8_t>(rec.type >> 8),
                                static_cast<std::uint8_t>(rec.type),
                                static_cast<std::uint8_t>(rec.rrclass >> 8),
                                static_cast<std::uint8_t>(rec.rrclass),
                                static_cast<std::uint8_t>(rec.ttl >> 24),
                                static_cast<std::uint8_t>(rec.ttl >> 16),
                                static_cast<std::uint8_t>(rec.ttl >> 8),
                                static_cast<std::uint8_t>(rec.ttl),
                                static_cast<std::uint8_t>(rec.rdata.size() >> 8),
                                static_cast<std::uint8_t>(rec.rdata.size())};
  wire.insert(wire.end(), std::begin(fixed), std::end(fixed));
  wire.insert(wire.end(), rec.rdata.begin(), rec.rdata.end());
  ldns_rr* raw = nullptr;
  std::size_t pos = 0;
  const ldns_status st = ldns_wire2rr(&raw, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER);
  rr_ptr rr(raw);
  if (st != LDNS_STATUS_OK || !rr) {
    return rec.owner.to_string() + " " + dns::type_to_string(rec.type) + ": " +
           ldns_get_errorstr_by_id(st);
  }
  return from_ldns(rr.get(), out);
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

struct scanned_lines {
  std::vector<int> records;  ///< first lines of the records other than SOA, in file order
  std::vector<int> soas;     ///< first lines of the SOA records
};

/// The lines on which each record starts, in the order of
/// ldns_zone_rrs (SOA records apart), read with the same reader record by
/// record (TTLs do not matter here). Stops at the first syntax error.
scanned_lines record_lines(const std::string& text, const ldns_rdf* origin) {
  scanned_lines lines;
  std::string copy = text;
  file_ptr fp(fmemopen(copy.data(), copy.size(), "r"));
  if (!fp) return lines;
  ldns_rdf* my_origin = ldns_rdf_clone(origin);
  ldns_rdf* my_prev = ldns_rdf_clone(origin);
  // Lines with something other than blanks and a comment (1-based).
  std::vector<bool> has_content(1, false);
  bool content = false;
  bool comment = false;
  for (const char c : text) {
    if (c == '\n') {
      has_content.push_back(content);
      content = comment = false;
    } else if (c == ';' && !content) {
      comment = true;
    } else if (c != ' ' && c != '\t' && c != '\r' && !comment) {
      content = true;
    }
  }
  has_content.push_back(content);
  // ldns counts the lines it read, which may include blank lines after a
  // record: a record starts on the first line with content after the end
  // of the previous one.
  const auto start_after = [&](int end) {
    std::size_t i = static_cast<std::size_t>(end) + 1;
    while (i < has_content.size() && !has_content[i]) ++i;
    return i < has_content.size() ? static_cast<int>(i) : end;
  };
  std::uint32_t ttl = 3600;
  int line = 0;
  while (!std::feof(fp.get())) {
    ldns_rr* raw = nullptr;
    const int previous_end = line;
    const ldns_status st = ldns_rr_new_frm_fp_l(&raw, fp.get(), &ttl, &my_origin, &my_prev, &line);
    rr_ptr rr(raw);
    if (st == LDNS_STATUS_OK && rr) {
      (ldns_rr_get_type(rr.get()) == LDNS_RR_TYPE_SOA ? lines.soas : lines.records)
          .push_back(start_after(previous_end));
    } else if (st != LDNS_STATUS_SYNTAX_EMPTY && st != LDNS_STATUS_SYNTAX_TTL &&
               st != LDNS_STATUS_SYNTAX_ORIGIN) {
      break;
    }
  }
  if (my_origin != nullptr) ldns_rdf_deep_free(my_origin);
  if (my_prev != nullptr) ldns_rdf_deep_free(my_prev);
  return lines;
}

}  // namespace

std::string split_long_strings(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool character_string_type = false;  // TXT or SPF seen in this record
  int depth = 0;                       // parentheses
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ';') {  // a comment, to the end of the line
      const std::size_t end = text.find('\n', i);
      const std::size_t stop = end == std::string_view::npos ? text.size() : end;
      out.append(text.substr(i, stop - i));
      i = stop;
      continue;
    }
    if (c == '\n') {
      if (depth == 0) character_string_type = false;
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '(' || c == ')') {
      depth += c == '(' ? 1 : (depth > 0 ? -1 : 0);
      out.push_back(c);
      ++i;
      continue;
    }
    if (is_space(c)) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '"') {
      // One quoted string: split into tokens of one octet each (an escape
      // is one octet), then written back 255 octets to a string.
      std::size_t j = i + 1;
      std::size_t octets = 0;
      std::vector<std::pair<std::size_t, std::size_t>> tokens;  // [start, end) in text
      while (j < text.size() && text[j] != '"') {
        std::size_t n = 1;
        if (text[j] == '\\' && j + 1 < text.size()) {
          n = (j + 3 < text.size() && std::isdigit(static_cast<unsigned char>(text[j + 1])) &&
               std::isdigit(static_cast<unsigned char>(text[j + 2])) &&
               std::isdigit(static_cast<unsigned char>(text[j + 3])))
                  ? 4
                  : 2;
        }
        tokens.emplace_back(j, j + n);
        j += n;
        ++octets;
      }
      if (j >= text.size() || !character_string_type || octets <= 255) {
        const std::size_t stop = j >= text.size() ? text.size() : j + 1;
        out.append(text.substr(i, stop - i));
        i = stop;
        continue;
      }
      out.push_back('"');
      for (std::size_t k = 0; k < tokens.size(); ++k) {
        if (k > 0 && k % 255 == 0) out.append("\" \"");
        out.append(text.substr(tokens[k].first, tokens[k].second - tokens[k].first));
      }
      out.push_back('"');
      i = j + 1;
      continue;
    }
    // An unquoted word.
    std::size_t j = i;
    while (j < text.size() && !is_space(text[j]) && text[j] != '\n' && text[j] != ';' &&
           text[j] != '(' && text[j] != ')' && text[j] != '"') {
      j += (text[j] == '\\' && j + 1 < text.size()) ? 2 : 1;
    }
    const std::string_view word = text.substr(i, j - i);
    if (iequals_ascii(word, "TXT") || iequals_ascii(word, "SPF")) character_string_type = true;
    out.append(word);
    i = j;
  }
  return out;
}

zone_file_result parse_zone_file(std::string_view text, std::string_view origin,
                                 std::uint32_t default_ttl) {
  zone_file_result result;
  std::string copy = split_long_strings(text);
  if (copy.empty() || copy.back() != '\n') copy.push_back('\n');
  file_ptr fp(fmemopen(copy.data(), copy.size(), "r"));
  if (!fp) {
    result.error = "cannot read zone text";
    return result;
  }
  rdf_ptr origin_rdf(ldns_dname_new_frm_str(absolute(origin).c_str()));
  if (!origin_rdf) {
    result.error = "bad origin " + std::string(origin);
    return result;
  }
  const scanned_lines lines = record_lines(copy, origin_rdf.get());
  // ldns's zone reader drops a second SOA and then reads freed memory when
  // the next record has no TTL (found by tests/fuzz rdata). A second SOA as
  // the very last record (a zone transfer's dump, SOA first and last) is
  // harmless and dropped; anywhere else it is refused before ldns reads it.
  const bool transfer_dump =
      lines.soas.size() == 2 &&
      std::all_of(lines.records.begin(), lines.records.end(),
                  [&](int l) { return l < lines.soas[1]; });
  if (lines.soas.size() > 1 && !transfer_dump) {
    result.error = "line " + std::to_string(lines.soas[1]) + ": a second SOA record (line " +
                   std::to_string(lines.soas[0]) + " has one); a zone file holds exactly one";
    return result;
  }
  ldns_zone* raw = nullptr;
  int line = 0;
  const ldns_status st = ldns_zone_new_frm_fp_l(&raw, fp.get(), origin_rdf.get(), default_ttl,
                                                LDNS_RR_CLASS_IN, &line);
  zone_ptr zone(raw);
  if (st != LDNS_STATUS_OK || !zone) {
    result.error = "line " + std::to_string(line) + ": " + ldns_get_errorstr_by_id(st);
    return result;
  }
  auto add = [&](const ldns_rr* rr, int at) -> bool {
    text_record rec;
    if (auto error = from_ldns(rr, rec); !error.empty()) {
      result.error = error;
      return false;
    }
    result.records.push_back(std::move(rec));
    result.lines.push_back(at);
    return true;
  };
  if (const ldns_rr* soa = ldns_zone_soa(zone.get());
      soa != nullptr && !add(soa, lines.soas.empty() ? 0 : lines.soas[0])) {
    return result;
  }
  const ldns_rr_list* rrs = ldns_zone_rrs(zone.get());
  for (std::size_t i = 0; rrs != nullptr && i < ldns_rr_list_rr_count(rrs); ++i) {
    if (!add(ldns_rr_list_rr(rrs, i), i < lines.records.size() ? lines.records[i] : 0))
      return result;
  }
  return result;
}

std::string format_zone_file(std::span<const text_record> records, std::string& error) {
  error.clear();
  std::vector<const text_record*> ordered;
  for (const auto& r : records) ordered.push_back(&r);
  std::stable_partition(ordered.begin(), ordered.end(), [](const text_record* r) {
    return dns::type_from_string(r->type) == dns::rr_type::soa;
  });
  std::string out;
  for (const auto* rec : ordered) {
    rr_ptr rr;
    if (auto e = make_rr(*rec, rr); !e.empty()) {
      error = e;
      return {};
    }
    str_ptr line(ldns_rr2str(rr.get()));
    if (!line) {
      error = describe(*rec) + ": cannot format";
      return {};
    }
    out += line.get();
  }
  return out;
}

}  // namespace zonemesh::zonefile
