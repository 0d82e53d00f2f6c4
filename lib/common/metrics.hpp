#pragma once
// A small Prometheus metrics registry: counters, gauges and fixed-bucket
// histograms with labels, rendered in the text exposition format 0.0.4.
//
// Hot path: counter::inc and histogram::observe are a relaxed atomic add on a
// per-thread shard (no lock, no allocation, no shared cache line between
// threads that got different shards). Looking up a labelled child
// (family::with) takes a lock: do it once and keep the reference, children
// live as long as the registry.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zonemesh::common::metrics {

/// Number of per-thread shards of each counter and histogram.
inline constexpr std::size_t shard_count = 16;

namespace detail {
std::size_t assign_shard() noexcept;
}  // namespace detail

/// The shard of the calling thread, assigned round-robin on its first use.
inline std::size_t this_thread_shard() noexcept {
  static thread_local std::size_t shard = shard_count;
  if (shard == shard_count) [[unlikely]] {
    shard = detail::assign_shard();
  }
  return shard;
}

/// A monotonically increasing count.
class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept {
    shards_[this_thread_shard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  /// Sum over all shards (not a snapshot: concurrent increments may or may not be seen).
  [[nodiscard]] std::uint64_t value() const noexcept;

 private:
  struct alignas(64) shard {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<shard, shard_count> shards_{};
};

/// A value that goes up and down (connections open, zones loaded).
class gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  void sub(double v) noexcept { value_.fetch_sub(v, std::memory_order_relaxed); }
  [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// Observations counted into fixed buckets (upper bounds, "le"), plus their sum.
class histogram {
 public:
  /// `upper_bounds` must be finite and strictly increasing; +Inf is implicit.
  /// Throws std::invalid_argument otherwise.
  explicit histogram(std::span<const double> upper_bounds);

  void observe(double v) noexcept;

  struct snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative;  ///< one per bound, then +Inf (= count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  [[nodiscard]] snapshot collect() const;
  [[nodiscard]] std::span<const double> upper_bounds() const noexcept { return bounds_; }

 private:
  struct alignas(64) sum_shard {
    std::atomic<double> sum{0.0};
  };
  std::vector<double> bounds_;
  std::size_t stride_;  // cells per shard, padded to whole cache lines
  std::unique_ptr<std::atomic<std::uint64_t>[]> cells_;
  std::array<sum_shard, shard_count> sums_{};
};

/// 10 µs to 1 s: fits the time a DNS server spends on one query.
std::vector<double> default_latency_buckets();

/// `count` bounds: start, start*factor, start*factor², ...
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);

namespace detail {
class family_base {
 public:
  family_base(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~family_base() = default;
  family_base(const family_base&) = delete;
  family_base& operator=(const family_base&) = delete;

  virtual void render(std::string& out) const = 0;
  [[nodiscard]] virtual std::string_view type_name() const noexcept = 0;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::vector<std::string>& label_names() const noexcept {
    return label_names_;
  }

 protected:
  void render_header(std::string& out) const;
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
};
}  // namespace detail

/// Metrics of one name, one child per combination of label values.
template <typename Metric>
class family final : public detail::family_base {
 public:
  family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> buckets = {});

  /// The child with these label values (in label_names() order), created on
  /// first use. Takes a lock: call once and keep the reference. Throws
  /// std::invalid_argument when the number of values is wrong.
  Metric& with(std::initializer_list<std::string_view> values);
  Metric& with(std::span<const std::string> values);

  void render(std::string& out) const override;
  [[nodiscard]] std::string_view type_name() const noexcept override;
  /// Histogram bucket bounds (empty for counters and gauges).
  [[nodiscard]] const std::vector<double>& buckets() const noexcept { return buckets_; }

 private:
  Metric& child(std::vector<std::string> values);
  std::vector<double> buckets_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

/// All metrics of a process. The add_* functions register a metric, or return
/// the one already registered under that name when type, labels (and buckets)
/// match; they throw std::invalid_argument on a bad name or a mismatch.
class registry {
 public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  counter_family& add_counter_family(const std::string& name, const std::string& help,
                                     std::vector<std::string> label_names);
  gauge_family& add_gauge_family(const std::string& name, const std::string& help,
                                 std::vector<std::string> label_names);
  histogram_family& add_histogram_family(const std::string& name, const std::string& help,
                                         std::vector<std::string> label_names,
                                         std::vector<double> buckets);

  counter& add_counter(const std::string& name, const std::string& help);
  gauge& add_gauge(const std::string& name, const std::string& help);
  histogram& add_histogram(const std::string& name, const std::string& help,
                           std::vector<double> buckets);

  /// A gauge whose value `read` computes at each scrape (called under the
  /// registry's lock: keep it short, never call back into the registry).
  void add_gauge_callback(const std::string& name, const std::string& help,
                          std::function<double()> read);

  /// Everything, in the Prometheus text format 0.0.4, families sorted by name.
  [[nodiscard]] std::string render() const;

  /// Content-Type of render()'s output.
  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  template <typename Family, typename... Args>
  Family& add(const std::string& name, const std::string& help,
              std::vector<std::string> label_names, Args&&... args);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<detail::family_base>, std::less<>> families_;
};

/// Label value escaping of the text format: \ -> \\, " -> \", newline -> \n.
void append_escaped_label_value(std::string& out, std::string_view value);

/// A sample value as the text format writes it (NaN, +Inf, -Inf, shortest form).
void append_value(std::string& out, double v);

}  // namespace zonemesh::common::metrics
