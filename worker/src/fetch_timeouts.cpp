#include "fetch_timeouts.hpp"

#include <git2.h>
#include <git2/sys/stream.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "libgit2_support.hpp"

namespace gitopsd::worker {

#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 7)
// libgit2 1.7 and later bound the connect and each socket read and write themselves. The two
// options are process-wide: each socket reads them when it is opened. The daemon gives every
// fetch the same timeout, so they are written once and never change under a running fetch; a
// different timeout (as tests use) holds for the fetches that start after it. For SSH libssh2
// reads the socket itself, so there only the connect is bounded (and the progress callbacks).
FetchTimeoutScope::FetchTimeoutScope(std::chrono::milliseconds timeout) {
  using Rep = std::chrono::milliseconds::rep;
  const int ms =
      static_cast<int>(std::clamp<Rep>(timeout.count(), 0, std::numeric_limits<int>::max()));
  static std::mutex mutex;
  static int current = -1;
  std::lock_guard lock(mutex);
  if (ms == current) return;
  // Both refuse only a negative value.
  git_libgit2_opts(GIT_OPT_SET_SERVER_CONNECT_TIMEOUT, ms);
  git_libgit2_opts(GIT_OPT_SET_SERVER_TIMEOUT, ms);
  current = ms;
}

FetchTimeoutScope::~FetchTimeoutScope() = default;

void install_fetch_timeouts() {}

#elif LIBGIT2_VER_MAJOR == 1 && (LIBGIT2_VER_MINOR == 5 || LIBGIT2_VER_MINOR == 6)
// libgit2 1.5 and 1.6 have no connect or read timeout, so the plain socket stream is replaced:
// connect is bounded with a non-blocking connect + poll, and every read/write with
// SO_RCVTIMEO/SO_SNDTIMEO. The timeout is per thread and set by FetchTimeoutScope. TLS
// (mbedTLS) reads through this stream too. The layout matches libgit2's own git_socket_stream
// (unchanged from 0.25 through 1.9) because its SSH transport hands `s` to libssh2 directly;
// there only the connect is bounded (libssh2 waits on the socket itself).
namespace {

thread_local std::chrono::milliseconds t_io_timeout{0};

struct TimeoutSocketStream {
  git_stream parent;
  char* host;
  char* port;
  int s;
};

void set_net_error(const std::string& what) { git_error_set_str(GIT_ERROR_NET, what.c_str()); }

int stream_connect(git_stream* stream) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* info = nullptr;
  if (int rc = ::getaddrinfo(st->host, st->port, &hints, &info); rc != 0) {
    set_net_error(std::string("failed to resolve address for ") + st->host + ": " +
                  ::gai_strerror(rc));
    return -1;
  }
  const auto timeout = t_io_timeout;
  std::string error = "no address";
  for (addrinfo* p = info; p != nullptr; p = p->ai_next) {
    int fd = ::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, p->ai_addr, p->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      const int wait_ms = timeout.count() > 0 ? static_cast<int>(timeout.count()) : -1;
      int ready = ::poll(&pfd, 1, wait_ms);
      if (ready == 0) {
        error = "timed out after " + std::to_string(timeout.count()) + " ms";
        ::close(fd);
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      rc = ready < 0 ? -1 : (so_error == 0 ? 0 : -1);
      if (so_error != 0) errno = so_error;
    }
    if (rc != 0) {
      error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, flags);
    if (timeout.count() > 0) {
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
      tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    st->s = fd;
    ::freeaddrinfo(info);
    return 0;
  }
  ::freeaddrinfo(info);
  set_net_error(std::string("failed to connect to ") + st->host + ":" + st->port + ": " + error);
  return -1;
}

ssize_t stream_read(git_stream* stream, void* data, size_t len) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  ssize_t n = ::recv(st->s, data, len, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      set_net_error(std::string("read from ") + st->host + " timed out after " +
                    std::to_string(t_io_timeout.count()) + " ms");
    } else {
      set_net_error(std::string("error receiving data from ") + st->host + ": " +
                    std::strerror(errno));
    }
    return -1;
  }
  return n;
}

ssize_t stream_write(git_stream* stream, const char* data, size_t len, int /*flags*/) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  ssize_t n = ::send(st->s, data, len, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      set_net_error(std::string("write to ") + st->host + " timed out after " +
                    std::to_string(t_io_timeout.count()) + " ms");
    } else {
      set_net_error(std::string("error sending data to ") + st->host + ": " + std::strerror(errno));
    }
    return -1;
  }
  return n;
}

int stream_close(git_stream* stream) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  if (st->s >= 0) ::close(st->s);
  st->s = -1;
  return 0;
}

void stream_free(git_stream* stream) {
  auto* st = reinterpret_cast<TimeoutSocketStream*>(stream);
  std::free(st->host);
  std::free(st->port);
  delete st;
}

int stream_new(git_stream** out, const char* host, const char* port) {
  auto* st = new TimeoutSocketStream{};
  st->parent.version = GIT_STREAM_VERSION;
  st->parent.connect = stream_connect;
  st->parent.read = stream_read;
  st->parent.write = stream_write;
  st->parent.close = stream_close;
  st->parent.free = stream_free;
  st->host = ::strdup(host);
  st->port = ::strdup(port);
  st->s = -1;
  *out = &st->parent;
  return 0;
}

}  // namespace

// The fetch's timeout for the socket streams this thread opens; restored when the fetch returns.
FetchTimeoutScope::FetchTimeoutScope(std::chrono::milliseconds timeout) { t_io_timeout = timeout; }
FetchTimeoutScope::~FetchTimeoutScope() { t_io_timeout = std::chrono::milliseconds{0}; }

void install_fetch_timeouts() {
  git_stream_registration registration{};
  registration.version = GIT_STREAM_VERSION;
  registration.init = stream_new;
  if (git_stream_register(GIT_STREAM_STANDARD, &registration) != 0)
    throw std::runtime_error("cannot register the socket stream: " + last_error_text());
}

#else
#error "gitopsd bounds fetches with libgit2 1.7's GIT_OPT_SET_SERVER_TIMEOUT, or on 1.5/1.6 with its own socket stream; this libgit2 has neither"
#endif

}  // namespace gitopsd::worker
