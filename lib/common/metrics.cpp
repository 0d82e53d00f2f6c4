// Prometheus metrics registry and text exposition (format 0.0.4).
#include "common/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>
#include <type_traits>

namespace zonemesh::common::metrics {

namespace detail {
std::size_t assign_shard() noexcept {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % shard_count;
}
}  // namespace detail

namespace {

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (digit && i > 0))) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__") || name.find(':') != std::string_view::npos) {
    return false;
  }
  return valid_metric_name(name);
}

void append_help_escaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 24 bytes always hold a uint64
  out.append(buf, ptr);
}

// name{a="x",b="y"[,extra_name="extra_value"]}
void append_series(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  if (label_names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += label_names[i];
    out += "=\"";
    append_escaped_label_value(out, label_values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    append_escaped_label_value(out, extra_value);
    out += '"';
  }
  out += '}';
}

void render_child(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const counter& c) {
  append_series(out, name, "", names, values);
  out += ' ';
  append_uint(out, c.value());
  out += '\n';
}

void render_child(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const gauge& g) {
  append_series(out, name, "", names, values);
  out += ' ';
  append_value(out, g.value());
  out += '\n';
}

void render_child(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const histogram& h) {
  const auto snap = h.collect();
  std::string le;
  for (std::size_t i = 0; i <= snap.upper_bounds.size(); ++i) {
    le.clear();
    if (i == snap.upper_bounds.size()) {
      le = "+Inf";
    } else {
      append_value(le, snap.upper_bounds[i]);
    }
    append_series(out, name, "_bucket", names, values, "le", le);
    out += ' ';
    append_uint(out, snap.cumulative[i]);
    out += '\n';
  }
  append_series(out, name, "_sum", names, values);
  out += ' ';
  append_value(out, snap.sum);
  out += '\n';
  append_series(out, name, "_count", names, values);
  out += ' ';
  append_uint(out, snap.count);
  out += '\n';
}

class callback_gauge_family final : public detail::family_base {
 public:
  callback_gauge_family(std::string name, std::string help, std::function<double()> read)
      : family_base(std::move(name), std::move(help), {}), read_(std::move(read)) {}

  void render(std::string& out) const override {
    render_header(out);
    double v = std::nan("");
    try {
      v = read_();
    } catch (...) {
      // A failing callback shows as NaN rather than breaking the whole scrape.
    }
    out += name_;
    out += ' ';
    append_value(out, v);
    out += '\n';
  }
  [[nodiscard]] std::string_view type_name() const noexcept override { return "gauge"; }

 private:
  std::function<double()> read_;
};

}  // namespace

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) {
    out += "NaN";
    return;
  }
  out.append(buf, ptr);
}

std::uint64_t counter::value() const noexcept {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s.value.load(std::memory_order_relaxed);
  return total;
}

histogram::histogram(std::span<const double> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i] > bounds_[i - 1]))) {
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
    }
  }
  constexpr std::size_t per_line = 64 / sizeof(std::atomic<std::uint64_t>);
  const std::size_t cells = bounds_.size() + 1;
  stride_ = (cells + per_line - 1) / per_line * per_line;
  cells_ = std::make_unique<std::atomic<std::uint64_t>[]>(stride_ * shard_count);
}

void histogram::observe(double v) noexcept {
  std::size_t bucket = 0;
  const std::size_t n = bounds_.size();
  while (bucket < n && !(v <= bounds_[bucket])) ++bucket;
  const std::size_t shard = this_thread_shard();
  cells_[shard * stride_ + bucket].fetch_add(1, std::memory_order_relaxed);
  sums_[shard].sum.fetch_add(v, std::memory_order_relaxed);
}

histogram::snapshot histogram::collect() const {
  snapshot snap;
  snap.upper_bounds = bounds_;
  snap.cumulative.assign(bounds_.size() + 1, 0);
  for (std::size_t s = 0; s < shard_count; ++s) {
    for (std::size_t b = 0; b <= bounds_.size(); ++b) {
      snap.cumulative[b] += cells_[s * stride_ + b].load(std::memory_order_relaxed);
    }
    snap.sum += sums_[s].sum.load(std::memory_order_relaxed);
  }
  for (std::size_t b = 1; b < snap.cumulative.size(); ++b) {
    snap.cumulative[b] += snap.cumulative[b - 1];
  }
  snap.count = snap.cumulative.back();
  return snap;
}

std::vector<double> default_latency_buckets() {
  return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
          0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   1.0};
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (!(start > 0) || !(factor > 1)) {
    throw std::invalid_argument("exponential_buckets needs start > 0 and factor > 1");
  }
  std::vector<double> out;
  out.reserve(count);
  double v = start;
  for (std::size_t i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

// ---- families ---------------------------------------------------------------

detail::family_base::family_base(std::string name, std::string help,
                                 std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void detail::family_base::render_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_help_escaped(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name();
  out += '\n';
}

template <typename Metric>
family<Metric>::family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> buckets)
    : family_base(std::move(name), std::move(help), std::move(label_names)),
      buckets_(std::move(buckets)) {
  if constexpr (std::is_same_v<Metric, histogram>) {
    histogram check(buckets_);  // validates the bounds now rather than at first use
    for (const auto& l : label_names_) {
      if (l == "le") throw std::invalid_argument("histogram " + name_ + " may not use label 'le'");
    }
  }
}

template <typename Metric>
Metric& family<Metric>::with(std::initializer_list<std::string_view> values) {
  return child(std::vector<std::string>(values.begin(), values.end()));
}

template <typename Metric>
Metric& family<Metric>::with(std::span<const std::string> values) {
  return child(std::vector<std::string>(values.begin(), values.end()));
}

template <typename Metric>
Metric& family<Metric>::child(std::vector<std::string> values) {
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument(name_ + ": expected " + std::to_string(label_names_.size()) +
                                " label values, got " + std::to_string(values.size()));
  }
  const std::lock_guard lock(mutex_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    std::unique_ptr<Metric> metric;
    if constexpr (std::is_same_v<Metric, histogram>) {
      metric = std::make_unique<histogram>(buckets_);
    } else {
      metric = std::make_unique<Metric>();
    }
    it = children_.emplace(std::move(values), std::move(metric)).first;
  }
  return *it->second;
}

template <typename Metric>
void family<Metric>::render(std::string& out) const {
  render_header(out);
  const std::lock_guard lock(mutex_);
  for (const auto& [values, metric] : children_) {
    render_child(out, name_, label_names_, values, *metric);
  }
}

template <typename Metric>
std::string_view family<Metric>::type_name() const noexcept {
  if constexpr (std::is_same_v<Metric, counter>) {
    return "counter";
  } else if constexpr (std::is_same_v<Metric, gauge>) {
    return "gauge";
  } else {
    return "histogram";
  }
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// ---- registry ---------------------------------------------------------------

registry::registry() = default;
registry::~registry() = default;

template <typename Family, typename... Args>
Family& registry::add(const std::string& name, const std::string& help,
                      std::vector<std::string> label_names, Args&&... args) {
  if (!valid_metric_name(name)) throw std::invalid_argument("bad metric name '" + name + "'");
  for (const auto& l : label_names) {
    if (!valid_label_name(l)) {
      throw std::invalid_argument("bad label name '" + l + "' in metric " + name);
    }
  }
  const std::lock_guard lock(mutex_);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* existing = dynamic_cast<Family*>(it->second.get());
    if (existing == nullptr || existing->label_names() != label_names) {
      throw std::invalid_argument("metric " + name +
                                  " is already registered with another type or labels");
    }
    return *existing;
  }
  auto fam =
      std::make_unique<Family>(name, help, std::move(label_names), std::forward<Args>(args)...);
  auto& ref = *fam;
  families_.emplace(name, std::move(fam));
  return ref;
}

counter_family& registry::add_counter_family(const std::string& name, const std::string& help,
                                             std::vector<std::string> label_names) {
  return add<counter_family>(name, help, std::move(label_names));
}

gauge_family& registry::add_gauge_family(const std::string& name, const std::string& help,
                                         std::vector<std::string> label_names) {
  return add<gauge_family>(name, help, std::move(label_names));
}

histogram_family& registry::add_histogram_family(const std::string& name, const std::string& help,
                                                 std::vector<std::string> label_names,
                                                 std::vector<double> buckets) {
  const std::vector<double> wanted = buckets;
  auto& fam = add<histogram_family>(name, help, std::move(label_names), std::move(buckets));
  if (fam.buckets() != wanted) {
    throw std::invalid_argument("histogram " + name + " is already registered with other buckets");
  }
  return fam;
}

counter& registry::add_counter(const std::string& name, const std::string& help) {
  return add_counter_family(name, help, {}).with({});
}

gauge& registry::add_gauge(const std::string& name, const std::string& help) {
  return add_gauge_family(name, help, {}).with({});
}

histogram& registry::add_histogram(const std::string& name, const std::string& help,
                                   std::vector<double> buckets) {
  return add_histogram_family(name, help, {}, std::move(buckets)).with({});
}

void registry::add_gauge_callback(const std::string& name, const std::string& help,
                                  std::function<double()> read) {
  if (!valid_metric_name(name)) throw std::invalid_argument("bad metric name '" + name + "'");
  const std::lock_guard lock(mutex_);
  if (families_.contains(name)) {
    throw std::invalid_argument("metric " + name + " is already registered");
  }
  families_.emplace(name, std::make_unique<callback_gauge_family>(name, help, std::move(read)));
}

std::string registry::render() const {
  std::string out;
  out.reserve(4096);
  const std::lock_guard lock(mutex_);
  for (const auto& [name, fam] : families_) fam->render(out);
  return out;
}

}  // namespace zonemesh::common::metrics
