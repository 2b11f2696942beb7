// The part of main() both daemons share: options, config, --check-config, logging, and the
// signals. SIGHUP reloads the config file, SIGTERM/SIGINT stop gracefully, and a part that
// ends on its own (a worker whose engine failed) stops the process as SIGTERM would.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>

#include "gitopsd/cli.hpp"
#include "gitopsd/config.hpp"

namespace gitopsd {

// A running daemon as its main() drives it (receiver::Daemon, worker::Daemon).
class DaemonProcess {
 public:
  virtual ~DaemonProcess() = default;
  // SIGHUP: read the config file again; the running config stays when it does not load.
  virtual void reload() = 0;
  // SIGTERM: stop gracefully. Returns the exit code: 0, or 1 when a part failed.
  virtual int stop() = 0;
};

// Stop and reload signals, taken by one thread with sigwait. Construct it first in main(),
// before any thread exists: every thread started later (librdkafka's too) inherits the mask.
class StopSignals {
 public:
  explicit StopSignals(bool with_hangup);
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // Waits; calls `on_hangup` for each SIGHUP (when taken); returns the stop signal.
  int wait(const std::function<void()>& on_hangup = {});
  // Ends a wait() from any thread, as SIGTERM would: for a part that ended on its own.
  void interrupt();

 private:
  sigset_t signals_;
  pthread_t waiter_;
};

struct DaemonProgram {
  const char* name;     // gitopsd-receiver
  const char* summary;  // one line for --help
  bool with_instance = false;
};

// What a daemon is made from. `ended` is for a part that ends without being asked to.
using DaemonFactory = std::function<std::unique_ptr<DaemonProcess>(
    std::shared_ptr<const Config> config, const DaemonOptions& options, std::function<void()> ended)>;

// The whole of a daemon's main(): exit 0 after a stop signal, 1 when it cannot start or a part
// failed, 2 for bad arguments or a config that does not load.
int daemon_main(int argc, char** argv, const DaemonProgram& program, const DaemonFactory& start);

}  // namespace gitopsd
