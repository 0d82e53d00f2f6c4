#pragma once
// The web UI's files (web/), compiled into the server by server/embed_web.cmake.

#include <span>
#include <string_view>

namespace zonemesh::server {

struct web_file {
  std::string_view name;          ///< file name in web/, e.g. "app.js"
  std::string_view content_type;  ///< e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

/// Every file of web/, as it was at build time.
[[nodiscard]] std::span<const web_file> embedded_web_files();

}  // namespace zonemesh::server
