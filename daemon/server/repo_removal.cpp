#include "daemon/server/repo_removal.hpp"

#include "daemon/store/digest.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

namespace timmd::server {
namespace {

using nlohmann::json;

json blob_list(const std::vector<RemovedBlob>& blobs) {
  json list = json::array();
  for (const auto& blob : blobs) {
    list.push_back({{"sha256", blob.sha256}, {"size", blob.size}, {"derived", blob.derived}});
  }
  return list;
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::ranges::find(list, value) != list.end();
}

// The commit and path at which a removed file list names a blob, for error messages.
struct NamedAt {
  std::string commit;
  std::string path;
};

// A pin keeps a blob only while a file list names it, because `unpin` finds blobs through the
// file lists: a removal that kept a pinned blob would leave it with no name to unpin it by.
proto::Error pinned_error(const std::string& repo, const std::vector<RemovedBlob>& pinned,
                          const std::map<std::string, std::int64_t>& pin_counts,
                          const std::map<std::string, NamedAt>& named_at) {
  std::string blobs;
  std::set<std::string> commits;
  for (const auto& blob : pinned) {
    const auto pins = pin_counts.at(blob.sha256);
    const auto count = std::to_string(pins) + (pins == 1 ? " pin" : " pins");
    blobs += (blobs.empty() ? "" : ", ") + blob.sha256.substr(0, 12);
    if (const auto found = named_at.find(blob.sha256); found != named_at.end()) {
      blobs += " (" + found->second.path + " at " + found->second.commit.substr(0, 12) + ", " + count + ")";
      commits.insert(found->second.commit);
    } else {
      blobs += blob.derived ? " (derived, " + count + ")" : " (" + count + ")";
    }
  }
  std::string unpin;
  for (const auto& commit : commits) {
    unpin += (unpin.empty() ? "" : ", ") + ("`timmctl unpin " + repo + "@" + commit + "`");
  }
  return proto::make_error(proto::Errc::invalid_request,
                           "'" + repo + "' has " + std::to_string(pinned.size()) +
                               " pinned blobs that no other repository or revision names: " + blobs + "; unpin them" +
                               (unpin.empty() ? "" : " with " + unpin + " (once per pin)") +
                               " and run the remove again, or they would stay with no name to unpin them by",
                           {{"repo", repo}, {"pinned", blob_list(pinned)}});
}

// Fills in the refs and commits the request removes.
proto::Result<void> select_snapshots(const RemoveRequest& request, store::Index& index, RemoveReport& report) {
  auto refs = index.refs_of(request.repo);
  auto commits = index.commits_of(request.repo);
  if (!refs || !commits) {
    return !refs ? refs.error() : commits.error();
  }
  if (refs->empty() && commits->empty()) {
    return proto::make_error(proto::Errc::not_found,
                             "'" + request.repo + "' is not in the cache; `timmctl list` shows the cached repositories",
                             {{"repo", request.repo}});
  }

  if (request.revision.empty()) {
    for (const auto& ref : *refs) {
      report.refs.push_back(ref.name);
    }
    report.commits = std::move(*commits);
    return {};
  }

  if (store::is_sha1_hex(request.revision) && contains(*commits, request.revision)) {
    for (const auto& ref : *refs) {
      if (ref.commit == request.revision) {
        report.refs.push_back(ref.name);
      }
    }
    report.commits.push_back(request.revision);
    return {};
  }

  const auto named = std::ranges::find(*refs, request.revision, &store::RefRecord::name);
  if (named == refs->end()) {
    return proto::make_error(proto::Errc::not_found,
                             "the cache has no revision '" + request.revision + "' of '" + request.repo +
                                 "'; `timmctl list` shows the cached commits and refs",
                             {{"repo", request.repo}, {"revision", request.revision}});
  }
  report.refs.push_back(named->name);
  const bool other_ref = std::ranges::any_of(
      *refs, [&](const store::RefRecord& ref) { return ref.name != named->name && ref.commit == named->commit; });
  if (!other_ref && contains(*commits, named->commit)) {
    report.commits.push_back(named->commit);
  }
  return {};
}

// Deletes one blob's row, then its file.
proto::Result<void> delete_blob(const RemovedBlob& blob, const std::string& repo, store::Index& index,
                                const store::BlobStore& blobs) {
  if (auto deleted = index.delete_blob(blob.sha256); !deleted) {
    return deleted.error();
  }
  if (auto removed = blobs.remove(blob.sha256); !removed) {
    // The row is gone; start-up repair removes the file if it is still there.
    spdlog::error("remove: blob {} left the index but its file could not be removed: {}", blob.sha256,
                  removed.error().message);
  }
  spdlog::info("remove: deleted {} blob {} ({} bytes) of {}", blob.derived ? "derived" : "downloaded", blob.sha256,
               blob.size, repo);
  return {};
}

} // namespace

json RemoveReport::to_json() const {
  std::uint64_t freed = 0;
  for (const auto& blob : removed) {
    freed += blob.size;
  }
  return {{"repo", repo},
          {"refs", refs},
          {"commits", commits},
          {"removed", blob_list(removed)},
          {"freed_bytes", freed},
          {"kept_leased", blob_list(kept_leased)},
          {"kept_shared", kept_shared},
          {"dry_run", dry_run}};
}

proto::Result<RemoveReport> remove_repository(const RemoveRequest& request, store::Index& index,
                                              const store::BlobStore& blobs, const LeaseTable& leases) {
  RemoveReport report;
  report.repo = request.repo;
  report.dry_run = request.dry_run;
  if (auto selected = select_snapshots(request, index, report); !selected) {
    return selected.error();
  }

  // The blobs the removed file lists name, and whether anything else still names them.
  std::set<std::string> candidates;
  std::map<std::string, NamedAt> named_at;
  for (const auto& commit : report.commits) {
    auto files = index.files_at(request.repo, commit);
    if (!files) {
      return files.error();
    }
    for (const auto& file : files->value_or(std::vector<store::FileRecord>{})) {
      if (!file.blob_sha256.empty()) {
        candidates.insert(file.blob_sha256);
        named_at.try_emplace(file.blob_sha256, NamedAt{commit, file.path});
      }
    }
  }
  std::set<std::string> unreferenced;
  for (const auto& sha256 : candidates) {
    auto references = index.files_referencing(sha256);
    if (!references) {
      return references.error();
    }
    const bool elsewhere = std::ranges::any_of(*references, [&](const store::FileReference& file) {
      return file.repo != request.repo || !contains(report.commits, file.commit);
    });
    if (elsewhere) {
      ++report.kept_shared;
    } else {
      unreferenced.insert(sha256);
    }
  }

  // Derived blobs go with their sources, unless one of their other sources stays.
  auto derived = index.all_derived();
  if (!derived) {
    return derived.error();
  }
  std::map<std::string, bool> derived_goes; // derived blob -> all of its sources go
  for (const auto& row : *derived) {
    const bool source_goes = unreferenced.contains(row.source_sha256);
    auto [entry, inserted] = derived_goes.try_emplace(row.derived_sha256, source_goes);
    if (!inserted) {
      entry->second = entry->second && source_goes;
    }
  }

  std::vector<RemovedBlob> doomed;
  std::vector<RemovedBlob> pinned;
  std::map<std::string, std::int64_t> pin_counts;
  const auto classify = [&](const std::string& sha256, bool is_derived) -> proto::Result<void> {
    auto row = index.find_blob(sha256);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return {};
    }
    const RemovedBlob blob{sha256, (*row)->size, is_derived};
    if ((*row)->pin_count > 0) {
      pinned.push_back(blob);
      pin_counts[sha256] = (*row)->pin_count;
    } else if (leases.is_leased(sha256, (*row)->git_oid)) {
      report.kept_leased.push_back(blob);
    } else {
      doomed.push_back(blob);
    }
    return {};
  };
  for (const auto& sha256 : unreferenced) {
    if (auto classified = classify(sha256, false); !classified) {
      return classified.error();
    }
  }
  for (const auto& [sha256, goes] : derived_goes) {
    if (goes && !unreferenced.contains(sha256)) {
      if (auto classified = classify(sha256, true); !classified) {
        return classified.error();
      }
    }
  }

  if (!pinned.empty()) {
    return pinned_error(request.repo, pinned, pin_counts, named_at);
  }
  if (request.dry_run) {
    report.removed = std::move(doomed);
    return report;
  }
  if (auto forgotten = index.forget_snapshots(request.repo, report.refs, report.commits); !forgotten) {
    return forgotten.error();
  }
  for (const auto& blob : doomed) {
    if (auto deleted = delete_blob(blob, request.repo, index, blobs); !deleted) {
      return deleted.error();
    }
    report.removed.push_back(blob);
  }
  for (const auto& blob : report.kept_leased) {
    spdlog::info("remove: kept blob {} of {} because a client has it open or a pull is using it; gc removes it once released",
                 blob.sha256, request.repo);
  }
  return report;
}

} // namespace timmd::server
