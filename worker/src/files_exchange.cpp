// switch: exchange. A stage beside dest, filled by hard links and writes, one syncfs, then
// renameat2(RENAME_EXCHANGE) (or a rename when dest is missing).
#include "files_exchange.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <variant>
#include <vector>

#include "files_write.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

// Writes the whole tree into the empty directory `out`. A regular file `reuse` accepts is
// hard-linked from `old_root` (when valid) if it is a regular file of the right mode there;
// everything else is written. Files come in path order, so one chain of open directories
// (as deep as the tree) serves them all.
std::optional<Problem> build_tree(int out, int old_root, const DesiredTree& tree,
                                  const std::function<bool(const std::string&)>& reuse,
                                  const BlobSource& blobs, const FilesOptions& options) {
  std::vector<std::string> current;  // directory parts the chains are open at
  std::vector<Fd> out_chain;
  std::vector<Fd> old_chain;  // invalid entries where dest lacks the directory
  out_chain.emplace_back(::dup(out));
  old_chain.emplace_back(old_root >= 0 ? ::dup(old_root) : -1);
  for (const TreeFile* file : tree.files) {
    const std::string& path = file->path;
    auto parts = split(path);
    const std::string name = parts.back();
    parts.pop_back();
    std::size_t common = 0;
    while (common < current.size() && common < parts.size() && current[common] == parts[common])
      ++common;
    out_chain.resize(common + 1);
    old_chain.resize(common + 1);
    for (std::size_t i = common; i < parts.size(); ++i) {
      if (::mkdirat(out_chain.back().get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        return "cannot create directory " + join(parts, i + 1) + ": " + errno_text(errno);
      Fd next = open_dir_at(out_chain.back().get(), parts[i]);
      if (!next.valid())
        return "cannot open directory " + join(parts, i + 1) + ": " + errno_text(errno);
      out_chain.push_back(std::move(next));
      old_chain.push_back(old_chain.back().valid() ? open_dir_at(old_chain.back().get(), parts[i])
                                                   : Fd());
    }
    current = std::move(parts);
    const int out_dir = out_chain.back().get();
    const int old_dir = old_chain.back().get();
    if (file->kind != FileKind::symlink && old_dir >= 0 && reuse(path)) {
      struct stat st {};
      if (::fstatat(old_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
          (st.st_mode & 07777) == mode_for(file->kind) &&
          ::linkat(old_dir, name.c_str(), out_dir, name.c_str(), 0) == 0)
        continue;
    }
    if (auto problem = create_entry(out_dir, name, *file, tree, blobs, options, false))
      return problem;
  }
  // One flush of the filesystem instead of an fsync per file: a whole tree may be written.
  if (::syncfs(out) != 0) return "cannot sync the new tree: " + errno_text(errno);
  return std::nullopt;
}

// dest's place: its parent directory, open, and its name there.
struct Place {
  Fd parent;
  std::string name;
  std::string dest;  // as resolved
};

std::variant<Place, std::string> place_of(const std::string& dest) {
  // `dest` itself is the operator's path: a symlink there is followed on purpose, so the
  // switch happens where it points.
  std::string resolved = dest;
  if (char* real = ::realpath(dest.c_str(), nullptr)) {
    resolved = real;
    std::free(real);
  }
  while (resolved.size() > 1 && resolved.back() == '/') resolved.pop_back();
  const auto slash = resolved.rfind('/');
  const std::string parent = slash == std::string::npos ? "."
                             : slash == 0                  ? "/"
                                                           : resolved.substr(0, slash);
  Place place{Fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
              slash == std::string::npos ? resolved : resolved.substr(slash + 1), resolved};
  if (!place.parent.valid()) return "cannot open " + parent + ": " + errno_text(errno);
  if (place.name.empty() || place.name == "." || place.name == "..")
    return "cannot switch " + dest + ": not a directory name";
  return place;
}

}  // namespace

std::optional<Problem> build_and_switch(const std::string& dest, const DesiredTree& tree,
                                        const std::function<bool(const std::string&)>& reuse,
                                        const BlobSource& blobs, const FilesOptions& options) {
  auto placed = place_of(dest);
  if (auto* problem = std::get_if<std::string>(&placed)) return *problem;
  auto& place = std::get<Place>(placed);
  const int parent = place.parent.get();
  const std::string prefix = "." + place.name + ".gitopsd-stage-";
  // One worker applies a target at a time: a stage already there is what a worker that died
  // mid-apply left behind.
  for (const auto& name : list_dir(parent)) {
    if (name.starts_with(prefix)) remove_quietly(parent, name);
  }
  Fd old_root = open_dir_at(parent, place.name);
  struct stat dest_st {};
  struct stat parent_st {};
  if (old_root.valid() && ::fstat(old_root.get(), &dest_st) == 0 &&
      ::fstat(parent, &parent_st) == 0 && dest_st.st_dev != parent_st.st_dev)
    return "cannot switch " + place.dest +
           " at once: it is a mount point (switch: exchange needs its parent on the same "
           "filesystem)";
  int err = 0;
  const std::string stage_name = create_temp(
      [&](const std::string& name) {
        return ::mkdirat(parent, name.c_str(), 0700) == 0 ? 0 : errno;
      },
      err, prefix);
  if (stage_name.empty())
    return "cannot create a stage beside " + place.dest + ": " + errno_text(err);
  Fd out = open_dir_at(parent, stage_name);
  std::optional<Problem> problem;
  if (!out.valid()) problem = "cannot open the stage of " + place.dest + ": " + errno_text(errno);
  if (!problem) problem = build_tree(out.get(), old_root.get(), tree, reuse, blobs, options);
  const mode_t dest_mode = old_root.valid() ? dest_st.st_mode & 07777 : 0755;
  if (!problem && ::fchmod(out.get(), dest_mode) != 0)
    problem = "cannot set the mode of the stage: " + errno_text(errno);
  if (!problem) {
    if (!old_root.valid()) {
      if (::renameat(parent, stage_name.c_str(), parent, place.name.c_str()) != 0)
        problem = "cannot rename the stage to " + place.dest + ": " + errno_text(errno);
    } else if (::renameat2(parent, stage_name.c_str(), parent, place.name.c_str(),
                           RENAME_EXCHANGE) != 0) {
      problem = errno == EINVAL || errno == ENOSYS
                    ? "cannot switch " + place.dest + " at once: its filesystem does not support "
                      "renameat2(RENAME_EXCHANGE); use switch: per_file"
                    : "cannot exchange the stage with " + place.dest + ": " + errno_text(errno);
    }
  }
  // After the exchange the stage's name holds the old tree; after a failure, the unfinished one.
  remove_quietly(parent, stage_name);
  return problem;
}

}  // namespace gitopsd::worker
