// gitopsd-notifier: consumes events, results and dead letters, sets commit statuses on the Git
// host and notifies the configured sinks. Wiring only: notifier::Daemon is the daemon,
// daemon_main its process.
#include "gitopsd/daemon_main.hpp"
#include "gitopsd/notifier/daemon.hpp"

int main(int argc, char** argv) {
  using namespace gitopsd;
  return daemon_main(argc, argv,
                     {"gitopsd-notifier",
                      "Sets commit statuses on the Git host and notifies chat and webhooks of "
                      "what gitopsd applied."},
                     [](std::shared_ptr<const Config> config, const DaemonOptions& options,
                        std::function<void()> ended) {
                       return std::make_unique<notifier::Daemon>(config, options.log_level,
                                                                 std::move(ended));
                     });
}
