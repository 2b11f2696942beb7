#include "gitopsd/notifier/daemon.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <stop_token>
#include <thread>

#include "gitopsd/admin_server.hpp"
#include "gitopsd/config_reload.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/metrics.hpp"
#include "gitopsd/notifier/engine.hpp"
#include "gitopsd/systemd_notify.hpp"

namespace gitopsd::notifier {

struct Daemon::Impl {
  Impl(std::shared_ptr<const Config> config, std::optional<std::string> log_level_override)
      : engine(config, metrics),
        admin(io, config->notify.admin_listen, metrics, [this] { return engine.ready(); }),
        reloader(config, BrokerUse::cluster, DaemonKind::notifier, metrics,
                 std::move(log_level_override)) {}

  Metrics metrics;
  Engine engine;
  boost::asio::io_context io{1};
  AdminServer admin;
  ConfigReloader reloader;
  std::stop_source stop;
  std::atomic<bool> failed{false};
  std::jthread admin_thread;
  std::jthread engine_thread;
  bool stopped = false;
};

Daemon::Daemon(std::shared_ptr<const Config> config, std::optional<std::string> log_level_override,
               std::function<void()> ended)
    : impl_(std::make_unique<Impl>(config, std::move(log_level_override))) {
  logger("notifier")->info("admin={} commit_status={} sinks={}", admin_address().to_string(),
                           config->notify.commit_status, config->notify.sinks.size());
  impl_->admin_thread = std::jthread([this] { impl_->io.run(); });
  impl_->engine_thread = std::jthread([this, ended = std::move(ended)] {
    try {
      impl_->engine.run(impl_->stop.get_token());
    } catch (const std::exception& e) {
      logger("notifier")->critical("notifier stopped: {}", e.what());
      impl_->failed.store(true);
    }
    if (!impl_->stop.stop_requested()) {
      impl_->failed.store(true);
      if (ended) ended();
    }
  });
}

Daemon::~Daemon() { stop(); }

ListenAddress Daemon::admin_address() const { return impl_->admin.local_address(); }
bool Daemon::ready() const { return impl_->engine.ready(); }

void Daemon::reload() {
  impl_->reloader.reload([this](std::shared_ptr<const Config> next) { impl_->engine.reload(next); });
}

int Daemon::stop() {
  if (!impl_->stopped) {
    impl_->stopped = true;
    systemd::notify("STOPPING=1");
    impl_->stop.request_stop();
    if (impl_->engine_thread.joinable()) impl_->engine_thread.join();
    impl_->admin.stop();
    impl_->io.stop();
    if (impl_->admin_thread.joinable()) impl_->admin_thread.join();
    logger("notifier")->info("stopped");
  }
  return impl_->failed.load() ? 1 : 0;
}

}  // namespace gitopsd::notifier
