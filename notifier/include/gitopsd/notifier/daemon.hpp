// gitopsd-notifier as one object: the consumer-group engine and its delivery threads, the
// admin endpoint, and the config reload. gitopsd-notifier's main() and gitopsctl dev run it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gitopsd/config.hpp"
#include "gitopsd/daemon_main.hpp"

namespace gitopsd::notifier {

class Daemon final : public DaemonProcess {
 public:
  // Starts the admin endpoint (notify.admin_listen) and the engine, which says READY=1 once in
  // the group; throws std::exception when a part cannot start. `ended` is called (on the
  // engine's thread) when the engine stops without stop(): it failed, and stop() returns 1.
  Daemon(std::shared_ptr<const Config> config, std::optional<std::string> log_level_override,
         std::function<void()> ended);
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  ListenAddress admin_address() const;
  bool ready() const;  // in the group, the Kafka cluster reachable

  void reload() override;
  // Stops consuming, lets deliveries under way finish for up to a few seconds, commits what is
  // done, leaves the group. Returns 1 when the engine failed, else 0.
  int stop() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd::notifier
