#include "gitopsd/worker/applier.hpp"

#include "applier_base.hpp"
#include "gitopsd/worker/process_group_record.hpp"

namespace gitopsd::worker {

ApplyFailure git_failure(const GitError& error, const std::string& context) {
  return ApplyFailure{.message = context + error.message, .retryable = error.retryable};
}

std::unique_ptr<Applier> make_applier(const Repository& repository, const Target& target,
                                      const WorkerConfig& worker, Mirror& mirror) {
  if (const auto* files = std::get_if<FilesApply>(&target.apply))
    return make_files_applier(repository, target, *files, worker, mirror);
  return make_exec_applier(repository, target, std::get<ExecApply>(target.apply), worker, mirror);
}

std::variant<std::vector<TreeFile>, ApplyFailure> ApplierBase::files_at(
    const std::string& commit) const {
  auto files = mirror_.list_files(commit, target_.path);
  if (auto* error = std::get_if<GitError>(&files)) return git_failure(*error);
  return std::get<std::vector<TreeFile>>(std::move(files));
}

BlobSource ApplierBase::blob_source() const {
  return {[this](const std::string& id) { return mirror_.blob_size(id); },
          [this](const std::string& id) { return mirror_.read_blob(id); }};
}

FilesOptions ApplierBase::files_options(FilesSwitch switch_mode) const {
  return FilesOptions{.switch_mode = switch_mode, .max_file_bytes = worker_.max_file_bytes};
}

std::map<std::string, std::string> ApplierBase::environment(const std::string& commit,
                                                            const std::string& before) const {
  return command_environment({{"GITOPSD_REPOSITORY", repository_.name},
                              {"GITOPSD_TARGET", target_.name},
                              {"GITOPSD_COMMIT", commit},
                              {"GITOPSD_BEFORE", before}});
}

std::string ApplierBase::group_record() const {
  return process_group_record_path(worker_.state_dir, repository_.name, target_.name);
}

CommandResult ApplierBase::run_command_in(const std::vector<std::string>& argv,
                                          const std::string& dir,
                                          std::map<std::string, std::string> env,
                                          std::stop_token stop) const {
  CommandSpec spec{.argv = argv, .working_dir = dir, .env = std::move(env),
                   .timeout = worker_.apply_timeout, .group_file = group_record()};
  return run_command(spec, stop);
}

std::variant<Applied, ApplyFailure> ApplierBase::run(const std::vector<std::string>& argv,
                                                     const std::string& dir,
                                                     std::map<std::string, std::string> env,
                                                     std::stop_token stop) const {
  auto r = run_command_in(argv, dir, std::move(env), stop);
  ApplyFailure failure{.output_tail = r.output_tail};
  if (!r.started) {
    failure.message = r.error;
  } else if (r.timed_out) {
    failure.message = argv[0] + " killed after apply_timeout";  // a retry would hang as long again
  } else if (r.stopped) {
    failure.message = argv[0] + " stopped: worker shutting down";
    failure.retryable = true;
  } else if (r.exit_code != 0) {
    failure.message = argv[0] + (r.signal ? " killed by signal " + std::to_string(r.signal)
                                          : " exited with " + std::to_string(r.exit_code));
    failure.retryable = true;
  } else {
    return Applied{.output_tail = r.output_tail};
  }
  return failure;
}

}  // namespace gitopsd::worker
