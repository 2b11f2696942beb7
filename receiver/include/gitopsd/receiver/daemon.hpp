// gitopsd-receiver as one object: the webhook server and the admin endpoint on one
// io_context and its threads, the Kafka producer, the systemd watchdog and notifications, and
// the config reload. gitopsd-receiver's main() and gitopsctl dev both run it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gitopsd/config.hpp"
#include "gitopsd/daemon_main.hpp"

namespace gitopsd::receiver {

class Daemon final : public DaemonProcess {
 public:
  // Binds both listeners, creates the producer and starts serving (READY=1 to systemd);
  // throws std::exception when a part cannot start. `log_level_override` is --log-level,
  // which a reload keeps.
  Daemon(std::shared_ptr<const Config> config, std::optional<std::string> log_level_override);
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  ListenAddress address() const;        // the webhook listener, port 0 resolved
  ListenAddress admin_address() const;  // /healthz, /readyz, /metrics
  bool ready() const;                   // the Kafka cluster is reachable

  void reload() override;
  // Stops accepting, lets requests in flight finish (their Kafka acknowledgement included),
  // then flushes the producer. Returns 0. Idempotent.
  int stop() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gitopsd::receiver
