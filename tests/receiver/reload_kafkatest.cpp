// Live reload of gitopsd-receiver (SIGHUP): the real binary under a load of signed webhooks on
// keep-alive connections, publishing to the real Kafka broker.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "harness.hpp"
#include "payloads.hpp"

namespace gitopsd::test {
namespace {

using namespace std::chrono_literals;

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

class ReceiverReloadTest : public ::testing::Test {
 protected:
  ReceiverReloadTest() {
    dir.write("old.secret", "old-secret\n");
    dir.write("new.secret", "new-secret\n");
    dir.write("apps.secret", "apps-secret\n");
    setup.extra_receiver_yaml = "  publish_timeout: 10s\n";
  }

  // A `repositories:` entry for a GitHub repository verified by the named secret files.
  std::string repository(const std::string& name, const std::vector<std::string>& secret_files) {
    std::string secrets;
    for (const auto& file : secret_files)
      secrets += (secrets.empty() ? "" : ", ") + std::string("{file: ") + dir.path() + "/" + file + "}";
    return "  - {name: " + name + ", provider: github, match: acme/" + name +
           ", url: \"https://example.invalid/" + name + ".git\", secrets: [" + secrets +
           "], targets: []}\n";
  }

  void start(const std::string& repositories) {
    setup.repositories_yaml = repositories;
    receiver = start_receiver(dir, setup);
  }

  // Rewrites the config file the receiver was started with; `top` goes before everything.
  void write_config(const std::string& repositories, const std::string& top = "") {
    setup.repositories_yaml = repositories;
    dir.write("gitopsd.yaml", top + receiver_config_yaml(setup));
  }

  std::string metrics() { return http_request(setup.admin_port, "GET", "/metrics", {}, "", 5s).body; }

  double reloads(const std::string& outcome) {
    return metric_value(metrics(), "gitopsd_config_reloads_total{outcome=\"" + outcome + "\"}");
  }

  // SIGHUP, then waits until the receiver has counted the reload's outcome.
  void reload(const std::string& expected_outcome) {
    const double before = std::max(0.0, reloads(expected_outcome));
    receiver->signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return reloads(expected_outcome) == before + 1; }, 20s))
        << receiver->log();
  }

  HttpResponse push(HttpConnection& connection, const std::string& repository,
                    const std::string& secret) {
    Delivery d = github_delivery("push", github_push("acme/" + repository, "main", kShaA, kShaB),
                                 secret, unique_name("delivery"));
    std::map<std::string, std::string> headers(d.headers.begin(), d.headers.end());
    return connection.request("POST", d.path, headers, d.body);
  }

  TempDir dir;
  ReceiverSetup setup = fresh_receiver_setup(kafka_bootstrap());
  std::unique_ptr<Process> receiver;
};

// One signed delivery of the load and what became of it.
struct Sent {
  int signer = 0;  // index into kSigners
  Clock::time_point started, finished;
  int status = 0;  // 0: the request failed (connection error, server closed it)
  std::string event_id;
};

struct Signer {
  const char* repository;
  const char* secret;
};
constexpr Signer kSigners[] = {{"infra", "old-secret"}, {"infra", "new-secret"}, {"apps", "apps-secret"}};

TEST_F(ReceiverReloadTest, RotatesASecretAndAddsARepositoryUnderLoadWithoutFailingARequest) {
  start(repository("infra", {"old.secret"}));

  // The load: a few senders, each on one keep-alive connection for the whole test, cycling
  // through the three signers.
  std::atomic<bool> done{false};
  std::mutex sent_mutex;
  std::vector<Sent> sent;
  auto sent_since = [&](Clock::time_point t) {
    std::lock_guard lock(sent_mutex);
    return std::count_if(sent.begin(), sent.end(), [&](const Sent& s) { return s.started > t; });
  };
  std::vector<std::jthread> senders;
  for (int sender = 0; sender < 3; ++sender) {
    senders.emplace_back([&, sender] {
      HttpConnection connection(setup.port);
      for (int i = sender; !done.load(); ++i) {
        Sent s{.signer = i % 3, .started = Clock::now()};
        try {
          auto response = push(connection, kSigners[s.signer].repository, kSigners[s.signer].secret);
          s.status = response.status;
          if (s.status == 202) s.event_id = json::parse(response.body).at("event_id").as_string().c_str();
        } catch (const std::exception&) {
          s.status = 0;
        }
        s.finished = Clock::now();
        std::lock_guard lock(sent_mutex);
        sent.push_back(s);
        if (s.status == 0) return;  // the connection is gone; the assertions below say so
      }
    });
  }
  const auto began = Clock::now();
  ASSERT_TRUE(wait_until([&] { return sent_since(began) >= 60; }, 30s));

  // Rotation, step 1: the new secret beside the old one, and a new repository.
  write_config(repository("infra", {"old.secret", "new.secret"}) + repository("apps", {"apps.secret"}));
  const auto first_hup = Clock::now();
  reload("ok");
  const auto first_in_force = Clock::now();
  ASSERT_TRUE(wait_until([&] { return sent_since(first_in_force) >= 60; }, 30s));

  // Step 2, once every host signs with the new secret: the old one goes.
  write_config(repository("infra", {"new.secret"}) + repository("apps", {"apps.secret"}));
  const auto second_hup = Clock::now();
  reload("ok");
  const auto second_in_force = Clock::now();
  ASSERT_TRUE(wait_until([&] { return sent_since(second_in_force) >= 60; }, 30s));
  done = true;
  senders.clear();

  // Each request is judged by when it ran against when each config was in force; one that
  // overlapped a reload may have been answered under either config.
  std::set<std::string> queued;
  std::size_t refused_old = 0;
  for (const Sent& s : sent) {
    SCOPED_TRACE(std::string(kSigners[s.signer].repository) + " signed with " + kSigners[s.signer].secret);
    ASSERT_TRUE(s.status == 202 || s.status == 401) << "status " << s.status << "\n" << receiver->log();
    if (s.status == 202) queued.insert(s.event_id);
    const bool listed_before_first = s.signer == 0;
    const bool listed_after_second = s.signer != 0;
    if (s.finished < first_hup) {
      EXPECT_EQ(s.status, listed_before_first ? 202 : 401);
    }
    if (s.started > first_in_force && s.finished < second_hup) {
      EXPECT_EQ(s.status, 202);
    }
    if (s.started > second_in_force) {
      EXPECT_EQ(s.status, listed_after_second ? 202 : 401);
    }
    if (s.signer == 0 && s.status == 401) ++refused_old;
  }
  EXPECT_GE(refused_old, 20u) << "the removed secret must be refused after the second reload";

  // Every 202 is on the topic once, and nothing else is.
  TopicReader reader(setup.bootstrap, setup.events_topic);
  auto records = reader.read_to_end();
  std::set<std::string> published;
  for (const auto& r : records) published.insert(json::parse(r.value).at("event_id").as_string().c_str());
  EXPECT_EQ(records.size(), queued.size());
  EXPECT_EQ(published, queued);
  EXPECT_EQ(metric_value(metrics(), "gitopsd_config_last_reload_success"), 1);
}

TEST_F(ReceiverReloadTest, RefusesAnInvalidConfigWithItsPositionAndKeepsTheRunningOne) {
  start(repository("infra", {"old.secret"}));
  HttpConnection held(setup.port);  // opened before the reloads, used after each
  ASSERT_EQ(push(held, "infra", "old-secret").status, 202);

  // A broken file: what the receiver says of it at start is what it says on reload.
  write_config(repository("infra", {"old.secret"}), "log_level: loud\n");
  Process check({GITOPSD_RECEIVER_BIN, "--config", dir.path() + "/gitopsd.yaml", "--check-config"},
                dir.path() + "/check.log");
  ASSERT_EQ(check.wait(20s), 2);
  std::string error = check.log();
  ASSERT_NE(error.find("gitopsd.yaml:1:12: log_level: unknown log level 'loud'"), std::string::npos) << error;
  error = error.substr(0, error.find('\n'));

  reload("failed");
  EXPECT_EQ(metric_value(metrics(), "gitopsd_config_last_reload_success"), 0);
  EXPECT_NE(receiver->log().find("config reload failed, the running config stays in force: " + error),
            std::string::npos)
      << receiver->log();
  EXPECT_EQ(push(held, "infra", "old-secret").status, 202) << "the old config stays in force";
  HttpConnection fresh(setup.port);
  EXPECT_EQ(push(fresh, "infra", "old-secret").status, 202);

  // A secret file that cannot be read is refused the same way.
  write_config(repository("infra", {"missing.secret"}));
  reload("failed");
  EXPECT_EQ(push(held, "infra", "old-secret").status, 202);

  // Fixed: taken, and the gauge says so.
  write_config(repository("infra", {"new.secret"}));
  reload("ok");
  EXPECT_EQ(metric_value(metrics(), "gitopsd_config_last_reload_success"), 1);
  EXPECT_EQ(push(held, "infra", "old-secret").status, 401);
  EXPECT_EQ(push(held, "infra", "new-secret").status, 202);
}

TEST_F(ReceiverReloadTest, LogLevelFollowsTheConfig) {
  start(repository("infra", {"old.secret"}));
  HttpConnection connection(setup.port);
  auto request_lines = [&] {
    const std::string log = receiver->log();
    std::size_t n = 0;
    for (auto at = log.find(" receiver: request "); at != std::string::npos;
         at = log.find(" receiver: request ", at + 1))
      ++n;
    return n;
  };
  ASSERT_EQ(push(connection, "infra", "old-secret").status, 202);
  ASSERT_TRUE(wait_until([&] { return request_lines() == 1; }, 5s)) << receiver->log();

  write_config(repository("infra", {"old.secret"}), "log_level: warn\n");
  reload("ok");
  ASSERT_EQ(push(connection, "infra", "old-secret").status, 202);
  ASSERT_EQ(push(connection, "infra", "old-secret").status, 202);

  write_config(repository("infra", {"old.secret"}), "log_level: debug\n");
  reload("ok");
  ASSERT_EQ(push(connection, "infra", "old-secret").status, 202);
  // The two requests under `warn` left no info line; the one after it did.
  EXPECT_TRUE(wait_until([&] { return request_lines() == 2; }, 5s)) << receiver->log();
  EXPECT_EQ(request_lines(), 2u);
}

}  // namespace
}  // namespace gitopsd::test
