// GET / and /ui/<file>: the web UI's static files, with headers that keep
// the page from running anything but its own script (record content is
// rendered as text by the script; the policy is a second line of defence).
#include <string>

#include "api.hpp"
#include "http_server.hpp"
#include "web_files.hpp"

namespace zonemesh::server {

namespace {

http_response file_response(const web_file& f) {
  http_response res;
  res.content_type = std::string(f.content_type);
  res.body = std::string(f.body);
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  return res;
}

}  // namespace

void add_web_ui_routes(http_router& router) {
  for (const auto& f : embedded_web_files()) {
    if (f.name == "index.html") {
      router.add("GET", "/", [&f](const http_request&) { return file_response(f); });
    }
    router.add("GET", "/ui/" + std::string(f.name),
               [&f](const http_request&) { return file_response(f); });
  }
}

}  // namespace zonemesh::server
