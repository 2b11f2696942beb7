#include "gitopsd/metrics.hpp"

#include <gtest/gtest.h>

namespace gitopsd {
namespace {

TEST(MetricsTest, RendersCountersWithEscapedLabels) {
  Metrics metrics;
  metrics.counter("gitopsd_x_total", "Things", {{"provider", "github"}, {"event", "a\"b"}}).inc(3);
  metrics.counter("gitopsd_x_total", "Things", {{"provider", "github"}, {"event", "a\"b"}}).inc();
  auto text = metrics.render();
  EXPECT_NE(text.find("# TYPE gitopsd_x_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("gitopsd_x_total{provider=\"github\",event=\"a\\\"b\"} 4\n"), std::string::npos)
      << text;
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics metrics;
  auto& h = metrics.histogram("gitopsd_d_seconds", "Durations", {}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  auto text = metrics.render();
  EXPECT_NE(text.find("gitopsd_d_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gitopsd_d_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gitopsd_d_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gitopsd_d_seconds_count 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gitopsd_d_seconds_sum 5.55\n"), std::string::npos) << text;
}

TEST(MetricsTest, RefusesOneNameWithTwoTypes) {
  Metrics metrics;
  metrics.counter("gitopsd_y", "Y");
  EXPECT_THROW(metrics.gauge("gitopsd_y", "Y"), std::logic_error);
}

}  // namespace
}  // namespace gitopsd
