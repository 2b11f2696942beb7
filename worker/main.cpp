// gitopsd-worker: consumes events, fetches the exact commit, applies it to every target and
// reports on Kafka. Wiring only: worker::Daemon is the daemon, daemon_main its process.
#include "gitopsd/daemon_main.hpp"
#include "gitopsd/worker/daemon.hpp"

int main(int argc, char** argv) {
  using namespace gitopsd;
  return daemon_main(argc, argv,
                     {"gitopsd-worker", "Applies events from Kafka to the configured targets.",
                      /*with_instance=*/true},
                     [](std::shared_ptr<const Config> config, const DaemonOptions& options,
                        std::function<void()> ended) {
                       return std::make_unique<worker::Daemon>(config, options.log_level,
                                                               options.instance, std::move(ended));
                     });
}
