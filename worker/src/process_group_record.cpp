#include "gitopsd/worker/process_group_record.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "gitopsd/log.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

// The fields of /proc/<pid>/stat after the command name (which may hold spaces and ')'), so
// fields()[0] is field 3 (state), [2] field 5 (process group), [19] field 22 (start time).
std::vector<std::string> proc_stat_fields(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string text;
  std::getline(in, text);
  std::vector<std::string> fields;
  const auto comm_end = text.rfind(')');
  if (comm_end == std::string::npos) return fields;
  std::istringstream rest(text.substr(comm_end + 1));
  for (std::string field; fields.size() < 20 && rest >> field;) fields.push_back(field);
  return fields;
}

// When the process started (clock ticks since boot): with the pid it names one process for
// good, even after the pid number is reused.
std::optional<std::string> process_start_time(pid_t pid) {
  auto fields = proc_stat_fields(std::to_string(pid));
  if (fields.size() < 20) return std::nullopt;
  return fields[19];
}

// True while a member of the recorded group lives (zombies do not count: nobody may be
// reaping them, e.g. a worker that is a container's init). Linux does not hand out a pid that
// is still some group's id, so while members remain the number is still that group; its
// leader, if present, must be the recorded one.
bool group_alive(pid_t pgid, const std::string& start) {
  const auto leader = proc_stat_fields(std::to_string(pgid));
  if (leader.size() >= 20 && leader[19] != start) return false;
  const std::string group = std::to_string(pgid);
  Fd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.valid()) return ::kill(-pgid, 0) == 0;
  for (const auto& name : list_dir(proc.get())) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto fields = proc_stat_fields(name);
    if (fields.size() >= 3 && fields[2] == group && fields[0] != "Z" && fields[0] != "X")
      return true;
  }
  return false;
}

}  // namespace

std::string process_group_record_path(const std::string& state_dir, const std::string& repository,
                                      const std::string& target) {
  auto dir = std::filesystem::path(state_dir) / "running" / repository;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return (dir / target).string();
}

void record_process_group(const std::string& record, pid_t pgid) {
  const auto start = process_start_time(pgid);
  if (!start) return;
  std::ofstream(record, std::ios::trunc) << pgid << " " << *start << "\n";
}

void wait_for_leftover_command(const std::string& record, std::chrono::milliseconds timeout,
                               std::stop_token stop) {
  long pgid = 0;
  std::string start;
  {
    std::ifstream in(record);
    if (!(in >> pgid >> start) || pgid <= 1) return;
  }
  const auto group = static_cast<pid_t>(pgid);
  if (group_alive(group, start)) {
    auto log = logger("apply");
    log->warn("a command left running by a previous worker is still running process_group={} "
              "record={}: waiting for it (at most apply_timeout) before starting another",
              pgid, record);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (group_alive(group, start) && std::chrono::steady_clock::now() < deadline && !stop.stop_requested())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (group_alive(group, start)) {
      log->warn("killing the leftover command process_group={}", pgid);
      ::kill(-group, SIGTERM);
      const auto term_deadline = std::chrono::steady_clock::now() + kTermGrace;
      while (group_alive(group, start) && std::chrono::steady_clock::now() < term_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (group_alive(group, start)) ::kill(-group, SIGKILL);
    }
  }
  ::unlink(record.c_str());
}

}  // namespace gitopsd::worker
