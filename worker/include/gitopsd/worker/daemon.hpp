// gitopsd-worker as one object: the consumer-group engine on a thread of its own, the admin
// endpoint on another, and the config reload. gitopsd-worker's main() and gitopsctl dev both
// run it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gitopsd/config.hpp"
#include "gitopsd/daemon_main.hpp"

namespace gitopsd::worker {

class Daemon final : public DaemonProcess {
 public:
  // Starts the admin endpoint (port admin_listen + instance - 1 for instance N > 1) and the
  // engine, which says READY=1 once in the group; throws std::exception when a part cannot
  // start. `ended` is called (on the engine's thread) when the engine stops without stop():
  // it failed, and stop() will return 1.
  Daemon(std::shared_ptr<const Config> config, std::optional<std::string> log_level_override,
         unsigned instance, std::function<void()> ended);
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  ListenAddress admin_address() const;
  bool ready() const;  // in the group, the Kafka cluster reachable

  void reload() override;
  // Lets running applies finish (or stops them after the grace period, leaving their events
  // uncommitted), commits, leaves the group. Returns 1 when the engine failed, else 0.
  int stop() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd::worker
