#include "gitopsd/worker/files_sync.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "gitopsd/c_handle.hpp"
#include "gitopsd/crypto.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

class Sha1 {
 public:
  Sha1() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha1(), nullptr) != 1) {
      throw std::runtime_error("SHA-1 unavailable");
    }
  }
  void update(std::string_view bytes) { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size);
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
  }

 private:
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx_;
};

std::string blob_header(std::size_t size) {
  std::string header = "blob " + std::to_string(size);
  header.push_back('\0');
  return header;
}

std::string child_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A name git's verify_path refuses as ".git" with core.protectNTFS on (git's default on every
// platform since 2.24): Windows drops trailing spaces and dots and reads "name:stream" as
// "name", and "git~1" is the 8.3 short name of ".git". A dest exported over SMB is read that
// way. (core.protectHFS's ignorable Unicode code points are left out: they matter only on an
// HFS+ volume, which a Linux dest is not.)
bool is_dot_git(std::string_view name) {
  name = name.substr(0, name.find(':'));
  while (!name.empty() && (name.back() == ' ' || name.back() == '.')) name.remove_suffix(1);
  return equals_ignoring_case(name, ".git") || equals_ignoring_case(name, "git~1");
}

// What `files` asks for, checked: every path relative and inside, every symlink target read
// and resolving inside the tree root. Looked up by binary search in path order, so an
// incremental apply costs a pass over the list, not a map of it.
struct DesiredTree {
  std::vector<const TreeFile*> files;               // sorted by path, no two alike
  std::map<std::string, std::string> link_targets;  // symlink path -> target

  std::vector<const TreeFile*>::const_iterator first_not_before(std::string_view path) const {
    return std::lower_bound(files.begin(), files.end(), path,
                            [](const TreeFile* file, std::string_view p) { return file->path < p; });
  }
  const TreeFile* find(std::string_view path) const {
    const auto it = first_not_before(path);
    return it != files.end() && (*it)->path == path ? *it : nullptr;
  }
  // True when a file lies under `path`: it is one of the tree's directories.
  bool has_dir(std::string_view path) const {
    std::string prefix(path);
    prefix.push_back('/');
    const auto it = first_not_before(prefix);
    return it != files.end() && (*it)->path.starts_with(prefix);
  }
};

// Resolves `target` from the directory `stack` as the kernel would, following the tree's own
// symlinks (a chain of links that are each fine alone can still climb out); false when the
// result would be above the root, or on a loop.
bool resolves_inside(std::vector<std::string> stack, const std::string& target,
                     const std::map<std::string, std::string>& links) {
  if (!target.empty() && target.front() == '/') return false;
  auto first = split(target);
  std::deque<std::string> pending(first.begin(), first.end());
  int hops = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (stack.empty()) return false;
      stack.pop_back();
      continue;
    }
    stack.push_back(std::move(part));
    const auto link = links.find(join(stack, stack.size()));
    if (link == links.end()) continue;
    if (++hops > 40 || (!link->second.empty() && link->second.front() == '/')) return false;
    stack.pop_back();
    auto parts = split(link->second);
    pending.insert(pending.begin(), parts.begin(), parts.end());
  }
  return true;
}

// Why an apply failed. `refused`: the commit's tree itself is at fault (FilesOutcome::refused).
struct Problem {
  // Implicit: most failures are of the moment, and are written as their message alone.
  Problem(std::string why, bool tree_refused = false)
      : message(std::move(why)), refused(tree_refused) {}
  std::string message;
  bool refused = false;
};

// The blob of `file`, refused before it is read when it is over the limit.
std::variant<BlobData, Problem> read_blob_of(const TreeFile& file, const BlobSource& blobs,
                                                 std::uint64_t max_bytes) {
  auto cannot_read = [&](const GitError& error) {
    return "cannot read blob " + file.blob_id + " for " + file.path + ": " + error.message;
  };
  auto size = blobs.size(file.blob_id);
  if (auto* error = std::get_if<GitError>(&size)) return cannot_read(*error);
  if (std::get<std::uint64_t>(size) > max_bytes) {
    return Problem("file too large: " + file.path + " is " +
                       std::to_string(std::get<std::uint64_t>(size)) +
                       " bytes, over worker.max_file_bytes (" + std::to_string(max_bytes) + ")",
                   /*tree_refused=*/true);
  }
  auto data = blobs.read(file.blob_id);
  if (auto* error = std::get_if<GitError>(&data)) return cannot_read(*error);
  return std::get<BlobData>(std::move(data));
}

// Fills `tree` or returns why the whole apply is refused. Reads the symlinks' blobs (their
// targets); no other blob.
std::optional<Problem> build_desired(const std::vector<TreeFile>& files,
                                         const BlobSource& blobs, const FilesOptions& options,
                                         DesiredTree& tree) {
  tree.files.reserve(files.size());
  for (const auto& file : files) {
    if (auto problem = check_tree_path(file.path)) return problem;
    tree.files.push_back(&file);
  }
  auto by_path = [](const TreeFile* a, const TreeFile* b) { return a->path < b->path; };
  // Mirror::list_files gives them sorted already.
  if (!std::is_sorted(tree.files.begin(), tree.files.end(), by_path))
    std::sort(tree.files.begin(), tree.files.end(), by_path);
  for (std::size_t i = 0; i + 1 < tree.files.size(); ++i) {
    const std::string& path = tree.files[i]->path;
    const std::string& next = tree.files[i + 1]->path;
    if (next == path) return "duplicate path: " + path;
    // Paths under `path` would follow it directly, after only those extending its last name.
    if (next.starts_with(path) && tree.has_dir(path))
      return "path is both a file and a directory: " + path;
  }
  for (const TreeFile* file : tree.files) {
    const std::string& path = file->path;
    if (file->kind != FileKind::symlink) continue;
    auto blob = read_blob_of(*file, blobs, options.max_file_bytes);
    if (auto* error = std::get_if<Problem>(&blob)) return *error;
    std::string target(std::get<BlobData>(blob).bytes);
    if (target.empty() || target.find('\0') != std::string::npos) {
      return "invalid symlink target: " + path;
    }
    for (const auto& part : split(target)) {
      if (is_dot_git(part)) return "symlink target has a .git component: " + path + " -> " + target;
    }
    tree.link_targets.emplace(path, std::move(target));
  }
  for (const auto& [path, target] : tree.link_targets) {
    auto dir = split(path);
    dir.pop_back();
    if (!resolves_inside(dir, target, tree.link_targets)) {
      return "symlink escapes dest: " + path + " -> " + target;
    }
  }
  return std::nullopt;
}

mode_t mode_for(FileKind kind) { return kind == FileKind::executable ? 0755 : 0644; }

// The git blob id of the regular file `name`, or "" when it is not one (or changed meanwhile).
std::string hash_file_at(int parent, const std::string& name) {
  Fd fd(::openat(parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  const auto size = static_cast<std::size_t>(st.st_size);
  Sha1 sha;
  sha.update(blob_header(size));
  std::array<char, 65536> buffer{};
  std::size_t total = 0;
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "";
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
    sha.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  return total == size ? sha.hex() : "";
}

std::optional<std::string> read_link_at(int parent, const std::string& name) {
  std::string target(4096, '\0');
  const ssize_t n = ::readlinkat(parent, name.c_str(), target.data(), target.size());
  if (n < 0 || static_cast<std::size_t>(n) >= target.size()) return std::nullopt;
  target.resize(static_cast<std::size_t>(n));
  return target;
}

enum class EntryState { right, mode_only, wrong };

EntryState compare_entry(int parent, const std::string& name, const struct stat& st,
                         const TreeFile& file, const DesiredTree& tree) {
  if (file.kind == FileKind::symlink) {
    if (!S_ISLNK(st.st_mode)) return EntryState::wrong;
    const auto target = read_link_at(parent, name);
    return target && *target == tree.link_targets.at(file.path) ? EntryState::right
                                                                : EntryState::wrong;
  }
  if (!S_ISREG(st.st_mode) || hash_file_at(parent, name) != file.blob_id) return EntryState::wrong;
  return (st.st_mode & 07777) == mode_for(file.kind) ? EntryState::right : EntryState::mode_only;
}

// Opens the existing directories root, parts[0], ... parts[count-1] without creating or
// following anything; stops at the first that is missing (the result is then shorter).
std::vector<Fd> open_existing(int root, const std::vector<std::string>& parts, std::size_t count) {
  std::vector<Fd> chain;
  chain.emplace_back(::dup(root));
  for (std::size_t i = 0; i < count && chain.back().valid(); ++i) {
    Fd next = open_dir_at(chain.back().get(), parts[i]);
    if (!next.valid()) break;
    chain.push_back(std::move(next));
  }
  return chain;
}

// The directory `dir` ('/'-separated, "" = root) under `root`, or an invalid Fd.
Fd open_dir_path(int root, const std::string& dir) {
  if (dir.empty()) return Fd(::dup(root));
  const auto parts = split(dir);
  auto chain = open_existing(root, parts, parts.size());
  return chain.size() == parts.size() + 1 ? std::move(chain.back()) : Fd();
}

// What dest holds compared with the tree, found by walking all of it.
struct Walk {
  const DesiredTree& tree;
  std::map<std::string, EntryState> present;  // desired files found in dest
  std::vector<std::string> unwanted;  // neither a file nor a directory of the tree: deleted last
  std::size_t removed = 0;            // entries the apply deletes (also those in the way)
  std::string error;
};

bool walk_dest(int dir_fd, const std::string& prefix, Walk& walk) {
  for (const auto& name : list_dir(dir_fd)) {
    const std::string path = child_path(prefix, name);
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode) && walk.tree.has_dir(path)) {
      Fd child = open_dir_at(dir_fd, name);
      if (!child.valid()) {
        walk.error = "cannot open " + path + ": " + errno_text(errno);
        return false;
      }
      if (!walk_dest(child.get(), path, walk)) return false;
      continue;
    }
    const TreeFile* wanted = walk.tree.find(path);
    if (!S_ISDIR(st.st_mode) && wanted != nullptr) {
      walk.present[path] = compare_entry(dir_fd, name, st, *wanted, walk.tree);
      continue;
    }
    // A directory where the tree has a file, or the reverse, is replaced when the new entry
    // is switched in; anything else is deleted after that.
    if (wanted == nullptr && !walk.tree.has_dir(path))
      walk.unwanted.push_back(path);
    if (int err = remove_entry(dir_fd, name, /*dry_run=*/true, walk.removed)) {
      walk.error = "cannot read " + path + ": " + errno_text(err);
      return false;
    }
  }
  return true;
}

// A name no other entry has (a stale one from a process with the same pid is retried past).
std::string temp_name(const std::string& prefix) {
  static std::atomic<unsigned long> counter{0};
  return prefix + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// Creates an entry under a fresh name `prefix`... with `create`, which returns an errno
// (EEXIST: try another name); returns the name, or "" with `err` set.
std::string create_temp(const std::function<int(const std::string&)>& create, int& err,
                        const std::string& prefix = ".gitopsd-tmp-") {
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string temp = temp_name(prefix);
    err = create(temp);
    if (err != EEXIST) return err == 0 ? temp : "";
  }
  return "";
}

// Writes a new regular file `name` (which must not exist) with `content` and `mode`, on disk
// when `durable` (else the caller syncs); on failure nothing is left.
int write_new_file(int dir_fd, const std::string& name, std::string_view content, mode_t mode,
                   bool durable) {
  Fd fd(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 mode));
  if (!fd.valid()) return errno;
  int err = 0;
  while (!content.empty()) {
    const ssize_t n = ::write(fd.get(), content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  // fchmod: the umask must not decide the mode.
  if (err == 0 && ::fchmod(fd.get(), mode) != 0) err = errno;
  if (err == 0 && durable && ::fsync(fd.get()) != 0) err = errno;
  fd.reset();
  if (err != 0) ::unlinkat(dir_fd, name.c_str(), 0);
  return err;
}

// Creates `name` in `dir_fd` as `file` says (it must not exist yet); nullopt or why not.
std::optional<Problem> create_entry(int dir_fd, const std::string& name, const TreeFile& file,
                                        const DesiredTree& tree, const BlobSource& blobs,
                                        const FilesOptions& options, bool durable = true) {
  int err = 0;
  if (file.kind == FileKind::symlink) {
    if (::symlinkat(tree.link_targets.at(file.path).c_str(), dir_fd, name.c_str()) != 0)
      err = errno;
  } else {
    auto blob = read_blob_of(file, blobs, options.max_file_bytes);
    if (auto* error = std::get_if<Problem>(&blob)) return *error;
    err = write_new_file(dir_fd, name, std::get<BlobData>(blob).bytes, mode_for(file.kind),
                         durable);
  }
  if (err != 0) return "cannot write " + file.path + ": " + errno_text(err);
  return std::nullopt;
}

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

// switch: per_file. Every new entry is written under a temporary name beside the one it
// replaces; a new directory is made under a temporary name in its parent and filled under
// final names. Nothing in dest changes until switch_in(); a Staging destroyed before that
// removes everything it staged.
class Staging {
 public:
  Staging(int root, const DesiredTree& tree, const BlobSource& blobs, const FilesOptions& options)
      : root_(root), tree_(tree), blobs_(blobs), options_(options) {}
  ~Staging() { roll_back(); }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  // Stages `file`, whose entry in dest compared as `state`; nullopt or why not.
  std::optional<Problem> stage(const TreeFile& file, EntryState state) {
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

  // Renames every staged entry into place, then sets the modes that alone changed. From the
  // first rename on dest is changing; a failure here (which staging makes unlikely: every
  // name was created or looked up already) leaves it part switched.
  std::optional<Problem> switch_in() {
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

 private:
  struct Entry {
    std::string dir;   // on disk, relative to root; exists in dest
    std::string temp;  // staged under this name in `dir`
    std::string name;  // its final name
    std::string path;  // in the tree
  };

  // A name the filesystem cannot even look up (too long, say) fails now, not at the switch.
  static std::optional<Problem> probe(int dir_fd, const std::string& name,
                                          const std::string& path) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 || errno == ENOENT)
      return std::nullopt;
    return "cannot write " + path + ": " + errno_text(errno);
  }

  void roll_back() {
    for (auto it = entries_.rbegin(); it != entries_.rend() - static_cast<long>(switched_); ++it) {
      Fd dir = open_dir_path(root_, it->dir);
      if (dir.valid()) remove_quietly(dir.get(), it->temp);
    }
    entries_.clear();
    switched_ = 0;
  }

  int root_;
  const DesiredTree& tree_;
  const BlobSource& blobs_;
  const FilesOptions& options_;
  std::vector<Entry> entries_;
  std::size_t switched_ = 0;
  std::map<std::string, std::string> staged_dirs_;  // tree path -> temporary name
  std::vector<const TreeFile*> mode_changes_;
};

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
  const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : resolved.substr(0, slash);
  Place place{Fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
              slash == std::string::npos ? resolved : resolved.substr(slash + 1), resolved};
  if (!place.parent.valid()) return "cannot open " + parent + ": " + errno_text(errno);
  if (place.name.empty() || place.name == "." || place.name == "..")
    return "cannot switch " + dest + ": not a directory name";
  return place;
}

// Builds the tree beside dest as ".<name>.gitopsd-stage-*" and switches it in at once: by
// RENAME_EXCHANGE when dest exists (the old tree, left at the stage's name, is then
// deleted), by a rename when it does not. On failure the stage is removed.
std::optional<Problem> build_and_switch(const std::string& dest, const DesiredTree& tree,
                                            const std::function<bool(const std::string&)>& reuse,
                                            const BlobSource& blobs,
                                            const FilesOptions& options) {
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

FilesOutcome fail(Problem problem, FilesOutcome outcome = {}) {
  outcome.ok = false;
  outcome.refused = problem.refused;
  outcome.error = std::move(problem.message);
  return outcome;
}

// The tree is refused before anything was read or written.
FilesOutcome refuse(Problem problem) {
  problem.refused = true;
  return fail(std::move(problem));
}

// A missing dest: the whole tree is built beside it and renamed into place.
FilesOutcome create_dest(const std::string& dest, const DesiredTree& tree,
                         const BlobSource& blobs, const FilesOptions& options) {
  FilesOutcome outcome;
  if (auto problem = build_and_switch(dest, tree, [](const std::string&) { return false; }, blobs,
                                      options))
    return fail(*problem);
  outcome.written = tree.files.size();
  outcome.ok = true;
  return outcome;
}

Fd open_dest(const std::string& dest) {
  // `dest` itself is the operator's path: a symlink there is followed on purpose.
  return Fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

}  // namespace

std::string git_blob_id(std::string_view content) {
  Sha1 sha;
  sha.update(blob_header(content.size()));
  sha.update(content);
  return sha.hex();
}

std::optional<std::string> check_tree_path(std::string_view path) {
  // Called for every file of the tree on every apply: no allocation unless refused.
  auto refuse = [&](const char* why) { return why + std::string(path); };
  if (path.empty()) return "invalid path: (empty)";
  if (path.find('\0') != std::string_view::npos) return refuse("invalid path: ");
  if (path.front() == '/') return refuse("path escapes dest: ");
  for (std::size_t start = 0; start <= path.size();) {
    const auto slash = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, slash - start);
    if (part == "..") return refuse("path escapes dest: ");
    if (part.empty() || part == ".") return refuse("invalid path: ");
    if (is_dot_git(part)) return refuse("path has a .git component: ");
    start = slash + 1;
  }
  return std::nullopt;
}

FilesOutcome apply_files(const std::string& dest, const std::vector<TreeFile>& files,
                         const BlobSource& blobs, const FilesOptions& options, bool verify_only) {
  DesiredTree tree;
  if (auto refused = build_desired(files, blobs, options, tree)) return refuse(*refused);

  FilesOutcome outcome;
  Fd root = open_dest(dest);
  if (!root.valid() && errno == ENOENT) {
    if (!verify_only) return create_dest(dest, tree, blobs, options);
    outcome.ok = true;
    outcome.written = tree.files.size();
    return outcome;
  }
  if (!root.valid()) return fail("cannot open " + dest + ": " + errno_text(errno));

  Walk walk{tree, {}, {}, 0, {}};
  if (!walk_dest(root.get(), "", walk)) return fail(walk.error);
  outcome.removed = walk.removed;
  auto state_of = [&](const std::string& path) {
    const auto found = walk.present.find(path);
    return found == walk.present.end() ? EntryState::wrong : found->second;
  };
  for (const TreeFile* file : tree.files) {
    ++(state_of(file->path) == EntryState::right ? outcome.unchanged : outcome.written);
  }
  if (verify_only || outcome.written + outcome.removed == 0) {
    outcome.ok = true;
    return outcome;
  }

  if (options.switch_mode == FilesSwitch::exchange) {
    auto reuse = [&](const std::string& path) { return state_of(path) == EntryState::right; };
    root.reset();
    if (auto problem = build_and_switch(dest, tree, reuse, blobs, options))
      return fail(*problem, outcome);
    outcome.ok = true;
    return outcome;
  }

  Staging staging(root.get(), tree, blobs, options);
  for (const TreeFile* file : tree.files) {
    const EntryState state = state_of(file->path);
    if (state == EntryState::right) continue;
    if (auto problem = staging.stage(*file, state)) return fail(*problem, outcome);
  }
  if (auto problem = staging.switch_in()) return fail(*problem, outcome);
  for (const auto& path : walk.unwanted) {
    auto parts = split(path);
    const std::string name = parts.back();
    parts.pop_back();
    Fd dir = open_dir_path(root.get(), join(parts, parts.size()));
    std::size_t ignored = 0;
    if (int err = dir.valid() ? remove_entry(dir.get(), name, false, ignored) : 0)
      return fail("cannot remove " + path + ": " + errno_text(err), outcome);
  }
  outcome.ok = true;
  return outcome;
}

FilesOutcome apply_file_changes(const std::string& dest, const std::vector<TreeFile>& files,
                                const std::vector<std::string>& changed, const BlobSource& blobs,
                                const FilesOptions& options) {
  Fd root = open_dest(dest);
  if (!root.valid()) return apply_files(dest, files, blobs, options);
  DesiredTree tree;
  if (auto refused = build_desired(files, blobs, options, tree)) return refuse(*refused);

  FilesOutcome outcome;
  std::map<std::string, EntryState> states;  // the changed paths the tree has
  std::vector<std::string> doomed;           // the changed paths it no longer has, in dest
  for (const auto& path : changed) {
    if (check_tree_path(path) || tree.has_dir(path)) continue;
    const auto parts = split(path);
    std::vector<Fd> chain = open_existing(root.get(), parts, parts.size() - 1);
    struct stat st {};
    const bool exists = chain.size() == parts.size() &&
                        ::fstatat(chain.back().get(), parts.back().c_str(), &st,
                                  AT_SYMLINK_NOFOLLOW) == 0;
    const TreeFile* wanted = tree.find(path);
    if (wanted == nullptr) {
      if (exists) doomed.push_back(path);
      continue;
    }
    const EntryState state =
        exists ? compare_entry(chain.back().get(), parts.back(), st, *wanted, tree)
               : EntryState::wrong;
    states.emplace(path, state);
    if (state != EntryState::right) ++outcome.written;
  }
  outcome.unchanged = tree.files.size() - outcome.written;

  if (options.switch_mode == FilesSwitch::exchange) {
    if (outcome.written + doomed.size() == 0) {
      outcome.ok = true;
      return outcome;
    }
    auto reuse = [&](const std::string& path) {
      const auto state = states.find(path);
      return state == states.end() || state->second == EntryState::right;
    };
    root.reset();
    if (auto problem = build_and_switch(dest, tree, reuse, blobs, options))
      return fail(*problem, outcome);
    outcome.removed = doomed.size();
    outcome.ok = true;
    return outcome;
  }

  Staging staging(root.get(), tree, blobs, options);
  for (const auto& [path, state] : states) {
    if (state == EntryState::right) continue;
    if (auto problem = staging.stage(*tree.find(path), state)) return fail(*problem, outcome);
  }
  if (auto problem = staging.switch_in()) return fail(*problem, outcome);
  // Deletions, deepest first, so a directory is emptied before it is pruned.
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
    const auto parts = split(*it);
    std::vector<Fd> chain = open_existing(root.get(), parts, parts.size() - 1);
    if (chain.size() != parts.size()) continue;  // a parent is gone: so is the path
    if (int err = remove_entry(chain.back().get(), parts.back(), false, outcome.removed))
      return fail("cannot remove " + *it + ": " + errno_text(err), outcome);
    // Prune the directories this emptied that the tree no longer has.
    for (std::size_t depth = parts.size() - 1; depth > 0; --depth) {
      if (tree.has_dir(join(parts, depth))) break;
      chain.pop_back();
      if (::unlinkat(chain.back().get(), parts[depth - 1].c_str(), AT_REMOVEDIR) != 0) break;
      ++outcome.removed;
    }
  }
  outcome.ok = true;
  return outcome;
}

FilesOutcome checkout_files(const std::string& dir, const std::vector<TreeFile>& files,
                            const BlobSource& blobs, const FilesOptions& options) {
  DesiredTree tree;
  if (auto refused = build_desired(files, blobs, options, tree)) return refuse(*refused);
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno != EEXIST) return fail("cannot create " + dir + ": " + errno_text(errno));
    Fd existing(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!existing.valid()) return fail("cannot open " + dir + ": " + errno_text(errno));
    if (!list_dir(existing.get()).empty()) return fail("checkout directory not empty: " + dir);
  }
  FilesOptions in_place = options;
  in_place.switch_mode = FilesSwitch::per_file;
  return apply_files(dir, files, blobs, in_place);
}

}  // namespace gitopsd::worker
