// Real git servers on loopback for integration tests: `git daemon` (git://), `git http-backend`
// behind a small token-checking HTTP server (smart HTTP), and sshd with a key (ssh://), plus a
// work repository built with the git CLI that pushes to a bare "served" repository.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace gitopsd::test {

// Absolute path of a program found in PATH (posix_spawn does not search); throws if absent.
std::string find_program(const std::string& name);
// Absolute path of a program found in PATH, or nullopt.
std::optional<std::string> find_program_opt(const std::string& name);

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs argv to completion (no shell); throws on a 60 s timeout.
RunResult run_command(const std::vector<std::string>& argv);

// True when 127.0.0.1:port accepts a TCP connection.
bool port_accepts(int port);

// A work repository and the bare repository it pushes to (`served_root()/<name>.git`).
class GitRepoFixture {
 public:
  explicit GitRepoFixture(std::string name = "repo", std::string branch = "main");
  const std::string& name() const { return name_; }
  const std::string& branch() const { return branch_; }
  const std::string& work_dir() const { return work_; }
  // Directory holding `<name>.git`: the base path the servers export.
  const std::string& served_root() const { return served_root_; }
  std::string served_path() const { return served_root_ + "/" + name_ + ".git"; }

  // Files in the work tree (parent directories created).
  void write(const std::string& path, const std::string& content, bool executable = false);
  void symlink(const std::string& path, const std::string& target);
  void remove(const std::string& path);
  // `git add -A` + commit (empty commits allowed); returns the new HEAD.
  std::string commit(const std::string& message);
  // Pushes HEAD to `branch` (default: the fixture's branch) of the served repository.
  void push(const std::string& branch = "");
  // `git checkout -B branch` (from the current HEAD).
  void checkout(const std::string& branch);
  // Moves the branch back to `sha` and force-pushes it.
  void force_reset(const std::string& sha);
  // `git rev-parse <rev>` in the work repository.
  std::string rev_parse(const std::string& rev);
  // Runs `git -C <work> args...`; throws with the output when it fails.
  std::string git(const std::vector<std::string>& args);

 private:
  TempDir dir_;
  std::string name_;
  std::string branch_;
  std::string work_;
  std::string served_root_;
};

// `git daemon` exporting every repository under `base_dir`, with receive-pack enabled.
class GitDaemon {
 public:
  explicit GitDaemon(std::string base_dir);
  ~GitDaemon();
  int port() const { return port_; }
  std::string url(const std::string& name) const;  // git://127.0.0.1:port/<name>.git
  void stop();
  void start();  // same port

 private:
  TempDir logs_;
  std::string base_dir_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

// Smart HTTP (tests/support/git_http_server.py + `git http-backend`) requiring HTTP Basic auth
// whose password equals `token` (any user name). With `tls`, HTTPS with a freshly made
// self-signed certificate for "localhost", which no client trusts unless told to.
class GitHttpServer {
 public:
  GitHttpServer(std::string base_dir, std::string token, bool tls = false);
  ~GitHttpServer();
  int port() const { return port_; }
  std::string url(const std::string& name) const;  // http://127.0.0.1:port/<name>.git, https://localhost:port/...
  // With `tls`: the server's certificate (PEM), for a client told to trust it.
  std::string certificate_file() const { return logs_.path() + "/cert.pem"; }
  // Stops the server ("git host down"); start() brings it back on the same port.
  void stop();
  void start();
  // Its request log: one "git-http: \"GET /infra.git/info/refs?..." line per request.
  std::string log() const;

 private:
  TempDir logs_;
  std::string base_dir_;
  std::string token_;
  bool tls_ = false;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

// sshd on 127.0.0.1 with its own host key, accepting one generated client key for the current
// user. When sshd cannot run here, `skip_reason()` says why (tests then GTEST_SKIP).
class SshGitServer {
 public:
  SshGitServer();
  ~SshGitServer();
  const std::optional<std::string>& skip_reason() const { return skip_reason_; }
  int port() const { return port_; }
  // ssh://<user>@127.0.0.1:<port><absolute path>
  std::string url(const std::string& absolute_path) const;
  const std::string& client_key() const { return client_key_; }
  // A known_hosts file listing this server's host key ("[127.0.0.1]:port ssh-ed25519 ...").
  const std::string& known_hosts() const { return known_hosts_; }
  // A known_hosts file listing another key for the same host.
  const std::string& wrong_known_hosts() const { return wrong_known_hosts_; }

 private:
  TempDir dir_;
  std::string user_;
  int port_ = 0;
  std::string client_key_;
  std::string known_hosts_;
  std::string wrong_known_hosts_;
  std::optional<std::string> skip_reason_;
  std::unique_ptr<Process> process_;
};

// A real Gitea (deploy/gitea/gitea.sh) on a free loopback port in a fresh directory, with the
// admin user "gitopsd" and an all-scopes API token. When the Gitea binary is not built here
// (`gitea.sh build`, which scripts/setup.sh runs), `skip_reason()` says so and tests GTEST_SKIP;
// with GITOPSD_REQUIRE_GITEA=1 (CI) the constructor throws instead.
class GiteaServer {
 public:
  GiteaServer();
  ~GiteaServer();  // stops it
  GiteaServer(const GiteaServer&) = delete;
  GiteaServer& operator=(const GiteaServer&) = delete;
  const std::optional<std::string>& skip_reason() const { return skip_reason_; }
  int port() const { return port_; }
  std::string base_url() const;  // http://127.0.0.1:port
  const std::string& user() const { return user_; }
  const std::string& token() const { return token_; }
  // A request to Gitea's REST API (`path` under /api/v1) with the token and a JSON body.
  HttpResponse api(const std::string& method, const std::string& path, const std::string& body = "") const;

  // The calls below throw std::runtime_error, with Gitea's answer, when Gitea refuses.
  // A new repository `name` of user() ("gitopsd/<name>", returned), empty unless `auto_init`
  // (then one commit on `main`).
  std::string create_repository(const std::string& name, bool auto_init = false) const;
  // What `git push` takes for `full_name`: Gitea accepts the token as the password.
  std::string push_url(const std::string& full_name) const;
  // A repository webhook as a user adds one for gitopsd's receiver: type gitea, JSON, push
  // events on the branches `branch_filter` matches ("main", "*"), signed with `secret`
  // (X-Gitea-Signature), active. Returns its id.
  long add_push_webhook(const std::string& full_name, const std::string& url,
                        const std::string& secret, const std::string& branch_filter = "*") const;
  struct CommitStatus {
    std::string state;  // pending, success, error, failure, warning (Gitea answers it as "status")
    std::string context;
    std::string description;
    std::string target_url;
  };
  // The statuses of commit `sha`, as GET /repos/{full_name}/commits/{sha}/statuses lists them:
  // newest first, every one set (several per context).
  std::vector<CommitStatus> commit_statuses(const std::string& full_name, const std::string& sha) const;

 private:
  TempDir dir_;
  std::string script_;
  std::string user_ = "gitopsd";
  std::string token_;
  int port_ = 0;
  std::optional<std::string> skip_reason_;
};

}  // namespace gitopsd::test
