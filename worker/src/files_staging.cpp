// switch: per_file. Entries staged under temporary names, renamed into place at the switch,
// removed again when the apply fails before it.
#include "files_staging.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "files_write.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

int chmod_at(int dir_fd, const std::string& name, mode_t mode) {
  Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  return ::fchmod(fd.get(), mode) == 0 ? 0 : errno;
}

// Renames the staged `temp` over `name`; whatever is in the way and cannot be renamed over (a
// directory for a file, a file for a directory) is removed first.
int replace_with(int dir_fd, const std::string& temp, const std::string& name) {
  if (::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) == 0) return 0;
  int err = errno;
  if (err != EISDIR && err != ENOTDIR && err != ENOTEMPTY && err != EEXIST) return err;
  std::size_t ignored = 0;
  if ((err = remove_entry(dir_fd, name, false, ignored)) != 0) return err;
  return ::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) == 0 ? 0 : errno;
}

}  // namespace

std::optional<Problem> Staging::stage(const TreeFile& file, EntryState state) {
  const auto parts = split(file.path);
  Fd dir(::dup(root_));
  std::string on_disk;  // dir's path under root as it is on disk (temporary names included)
  bool fresh = false;   // dir is new, hidden under a temporary name: entries get final names
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& name = parts[i];
    const std::string logical = join(parts, i + 1);
    std::string next_name = name;
    if (const auto staged = staged_dirs_.find(logical); staged != staged_dirs_.end()) {
      next_name = staged->second;
      fresh = true;
    } else if (fresh) {
      if (::mkdirat(dir.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
        return "cannot create directory " + logical + ": " + errno_text(errno);
    } else if (Fd existing = open_dir_at(dir.get(), name); existing.valid()) {
      dir = std::move(existing);
      on_disk = child_path(on_disk, name);
      continue;
    } else if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
      // Missing, or a file or symlink where the tree has a directory.
      if (auto problem = probe(dir.get(), name, logical)) return problem;
      int err = 0;
      next_name = create_temp(
          [&](const std::string& temp) {
            return ::mkdirat(dir.get(), temp.c_str(), 0755) == 0 ? 0 : errno;
          },
          err);
      if (next_name.empty()) return "cannot create directory " + logical + ": " + errno_text(err);
      entries_.push_back({on_disk, next_name, name, logical});
      staged_dirs_.emplace(logical, next_name);
      fresh = true;
    } else {
      return "cannot open " + logical + ": " + errno_text(errno);
    }
    Fd next = open_dir_at(dir.get(), next_name);
    if (!next.valid()) return "cannot open " + logical + ": " + errno_text(errno);
    dir = std::move(next);
    on_disk = child_path(on_disk, next_name);
  }
  const std::string& name = parts.back();
  if (fresh) return create_entry(dir.get(), name, file, tree_, blobs_, options_);
  if (state == EntryState::mode_only) {
    mode_changes_.push_back(&file);
    return std::nullopt;
  }
  if (auto problem = probe(dir.get(), name, file.path)) return problem;
  std::optional<Problem> problem;
  int err = 0;
  const std::string temp = create_temp(
      [&](const std::string& candidate) {
        problem = create_entry(dir.get(), candidate, file, tree_, blobs_, options_);
        // A failure with the name taken is a clash with a stale temporary file: next name.
        const bool taken =
            problem && ::faccessat(dir.get(), candidate.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        return taken ? EEXIST : 0;
      },
      err);
  if (problem) return problem;
  if (temp.empty()) return "cannot write " + file.path + ": " + errno_text(err);
  entries_.push_back({on_disk, temp, name, file.path});
  return std::nullopt;
}

std::optional<Problem> Staging::switch_in() {
  for (; switched_ < entries_.size(); ++switched_) {
    const Entry& entry = entries_[switched_];
    Fd dir = open_dir_path(root_, entry.dir);
    const int err = dir.valid() ? replace_with(dir.get(), entry.temp, entry.name) : errno;
    if (err != 0) return "cannot switch in " + entry.path + ": " + errno_text(err);
  }
  for (const TreeFile* file : mode_changes_) {
    auto parts = split(file->path);
    const std::string name = parts.back();
    parts.pop_back();
    Fd dir = open_dir_path(root_, join(parts, parts.size()));
    const int err = dir.valid() ? chmod_at(dir.get(), name, mode_for(file->kind)) : errno;
    if (err != 0) return "cannot set the mode of " + file->path + ": " + errno_text(err);
  }
  return std::nullopt;
}

std::optional<Problem> Staging::probe(int dir_fd, const std::string& name,
                                      const std::string& path) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 || errno == ENOENT)
    return std::nullopt;
  return "cannot write " + path + ": " + errno_text(errno);
}

void Staging::roll_back() {
  for (auto it = entries_.rbegin(); it != entries_.rend() - static_cast<long>(switched_); ++it) {
    Fd dir = open_dir_path(root_, it->dir);
    if (dir.valid()) remove_quietly(dir.get(), it->temp);
  }
  entries_.clear();
  switched_ = 0;
}

}  // namespace gitopsd::worker
