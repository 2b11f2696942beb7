// gitopsd-receiver: verifies webhooks from GitHub, GitLab and Gitea and publishes them to
// Kafka. Wiring only: receiver::Daemon is the daemon, daemon_main its process.
#include "gitopsd/daemon_main.hpp"
#include "gitopsd/receiver/daemon.hpp"

int main(int argc, char** argv) {
  using namespace gitopsd;
  return daemon_main(argc, argv,
                     {"gitopsd-receiver", "Verifies Git host webhooks and publishes them to Kafka."},
                     [](std::shared_ptr<const Config> config, const DaemonOptions& options, auto) {
                       return std::make_unique<receiver::Daemon>(config, options.log_level);
                     });
}
