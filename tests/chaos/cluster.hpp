// The three-node Kafka cluster of the tests labelled chaos: deploy/kafka/broker.sh start
// --nodes 3, started once per ctest run in GITOPSD_TEST_KAFKA_CLUSTER_DIR by the kafka_cluster
// fixture. Node K (1..3) lives in <dir>/nodeK, laid out as a single broker's directory.
#pragma once

#include <fstream>
#include <stdexcept>
#include <string>

namespace gitopsd::test {

inline std::string kafka_cluster_dir() { return GITOPSD_TEST_KAFKA_CLUSTER_DIR; }

// The client port of node `k`, as broker.sh recorded it.
inline int kafka_cluster_port(int k) {
  std::ifstream in(kafka_cluster_dir() + "/node" + std::to_string(k) + "/port");
  int port = 0;
  if (!(in >> port))
    throw std::runtime_error("no Kafka cluster: run through ctest (fixture kafka_cluster)");
  return port;
}

// "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3", what broker.sh start prints.
inline std::string kafka_cluster_bootstrap() {
  std::string list;
  for (int k = 1; k <= 3; ++k)
    list += (k > 1 ? "," : "") + std::string("127.0.0.1:") + std::to_string(kafka_cluster_port(k));
  return list;
}

}  // namespace gitopsd::test
