// `gitopsctl init-topics` on the three-node cluster: what it creates is read back through the
// admin API, independently of gitopsctl. The cluster's own defaults are replication 3 and
// min.insync.replicas=2 too, so the setting must be the topic's own (not the broker default),
// and --replication 2 must give other numbers, or the test could not fail.
#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>

#include <set>

#include "cluster.hpp"
#include "ctl_harness.hpp"
#include "gitopsd/c_handle.hpp"

namespace gitopsd::test {
namespace {

// A topic as the cluster describes it.
struct TopicOnCluster {
  std::vector<std::vector<std::int32_t>> replicas;  // per partition: broker ids
  std::vector<std::vector<std::int32_t>> isrs;      // per partition: in-sync broker ids
  std::string min_insync;                           // min.insync.replicas
  bool min_insync_is_topic_setting = false;         // set on the topic, not a broker default
};

TopicOnCluster describe_topic(const std::string& bootstrap, const std::string& topic) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
  CHandle<rd_kafka_t, rd_kafka_destroy> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error));
  if (!rk) throw std::runtime_error(error);
  TopicOnCluster out;

  // A topic just created reaches every broker's metadata a moment later.
  CHandle<rd_kafka_topic_t, rd_kafka_topic_destroy> handle(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  CHandle<const rd_kafka_metadata_t, rd_kafka_metadata_destroy> metadata;
  wait_until([&] {
    const rd_kafka_metadata_t* raw = nullptr;
    if (rd_kafka_metadata(rk.get(), 0, handle.get(), &raw, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    metadata.reset(raw);
    return metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
           metadata->topics[0].partition_cnt > 0;
  }, std::chrono::seconds(30), std::chrono::milliseconds(200));
  if (!metadata || metadata->topic_cnt != 1) throw std::runtime_error("no metadata of " + topic);
  for (int p = 0; p < metadata->topics[0].partition_cnt; ++p) {
    const auto& partition = metadata->topics[0].partitions[p];
    out.replicas.emplace_back(partition.replicas, partition.replicas + partition.replica_cnt);
    out.isrs.emplace_back(partition.isrs, partition.isrs + partition.isr_cnt);
  }

  CHandle<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy> resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy> queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_DescribeConfigs(rk.get(), resources, 1, nullptr, queue.get());
  CHandle<rd_kafka_event_t, rd_kafka_event_destroy> event(rd_kafka_queue_poll(queue.get(), 30000));
  if (!event || rd_kafka_event_error(event.get()))
    throw std::runtime_error("describe configs of " + topic);
  std::size_t count = 0;
  const auto* described =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(event.get()), &count);
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t entries = 0;
    const auto* configs = rd_kafka_ConfigResource_configs(described[i], &entries);
    for (std::size_t j = 0; j < entries; ++j) {
      if (std::string(rd_kafka_ConfigEntry_name(configs[j])) != "min.insync.replicas") continue;
      out.min_insync = rd_kafka_ConfigEntry_value(configs[j]);
      out.min_insync_is_topic_setting =
          rd_kafka_ConfigEntry_source(configs[j]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
    }
  }
  return out;
}

class ClusterInitTopicsTest : public ::testing::Test {
 protected:
  // gitopsctl init-topics with fresh topic names on the cluster; the topics by role.
  std::map<std::string, std::string> init_topics(const std::string& replication, const std::string& partitions) {
    std::map<std::string, std::string> topics;
    for (const auto* role : {"events", "results", "state", "dlq", "statuses"})
      topics[role] = unique_name(role);
    const auto config = dir_.write(
        "gitopsd.yaml", "kafka:\n  brokers: \"" + kafka_cluster_bootstrap() + "\"\n  topics: {events: " +
                            topics["events"] + ", results: " + topics["results"] + ", state: " +
                            topics["state"] + ", dlq: " + topics["dlq"] + ", statuses: " +
                            topics["statuses"] + "}\nrepositories: []\n");
    auto run = run_ctl(dir_, {"init-topics", "--partitions", partitions, "--replication", replication,
                              "--config", config});
    EXPECT_EQ(run.exit_code, 0) << run;
    for (const auto& [role, name] : topics)
      EXPECT_TRUE(has_row(run.out, {role, name, "created", partitions, replication})) << run;
    return topics;
  }

  TempDir dir_;
};

TEST_F(ClusterInitTopicsTest, ReplicationThreeIsOnThreeBrokersWithTwoInSyncRequired) {
  for (const auto& [role, name] : init_topics("3", "3")) {
    auto topic = describe_topic(kafka_cluster_bootstrap(), name);
    ASSERT_EQ(topic.replicas.size(), 3u) << role;
    for (std::size_t p = 0; p < topic.replicas.size(); ++p) {
      // Three copies on three different brokers, all in sync on a healthy cluster.
      EXPECT_EQ(std::set<std::int32_t>(topic.replicas[p].begin(), topic.replicas[p].end()),
                (std::set<std::int32_t>{1, 2, 3})) << role << " partition " << p;
      EXPECT_EQ(topic.isrs[p].size(), 3u) << role << " partition " << p;
    }
    EXPECT_EQ(topic.min_insync, "2") << role;
    EXPECT_TRUE(topic.min_insync_is_topic_setting) << role;
  }
}

TEST_F(ClusterInitTopicsTest, ReplicationTwoKeepsOneInSyncRequired) {
  for (const auto& [role, name] : init_topics("2", "1")) {
    auto topic = describe_topic(kafka_cluster_bootstrap(), name);
    ASSERT_EQ(topic.replicas.size(), 1u) << role;
    EXPECT_EQ(topic.replicas[0].size(), 2u) << role;
    EXPECT_EQ(topic.min_insync, "1") << role;
    EXPECT_TRUE(topic.min_insync_is_topic_setting) << role;
  }
}

}  // namespace
}  // namespace gitopsd::test
