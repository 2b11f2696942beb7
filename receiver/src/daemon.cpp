#include "gitopsd/receiver/daemon.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <thread>
#include <vector>

#include "gitopsd/admin_server.hpp"
#include "gitopsd/config_reload.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/metrics.hpp"
#include "gitopsd/receiver/server.hpp"
#include "gitopsd/systemd_notify.hpp"

namespace gitopsd::receiver {

struct Daemon::Impl {
  Impl(std::shared_ptr<const Config> config, std::optional<std::string> log_level_override)
      : threads(io_threads(config->receiver)),
        io(static_cast<int>(threads)),
        producer(config->kafka, "gitopsd-receiver", config->receiver.publish_timeout,
                 {config->kafka.topics.events}),
        admin(io, config->receiver.admin_listen, metrics, [this] { return producer.connected(); }),
        server(io, config, producer, metrics),
        watchdog(io),
        reloader(config, BrokerUse::cluster, DaemonKind::receiver, metrics,
                 std::move(log_level_override)) {}

  const unsigned threads;
  boost::asio::io_context io;
  Metrics metrics;
  KafkaProducer producer;
  AdminServer admin;
  Server server;
  systemd::IoWatchdog watchdog;
  ConfigReloader reloader;
  std::vector<std::jthread> pool;
  bool stopped = false;
};

Daemon::Daemon(std::shared_ptr<const Config> config, std::optional<std::string> log_level_override)
    : impl_(std::make_unique<Impl>(config, std::move(log_level_override))) {
  logger("receiver")->info("listening address={} admin={} tls={} threads={} repositories={} brokers={}",
                           address().to_string(), admin_address().to_string(),
                           config->receiver.tls ? "on" : "off", impl_->threads,
                           config->repositories.size(), config->kafka.brokers);
  // Bound and listening since the server's construction; accepting once the threads run this.
  boost::asio::post(impl_->io, [] { systemd::notify("READY=1"); });
  for (unsigned i = 0; i < impl_->threads; ++i) impl_->pool.emplace_back([this] { impl_->io.run(); });
}

Daemon::~Daemon() { stop(); }

ListenAddress Daemon::address() const { return impl_->server.local_address(); }
ListenAddress Daemon::admin_address() const { return impl_->admin.local_address(); }
bool Daemon::ready() const { return impl_->producer.connected(); }

void Daemon::reload() {
  // Requests and connections in progress keep the config they began with.
  impl_->reloader.reload([this](std::shared_ptr<const Config> next) { impl_->server.reload(next); });
}

int Daemon::stop() {
  if (impl_->stopped) return 0;
  impl_->stopped = true;
  auto log = logger("receiver");
  log->info("stopping: finishing requests in flight");
  systemd::notify("STOPPING=1");
  boost::asio::post(impl_->io, [this] {
    impl_->watchdog.stop();
    impl_->admin.stop();
    impl_->server.shutdown();
  });
  impl_->pool.clear();  // io.run() returns once the last connection has ended
  if (!impl_->producer.flush(std::chrono::seconds(10))) log->error("producer flush timed out");
  log->info("stopped");
  return 0;
}

}  // namespace gitopsd::receiver
