#include "gitopsd/worker/command_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "gitopsd/worker/process_group_record.hpp"
#include "posix_helpers.hpp"

namespace gitopsd::worker {
namespace {

using Clock = std::chrono::steady_clock;

// After the command exits, how long its leftover background processes may keep the output
// pipe open before the group is killed.
constexpr auto kStragglerGrace = std::chrono::seconds(2);
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// posix_spawnp would search the daemon's PATH; the command's own PATH is the one that counts.
std::optional<std::string> find_executable(const std::string& name, const CommandSpec& spec) {
  if (name.find('/') != std::string::npos) return name;
  const auto path_var = spec.env.find("PATH");
  const std::string search = path_var == spec.env.end() ? kDefaultPath : path_var->second;
  for (const auto& dir : split(search, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (dir.front() != '/' && !spec.working_dir.empty()) {
      candidate = spec.working_dir + "/" + candidate;
    }
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

void append_tail(std::string& tail, std::string_view bytes, std::size_t limit) {
  if (bytes.size() >= limit) {
    tail.assign(bytes.substr(bytes.size() - limit));
    return;
  }
  tail.append(bytes);
  if (tail.size() > limit) tail.erase(0, tail.size() - limit);
}

struct SpawnResources {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  SpawnResources() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnResources() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnResources(const SpawnResources&) = delete;
  SpawnResources& operator=(const SpawnResources&) = delete;
};

}  // namespace

CommandResult run_command(const CommandSpec& spec, std::stop_token stop) {
  CommandResult result;
  if (spec.argv.empty()) {
    result.error = "cannot run: empty command";
    return result;
  }
  const std::string& argv0 = spec.argv.front();
  const auto executable = find_executable(argv0, spec);
  if (!executable) {
    result.error = "cannot run " + argv0 + ": " + errno_text(ENOENT);
    return result;
  }

  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    result.error = "cannot run " + argv0 + ": " + errno_text(errno);
    return result;
  }
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);

  SpawnResources spawn;
  posix_spawn_file_actions_addopen(&spawn.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&spawn.actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&spawn.actions, write_end.get(), STDERR_FILENO);
  // Nothing else of the daemon's: not its Kafka connections, not its listening admin socket
  // (which a command left running would otherwise keep bound after the worker dies).
  posix_spawn_file_actions_addclosefrom_np(&spawn.actions, 3);
  if (!spec.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&spawn.actions, spec.working_dir.c_str());
  }
  // The daemon's signal mask and handlers are its own business, not the command's.
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&spawn.attr, &empty_mask);
  posix_spawnattr_setsigdefault(&spawn.attr, &defaults);
  posix_spawnattr_setpgroup(&spawn.attr, 0);
  posix_spawnattr_setflags(
      &spawn.attr,
      static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));

  std::vector<std::string> env_strings;
  env_strings.reserve(spec.env.size());
  for (const auto& [key, value] : spec.env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  if (!spec.group_file.empty()) wait_for_leftover_command(spec.group_file, spec.timeout, stop);
  const auto started_at = Clock::now();
  pid_t pid = 0;
  const int spawn_error = ::posix_spawn(&pid, executable->c_str(), &spawn.actions, &spawn.attr,
                                        argv.data(), envp.data());
  write_end.reset();
  if (spawn_error != 0) {
    result.error = "cannot run " + argv0 + ": " + errno_text(spawn_error);
    return result;
  }
  result.started = true;
  const pid_t pgid = pid;
  if (!spec.group_file.empty()) record_process_group(spec.group_file, pgid);

  // A pidfd says when the leader exits even if its children hold the pipe open; without one
  // (old kernel) the loop checks every 50 ms.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  Fd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::stop_callback on_stop(stop, [fd = stop_fd.get()] {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(fd, &one, sizeof one);
  });

  const auto deadline = started_at + spec.timeout;
  std::optional<Clock::time_point> term_sent;
  std::optional<Clock::time_point> leader_exited;
  bool killed = false;
  bool pipe_open = true;
  std::array<char, 16384> buffer{};

  auto leader_has_exited = [&] {
    siginfo_t info{};
    // WNOWAIT: the zombie keeps the process group id from being reused until reaped below.
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
  };
  auto terminate = [&] {
    if (term_sent) return;
    ::kill(-pgid, SIGTERM);
    term_sent = Clock::now();
  };

  while (true) {
    const auto now = Clock::now();
    if (!leader_exited && leader_has_exited()) leader_exited = now;
    if (leader_exited && (!pipe_open || now >= *leader_exited + kStragglerGrace)) break;
    if (!term_sent && !leader_exited && now >= deadline) {
      result.timed_out = true;
      terminate();
    }
    if (term_sent && !killed && now >= *term_sent + kTermGrace) {
      ::kill(-pgid, SIGKILL);
      killed = true;
    }

    auto wake = Clock::time_point::max();
    if (!term_sent && !leader_exited) wake = std::min(wake, deadline);
    if (term_sent && !killed) wake = std::min(wake, *term_sent + kTermGrace);
    if (leader_exited) wake = std::min(wake, *leader_exited + kStragglerGrace);
    if (!pidfd.valid() && !leader_exited)
      wake = std::min(wake, now + std::chrono::milliseconds(50));
    int timeout_ms = -1;
    if (wake != Clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
    }

    std::array<pollfd, 3> fds{};
    nfds_t count = 0;
    const int pipe_index = pipe_open ? static_cast<int>(count) : -1;
    if (pipe_open) fds[count++] = {read_end.get(), POLLIN, 0};
    const int stop_index = static_cast<int>(count);
    fds[count++] = {stop_fd.get(), POLLIN, 0};
    if (pidfd.valid() && !leader_exited) fds[count++] = {pidfd.get(), POLLIN, 0};
    const int ready = ::poll(fds.data(), count, timeout_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;

    if (pipe_index >= 0 && fds[static_cast<std::size_t>(pipe_index)].revents != 0) {
      const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
      if (n > 0) {
        append_tail(result.output_tail,
                    std::string_view(buffer.data(), static_cast<std::size_t>(n)), spec.tail_bytes);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        pipe_open = false;
      }
    }
    if (fds[static_cast<std::size_t>(stop_index)].revents != 0) {
      std::uint64_t value = 0;
      [[maybe_unused]] auto got = ::read(stop_fd.get(), &value, sizeof value);
      if (!term_sent && !leader_exited) {
        result.stopped = true;
        terminate();
      }
    }
  }

  // Whatever is left of the group (background children of a finished command, or a command
  // that ignores SIGTERM) is killed; the leader is then reaped.
  ::kill(-pgid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!spec.group_file.empty()) ::unlink(spec.group_file.c_str());
  result.duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

std::map<std::string, std::string> command_environment(
    const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  const char* path = std::getenv("PATH");
  env["PATH"] = path != nullptr && *path != '\0' ? path : kDefaultPath;
  for (const char* name : {"HOME", "LANG"}) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  for (const auto& [key, value] : extra) env[key] = value;
  return env;
}

}  // namespace gitopsd::worker
