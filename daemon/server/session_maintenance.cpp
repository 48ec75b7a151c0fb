// The cache maintenance operations of a session: `verify` and `remove`.
#include "daemon/server/session.hpp"

#include "daemon/server/repo_name.hpp"
#include "daemon/server/repo_removal.hpp"
#include "daemon/store/digest.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace timmd::server {
namespace {

using nlohmann::json;
using proto::Errc;

constexpr auto k_progress_interval = std::chrono::milliseconds(200);

// The repository and revision a `verify` or `remove` request names, resolved as `pin` does:
// from the registry and the index only, never asking the Hub. `revision` stays empty when
// neither the name nor the request gives one.
struct NamedRepo {
  std::string repo;
  std::string revision;
};

proto::Result<NamedRepo> named_repo(const std::string& op, const json& request, const registry::Registry& registry,
                                    const registry::UserAliases& aliases) {
  if (!request.contains("name") || !request["name"].is_string()) {
    return proto::make_error(Errc::invalid_request, "'" + op + "' needs the field 'name' (string)", {{"field", "name"}});
  }
  auto target = resolve_pull_target(request["name"].get<std::string>(), registry, aliases, true);
  if (!target) {
    return target.error();
  }
  NamedRepo named{target->repo, target->revision};
  if (request.contains("revision") && !request["revision"].is_null()) {
    if (!request["revision"].is_string() || !is_valid_revision(request["revision"].get<std::string>())) {
      return proto::make_error(Errc::invalid_request, "'revision' must be a branch, tag, refs/pr/N or commit string",
                               {{"field", "revision"}});
    }
    const auto revision = request["revision"].get<std::string>();
    if (!named.revision.empty() && named.revision != revision) {
      return proto::make_error(Errc::invalid_request, "the name gives revision '" + named.revision +
                                                          "' and the request gives '" + revision + "'; give one",
                               {{"field", "revision"}});
    }
    named.revision = revision;
  }
  return named;
}

proto::Result<bool> optional_flag(const json& request, const std::string& field) {
  if (!request.contains(field) || request[field].is_null()) {
    return false;
  }
  if (!request[field].is_boolean()) {
    return proto::make_error(Errc::invalid_request, "'" + field + "' must be true or false", {{"field", field}});
  }
  return request[field].get<bool>();
}

// The commits `verify` checks for a named repository: the revision's, or every recorded one.
proto::Result<std::vector<std::string>> commits_to_verify(const NamedRepo& named, store::Index& index) {
  if (named.revision.empty()) {
    auto commits = index.commits_of(named.repo);
    if (!commits) {
      return commits.error();
    }
    if (commits->empty()) {
      return proto::make_error(Errc::not_found, "nothing of '" + named.repo + "' is cached; pull it first",
                               {{"repo", named.repo}});
    }
    return std::move(*commits);
  }

  auto ref = index.find_ref(named.repo, named.revision);
  if (!ref) {
    return ref.error();
  }
  std::string commit = *ref ? (*ref)->commit : named.revision;
  auto files = store::is_sha1_hex(commit) ? index.files_at(named.repo, commit)
                                          : proto::Result<std::optional<std::vector<store::FileRecord>>>(std::nullopt);
  if (!files) {
    return files.error();
  }
  if (!*files) {
    return proto::make_error(Errc::not_found,
                             "the cache has no revision '" + named.revision + "' of '" + named.repo +
                                 "'; `timmctl list` shows the cached commits and refs",
                             {{"repo", named.repo}, {"revision", named.revision}});
  }
  return std::vector<std::string>{commit};
}

} // namespace

asio::awaitable<bool> Session::handle_verify(const json& id, const json& request) {
  VerifyRequest verify;
  verify.client_pid = static_cast<std::uint32_t>(m_peer.pid);
  auto repair = optional_flag(request, "repair");
  if (!repair) {
    co_return co_await send_error(id, repair.error());
  }
  verify.repair = *repair;
  if (request.contains("name") && !request["name"].is_null()) {
    const auto registry = m_context.registry.current();
    auto named = named_repo("verify", request, *registry, m_context.aliases);
    if (!named) {
      co_return co_await send_error(id, named.error());
    }
    auto commits = commits_to_verify(*named, m_context.index);
    if (!commits) {
      co_return co_await send_error(id, commits.error());
    }
    verify.repo = named->repo;
    verify.commits = std::move(*commits);
  }
  if (m_context.verifying) {
    const auto error = proto::make_error(Errc::busy, "another 'verify' is running; retry when it has finished");
    co_return co_await send_error(id, error);
  }

  // Cleared however the coroutine ends, including by cancellation at shutdown.
  struct RunningFlag {
    bool& flag;
    explicit RunningFlag(bool& f) : flag(f) { flag = true; }
    ~RunningFlag() { flag = false; }
    RunningFlag(const RunningFlag&) = delete;
    RunningFlag& operator=(const RunningFlag&) = delete;
  };
  const RunningFlag running(m_context.verifying);
  auto progress = std::make_shared<VerifyProgress>();
  auto outcome = co_await (run_verify(std::move(verify), progress) || report_verify_progress(id, progress));
  if (outcome.index() == 1) {
    spdlog::info("client {} (pid {}) went away during verify; it stopped after {} of {} blobs", m_id, m_peer.pid,
                 progress->blobs_done, progress->blobs_total);
    co_return false;
  }
  auto& report = std::get<0>(outcome);
  if (!report) {
    spdlog::warn("verify for pid {} failed: {}: {}", m_peer.pid, proto::to_string(report.error().code),
                 report.error().message);
    co_return co_await send_error(id, report.error());
  }
  const auto body = report->to_json();
  co_return co_await send_result(id, body);
}

asio::awaitable<proto::Result<VerifyReport>> Session::run_verify(VerifyRequest verify,
                                                                 std::shared_ptr<VerifyProgress> progress) {
  CacheVerifier verifier(m_context.blocking, m_context.index, m_context.layout, m_context.blobs, m_context.leases,
                         m_context.pulls);
  try {
    co_return co_await verifier.run(std::move(verify), std::move(progress));
  } catch (const boost::system::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      throw;
    }
    co_return proto::make_error(Errc::internal, std::string("verify failed: ") + error.what());
  } catch (const std::exception& error) {
    co_return proto::make_error(Errc::internal, std::string("verify failed: ") + error.what());
  }
}

asio::awaitable<void> Session::report_verify_progress(json id, std::shared_ptr<VerifyProgress> progress) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  json last;
  while (true) {
    timer.expires_after(k_progress_interval);
    co_await timer.async_wait(asio::use_awaitable);
    const json state = {{"phase", progress->phase},
                        {"bytes_done", progress->bytes_done.load()},
                        {"bytes_total", progress->bytes_total},
                        {"blobs_done", progress->blobs_done},
                        {"blobs_total", progress->blobs_total},
                        {"current", progress->current}};
    if (state == last) {
      continue;
    }
    last = state;
    json event = state;
    event["id"] = id;
    event["event"] = "progress";
    event["op"] = "verify";
    if (!co_await send(event)) {
      co_return;
    }
  }
}

proto::Result<json> Session::handle_remove(const json& request) {
  const auto registry = m_context.registry.current();
  auto named = named_repo("remove", request, *registry, m_context.aliases);
  if (!named) {
    return named.error();
  }
  auto dry_run = optional_flag(request, "dry_run");
  if (!dry_run) {
    return dry_run.error();
  }

  // A running pull of the repository records files and links blobs while the removal deletes
  // them, so the removal is rejected until the pull ends. A dry run returns the same error, because
  // it predicts what the removal would do now.
  if (const auto pids = m_context.pulls.pulls_of(named->repo); !pids.empty()) {
    return proto::make_error(Errc::busy,
                             "'" + named->repo + "' is being pulled or opened (client pid " +
                                 fmt::format("{}", fmt::join(pids, ", ")) + "); run the remove again once that ends",
                             {{"repo", named->repo}, {"pids", pids}});
  }

  // NOTE: like gc, removal runs on the I/O thread so that no open can lease a blob being
  // deleted; each blob costs one SQLite delete and one unlink.
  const RemoveRequest remove{named->repo, named->revision, *dry_run};
  auto report = remove_repository(remove, m_context.index, m_context.blobs, m_context.leases);
  if (!report) {
    return report.error();
  }
  spdlog::info("remove of {}{} for pid {}{}: {} refs, {} snapshots, {} blobs; kept {} shared, {} leased",
               named->repo, named->revision.empty() ? std::string() : "@" + named->revision, m_peer.pid,
               remove.dry_run ? " (dry run)" : "", report->refs.size(), report->commits.size(),
               report->removed.size(), report->kept_shared, report->kept_leased.size());
  return proto::Result<json>(boost::system::in_place_value, report->to_json());
}

} // namespace timmd::server
