// The peer protocol's framing.

#include "frame.hpp"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

namespace zonemesh::replicator {

std::string_view to_string(frame_type t) {
  switch (t) {
    case frame_type::hello: return "hello";
    case frame_type::changes: return "changes";
    case frame_type::ack: return "ack";
    case frame_type::ping: return "ping";
    case frame_type::pong: return "pong";
    case frame_type::snapshot_begin: return "snapshot_begin";
    case frame_type::snapshot_rows: return "snapshot_rows";
    case frame_type::snapshot_tombstones: return "snapshot_tombstones";
    case frame_type::snapshot_end: return "snapshot_end";
    case frame_type::error: return "error";
  }
  return "unknown";
}

std::string encode_frame(frame_type type, std::string_view payload) {
  std::string out;
  auto length = static_cast<std::uint32_t>(payload.size() + 1);
  out.reserve(frame_header_size + payload.size());
  out.push_back(static_cast<char>(length >> 24));
  out.push_back(static_cast<char>(length >> 16));
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length));
  out.push_back(static_cast<char>(type));
  out.append(payload);
  return out;
}

frame_status parse_frame_header(const std::uint8_t (&header)[frame_header_size], std::uint32_t& payload_size,
                                frame_type& type) {
  std::uint32_t length = (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
                         (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
  if (length == 0) return frame_status::empty;
  if (length > max_frame_size) return frame_status::too_large;
  if (header[4] < static_cast<std::uint8_t>(frame_type::hello) ||
      header[4] > static_cast<std::uint8_t>(frame_type::error)) {
    return frame_status::unknown_type;
  }
  payload_size = length - 1;
  type = static_cast<frame_type>(header[4]);
  return frame_status::ok;
}

frame_reader::status frame_reader::consume(std::span<const std::uint8_t>& data) {
  if (ready_) {  // the caller did not take the last frame: drop it
    payload_.clear();
    ready_ = false;
  }
  if (!in_payload_) {
    const std::size_t n = std::min(data.size(), frame_header_size - header_used_);
    std::memcpy(header_ + header_used_, data.data(), n);
    header_used_ += n;
    data = data.subspan(n);
    if (header_used_ < frame_header_size) return status::need_more;
    claimed_ = (std::uint32_t{header_[0]} << 24) | (std::uint32_t{header_[1]} << 16) |
               (std::uint32_t{header_[2]} << 8) | std::uint32_t{header_[3]};
    switch (parse_frame_header(header_, payload_size_, type_)) {
      case frame_status::ok: break;
      case frame_status::too_large: return status::too_large;
      case frame_status::empty: return status::empty;
      case frame_status::unknown_type: return status::unknown_type;
    }
    if (claimed_ > limit_) return status::too_large;
    in_payload_ = true;
    payload_.clear();
  }
  const std::size_t missing = payload_size_ - payload_.size();
  const std::size_t n = std::min(data.size(), missing);
  const std::size_t want = payload_.size() + n;
  if (payload_.capacity() < want) {
    // Grow with what arrived: doubling, but never more than `chunk` beyond
    // it, nor beyond the frame.
    payload_.reserve(std::min<std::size_t>(payload_size_,
                                           std::max(want, std::min(payload_.capacity() * 2, want + chunk))));
  }
  payload_.append(reinterpret_cast<const char*>(data.data()), n);
  data = data.subspan(n);
  if (payload_.size() < payload_size_) return status::need_more;
  in_payload_ = false;
  header_used_ = 0;
  ready_ = true;
  return status::frame_ready;
}

std::string frame_reader::take_payload() {
  ready_ = false;
  std::string out = std::move(payload_);
  payload_ = std::string();
  return out;
}

hello_status parse_hello(std::string_view payload, hello_message& hello, std::string& error) {
  using json = nlohmann::json;
  json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (j.is_discarded()) {
    error = "not JSON";
    return hello_status::not_json;
  }
  if (!j.is_object()) {
    error = "not a JSON object";
    return hello_status::not_an_object;
  }
  auto bad = [&](const char* what) {
    error = what;
    return hello_status::bad_field;
  };
  hello = hello_message{};
  auto p = j.find("protocol");
  if (p == j.end() || !p->is_number_integer()) return bad("\"protocol\" is not an integer");
  hello.protocol = p->get<long long>();
  auto n = j.find("node");
  if (n == j.end() || !n->is_string()) return bad("\"node\" is not a string");
  hello.node = n->get<std::string>();
  if (auto v = j.find("vector"); v != j.end()) {
    if (!v->is_object()) return bad("\"vector\" is not an object");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it.value().is_number_integer()) return bad("a \"vector\" entry is not an integer");
      hello.vector[it.key()] = it.value().get<long long>();
    }
  }
  if (auto c = j.find("clock_ms"); c != j.end()) {
    if (!c->is_number_integer()) return bad("\"clock_ms\" is not an integer");
    hello.clock_ms = c->get<long long>();
  }
  if (auto l = j.find("links"); l != j.end()) {
    if (!l->is_array()) return bad("\"links\" is not an array");
    hello.has_links = true;
    for (const auto& e : *l) {
      if (!e.is_string()) return bad("a \"links\" entry is not a string");
      hello.links.insert(e.get<std::string>());
    }
  }
  return hello_status::ok;
}

}  // namespace zonemesh::replicator
