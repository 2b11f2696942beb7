#include "gitopsd/receiver/webhook_counters.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gitopsd::receiver {
namespace {

std::size_t series_count(const std::string& page) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = page.find("\ngitopsd_webhooks_total{", at)) != std::string::npos; ++at) ++n;
  return n;
}

TEST(WebhookCountersTest, ASeriesAppearsOnItsFirstCountWithItsLabels) {
  Metrics metrics;
  WebhookCounters counters(metrics);
  EXPECT_EQ(series_count(metrics.render()), 0u);
  counters.count(Provider::github, "push", Outcome::queued);
  counters.count(Provider::github, "push", Outcome::queued);
  counters.count(Provider::gitlab, "Push Hook", Outcome::duplicate);
  counters.count(Provider::gitea, "push", Outcome::ignored);
  const std::string page = metrics.render();
  EXPECT_EQ(series_count(page), 3u) << page;
  EXPECT_NE(page.find("gitopsd_webhooks_total{provider=\"github\",event=\"push\",outcome=\"queued\"} 2\n"),
            std::string::npos) << page;
  EXPECT_NE(page.find("gitopsd_webhooks_total{provider=\"gitlab\",event=\"Push Hook\",outcome=\"duplicate\"} 1\n"),
            std::string::npos) << page;
  EXPECT_NE(page.find("gitopsd_webhooks_total{provider=\"gitea\",event=\"push\",outcome=\"ignored\"} 1\n"),
            std::string::npos) << page;
}

TEST(WebhookCountersTest, EventLabelOnlyForGenuineOutcomesAndUnknownEventsShareOther) {
  Metrics metrics;
  WebhookCounters counters(metrics);
  counters.count(Provider::github, "push", Outcome::unauthorized);
  counters.count(std::nullopt, "", Outcome::method_not_allowed);
  counters.count(Provider::github, "made-up-1", Outcome::ignored);
  counters.count(Provider::github, "made-up-2", Outcome::ignored);
  counters.count(Provider::github, "Push Hook", Outcome::ignored);  // GitLab's name
  const std::string page = metrics.render();
  EXPECT_EQ(series_count(page), 3u) << page;
  EXPECT_NE(page.find("gitopsd_webhooks_total{provider=\"github\",event=\"\",outcome=\"unauthorized\"} 1\n"),
            std::string::npos) << page;
  EXPECT_NE(page.find("gitopsd_webhooks_total{provider=\"unknown\",event=\"\",outcome=\"method_not_allowed\"} 1\n"),
            std::string::npos) << page;
  EXPECT_NE(page.find("gitopsd_webhooks_total{provider=\"github\",event=\"other\",outcome=\"ignored\"} 3\n"),
            std::string::npos) << page;
}

TEST(WebhookCountersTest, EveryLabelSetHasItsOwnSlot) {
  // Each provider, event and outcome counted once must give that many distinct series: two
  // label sets sharing a slot would add into one.
  Metrics metrics;
  WebhookCounters counters(metrics);
  std::size_t expected = 0;
  for (const Provider p : {Provider::github, Provider::gitlab, Provider::gitea}) {
    for (std::size_t o = 0; o < kOutcomeCount; ++o) {
      const auto outcome = static_cast<Outcome>(o);
      if (!is_genuine(outcome)) {
        counters.count(p, "push", outcome);
        ++expected;
        continue;
      }
      for (const std::string_view e : known_events(p)) counters.count(p, e, outcome);
      counters.count(p, "not-an-event", outcome);
      expected += known_events(p).size() + 1;
    }
  }
  const std::string page = metrics.render();
  EXPECT_EQ(series_count(page), expected);
  EXPECT_EQ(page.find("} 2\n"), std::string::npos) << page;
}

}  // namespace
}  // namespace gitopsd::receiver
