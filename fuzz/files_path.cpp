// Fuzz target: the files applier's path check, which stands between a commit's tree and the
// filesystem. Beyond "no crash", every path it accepts must be one the applier can write
// inside dest: relative, no empty, "." or ".." component, no NUL, and no component git itself
// would refuse as ".git" (any case).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gitopsd/worker/files_sync.hpp"

namespace {

bool is_dot_git(std::string_view name) {
  if (name.size() != 4) return false;
  return name[0] == '.' && (name[1] | 0x20) == 'g' && (name[2] | 0x20) == 'i' &&
         (name[3] | 0x20) == 't';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path(reinterpret_cast<const char*>(data), size);
  const auto refused = gitopsd::worker::check_tree_path(path);
  if (refused) {
    if (refused->empty()) std::abort();  // a refusal says why
    return 0;
  }
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) std::abort();
  std::string_view rest = path;
  for (;;) {
    const std::size_t slash = rest.find('/');
    const std::string_view name = rest.substr(0, slash);
    if (name.empty() || name == "." || name == ".." || is_dot_git(name)) std::abort();
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return 0;
}
