// New entries in dest's directories: temporary names, files written whole, symlinks.
#include "files_write.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string_view>

#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

// A name no other entry has (a stale one from a process with the same pid is retried past).
std::string temp_name(const std::string& prefix) {
  static std::atomic<unsigned long> counter{0};
  return prefix + std::to_string(::getpid()) + "-" + std::to_string(++counter);
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

}  // namespace

std::string create_temp(const std::function<int(const std::string&)>& create, int& err,
                        const std::string& prefix) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string temp = temp_name(prefix);
    err = create(temp);
    if (err != EEXIST) return err == 0 ? temp : "";
  }
  return "";
}

std::optional<Problem> create_entry(int dir_fd, const std::string& name, const TreeFile& file,
                                    const DesiredTree& tree, const BlobSource& blobs,
                                    const FilesOptions& options, bool durable) {
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

}  // namespace gitopsd::worker
