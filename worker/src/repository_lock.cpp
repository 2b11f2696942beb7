#include "repository_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace gitopsd::worker {
namespace {

// How often a held lock is tried again. Short: the holder may be a mirror set-up of a few
// milliseconds; a stop is noticed within it.
constexpr std::chrono::milliseconds kRetry{20};

}  // namespace

std::string RepositoryLock::path(const std::string& state_dir, const std::string& repository,
                                 Scope scope) {
  const char* suffix = scope == Scope::mirror_setup ? ".mirror.lock" : ".reconcile.lock";
  return (std::filesystem::path(state_dir) / "locks" / (repository + suffix)).string();
}

std::optional<RepositoryLock> RepositoryLock::acquire(const std::string& state_dir,
                                                      const std::string& repository, Scope scope,
                                                      std::stop_token stop) {
  const std::string file = path(state_dir, repository, scope);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
  if (ec) throw std::runtime_error("cannot create lock directory for " + file + ": " + ec.message());
  Fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) throw std::runtime_error("cannot open lock " + file + ": " + errno_text(errno));
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      throw std::runtime_error("cannot lock " + file + ": " + errno_text(errno));
    }
    if (stop.stop_requested()) return std::nullopt;
    std::this_thread::sleep_for(kRetry);
  }
  return RepositoryLock(std::move(fd));
}

}  // namespace gitopsd::worker
