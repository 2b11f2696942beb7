#include "gitopsd/daemon_main.hpp"

#include <pthread.h>

#include "gitopsd/config_reload.hpp"
#include "gitopsd/log.hpp"

namespace gitopsd {

StopSignals::StopSignals(bool with_hangup) : waiter_(pthread_self()) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  if (with_hangup) sigaddset(&signals_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

int StopSignals::wait(const std::function<void()>& on_hangup) {
  waiter_ = pthread_self();
  for (;;) {
    int signal = 0;
    if (sigwait(&signals_, &signal) != 0) return SIGTERM;
    if (signal != SIGHUP) return signal;
    if (on_hangup) on_hangup();
  }
}

void StopSignals::interrupt() { pthread_kill(waiter_, SIGTERM); }

int daemon_main(int argc, char** argv, const DaemonProgram& program, const DaemonFactory& start) {
  auto parsed = parse_daemon_options(argc, argv, program.name, program.summary, program.with_instance);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const auto& options = std::get<DaemonOptions>(parsed);
  auto loaded = load_config_or_report(options.config_path, BrokerUse::cluster);
  if (!loaded) return kExitBadConfig;
  auto config = std::make_shared<const Config>(std::move(*loaded));
  if (options.check_config) return report_valid_config(*config);
  init_logging();
  apply_log_level(*config, options.log_level);
  log_config_warnings(*config);
  auto log = logger("main");

  StopSignals signals(/*with_hangup=*/true);
  std::unique_ptr<DaemonProcess> daemon;
  try {
    daemon = start(config, options, [&signals] { signals.interrupt(); });
  } catch (const std::exception& e) {
    log->critical("cannot start: {}", e.what());
    return 1;
  }
  const int signal = signals.wait([&daemon] { daemon->reload(); });
  log->info("signal={} stopping", signal);
  return daemon->stop();
}

}  // namespace gitopsd
