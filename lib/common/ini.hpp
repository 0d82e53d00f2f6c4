#pragma once
// A minimal INI reader: `key = value` lines in [sections], '#' and ';'
// comments, values optionally in double quotes. Errors name source:line.

#include <string>
#include <string_view>
#include <vector>

namespace zonemesh::common {

struct ini_entry {
  std::string section;
  std::string key;
  std::string value;
  int line = 0;
};

/// Splits `text` into entries, in order. Throws std::runtime_error
/// ("source:line: problem") for a line that is neither a section, a comment
/// nor `key = value`.
std::vector<ini_entry> parse_ini(std::string_view text, std::string_view source);

/// Reads a whole file; throws std::runtime_error naming it when it cannot.
std::string read_text_file(const std::string& path);

}  // namespace zonemesh::common
