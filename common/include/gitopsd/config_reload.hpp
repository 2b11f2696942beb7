// Live reload (SIGHUP, `systemctl reload`): a running daemon reads its config file again and
// takes the new repositories, targets, secrets, timeouts and log level without dropping
// connections or events. Keys that shape its sockets, its Kafka clients or its state
// directory stay as they were until a restart; a reload that changes them says so.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gitopsd/config.hpp"
#include "gitopsd/metrics.hpp"

namespace gitopsd {

enum class DaemonKind { receiver, worker, notifier };

// The keys `daemon` takes only at start whose value differs between `running` and `next`
// ("kafka", "receiver.listen", ...), in a fixed order. Keys the daemon does not use are
// never named.
std::vector<std::string> restart_only_changes(const Config& running, const Config& next,
                                              DaemonKind daemon);

// `next` with every restart-only key of `daemon` set back to its running value: what the
// daemon actually runs with after the reload.
Config keep_restart_only(const Config& running, Config next, DaemonKind daemon);

// What a reload changed in the repositories, by name; for the log line.
struct RepositoryChanges {
  std::vector<std::string> added, removed, changed;
};
RepositoryChanges repository_changes(const Config& running, const Config& next);

// Logs each of config.warnings (weak secrets...) on the "config" logger: at start, and by
// ConfigReloader on every reload that takes effect.
void log_config_warnings(const Config& config);

// Does the reloads of one daemon. Not thread-safe: call reload() from one thread.
class ConfigReloader {
 public:
  // `initial` is the config the daemon started with (re-read from initial->path);
  // `log_level_override` is --log-level, which wins over the file's log_level.
  ConfigReloader(std::shared_ptr<const Config> initial, BrokerUse use, DaemonKind daemon,
                 Metrics& metrics, std::optional<std::string> log_level_override);

  // The config in force: the last one `install` took, or the initial one.
  const std::shared_ptr<const Config>& running() const { return running_; }

  // Reads the file again and, when it is valid, hands the new config (restart-only keys kept)
  // to `install`, which may throw std::exception to refuse it (a TLS key that does not
  // load). On success the log level follows the new file. On failure, which includes a file
  // that does not parse (the same "file:line:column: what is wrong" as at start), the running
  // config stays in force. Either way one log line says what happened, systemd hears
  // RELOADING=1 then READY=1 with a STATUS= that names a failure (empty after a success), and
  // gitopsd_config_reloads_total{outcome} and
  // gitopsd_config_last_reload_success count it. Returns whether the new config is in force.
  bool reload(const std::function<void(std::shared_ptr<const Config>)>& install);

 private:
  BrokerUse use_;
  DaemonKind daemon_;
  Metrics& metrics_;
  std::optional<std::string> log_level_override_;
  std::shared_ptr<const Config> running_;
  Gauge& last_reload_success_;
};

// Sets every logger's level: `override_level` when given, else the config's log_level.
void apply_log_level(const Config& config, const std::optional<std::string>& override_level);

}  // namespace gitopsd
