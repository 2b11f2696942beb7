// gitopsd-worker: consumes events, fetches the exact commit, applies it to every target and
// reports on Kafka. Wiring only; the logic lives in gitopsd_worker and gitopsd_common.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "gitopsd/admin_server.hpp"
#include "gitopsd/cli.hpp"
#include "gitopsd/config_reload.hpp"
#include "gitopsd/log.hpp"
#include "gitopsd/metrics.hpp"
#include "gitopsd/systemd_notify.hpp"
#include "gitopsd/worker/mirror.hpp"
#include "gitopsd/worker/worker.hpp"

int main(int argc, char** argv) {
  using namespace gitopsd;
  auto parsed = parse_daemon_options(argc, argv, "gitopsd-worker",
                                     "Applies events from Kafka to the configured targets.",
                                     /*with_instance=*/true);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const auto& options = std::get<DaemonOptions>(parsed);
  auto loaded = load_config_or_report(options.config_path, BrokerUse::cluster);
  if (!loaded) return kExitBadConfig;
  auto config = std::make_shared<const Config>(std::move(*loaded));
  if (options.check_config) return report_valid_config(*config);
  init_logging();
  apply_log_level(*config, options.log_level);
  log_config_warnings(*config);
  auto log = logger("worker");

  // SIGTERM/SIGINT (stop) and SIGHUP (reload) are taken by a thread of their own (sigwait).
  const sigset_t signals = block_stop_signals(/*and_hangup=*/true);
  try {
    worker::init_libgit2();
    Metrics metrics;
    worker::Worker engine(config, metrics);
    boost::asio::io_context io(1);
    AdminServer admin(io, instance_address(config->worker.admin_listen, options.instance), metrics,
                      [&engine] { return engine.ready(); });
    std::jthread admin_thread([&io] { io.run(); });
    log->info("admin={} state_dir={}", admin.local_address().to_string(), config->worker.state_dir);

    ConfigReloader reloader(config, BrokerUse::cluster, Daemon::worker, metrics,
                            options.log_level);
    std::stop_source stop;
    std::jthread signal_thread([&](std::stop_token) {
      int signal = 0;
      while (sigwait(&signals, &signal) == 0 && signal == SIGHUP && !stop.stop_requested())
        reloader.reload([&engine](std::shared_ptr<const Config> next) { engine.reload(next); });
      log->info("signal={} stopping", signal);
      systemd::notify("STOPPING=1");
      stop.request_stop();
    });
    engine.run(stop.get_token());
    admin.stop();
    io.stop();
    if (!stop.stop_requested()) stop.request_stop();
    pthread_kill(signal_thread.native_handle(), SIGTERM);  // wake the sigwait if still waiting
    return 0;
  } catch (const std::exception& e) {
    log->critical("cannot start: {}", e.what());
    return 1;
  }
}
