// Small POSIX helpers of the appliers: an owned file descriptor, errno as text, '/'- (or
// ':'-) separated lists, and directory listing and removal that never follow a symlink.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gitopsd::worker {

// Owns one file descriptor (an int, so not a CHandle).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

std::string errno_text(int err);

// "a/b/c" -> {"a", "b", "c"}; "" -> {""}.
std::vector<std::string> split(std::string_view path, char separator = '/');
// The first `count` parts joined with '/'.
std::string join(const std::vector<std::string>& parts, std::size_t count);

// The names in a directory, without "." and "..".
std::vector<std::string> list_dir(int dir_fd);

// Opens the directory `name` in `parent`, not following a symlink; invalid Fd and errno set
// on failure.
Fd open_dir_at(int parent, const std::string& name);

// Counts (and unless `dry_run` deletes) `name` and everything under it, never following a
// symlink. Returns an errno on failure.
int remove_entry(int parent, const std::string& name, bool dry_run, std::size_t& removed);

// remove_entry, failures ignored (cleaning up what is left of an abandoned attempt).
void remove_quietly(int parent, const std::string& name);

}  // namespace gitopsd::worker
