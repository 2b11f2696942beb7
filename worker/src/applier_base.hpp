// What the `files` and `exec` appliers share: the target they work on, its files at a commit,
// and running one of its commands as an attempt.
#pragma once

#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <variant>
#include <vector>

#include "gitopsd/worker/applier.hpp"
#include "gitopsd/worker/command_runner.hpp"
#include "gitopsd/worker/files_sync.hpp"
#include "gitopsd/worker/mirror.hpp"

namespace gitopsd::worker {

class ApplierBase : public Applier {
 protected:
  ApplierBase(const Repository& repository, const Target& target, const WorkerConfig& worker,
              Mirror& mirror)
      : repository_(repository), target_(target), worker_(worker), mirror_(mirror) {}

  // The target's files at `commit`.
  std::variant<std::vector<TreeFile>, ApplyFailure> files_at(const std::string& commit) const;
  BlobSource blob_source() const;
  FilesOptions files_options(FilesSwitch switch_mode = FilesSwitch::per_file) const;

  // The environment of the target's commands: GITOPSD_REPOSITORY, _TARGET, _COMMIT, _BEFORE.
  std::map<std::string, std::string> environment(const std::string& commit,
                                                 const std::string& before) const;
  // Where the process group of the target's running command is recorded.
  std::string group_record() const;

  // Runs `argv` in `dir`, bounded by apply_timeout, its process group in group_record().
  CommandResult run_command_in(const std::vector<std::string>& argv, const std::string& dir,
                               std::map<std::string, std::string> env, std::stop_token stop) const;
  // The same, as an attempt: a non-zero exit is a retryable failure, a timeout is not.
  std::variant<Applied, ApplyFailure> run(const std::vector<std::string>& argv,
                                          const std::string& dir,
                                          std::map<std::string, std::string> env,
                                          std::stop_token stop) const;

  const Repository& repository_;
  const Target& target_;
  const WorkerConfig& worker_;
  Mirror& mirror_;
};

std::unique_ptr<Applier> make_files_applier(const Repository& repository, const Target& target,
                                            const FilesApply& apply, const WorkerConfig& worker,
                                            Mirror& mirror);
std::unique_ptr<Applier> make_exec_applier(const Repository& repository, const Target& target,
                                           const ExecApply& apply, const WorkerConfig& worker,
                                           Mirror& mirror);

}  // namespace gitopsd::worker
