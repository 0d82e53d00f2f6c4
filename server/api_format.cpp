// PowerDNS API conventions: zone ids, kinds and absolute names in content.
#include "api_format.hpp"

#include <vector>

namespace zonemesh::server::api_format {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string absolute_name_field(std::string_view name) {
  if (name.empty() || name.back() == '.') return std::string(name);
  return std::string(name) + ".";
}

std::vector<std::string> split_blanks(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace

std::string absolute(std::string_view stored_name) { return absolute_name_field(stored_name); }

std::string zone_id(std::string_view stored_name) {
  static constexpr char hex[] = "0123456789ABCDEF";
  const std::string name = absolute(stored_name);
  std::string id;
  id.reserve(name.size() + 8);
  for (char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '-';
    if (plain) {
      id += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      id += '=';
      id += hex[u >> 4];
      id += hex[u & 0xf];
    }
  }
  if (id == ".") id = "=2E";
  return id;
}

std::optional<std::string> zone_name_from_id(std::string_view id) {
  std::string out;
  out.reserve(id.size());
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (id[i] != '=') {
      out += id[i];
      continue;
    }
    if (i + 2 >= id.size()) return std::nullopt;
    const int hi = hex_digit(id[i + 1]);
    const int lo = hex_digit(id[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string kind_to_api(std::string_view stored_kind) {
  if (stored_kind == "primary") return "Master";
  if (stored_kind == "secondary") return "Slave";
  return "Native";
}

std::optional<std::string> kind_from_api(std::string_view api_kind) {
  const std::string k = lower(api_kind);
  if (k == "native") return "native";
  if (k == "master" || k == "primary") return "primary";
  if (k == "slave" || k == "secondary") return "secondary";
  return std::nullopt;
}

std::string content_to_api(std::string_view type, std::string_view content,
                           std::optional<long long> serial) {
  if (type == "NS" || type == "CNAME" || type == "PTR" || type == "DNAME") {
    return content == "." ? std::string(content) : absolute_name_field(content);
  }
  if (type == "MX" || type == "SRV" || type == "SOA") {
    auto f = split_blanks(content);
    if (type == "MX" && f.size() == 2) {
      f[1] = absolute_name_field(f[1]);
    } else if (type == "SRV" && f.size() == 4) {
      f[3] = absolute_name_field(f[3]);
    } else if (type == "SOA" && f.size() == 7) {
      f[0] = absolute_name_field(f[0]);
      f[1] = absolute_name_field(f[1]);
      if (serial) f[2] = std::to_string(*serial);
    } else {
      return std::string(content);
    }
    std::string out;
    for (const auto& part : f) {
      if (!out.empty()) out += ' ';
      out += part;
    }
    return out;
  }
  return std::string(content);
}

}  // namespace zonemesh::server::api_format
