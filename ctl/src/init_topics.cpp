#include "gitopsd/ctl/init_topics.hpp"

#include <boost/json.hpp>
#include <memory>
#include <set>
#include <thread>

#include "gitopsd/ctl/output.hpp"
#include "gitopsd/kafka_client.hpp"

namespace gitopsd::ctl {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t kDayMs = 86'400'000;

// Owners of the librdkafka C handles the admin client uses (the C++ API has no admin client).
using EventHandle = CHandle<rd_kafka_event_t, rd_kafka_event_destroy>;
using AdminOptionsHandle = CHandle<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;
using NewTopicHandle = CHandle<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>;
using ConfigResourceHandle = CHandle<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy>;
using MetadataHandle = CHandle<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(1, left.count()));
}

struct Outcome {
  std::string result;                 // created | exists | failed
  std::vector<std::string> problems;  // for an existing topic: what differs and matters
  std::vector<std::string> notes;     // differs but works
  int partitions = 0;
  int replication = 0;
};

class Admin {
 public:
  Admin(const KafkaConfig& kafka, Clock::time_point deadline) : deadline_(deadline) {
    try {
      rk_ = make_kafka_client(RD_KAFKA_PRODUCER, admin_settings(kafka));
    } catch (const std::exception& e) {
      error_ = e.what();
      return;
    }
    queue_.reset(rd_kafka_queue_new(rk_.get()));
  }

  const std::string& error() const { return error_; }

  AdminOptionsHandle options(rd_kafka_admin_op_t op) {
    AdminOptionsHandle o(rd_kafka_AdminOptions_new(rk_.get(), op));
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(o.get(), remaining_ms(deadline_), errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
      rd_kafka_AdminOptions_set_operation_timeout(o.get(), remaining_ms(deadline_), errstr,
                                                  sizeof errstr);
    return o;
  }

  // The next admin result of `type`, or nullptr (error_ set) when none came in time.
  EventHandle wait(rd_kafka_event_type_t type) {
    while (true) {
      EventHandle ev(rd_kafka_queue_poll(queue_.get(), remaining_ms(deadline_)));
      if (!ev) {
        error_ = "Kafka at the configured brokers did not answer within the timeout";
        return nullptr;
      }
      if (rd_kafka_event_type(ev.get()) != type) continue;
      if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error_ = rd_kafka_event_error_string(ev.get());
        if (rd_kafka_event_error(ev.get()) == RD_KAFKA_RESP_ERR__TIMED_OUT)
          error_ = "Kafka did not answer within the timeout (" + error_ + ")";
        return nullptr;
      }
      return ev;
    }
  }

  // Per topic name: its error (RD_KAFKA_RESP_ERR_NO_ERROR when created) and message.
  std::map<std::string, std::pair<rd_kafka_resp_err_t, std::string>> create(
      const std::vector<TopicSpec>& specs, int partitions, int replication) {
    std::vector<NewTopicHandle> owned;
    std::vector<rd_kafka_NewTopic_t*> topics;
    char errstr[512];
    for (const auto& spec : specs) {
      owned.emplace_back(rd_kafka_NewTopic_new(spec.name.c_str(), partitions, replication, errstr,
                                               sizeof errstr));
      if (!owned.back()) {
        error_ = spec.name + ": " + errstr;
        return {};
      }
      for (const auto& [name, value] : spec.config)
        rd_kafka_NewTopic_set_config(owned.back().get(), name.c_str(), value.c_str());
      topics.push_back(owned.back().get());
    }
    auto opts = options(RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk_.get(), topics.data(), topics.size(), opts.get(), queue_.get());
    auto ev = wait(RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    if (!ev) return {};
    size_t count = 0;
    const auto* results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &count);
    std::map<std::string, std::pair<rd_kafka_resp_err_t, std::string>> out;
    for (size_t i = 0; i < count; ++i) {
      const char* message = rd_kafka_topic_result_error_string(results[i]);
      out[rd_kafka_topic_result_name(results[i])] = {rd_kafka_topic_result_error(results[i]),
                                                     message ? message : ""};
    }
    return out;
  }

  // The topic's settings as the broker reports them (explicit and defaults).
  std::optional<std::map<std::string, std::string>> describe(const std::string& topic) {
    ConfigResourceHandle resource(
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
    rd_kafka_ConfigResource_t* resources[] = {resource.get()};
    auto opts = options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(rk_.get(), resources, 1, opts.get(), queue_.get());
    auto ev = wait(RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
    if (!ev) return std::nullopt;
    size_t count = 0;
    const auto* described = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev.get()), &count);
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < count; ++i) {
      if (rd_kafka_ConfigResource_error(described[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error_ = topic + ": " + rd_kafka_ConfigResource_error_string(described[i]);
        return std::nullopt;
      }
      size_t entries = 0;
      const auto* configs = rd_kafka_ConfigResource_configs(described[i], &entries);
      for (size_t j = 0; j < entries; ++j) {
        const char* value = rd_kafka_ConfigEntry_value(configs[j]);
        out[rd_kafka_ConfigEntry_name(configs[j])] = value ? value : "";
      }
    }
    return out;
  }

  // Partition count and smallest replica count of an existing topic. A topic just created
  // (by a concurrent run) may take a moment to appear in the metadata: retried until the
  // deadline.
  std::optional<std::pair<int, int>> layout(const std::string& topic) {
    while (true) {
      const rd_kafka_metadata_t* raw = nullptr;
      auto err = rd_kafka_metadata(rk_.get(), 1, nullptr, &raw, remaining_ms(deadline_));
      MetadataHandle metadata(raw);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error_ = std::string("metadata: ") + rd_kafka_err2str(err);
        return std::nullopt;
      }
      for (int i = 0; i < metadata->topic_cnt; ++i) {
        const auto& t = metadata->topics[i];
        if (topic != t.topic || t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        int replicas = t.partition_cnt > 0 ? t.partitions[0].replica_cnt : 0;
        for (int p = 0; p < t.partition_cnt; ++p)
          replicas = std::min(replicas, t.partitions[p].replica_cnt);
        return std::make_pair(t.partition_cnt, replicas);
      }
      if (Clock::now() + std::chrono::milliseconds(200) >= deadline_) {
        error_ = topic + ": not in the cluster's metadata";
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

 private:
  Clock::time_point deadline_;
  std::string error_;
  KafkaHandle rk_;
  KafkaQueueHandle queue_;
};

// What of an existing topic's settings matters: a compacted events/results/DLQ topic loses
// records (they share keys), a state or statuses topic that is not compacted loses targets'
// records once retention passes.
void check_existing(const TopicSpec& spec, const std::map<std::string, std::string>& actual,
                    Outcome& outcome) {
  auto get = [&](const std::string& name) {
    auto it = actual.find(name);
    return it == actual.end() ? std::string("?") : it->second;
  };
  const std::string policy = get("cleanup.policy");
  const bool compacted = policy.find("compact") != std::string::npos;
  const bool wants_compact = spec.config.at("cleanup.policy") == "compact";
  if (wants_compact && (!compacted || policy.find("delete") != std::string::npos))
    outcome.problems.push_back("cleanup.policy is " + policy + ", must be compact");
  if (!wants_compact && compacted)
    outcome.problems.push_back("cleanup.policy is " + policy + ", must be delete");
  for (const auto& [name, wanted] : spec.config) {
    if (name == "cleanup.policy") continue;
    auto have = get(name);
    if (have != wanted) outcome.notes.push_back(name + "=" + have + " (gitopsctl sets " + wanted + ")");
  }
}

}  // namespace

std::vector<TopicSpec> topic_specs(const KafkaTopics& topics, int replication) {
  // One broker may be down while acks=all writes still land on at least two replicas.
  const std::string min_insync = std::to_string(std::clamp(replication - 1, 1, 2));
  auto spec = [&](std::string role, std::string name, std::map<std::string, std::string> config) {
    config["min.insync.replicas"] = min_insync;
    return TopicSpec{std::move(role), std::move(name), std::move(config)};
  };
  // Daily segments let the cleaner compact (it never touches the active segment).
  const std::map<std::string, std::string> compacted{
      {"cleanup.policy", "compact"},
      {"segment.ms", std::to_string(kDayMs)},
      {"min.cleanable.dirty.ratio", "0.1"},
      {"delete.retention.ms", std::to_string(kDayMs)}};
  return {
      // Consumed within seconds; a week covers a worker fleet down over a long weekend and
      // leaves time to look at what arrived.
      spec("events", topics.events,
           {{"cleanup.policy", "delete"}, {"retention.ms", std::to_string(7 * kDayMs)}}),
      // The audit log `gitopsctl events` reads: a month of history.
      spec("results", topics.results,
           {{"cleanup.policy", "delete"}, {"retention.ms", std::to_string(30 * kDayMs)}}),
      // The fleet's current state: one record per target, kept forever by compaction.
      spec("state", topics.state, compacted),
      // Waits for a person: 90 days outlast holidays; few records, so cheap to keep.
      spec("dlq", topics.dlq,
           {{"cleanup.policy", "delete"}, {"retention.ms", std::to_string(90 * kDayMs)}}),
      // Each target's last commit status (gitopsd-notifier): one record per target, like state.
      spec("statuses", topics.statuses, compacted),
  };
}

int run_init_topics(const Config& config, const InitTopicsOptions& options, std::ostream& out,
                    std::ostream& err) {
  const auto deadline = Clock::now() + options.timeout;
  const auto specs = topic_specs(config.kafka.topics, options.replication);
  Admin admin(config.kafka, deadline);
  if (!admin.error().empty()) {
    err << "gitopsctl: init-topics: " << admin.error() << "\n";
    return 1;
  }
  auto created = admin.create(specs, options.partitions, options.replication);
  if (created.empty()) {
    err << "gitopsctl: init-topics: cannot create topics at " << config.kafka.brokers << ": "
        << admin.error() << "\n";
    return 1;
  }
  bool ok = true;
  std::vector<Outcome> outcomes;
  for (const auto& spec : specs) {
    Outcome o;
    auto [code, message] = created[spec.name];
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
      o.result = "created";
      o.partitions = options.partitions;
      o.replication = options.replication;
    } else if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      o.result = "exists";
      auto layout = admin.layout(spec.name);
      auto actual = layout ? admin.describe(spec.name) : std::nullopt;
      if (!actual) {
        o.result = "failed";
        o.problems.push_back("cannot inspect: " + admin.error());
      } else {
        o.partitions = layout->first;
        o.replication = layout->second;
        if (o.partitions < options.partitions)
          o.problems.push_back(std::to_string(o.partitions) + " partitions, fewer than " +
                               std::to_string(options.partitions));
        if (o.replication < options.replication)
          o.problems.push_back("replication factor " + std::to_string(o.replication) +
                               ", below " + std::to_string(options.replication));
        check_existing(spec, *actual, o);
      }
    } else {
      o.result = "failed";
      o.problems.push_back(message.empty() ? rd_kafka_err2str(code) : message);
    }
    if (!o.problems.empty()) ok = false;
    outcomes.push_back(std::move(o));
  }

  if (options.json) {
    boost::json::array topics;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      boost::json::object settings;
      for (const auto& [name, value] : specs[i].config) settings[name] = value;
      boost::json::array problems(outcomes[i].problems.begin(), outcomes[i].problems.end());
      boost::json::array notes(outcomes[i].notes.begin(), outcomes[i].notes.end());
      topics.push_back(boost::json::object{{"role", specs[i].role},
                                           {"name", specs[i].name},
                                           {"result", outcomes[i].result},
                                           {"partitions", outcomes[i].partitions},
                                           {"replication", outcomes[i].replication},
                                           {"settings", std::move(settings)},
                                           {"problems", std::move(problems)},
                                           {"notes", std::move(notes)}});
    }
    out << boost::json::serialize(boost::json::object{{"ok", ok}, {"topics", std::move(topics)}})
        << "\n";
  } else {
    Table table({"ROLE", "TOPIC", "RESULT", "PARTITIONS", "REPLICATION", "SETTINGS"});
    for (std::size_t i = 0; i < specs.size(); ++i) {
      std::string settings;
      for (const auto& [name, value] : specs[i].config)
        settings += (settings.empty() ? "" : " ") + name + "=" + value;
      table.add({specs[i].role, specs[i].name, outcomes[i].result,
                 std::to_string(outcomes[i].partitions), std::to_string(outcomes[i].replication),
                 settings});
    }
    table.print(out);
    for (std::size_t i = 0; i < specs.size(); ++i)
      for (const auto& note : outcomes[i].notes)
        out << "note: " << specs[i].name << ": " << note << "\n";
  }
  for (std::size_t i = 0; i < specs.size(); ++i)
    for (const auto& problem : outcomes[i].problems)
      err << "gitopsctl: init-topics: " << specs[i].name << ": " << problem << "\n";
  return ok ? 0 : 1;
}

}  // namespace gitopsd::ctl
