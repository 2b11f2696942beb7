#include "posix_helpers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gitopsd/c_handle.hpp"

namespace gitopsd::worker {

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string errno_text(int err) { return std::strerror(err); }

std::vector<std::string> split(std::string_view path, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find(separator, start);
    if (slash == std::string_view::npos) {
      parts.emplace_back(path.substr(start));
      return parts;
    }
    parts.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) out.push_back('/');
    out += parts[i];
  }
  return out;
}

std::vector<std::string> list_dir(int dir_fd) {
  std::vector<std::string> names;
  const int copy = ::dup(dir_fd);
  if (copy < 0) return names;
  CHandle<DIR, ::closedir> dir(::fdopendir(copy));
  if (!dir) {
    ::close(copy);
    return names;
  }
  ::rewinddir(dir.get());
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  return names;
}

Fd open_dir_at(int parent, const std::string& name) {
  return Fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

int remove_entry(int parent, const std::string& name, bool dry_run, std::size_t& removed) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? 0 : errno;
  }
  if (S_ISDIR(st.st_mode)) {
    Fd dir = open_dir_at(parent, name);
    if (!dir.valid()) return errno;
    for (const auto& child : list_dir(dir.get())) {
      if (int err = remove_entry(dir.get(), child, dry_run, removed)) return err;
    }
    if (!dry_run && ::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0) return errno;
  } else if (!dry_run && ::unlinkat(parent, name.c_str(), 0) != 0) {
    return errno;
  }
  ++removed;
  return 0;
}

void remove_quietly(int parent, const std::string& name) {
  std::size_t ignored = 0;
  remove_entry(parent, name, false, ignored);
}

}  // namespace gitopsd::worker
