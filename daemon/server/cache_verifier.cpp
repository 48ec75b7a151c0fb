#include "daemon/server/cache_verifier.hpp"

#include "daemon/store/blob_check.hpp"
#include "daemon/store/digest.hpp"
#include "daemon/store/quarantine.hpp"
#include "daemon/util/offload.hpp"
#include "proto/count_noun.hpp"

#include <spdlog/spdlog.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include <sys/stat.h>

namespace asio = boost::asio;

namespace timmd::server {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

std::string describe_users(const VerifyProblem& problem) {
  return problem.repos.empty() ? std::string("no repository") : fmt::format("{}", fmt::join(problem.repos, ", "));
}

bool is_fan_out_name(std::string_view name) {
  const auto is_hex_digit = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && is_hex_digit(name[0]) && is_hex_digit(name[1]);
}

// A regular file found in a fan-out directory of the blob tree.
struct BlobTreeFile {
  fs::path path;
  std::string name;
  bool valid_name = false; // 64 hex digits that start with the directory's two
};

proto::Result<std::vector<BlobTreeFile>> list_blob_tree(const fs::path& blobs_dir) {
  std::vector<BlobTreeFile> files;
  std::error_code error;
  for (fs::directory_iterator dirs(blobs_dir, error), end; !error && dirs != end; dirs.increment(error)) {
    const auto prefix = dirs->path().filename().string();
    if (!dirs->is_directory() || !is_fan_out_name(prefix)) {
      continue; // startup repair warns about these; verify checks only blob files
    }
    for (fs::directory_iterator it(dirs->path(), error); !error && it != end; it.increment(error)) {
      if (!it->is_regular_file() || it->is_symlink()) {
        continue;
      }
      const auto name = it->path().filename().string();
      files.push_back({it->path(), name, store::is_sha256_hex(name) && name.starts_with(prefix)});
    }
  }
  std::ranges::sort(files, {}, &BlobTreeFile::path);
  if (error) {
    return proto::make_error(proto::Errc::internal,
                             "cannot list the blob tree " + blobs_dir.string() + " for verification: " +
                                 error.message() + "; check the permissions of the cache directory",
                             {{"path", blobs_dir.string()}});
  }
  return files;
}

void mark_repair_state(VerifyProblem& problem) {
  if (problem.action == "adopted") {
    problem.repaired = true;
    problem.repair = "the file matched its name, so it got its index row back";
  } else if (problem.derived) {
    problem.repaired = true;
    problem.repair = "the next open with the same filter makes the derived blob again";
  } else if (problem.references.empty()) {
    problem.repaired = true;
    problem.repair = "no file row names this blob, so nothing needs it";
  } else {
    problem.repaired = false;
    problem.repair = "run `timmctl verify --repair` to fetch it again";
  }
}

} // namespace

struct CacheVerifier::Scope {
  std::vector<store::BlobRecord> blobs; // the blobs to hash
  std::set<std::string, std::less<>> derived;
  std::set<std::string, std::less<>> sources; // scoped: the blobs the file rows name
  bool whole_cache = true;
};

std::size_t VerifyReport::unrepaired() const {
  return static_cast<std::size_t>(
      std::ranges::count_if(problems, [](const VerifyProblem& problem) { return !problem.repaired; }));
}

json VerifyReport::to_json() const {
  json list = json::array();
  for (const auto& problem : problems) {
    json references = json::array();
    for (const auto& file : problem.references) {
      references.push_back({{"repo", file.repo}, {"commit", file.commit}, {"path", file.path}});
    }
    list.push_back({{"kind", problem.kind},
                    {"sha256", problem.sha256},
                    {"detail", problem.detail},
                    {"derived", problem.derived},
                    {"leased", problem.leased},
                    {"action", problem.action},
                    {"quarantine_path", problem.quarantine_path.empty() ? json() : json(problem.quarantine_path)},
                    {"files", std::move(references)},
                    {"repos", problem.repos},
                    {"repaired", problem.repaired},
                    {"repair", problem.repair}});
  }
  return {{"repo", repo.empty() ? json() : json(repo)},
          {"commits", commits},
          {"repair", repair},
          {"blobs_checked", blobs_checked},
          {"file_rows_checked", file_rows_checked},
          {"bytes_hashed", bytes_hashed},
          {"problems", std::move(list)},
          {"unrepaired", unrepaired()}};
}

CacheVerifier::CacheVerifier(asio::any_io_executor blocking, store::Index& index, const store::CacheLayout& layout,
                             const store::BlobStore& blobs, const LeaseTable& leases, PullService& pulls)
    : m_blocking(std::move(blocking)), m_index(index), m_layout(layout), m_blobs(blobs), m_leases(leases),
      m_pulls(pulls) {}

asio::awaitable<proto::Result<VerifyReport>> CacheVerifier::run(VerifyRequest request,
                                                                std::shared_ptr<VerifyProgress> progress) {
  const auto started = std::chrono::steady_clock::now();
  auto build_scope = [this, &request]() -> proto::Result<Scope> {
    Scope scope;
    scope.whole_cache = request.repo.empty();
    auto blobs = m_index.all_blobs();
    auto derived = m_index.all_derived();
    auto links = m_index.file_links(request.repo);
    if (!blobs) {
      return blobs.error();
    }
    if (!derived) {
      return derived.error();
    }
    if (!links) {
      return links.error();
    }
    for (const auto& row : *derived) {
      scope.derived.insert(row.derived_sha256);
    }
    if (scope.whole_cache) {
      scope.blobs = std::move(*blobs);
      return scope;
    }

    std::set<std::string, std::less<>> in_scope;
    for (const auto& link : *links) {
      if (std::ranges::find(request.commits, link.file.commit) != request.commits.end()) {
        scope.sources.insert(link.blob_sha256);
        in_scope.insert(link.blob_sha256);
      }
    }
    for (const auto& row : *derived) {
      if (scope.sources.contains(row.source_sha256)) {
        in_scope.insert(row.derived_sha256);
      }
    }
    for (auto& blob : *blobs) {
      if (in_scope.contains(blob.sha256)) {
        scope.blobs.push_back(std::move(blob));
      }
    }
    return scope;
  };
  auto scope = co_await util::offload(m_blocking, std::move(build_scope));
  if (!scope) {
    co_return scope.error();
  }

  VerifyReport report;
  report.repo = request.repo;
  report.commits = request.commits;
  report.repair = request.repair;
  if (auto checked = co_await check_blobs(*scope, report, progress); !checked) {
    co_return checked.error();
  }
  progress->phase = "checking";
  progress->current.clear();
  if (scope->whole_cache) {
    if (auto checked = co_await check_unrecorded_files(report, progress); !checked) {
      co_return checked.error();
    }
  }
  if (auto checked = check_file_rows(request, report); !checked) {
    co_return checked.error();
  }
  if (auto checked = check_derived_rows(*scope, report); !checked) {
    co_return checked.error();
  }
  if (auto collected = collect_lost_files(request, report); !collected) {
    co_return collected.error();
  }

  for (auto& problem : report.problems) {
    mark_repair_state(problem);
  }
  if (request.repair) {
    co_await repair(request, report, progress);
  }

  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("verify of {} for pid {} done in {:.2f} s: {} blobs ({} bytes) and {} file rows checked, {} problems, "
               "{} not repaired",
               request.repo.empty() ? std::string("the whole cache") : request.repo, request.client_pid, elapsed,
               report.blobs_checked, report.bytes_hashed, report.file_rows_checked, report.problems.size(),
               report.unrepaired());
  co_return report;
}

asio::awaitable<proto::Result<void>> CacheVerifier::check_blobs(const Scope& scope, VerifyReport& report,
                                                                std::shared_ptr<VerifyProgress> progress) {
  progress->phase = "hashing";
  progress->blobs_total = scope.blobs.size();
  for (const auto& blob : scope.blobs) {
    progress->bytes_total += blob.size;
  }

  std::uint64_t bytes_before = 0;
  for (const auto& blob : scope.blobs) {
    progress->current = blob.sha256;
    auto read_file = [path = m_blobs.path(blob.sha256), with_git_oid = !blob.git_oid.empty(), size = blob.size,
                      progress] {
      return store::read_blob_file(path, with_git_oid, size,
                                   [progress](std::uint64_t bytes) { progress->bytes_done += bytes; });
    };
    const auto state = co_await util::offload(m_blocking, std::move(read_file));
    bytes_before += blob.size;
    progress->bytes_done = bytes_before;
    ++progress->blobs_done;
    ++report.blobs_checked;
    if (state && state->exists && state->size == blob.size) {
      report.bytes_hashed += blob.size; // read_blob_file hashes a file of the expected size, damaged or not
    }

    VerifyProblem problem;
    problem.sha256 = blob.sha256;
    problem.derived = scope.derived.contains(blob.sha256);
    if (!state) {
      problem.kind = "unreadable";
      problem.detail = state.error().message;
    } else if (!state->exists) {
      problem.kind = "missing_file";
      problem.detail = "the index has a row but there is no file at " + m_blobs.path(blob.sha256).string();
    } else if (state->size != blob.size) {
      problem.kind = "size_mismatch";
      problem.detail = "the file has " + std::to_string(state->size) + " bytes and the index row says " +
                       std::to_string(blob.size);
    } else if (state->sha256 != blob.sha256) {
      problem.kind = "hash_mismatch";
      problem.detail = "the content hashes to " + state->sha256;
    } else if (!blob.git_oid.empty() && state->git_oid != blob.git_oid) {
      problem.kind = "git_oid_mismatch";
      problem.detail = "the content's git object id is " + state->git_oid + " and the index row says " + blob.git_oid;
    } else {
      continue;
    }

    // gc or remove may have taken the blob while it was being hashed.
    auto still = m_index.find_blob(blob.sha256);
    if (!still) {
      co_return still.error();
    }
    if (!*still) {
      continue;
    }
    if (problem.kind == "missing_file" && m_blobs.contains(blob.sha256)) {
      continue; // fetched again by a pull in the meantime
    }
    if (auto quarantined = quarantine_blob(problem, true); !quarantined) {
      co_return quarantined.error();
    }
    report.problems.push_back(std::move(problem));
  }
  co_return proto::Result<void>{};
}

asio::awaitable<proto::Result<void>> CacheVerifier::check_unrecorded_files(VerifyReport& report,
                                                                           std::shared_ptr<VerifyProgress> progress) {
  auto list = [this] { return list_blob_tree(m_layout.blobs_dir()); };
  auto files = co_await util::offload(m_blocking, std::move(list));
  if (!files) {
    co_return files.error();
  }
  auto rows = m_index.all_blobs();
  if (!rows) {
    co_return rows.error();
  }
  std::set<std::string, std::less<>> recorded;
  for (const auto& row : *rows) {
    recorded.insert(row.sha256);
  }

  for (const auto& file : *files) {
    if (file.valid_name && recorded.contains(file.name)) {
      continue;
    }
    VerifyProblem problem;
    if (!file.valid_name) {
      problem.kind = "stray_file";
      problem.detail = "the file " + file.path.string() + " has no blob name (64 hex digits starting with its "
                                                          "directory's two)";
      auto moved = store::quarantine_file(m_layout, file.path, "stray-" + file.name, std::chrono::system_clock::now());
      if (!moved) {
        co_return moved.error();
      }
      problem.action = "quarantined";
      problem.quarantine_path = moved->string();
      spdlog::warn("verify: quarantined {} as {} because its name is no blob name", file.path.string(),
                   moved->string());
      report.problems.push_back(std::move(problem));
      continue;
    }

    progress->current = file.name;
    auto read_file = [path = file.path, progress] {
      return store::read_blob_file(path, true, std::nullopt,
                                   [progress](std::uint64_t bytes) { progress->bytes_done += bytes; });
    };
    const auto state = co_await util::offload(m_blocking, std::move(read_file));
    if (state && !state->exists) {
      continue;
    }
    // A pull publishes a blob before it inserts the row, so the row may exist by now.
    auto found = m_index.find_blob(file.name);
    if (!found) {
      co_return found.error();
    }
    if (*found) {
      continue;
    }

    problem.kind = "unrecorded_file";
    problem.sha256 = file.name;
    if (state && state->sha256 == file.name) {
      ::chmod(file.path.c_str(), 0444);
      const auto now = static_cast<std::int64_t>(std::time(nullptr));
      if (auto inserted = m_index.insert_blob({file.name, state->size, state->git_oid, now, now, 0}); !inserted) {
        co_return inserted.error();
      }
      auto linked = m_index.link_files_by_etag(file.name, state->git_oid);
      if (!linked) {
        co_return linked.error();
      }
      problem.detail = "the file matches its name but had no index row";
      problem.action = "adopted";
      spdlog::warn("verify: blob {} had a verified file but no index row; added the row and linked {} file rows "
                   "to it",
                   file.name, *linked);
    } else {
      problem.detail = state ? "the file has no index row and its content hashes to " + state->sha256
                             : "the file has no index row and cannot be read: " + state.error().message;
      if (auto quarantined = quarantine_blob(problem, false); !quarantined) {
        co_return quarantined.error();
      }
    }
    report.problems.push_back(std::move(problem));
  }
  co_return proto::Result<void>{};
}

proto::Result<void> CacheVerifier::check_file_rows(const VerifyRequest& request, VerifyReport& report) {
  auto links = m_index.file_links(request.repo);
  if (!links) {
    return links.error();
  }
  for (const auto& link : *links) {
    if (!request.repo.empty() && std::ranges::find(request.commits, link.file.commit) == request.commits.end()) {
      continue;
    }
    ++report.file_rows_checked;
    VerifyProblem problem;
    if (!link.blob_size) {
      problem.kind = "missing_blob_row";
      problem.detail = "the file row names blob " + link.blob_sha256 + ", which has no index row";
    } else if (*link.blob_size != link.size) {
      problem.kind = "file_size_mismatch";
      problem.detail = "the file list says " + std::to_string(link.size) + " bytes and its blob has " +
                       std::to_string(*link.blob_size);
    } else {
      continue;
    }

    if (auto cleared = m_index.clear_file_blob(link.file); !cleared) {
      return cleared.error();
    }
    problem.sha256 = link.blob_sha256;
    problem.action = "link_cleared";
    problem.references = {link.file};
    problem.repos = {link.file.repo};
    spdlog::warn("verify: file {} of {}@{}: {}; unlinked it from the blob", link.file.path, link.file.repo,
                 link.file.commit, problem.detail);
    report.problems.push_back(std::move(problem));
  }
  return {};
}

proto::Result<void> CacheVerifier::check_derived_rows(const Scope& scope, VerifyReport& report) {
  auto derived = m_index.all_derived();
  if (!derived) {
    return derived.error();
  }
  for (const auto& row : *derived) {
    if (!scope.whole_cache && !scope.sources.contains(row.source_sha256)) {
      continue;
    }
    auto blob = m_index.find_blob(row.derived_sha256);
    if (!blob) {
      return blob.error();
    }
    if (*blob) {
      continue;
    }
    if (auto deleted = m_index.delete_derived(row.source_sha256, row.filter_sha256); !deleted) {
      return deleted.error();
    }
    spdlog::warn("verify: derived row of source {} names blob {}, which has no index row; removed the row",
                 row.source_sha256, row.derived_sha256);
    VerifyProblem problem;
    problem.kind = "dangling_derived_row";
    problem.sha256 = row.derived_sha256;
    problem.detail = "the derived mapping of source " + row.source_sha256 + " names a blob that has no index row";
    problem.derived = true;
    problem.action = "derived_row_removed";
    report.problems.push_back(std::move(problem));
  }
  return {};
}

proto::Result<void> CacheVerifier::collect_lost_files(const VerifyRequest& request, VerifyReport& report) {
  auto lost = m_index.lost_files(request.repo);
  if (!lost) {
    return lost.error();
  }
  std::map<std::string, std::vector<store::FileReference>> by_blob;
  for (auto& file : *lost) {
    if (request.repo.empty() || std::ranges::find(request.commits, file.file.commit) != request.commits.end()) {
      by_blob[file.lost_sha256].push_back(std::move(file.file));
    }
  }

  for (auto& [sha256, files] : by_blob) {
    const bool found_now = std::ranges::any_of(
        report.problems, [&](const VerifyProblem& problem) { return problem.sha256 == sha256; });
    if (found_now) {
      continue;
    }
    std::set<std::string> repos;
    for (const auto& file : files) {
      repos.insert(file.repo);
    }
    VerifyProblem problem;
    problem.kind = "lost_blob";
    problem.sha256 = sha256;
    problem.detail = "an earlier verify quarantined this blob or found it missing, and " +
                     proto::count_noun(files.size(), "file that used it has", "files that used it have") +
                     " not been downloaded again since (the quarantine directory keeps the bad copy, if any)";
    problem.action = "none";
    problem.references = std::move(files);
    problem.repos.assign(repos.begin(), repos.end());
    report.problems.push_back(std::move(problem));
  }
  return {};
}

proto::Result<void> CacheVerifier::note_users(VerifyProblem& problem) {
  auto references = m_index.files_referencing(problem.sha256);
  if (!references) {
    return references.error();
  }
  problem.references = std::move(*references);
  std::set<std::string> repos;
  for (const auto& file : problem.references) {
    repos.insert(file.repo);
  }

  if (problem.derived) {
    auto derived = m_index.all_derived();
    if (!derived) {
      return derived.error();
    }
    for (const auto& row : *derived) {
      if (row.derived_sha256 != problem.sha256) {
        continue;
      }
      auto sources = m_index.files_referencing(row.source_sha256);
      if (!sources) {
        return sources.error();
      }
      for (const auto& file : *sources) {
        repos.insert(file.repo);
      }
    }
  }
  problem.repos.assign(repos.begin(), repos.end());
  problem.leased = m_leases.is_leased(problem.sha256);
  return {};
}

proto::Result<void> CacheVerifier::quarantine_blob(VerifyProblem& problem, bool delete_row) {
  if (auto noted = note_users(problem); !noted) {
    return noted.error();
  }

  // The file moves before the row goes: a crash in between leaves a row without a file, which
  // startup repair removes, and the evidence stays in quarantine.
  const auto path = m_blobs.path(problem.sha256);
  auto moved = store::quarantine_file(m_layout, path, problem.sha256, std::chrono::system_clock::now());
  if (!moved && moved.error().code != proto::Errc::not_found) {
    return moved.error();
  }
  if (delete_row) {
    if (auto deleted = m_index.delete_lost_blob(problem.sha256); !deleted) {
      return deleted.error();
    }
  }

  const char* lease_note = problem.leased ? "; a client holds it open and keeps reading it through its descriptor "
                                            "until it releases it"
                                          : "";
  if (moved) {
    problem.action = "quarantined";
    problem.quarantine_path = moved->string();
    spdlog::warn("verify: quarantined {} blob {} as {} ({}: {}); used by {}{}", problem.derived ? "derived" : "downloaded",
                 problem.sha256, moved->string(), problem.kind, problem.detail, describe_users(problem), lease_note);
  } else {
    problem.action = "row_removed";
    spdlog::warn("verify: removed the index row of {} blob {} ({}: {}); used by {}{}",
                 problem.derived ? "derived" : "downloaded", problem.sha256, problem.kind, problem.detail,
                 describe_users(problem), lease_note);
  }
  return {};
}

} // namespace timmd::server
