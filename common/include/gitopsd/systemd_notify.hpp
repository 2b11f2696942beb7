// The systemd service-manager protocol (sd_notify(3), sd_watchdog_enabled(3)) without
// libsystemd: datagrams to $NOTIFY_SOCKET telling systemd the daemon is ready (Type=notify),
// stopping, or alive (WatchdogSec=). Outside systemd ($NOTIFY_SOCKET unset) all of it is a
// no-op, so the daemons call it unconditionally.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

namespace gitopsd::systemd {

// Sends `state` ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=text"; several separated by
// '\n') to $NOTIFY_SOCKET, a socket path or an abstract socket ("@name"). Returns false when
// the variable is unset or invalid or the send fails (never throws). Thread-safe.
bool notify(std::string_view state);

// A reload begins: RELOADING=1 with MONOTONIC_USEC=<now>. Under Type=notify-reload (systemd 253
// and later) systemd sends SIGHUP itself and takes a RELOADING=1 as the answer only with a
// timestamp no older than that signal, so an earlier reload's message cannot end the wait;
// older systemd ignores the field. End the reload with READY=1.
bool notify_reloading();

// How often to send WATCHDOG=1: half of $WATCHDOG_USEC, so one late ping is not fatal.
// nullopt when the watchdog is off for this process: $WATCHDOG_USEC unset, zero or invalid, or
// $WATCHDOG_PID set to another process's id (a child that inherited the environment).
std::optional<std::chrono::microseconds> watchdog_ping_interval();

// For a loop that comes round often (a consumer poll loop): ping() sends WATCHDOG=1 when
// the ping interval has passed since the last one, and costs a clock read otherwise. A loop
// that stops coming round stops the pings, and systemd restarts the service. Not thread-safe.
class WatchdogPinger {
 public:
  WatchdogPinger();
  void ping();

 private:
  std::optional<std::chrono::microseconds> interval_;
  std::chrono::steady_clock::time_point next_;
};

// Sends WATCHDOG=1 from a timer on `io` every ping interval (nothing when the watchdog is
// off), so an event loop whose threads all hang stops the pings. stop() cancels the timer
// so that io.run() can return; it may be called from any thread.
class IoWatchdog {
 public:
  explicit IoWatchdog(boost::asio::io_context& io);
  ~IoWatchdog();
  IoWatchdog(const IoWatchdog&) = delete;
  IoWatchdog& operator=(const IoWatchdog&) = delete;
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gitopsd::systemd
