#include "gitopsd/metrics.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace gitopsd {
namespace {

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="1",b="2"}`, or "" without labels; also the key of a series within its family.
std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += fmt::format("{}=\"{}\"", labels[i].first, escape_label_value(labels[i].second));
  }
  return out + "}";
}

// Adds one label to an already rendered label set (for histogram `le`).
std::string with_label(const std::string& rendered, const std::string& label) {
  if (rendered.empty()) return "{" + label + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + label + "}";
}

std::string format_number(double v) { return fmt::format("{}", v); }

void atomic_add(std::atomic<double>& target, double v) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      buckets_(new std::atomic<std::uint64_t>[upper_bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < upper_bounds_.size() && v > upper_bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

Metrics::Family& Metrics::family(const std::string& name, const std::string& help,
                                 const char* type) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.help = help;
    it->second.type = type;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  return it->second;
}

Counter& Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "counter").counters[render_labels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "gauge").gauges[render_labels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Metrics::histogram(const std::string& name, const std::string& help,
                              const Labels& labels, const std::vector<double>& upper_bounds) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "histogram").histograms[render_labels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(upper_bounds);
  return *slot;
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [labels, c] : f.counters) out += fmt::format("{}{} {}\n", name, labels, c->value());
    for (const auto& [labels, g] : f.gauges)
      out += fmt::format("{}{} {}\n", name, labels, format_number(g->value()));
    for (const auto& [labels, h] : f.histograms) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < h->upper_bounds().size(); ++i) {
        cumulative += h->bucket(i);
        out += fmt::format("{}_bucket{} {}\n", name,
                           with_label(labels, fmt::format("le=\"{}\"", format_number(h->upper_bounds()[i]))),
                           cumulative);
      }
      cumulative += h->bucket(h->upper_bounds().size());
      out += fmt::format("{}_bucket{} {}\n", name, with_label(labels, "le=\"+Inf\""), cumulative);
      out += fmt::format("{}_sum{} {}\n", name, labels, format_number(h->sum()));
      out += fmt::format("{}_count{} {}\n", name, labels, cumulative);
    }
  }
  return out;
}

}  // namespace gitopsd
