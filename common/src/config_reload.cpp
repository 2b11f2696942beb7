#include "gitopsd/config_reload.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <span>

#include "gitopsd/log.hpp"
#include "gitopsd/systemd_notify.hpp"

namespace gitopsd {
namespace {

// A key a daemon takes only at start: its name and how to read (and put back) its value.
struct RestartOnlyKey {
  const char* name;
  bool (*differs)(const Config&, const Config&);
  void (*keep)(const Config& running, Config& next);
};

#define GITOPSD_RESTART_ONLY(name, member)                                              \
  RestartOnlyKey {                                                                      \
    name, [](const Config& a, const Config& b) { return !(a.member == b.member); },    \
        [](const Config& running, Config& next) { next.member = running.member; }      \
  }

// The producer's connection and the listening sockets are made once; the deduper's window
// sizes its memory.
const RestartOnlyKey kReceiverKeys[] = {
    GITOPSD_RESTART_ONLY("kafka.brokers", kafka.brokers),
    GITOPSD_RESTART_ONLY("kafka.properties", kafka.properties),
    GITOPSD_RESTART_ONLY("kafka.topics.events", kafka.topics.events),
    GITOPSD_RESTART_ONLY("receiver.listen", receiver.listen),
    GITOPSD_RESTART_ONLY("receiver.admin_listen", receiver.admin_listen),
    GITOPSD_RESTART_ONLY("receiver.threads", receiver.threads),
    GITOPSD_RESTART_ONLY("receiver.dedupe_window", receiver.dedupe_window),
};

// The consumer's group membership, its subscription and the mirrors on disk are made once.
const RestartOnlyKey kWorkerKeys[] = {
    GITOPSD_RESTART_ONLY("kafka.brokers", kafka.brokers),
    GITOPSD_RESTART_ONLY("kafka.properties", kafka.properties),
    GITOPSD_RESTART_ONLY("kafka.topics", kafka.topics),
    GITOPSD_RESTART_ONLY("worker.group_id", worker.group_id),
    GITOPSD_RESTART_ONLY("worker.state_dir", worker.state_dir),
    GITOPSD_RESTART_ONLY("worker.admin_listen", worker.admin_listen),
};

// The notifier's consumer group, subscription, producer and admin socket are made once.
const RestartOnlyKey kNotifierKeys[] = {
    GITOPSD_RESTART_ONLY("kafka.brokers", kafka.brokers),
    GITOPSD_RESTART_ONLY("kafka.properties", kafka.properties),
    GITOPSD_RESTART_ONLY("kafka.topics", kafka.topics),
    GITOPSD_RESTART_ONLY("notify.group_id", notify.group_id),
    GITOPSD_RESTART_ONLY("notify.admin_listen", notify.admin_listen),
};

#undef GITOPSD_RESTART_ONLY

std::span<const RestartOnlyKey> restart_only_keys(DaemonKind daemon) {
  switch (daemon) {
    case DaemonKind::receiver: return kReceiverKeys;
    case DaemonKind::worker: return kWorkerKeys;
    case DaemonKind::notifier: return kNotifierKeys;
  }
  return kWorkerKeys;
}

}  // namespace

std::vector<std::string> restart_only_changes(const Config& running, const Config& next,
                                              DaemonKind daemon) {
  std::vector<std::string> changed;
  for (const RestartOnlyKey& key : restart_only_keys(daemon))
    if (key.differs(running, next)) changed.emplace_back(key.name);
  return changed;
}

Config keep_restart_only(const Config& running, Config next, DaemonKind daemon) {
  for (const RestartOnlyKey& key : restart_only_keys(daemon)) key.keep(running, next);
  return next;
}

RepositoryChanges repository_changes(const Config& running, const Config& next) {
  RepositoryChanges changes;
  for (const Repository& r : next.repositories) {
    const Repository* old = find_repository(running, r.name);
    if (!old) {
      changes.added.push_back(r.name);
    } else if (!(*old == r)) {
      changes.changed.push_back(r.name);
    }
  }
  for (const Repository& r : running.repositories)
    if (!find_repository(next, r.name)) changes.removed.push_back(r.name);
  return changes;
}

void log_config_warnings(const Config& config) {
  for (const std::string& warning : config.warnings) logger("config")->warn("{}", warning);
}

void apply_log_level(const Config& config, const std::optional<std::string>& override_level) {
  spdlog::set_level(spdlog::level::from_str(override_level.value_or(config.log_level)));
}

ConfigReloader::ConfigReloader(std::shared_ptr<const Config> initial, BrokerUse use,
                               DaemonKind daemon, Metrics& metrics,
                               std::optional<std::string> log_level_override)
    : use_(use),
      daemon_(daemon),
      metrics_(metrics),
      log_level_override_(std::move(log_level_override)),
      running_(std::move(initial)),
      last_reload_success_(metrics.gauge("gitopsd_config_last_reload_success",
                                         "1 if the last config reload took effect")) {
  last_reload_success_.set(1);
}

bool ConfigReloader::reload(const std::function<void(std::shared_ptr<const Config>)>& install) {
  auto log = logger("config");
  systemd::notify_reloading();
  // A copy: running_ (and the string it holds) is replaced below.
  const std::string path = running_->path;
  bool ok = false;
  std::string failure;
  try {
    Config loaded = load_config(path, use_);
    for (const std::string& key : restart_only_changes(*running_, loaded, daemon_)) {
      log->warn("config reload: {} changed, which takes effect only on restart; the running "
                "value stays file={}",
                key, path);
    }
    auto next = std::make_shared<const Config>(keep_restart_only(*running_, std::move(loaded), daemon_));
    install(next);
    log_config_warnings(*next);
    const RepositoryChanges changes = repository_changes(*running_, *next);
    running_ = next;
    apply_log_level(*running_, log_level_override_);
    log->info("config reloaded file={} repositories={} added=[{}] removed=[{}] changed=[{}] "
              "log_level={}",
              path, running_->repositories.size(), fmt::join(changes.added, ","),
              fmt::join(changes.removed, ","), fmt::join(changes.changed, ","),
              log_level_override_.value_or(running_->log_level));
    ok = true;
  } catch (const std::exception& e) {
    failure = e.what();
    log->error("config reload failed, the running config stays in force: {}", failure);
  }
  metrics_
      .counter("gitopsd_config_reloads_total", "Config reloads (SIGHUP) by outcome",
               {{"outcome", ok ? "ok" : "failed"}})
      .inc();
  last_reload_success_.set(ok ? 1 : 0);
  // systemd's notify protocol has no "reload failed": READY=1 ends every reload, and STATUS=
  // is what `systemctl status` shows. It names a failure until a reload takes effect (an
  // empty STATUS= clears it). A status is one line.
  std::replace(failure.begin(), failure.end(), '\n', ' ');
  systemd::notify(ok ? "READY=1\nSTATUS="
                     : "READY=1\nSTATUS=config reload failed, the running config stays in force: " +
                           failure);
  return ok;
}

}  // namespace gitopsd
