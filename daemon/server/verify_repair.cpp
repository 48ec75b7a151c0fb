// The repair step of `verify`: fetching again, through the pull machinery, the files whose blob
// was quarantined or missing.
#include "daemon/server/cache_verifier.hpp"

#include "proto/count_noun.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <spdlog/spdlog.h>

#include <optional>

namespace asio = boost::asio;

namespace timmd::server {
namespace {

// One pull of one file at a recorded commit, with unexpected exceptions turned into `internal`
// errors; cancellation propagates.
asio::awaitable<proto::Result<PullResult>> fetch_file(PullService& pulls, PullRequest request) {
  try {
    // A named local: GCC 12 destroys some class temporaries of a co_await expression twice.
    auto progress = std::make_shared<PullProgress>();
    co_return co_await pulls.pull(std::move(request), std::move(progress));
  } catch (const boost::system::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      throw;
    }
    co_return proto::make_error(proto::Errc::internal, std::string("fetching the file failed: ") + error.what());
  } catch (const std::exception& error) {
    co_return proto::make_error(proto::Errc::internal, std::string("fetching the file failed: ") + error.what());
  }
}

} // namespace

asio::awaitable<void> CacheVerifier::repair(const VerifyRequest& request, VerifyReport& report,
                                            std::shared_ptr<VerifyProgress> progress) {
  progress->phase = "repairing";
  for (auto& problem : report.problems) {
    if (problem.repaired || problem.references.empty()) {
      continue;
    }

    // Every file row that named the blob is pulled, so that each gets its link back; after the
    // first download the others find the blob in the cache.
    std::optional<proto::Error> failure;
    std::size_t fetched = 0;
    std::string fetched_blob;
    for (const auto& file : problem.references) {
      progress->current = file.repo + "/" + file.path;
      PullRequest pull;
      pull.repo = file.repo;
      pull.revision = file.commit;
      pull.paths = {file.path};
      pull.client_pid = request.client_pid;
      auto result = co_await fetch_file(m_pulls, std::move(pull));
      if (!result) {
        spdlog::warn("verify: could not fetch {} of {}@{} again (blob {}): {}", file.path, file.repo, file.commit,
                     problem.sha256, result.error().message);
        failure = failure ? failure : result.error();
        continue;
      }
      ++fetched;
      fetched_blob = result->files.front().sha256;
    }

    const auto& first = problem.references.front();
    if (!failure) {
      problem.repaired = true;
      problem.repair = "fetched " + first.path + " of " + first.repo + "@" + first.commit + " again as blob " +
                       fetched_blob;
      if (problem.references.size() > 1) {
        const auto others = problem.references.size() - 1;
        problem.repair += " and linked " + proto::count_noun(others, "other file row", "other file rows") + " to it";
      }
      spdlog::info("verify: repaired blob {}: {}", problem.sha256, problem.repair);
      continue;
    }
    problem.repair = "could not fetch " + std::to_string(problem.references.size() - fetched) + " of " +
                     std::to_string(problem.references.size()) + " files that used it: " +
                     std::string(proto::to_string(failure->code)) + ": " + failure->message;
  }
}

} // namespace timmd::server
