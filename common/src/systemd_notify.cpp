#include "gitopsd/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace gitopsd::systemd {
namespace {

std::optional<std::uint64_t> env_number(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  std::uint64_t value = 0;
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

bool notify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr) return false;
  const std::size_t length = std::strlen(path);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // Absolute paths and abstract names ('@' stands for the leading NUL) only, as sd_notify.
  if ((path[0] != '/' && path[0] != '@') || length < 2 || length > sizeof address.sun_path)
    return false;
  std::memcpy(address.sun_path, path, length);
  if (path[0] == '@') address.sun_path[0] = '\0';
  const auto address_length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length +
                             (path[0] == '/' && length < sizeof address.sun_path ? 1 : 0));
  // A socket per message: rare messages, and no state shared between the threads that send.
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&address), address_length);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

bool notify_reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);  // the clock systemd compares with, whatever steady_clock is
  const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 +
                    static_cast<std::uint64_t>(now.tv_nsec) / 1000;
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

std::optional<std::chrono::microseconds> watchdog_ping_interval() {
  auto usec = env_number("WATCHDOG_USEC");
  if (!usec || *usec == 0) return std::nullopt;
  if (std::getenv("WATCHDOG_PID") != nullptr) {
    auto pid = env_number("WATCHDOG_PID");
    if (!pid || *pid != static_cast<std::uint64_t>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds(std::max<std::uint64_t>(*usec / 2, 1));
}

WatchdogPinger::WatchdogPinger()
    : interval_(watchdog_ping_interval()), next_(std::chrono::steady_clock::now()) {}

void WatchdogPinger::ping() {
  if (!interval_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) return;
  notify("WATCHDOG=1");
  next_ = now + *interval_;
}

struct IoWatchdog::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::io_context& io, std::chrono::microseconds i)
      : strand(boost::asio::make_strand(io)), timer(strand), interval(i) {}
  // The io_context may run on several threads; the timer and `stopped` are used on this only.
  boost::asio::strand<boost::asio::io_context::executor_type> strand;
  boost::asio::steady_timer timer;
  std::chrono::microseconds interval;
  bool stopped = false;

  void tick() {
    if (stopped) return;
    notify("WATCHDOG=1");
    timer.expires_after(interval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->tick();
    });
  }
};

IoWatchdog::IoWatchdog(boost::asio::io_context& io) {
  auto interval = watchdog_ping_interval();
  if (!interval) return;
  impl_ = std::make_shared<Impl>(io, *interval);
  boost::asio::post(impl_->strand, [impl = impl_] { impl->tick(); });
}

IoWatchdog::~IoWatchdog() = default;

void IoWatchdog::stop() {
  if (!impl_) return;
  boost::asio::post(impl_->strand, [impl = impl_] {
    impl->stopped = true;
    impl->timer.cancel();
  });
}

}  // namespace gitopsd::systemd
