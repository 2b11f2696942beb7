// Independent check of JSON values against the schemas in schemas/: runs Debian's
// python3-jsonschema (Draft 2020-12) in a child process, so a bug shared by our writer and
// our own parser cannot hide. Header-only; used by unit and integration tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <string_view>

extern char** environ;

namespace gitopsd::test {

#ifdef GITOPSD_SOURCE_DIR
inline const std::string kEventSchemaPath = GITOPSD_SOURCE_DIR "/schemas/event.v1.json";
#endif

// Exit status the validator uses for "the value does not match the schema"; any other
// non-zero status means the validator itself failed (bad schema, not JSON, no module).
inline constexpr int kSchemaMismatch = 3;

struct SchemaCheck {
  int exit_code = -1;  // 0 valid, kSchemaMismatch invalid, else the validator failed
  std::string output;  // the validator's stdout and stderr: one line per error
};

inline SchemaCheck run_schema_validator(std::string_view json, const std::string& schema_path) {
  static constexpr const char* kScript = R"py(
import json, sys
import jsonschema
with open(sys.argv[1]) as f:
    schema = json.load(f)
cls = jsonschema.Draft202012Validator
cls.check_schema(schema)
value = json.load(sys.stdin)
errors = sorted(cls(schema, format_checker=jsonschema.FormatChecker()).iter_errors(value), key=str)
for e in errors:
    print("/".join(map(str, e.absolute_path)) or "(root)", ":", e.message)
sys.exit(3 if errors else 0)
)py";
  SchemaCheck result;
  // stdin is a socket so that a child that died early cannot SIGPIPE us (MSG_NOSIGNAL).
  std::array<int, 2> in{-1, -1};
  std::array<int, 2> out{-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in.data()) != 0) return result;
  if (pipe2(out.data(), O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[1], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  std::string python = "/usr/bin/python3";
  std::string flag = "-c";
  std::string script = kScript;
  std::string schema = schema_path;
  std::array<char*, 5> argv{python.data(), flag.data(), script.data(), schema.data(), nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, python.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[1]);
  close(out[1]);
  if (spawned == 0) {
    for (std::size_t sent = 0; sent < json.size();) {
      const ssize_t n = send(in[0], json.data() + sent, json.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
  }
  close(in[0]);  // EOF for the child's json.load
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = read(out[0], buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf.data(), static_cast<std::size_t>(n));
  }
  close(out[0]);
  if (spawned != 0) {
    result.output = "cannot run /usr/bin/python3";
    return result;
  }
  int status = 0;
  pid_t waited = -1;
  do {
    waited = waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited != pid) return result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// EXPECT_TRUE(matches_schema(to_json(event))) prints the validator's findings on failure.
inline ::testing::AssertionResult matches_schema(std::string_view json,
                                                 const std::string& schema_path
#ifdef GITOPSD_SOURCE_DIR
                                                 = kEventSchemaPath
#endif
) {
  const SchemaCheck check = run_schema_validator(json, schema_path);
  if (check.exit_code == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "validator exit " << check.exit_code << " for " << json << "\n"
         << check.output;
}

}  // namespace gitopsd::test
