// gitopsd-receiver: verifies webhooks from GitHub, GitLab and Gitea and publishes them to
// Kafka. Wiring only; the logic lives in the gitopsd_receiver and gitopsd_common libraries.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <thread>
#include <vector>

#include "gitopsd/admin_server.hpp"
#include "gitopsd/cli.hpp"
#include "gitopsd/config_reload.hpp"
#include "gitopsd/kafka_producer.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/metrics.hpp"
#include "gitopsd/receiver/server.hpp"
#include "gitopsd/systemd_notify.hpp"

int main(int argc, char** argv) {
  using namespace gitopsd;
  auto parsed = parse_daemon_options(argc, argv, "gitopsd-receiver",
                                     "Verifies Git host webhooks and publishes them to Kafka.");
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const auto& options = std::get<DaemonOptions>(parsed);
  auto loaded = load_config_or_report(options.config_path, BrokerUse::cluster);
  if (!loaded) return kExitBadConfig;
  auto config = std::make_shared<const Config>(std::move(*loaded));
  if (options.check_config) return report_valid_config(*config);
  init_logging();
  apply_log_level(*config, options.log_level);
  log_config_warnings(*config);
  auto log = logger("receiver");
  try {
    const unsigned threads = receiver::io_threads(config->receiver);
    boost::asio::io_context io(static_cast<int>(threads));
    Metrics metrics;
    KafkaProducer producer(config->kafka, "gitopsd-receiver", config->receiver.publish_timeout,
                           {config->kafka.topics.events});
    AdminServer admin(io, config->receiver.admin_listen, metrics,
                      [&producer] { return producer.connected(); });
    receiver::Server server(io, config, producer, metrics);
    log->info("listening address={} admin={} tls={} threads={} repositories={} brokers={}",
              server.local_address().to_string(), admin.local_address().to_string(),
              config->receiver.tls ? "on" : "off", threads, config->repositories.size(),
              config->kafka.brokers);

    systemd::IoWatchdog watchdog(io);
    // SIGHUP (systemctl reload): read the config again; requests in flight keep theirs.
    ConfigReloader reloader(config, BrokerUse::cluster, Daemon::receiver, metrics,
                            options.log_level);
    boost::asio::signal_set hangups(io, SIGHUP);
    std::function<void()> wait_for_hangup = [&] {
      hangups.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        reloader.reload([&server](std::shared_ptr<const Config> next) { server.reload(next); });
        wait_for_hangup();
      });
    };
    wait_for_hangup();
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      log->info("signal={} stopping: finishing requests in flight", signal);
      systemd::notify("STOPPING=1");
      watchdog.stop();
      hangups.cancel();
      admin.stop();
      server.shutdown();
    });
    // Bound and listening since the server's construction; accepting once io.run() runs this.
    boost::asio::post(io, [] { systemd::notify("READY=1"); });
    std::vector<std::jthread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
    io.run();
    pool.clear();
    if (!producer.flush(std::chrono::seconds(10))) log->error("producer flush timed out");
    log->info("stopped");
    return 0;
  } catch (const std::exception& e) {
    log->critical("cannot start: {}", e.what());
    return 1;
  }
}
