#include "daemon/server/session.hpp"

#include "daemon/server/cached_pretrained_cfg.hpp"
#include "daemon/server/garbage_collector.hpp"
#include "daemon/server/pull_target.hpp"
#include "daemon/server/registry_reload.hpp"
#include "daemon/server/repo_name.hpp"
#include "daemon/server/resolve_result.hpp"
#include "daemon/server/rules_reload.hpp"
#include "daemon/registry/resolver.hpp"
#include "daemon/remap/filter_spec.hpp"
#include "daemon/util/offload.hpp"
#include "proto/frame.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <unistd.h>

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace timmd::server {
namespace {

using nlohmann::json;
using proto::Errc;

constexpr auto k_progress_interval = std::chrono::milliseconds(200);
constexpr const char* k_version = "0.1.0";

// The id sent back for frames that had none or could not be parsed.
const json k_no_id = nullptr;

proto::Error missing_field(const std::string& op, const std::string& field, const std::string& type) {
  return proto::make_error(Errc::invalid_request, "'" + op + "' needs the field '" + field + "' (" + type + ")",
                           {{"field", field}});
}

// nlohmann::json converts from anything, so the value alternative is named explicitly.
proto::Result<json> json_result(json value) {
  return proto::Result<json>(boost::system::in_place_value, std::move(value));
}

// The access level an operation needs; nullopt for `hello`, which everyone may send. `open`
// needs `read`, and `download` only for what is not cached (checked during the pull).
std::optional<Access> required_access(const std::string& op, const json& request) {
  if (op == "hello") {
    return std::nullopt;
  }
  if (op == "pull" || (op == "resolve" && request.contains("remote") && request["remote"] == true)) {
    return Access::download;
  }
  if (op == "gc" || op == "pin" || op == "unpin" || op == "reload" || op == "verify" || op == "remove") {
    return Access::admin;
  }
  return Access::read;
}

std::string describe_id(const json& id) {
  return id.is_string() ? id.get<std::string>() : id.dump();
}

json pull_result_json(const PullResult& result) {
  json files = json::array();
  for (const auto& file : result.files) {
    files.push_back({{"path", file.path},
                     {"size", file.size},
                     {"sha256", file.sha256},
                     {"blob_path", file.blob_path},
                     {"etag", file.etag},
                     {"cached", file.was_cached}});
  }
  return {{"repo", result.repo},
          {"revision", result.revision},
          {"commit", result.commit},
          {"revision_from_cache", result.revision_from_cache},
          {"files", std::move(files)}};
}

json progress_json(const PullProgress& progress) {
  json files = json::array();
  for (const auto& file : progress.files) {
    std::uint64_t done = file.state == "cached" || file.state == "done" ? file.size : 0;
    std::string state = file.state;
    if (file.transfer) {
      done = file.transfer->done;
      state = file.transfer->state == "verifying" ? "verifying" : file.state;
    }
    files.push_back({{"path", file.path}, {"size", file.size}, {"done", done}, {"state", state}});
  }
  return files;
}

} // namespace

PeerCredentials peer_credentials(UnixSocket& socket) {
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return {};
  }
  return {credentials.pid, credentials.uid, credentials.gid};
}

Session::Session(UnixSocket socket, ServerContext& context, std::uint64_t id)
    : m_socket(std::move(socket)), m_context(context), m_id(id), m_peer(peer_credentials(m_socket)),
      // NOTE: a blocking NSS lookup on the I/O thread, once per connection; slow with a
      // remote directory service.
      m_identity(ClientIdentity::of(m_peer.uid, m_peer.gid)) {}

void Session::close() {
  boost::system::error_code ignored;
  m_socket.shutdown(UnixSocket::shutdown_both, ignored);
  m_socket.close(ignored);
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  spdlog::debug("client {} connected (pid {}, uid {})", m_id, m_peer.pid, m_peer.uid);

  while (m_socket.is_open()) {
    auto frame = co_await read_frame(m_socket, m_context.config.client_idle_timeout, m_context.config.frame_timeout);
    if (frame.status == ReadStatus::closed) {
      break;
    }
    if (frame.status == ReadStatus::timed_out) {
      spdlog::info("client {} (pid {}) timed out waiting for a request; closing the connection", m_id, m_peer.pid);
      break;
    }
    if (frame.status == ReadStatus::too_large) {
      // The rest of the oversized frame cannot be skipped safely, so the connection ends.
      spdlog::warn("client {} (pid {}) sent an invalid frame: {}", m_id, m_peer.pid, frame.error.message);
      co_await send_error(k_no_id, frame.error);
      break;
    }
    if (frame.status == ReadStatus::invalid) {
      spdlog::warn("client {} (pid {}) sent an invalid frame: {}", m_id, m_peer.pid, frame.error.message);
      if (!co_await send_error(k_no_id, frame.error)) {
        break;
      }
      continue;
    }

    m_busy = true;
    ++m_context.active_requests;
    const bool keep_open = co_await handle(frame.message);
    --m_context.active_requests;
    m_busy = false;
    if (!keep_open) {
      break;
    }
  }

  close();
  spdlog::debug("client {} disconnected", m_id);
}

asio::awaitable<bool> Session::handle(const json& request) {
  const json id = request.contains("id") ? request["id"] : json(nullptr);
  if (!id.is_number_integer() && !id.is_string()) {
    const auto error = proto::make_error(Errc::invalid_request, "every request needs an 'id' (an integer or a string)");
    co_return co_await send_error(k_no_id, error);
  }
  if (!request.contains("op") || !request["op"].is_string()) {
    const auto error = missing_field("request", "op", "string");
    co_return co_await send_error(id, error);
  }
  const auto op = request["op"].get<std::string>();
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("request {} '{}' from client {} (pid {}, uid {})", describe_id(id), op, m_id, m_peer.pid, m_peer.uid);

  if (!m_greeted && op != "hello") {
    const auto error =
        proto::make_error(Errc::invalid_request, "the first request on a connection must be 'hello' with the "
                                                 "protocol version, not '" +
                                                     op + "'");
    co_return co_await send_error(id, error);
  }
  if (m_context.shutting_down && op != "hello" && op != "status") {
    const auto error = proto::make_error(Errc::busy, "the daemon is shutting down; retry in a moment");
    co_return co_await send_error(id, error);
  }

  if (const auto needed = required_access(op, request); needed && !m_context.access.allows(*needed, m_identity)) {
    const auto error = m_context.access.denied(*needed, op, m_identity);
    spdlog::warn("request {} '{}' from client {} (pid {}, uid {}) refused: {}", describe_id(id), op, m_id, m_peer.pid,
                 m_peer.uid, error.message);
    co_return co_await send_error(id, error);
  }

  if (op == "pull") {
    co_return co_await handle_pull(id, request);
  }
  if (op == "open") {
    co_return co_await handle_open(id, request);
  }
  if (op == "verify") {
    co_return co_await handle_verify(id, request);
  }

  proto::Result<json> result = proto::make_error(Errc::internal, "unhandled");
  if (op == "hello") {
    result = handle_hello(request);
  } else if (op == "list") {
    result = handle_list();
  } else if (op == "resolve") {
    result = co_await handle_resolve(request);
  } else if (op == "reload") {
    result = co_await handle_reload();
  } else if (op == "status") {
    result = json_result(handle_status());
  } else if (op == "release") {
    result = handle_release(request);
  } else if (op == "gc") {
    result = handle_gc(request);
  } else if (op == "pin" || op == "unpin") {
    result = handle_pin(request, op == "pin" ? 1 : -1);
  } else if (op == "remove") {
    result = handle_remove(request);
  } else {
    result = proto::make_error(Errc::invalid_request,
                               "unknown operation '" + op +
                                   "'; this daemon supports hello, resolve, pull, open, release, list, gc, verify, remove, "
                                   "pin, unpin, reload and status",
                               {{"op", op}});
  }

  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!result) {
    spdlog::warn("request {} '{}' from pid {} failed after {:.1f} ms: {}", describe_id(id), op, m_peer.pid, elapsed,
                 result.error().message);
    co_return co_await send_error(id, result.error());
  }
  co_return co_await send_result(id, *result);
}

proto::Result<json> Session::handle_hello(const json& request) {
  if (!request.contains("protocol") || !request["protocol"].is_number_unsigned()) {
    return missing_field("hello", "protocol", "unsigned integer");
  }
  const auto version = request["protocol"].get<std::uint64_t>();
  if (version != proto::k_protocol_version) {
    return proto::make_error(Errc::invalid_request,
                             "protocol version " + std::to_string(version) +
                                 " is not supported; this daemon speaks version " +
                                 std::to_string(proto::k_protocol_version) + ": upgrade the older of timmctl and timmd",
                             {{"supported", json::array({proto::k_protocol_version})}});
  }
  m_greeted = true;
  return json_result({{"protocol", proto::k_protocol_version},
                      {"daemon", std::string("timmd/") + k_version},
                      {"pid", static_cast<std::int64_t>(getpid())}});
}

proto::Result<json> Session::handle_list() {
  auto snapshots = m_context.index.list_snapshots();
  if (!snapshots) {
    return snapshots.error();
  }
  json list = json::array();
  for (const auto& snapshot : *snapshots) {
    list.push_back({{"repo", snapshot.repo},
                    {"commit", snapshot.commit},
                    {"refs", snapshot.refs},
                    {"files", snapshot.file_count},
                    {"cached_files", snapshot.cached_file_count},
                    {"cached_bytes", snapshot.cached_bytes}});
  }
  return json_result({{"snapshots", std::move(list)}});
}

asio::awaitable<proto::Result<json>> Session::handle_resolve(const json& request) {
  if (!request.contains("name") || !request["name"].is_string()) {
    co_return missing_field("resolve", "name", "string");
  }
  bool remote = false;
  if (request.contains("remote") && !request["remote"].is_null()) {
    if (!request["remote"].is_boolean()) {
      co_return proto::make_error(Errc::invalid_request, "'remote' must be true or false", {{"field", "remote"}});
    }
    remote = request["remote"].get<bool>();
  }
  const auto name = request["name"].get<std::string>();
  const auto registry = m_context.registry.current();
  auto target = resolve_pull_target(name, *registry, m_context.aliases, m_context.config.offline);
  if (!target) {
    co_return target.error();
  }

  auto answer = name_fields(*target);
  const auto& resolution = target->resolution;
  const auto revision = target->revision.empty() ? std::string("main") : target->revision;
  const auto preferred_file = resolution && resolution->file ? *resolution->file : std::string();
  answer["remote"] = remote;
  answer["commit"] = nullptr;
  answer["revision_from_cache"] = false;
  answer["files"] = nullptr;
  answer["weights_file"] = nullptr;

  std::optional<std::vector<store::FileRecord>> files;
  if (remote) {
    std::string repo = target->repo;
    std::string remote_revision = revision;
    auto snapshot = co_await run_resolve_remote(std::move(repo), std::move(remote_revision));
    if (!snapshot && resolution && resolution->needs_hub_confirmation() && snapshot.error().code == Errc::not_found) {
      co_return unverified_tag_not_found(*resolution, snapshot.error());
    }
    if (!snapshot) {
      co_return snapshot.error();
    }
    answer["commit"] = snapshot->commit;
    answer["revision_from_cache"] = snapshot->from_cache;
    files = std::move(snapshot->files);
  } else {
    // The index alone gives the commit last seen for this revision; no Hub request is made.
    if (auto ref = m_context.index.find_ref(target->repo, revision); ref && *ref) {
      answer["commit"] = (*ref)->commit;
      answer["commit_seen_at"] = (*ref)->fetched_at;
      answer["revision_from_cache"] = true;
    } else if (revision.size() == 40) {
      answer["commit"] = revision;
    }
    if (answer["commit"].is_string()) {
      auto known = m_context.index.files_at(target->repo, answer["commit"].get<std::string>());
      if (known && *known) {
        files = std::move(**known);
      } else if (!answer.contains("commit_seen_at")) {
        answer["commit"] = nullptr; // a 40-hex revision the index has never seen
      }
    }
  }
  if (files) {
    set_snapshot_files(answer, *files, preferred_file);
  }

  std::optional<json> from_config_json;
  if (answer["commit"].is_string()) {
    std::string repo = target->repo;
    std::string commit = answer["commit"].get<std::string>();
    from_config_json = co_await cached_pretrained_cfg(std::move(repo), std::move(commit));
  }
  set_pretrained_cfg(answer, std::move(from_config_json));
  co_return json_result(std::move(answer));
}

asio::awaitable<proto::Result<json>> Session::handle_reload() {
  const auto trigger = "reload request from client " + std::to_string(m_id) + " (pid " + std::to_string(m_peer.pid) +
                       ", uid " + std::to_string(m_peer.uid) + ")";
  auto reload = [this, trigger] { return reload_registry(m_context.config, m_context.registry, trigger); };
  auto reloaded = co_await util::offload(m_context.blocking, std::move(reload));
  if (!reloaded) {
    co_return reloaded.error();
  }
  auto rules = reload_remap_rules(m_context.config, m_context.opens, trigger);
  if (!rules) {
    co_return rules.error();
  }
  auto answer = reloaded->to_json();
  answer["remap"] = std::move(*rules);
  co_return json_result(std::move(answer));
}

asio::awaitable<std::optional<json>> Session::cached_pretrained_cfg(std::string repo, std::string commit) {
  auto read = [this, repo = std::move(repo), commit = std::move(commit)] {
    return read_cached_pretrained_cfg(m_context.index, m_context.layout, repo, commit);
  };
  co_return co_await util::offload(m_context.blocking, std::move(read));
}

asio::awaitable<proto::Result<PullService::Snapshot>> Session::run_resolve_remote(std::string repo,
                                                                                  std::string revision) {
  try {
    co_return co_await m_context.pulls.resolve_remote(std::move(repo), std::move(revision));
  } catch (const boost::system::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      throw;
    }
    co_return proto::make_error(Errc::internal, std::string("resolving the revision failed: ") + error.what());
  } catch (const std::exception& error) {
    co_return proto::make_error(Errc::internal, std::string("resolving the revision failed: ") + error.what());
  }
}

json Session::handle_status() const {
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - m_context.started);
  const auto& config = m_context.config;
  return {{"daemon", std::string("timmd/") + k_version},
          {"protocol", proto::k_protocol_version},
          {"pid", static_cast<std::int64_t>(getpid())},
          {"uptime_s", uptime.count()},
          {"cache_dir", config.cache_dir.string()},
          {"socket", m_context.listener.path.string()},
          {"socket_activated", m_context.listener.inherited},
          {"endpoint", config.endpoint},
          {"offline", config.offline},
          {"token_configured", !config.token.empty()},
          {"token_source", config.token_source},
          {"active_downloads", m_context.pulls.active_downloads()},
          {"leases", m_context.leases.count()},
          {"remap_rule_files", m_context.opens.rules()->files().size()},
          {"clients", m_context.sessions},
          {"shutting_down", m_context.shutting_down}};
}

asio::awaitable<bool> Session::handle_pull(const json& id, const json& request) {
  if (!request.contains("name") || !request["name"].is_string()) {
    const auto error = missing_field("pull", "name", "string");
    co_return co_await send_error(id, error);
  }
  const auto name = request["name"].get<std::string>();
  const auto registry = m_context.registry.current();
  auto target = resolve_pull_target(name, *registry, m_context.aliases, m_context.config.offline);
  if (!target) {
    co_return co_await send_error(id, target.error());
  }

  auto pull_request = pull_request_for(*target, request);
  if (!pull_request) {
    co_return co_await send_error(id, pull_request.error());
  }
  const PullRequest pull = std::move(*pull_request);

  const auto started = std::chrono::steady_clock::now();
  auto progress = std::make_shared<PullProgress>();
  auto outcome = co_await (run_pull(pull, progress) || report_progress(id, progress, pull.repo));
  if (outcome.index() == 1) {
    spdlog::info("client {} (pid {}) went away during the pull of {}; downloads continue for other clients", m_id,
                 m_peer.pid, pull.repo);
    co_return false;
  }

  auto& result = std::get<0>(outcome);
  const auto& resolution = target->resolution;
  if (!result && resolution && resolution->needs_hub_confirmation() && result.error().code == Errc::not_found) {
    result = unverified_tag_not_found(*resolution, result.error());
  }
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!result) {
    spdlog::warn("pull of {}@{} for pid {} failed after {:.2f} s: {}: {}", pull.repo, pull.revision, m_peer.pid,
                 elapsed, proto::to_string(result.error().code), result.error().message);
    co_return co_await send_error(id, result.error());
  }
  std::size_t cached = 0;
  for (const auto& file : result->files) {
    cached += file.was_cached ? 1 : 0;
  }
  spdlog::info("pull of {}@{} ({}) for pid {} done in {:.2f} s: {} files, {} already cached", pull.repo, pull.revision,
               result->commit, m_peer.pid, elapsed, result->files.size(), cached);
  auto body = pull_result_json(*result);
  body["name"] = resolution ? resolution->name : pull.repo;
  body["resolved_by"] = resolution ? std::string(registry::to_string(resolution->resolved_by)) : "hub_repository";
  body["notice"] = resolution && resolution->notice ? json(*resolution->notice) : json(nullptr);
  body["pretrained_cfg"] = resolution && resolution->pretrained_cfg ? resolution->pretrained_cfg->to_json() : json();
  std::string repo = pull.repo;
  std::string commit = result->commit;
  auto from_config_json = co_await cached_pretrained_cfg(std::move(repo), std::move(commit));
  set_pretrained_cfg(body, std::move(from_config_json));
  co_return co_await send_result(id, body);
}

proto::Result<PullRequest> Session::pull_request_for(const PullTarget& target, const json& request) const {
  PullRequest pull;
  pull.repo = target.repo;
  pull.revision = target.revision;
  if (target.resolution && target.resolution->file) {
    pull.preferred_file = *target.resolution->file;
  }
  pull.client_pid = static_cast<std::uint32_t>(m_peer.pid);
  if (request.contains("revision") && !request["revision"].is_null()) {
    if (!request["revision"].is_string() || !is_valid_revision(request["revision"].get<std::string>())) {
      return proto::make_error(Errc::invalid_request, "'revision' must be a branch, tag, refs/pr/N or commit string");
    }
    const auto revision = request["revision"].get<std::string>();
    if (!pull.revision.empty() && pull.revision != revision) {
      return proto::make_error(Errc::invalid_request, "the name gives revision '" + pull.revision +
                                                          "' and the request gives '" + revision + "'; give one");
    }
    pull.revision = revision;
  }
  if (pull.revision.empty()) {
    pull.revision = "main";
  }
  if (request.contains("all")) {
    if (!request["all"].is_boolean()) {
      return proto::make_error(Errc::invalid_request, "'all' must be true or false");
    }
    pull.all_files = request["all"].get<bool>();
  }
  return pull;
}

asio::awaitable<bool> Session::handle_open(const json& id, const json& request) {
  if (!request.contains("name") || !request["name"].is_string()) {
    const auto error = missing_field("open", "name", "string");
    co_return co_await send_error(id, error);
  }
  auto filter = remap::FilterSpec::from_json(request.contains("filter") ? request["filter"] : json());
  if (!filter) {
    co_return co_await send_error(id, filter.error());
  }
  const auto name = request["name"].get<std::string>();
  const auto registry = m_context.registry.current();
  auto target = resolve_pull_target(name, *registry, m_context.aliases, m_context.config.offline);
  if (!target) {
    co_return co_await send_error(id, target.error());
  }
  auto pull = pull_request_for(*target, request);
  if (!pull) {
    co_return co_await send_error(id, pull.error());
  }
  pull->ref_max_age = m_context.config.open_revision_ttl;
  pull->all_files = false;
  if (!m_context.access.allows(Access::download, m_identity)) {
    pull->download_denied = m_context.access.denied(Access::download, "download files for 'open'", m_identity);
  }

  const auto& resolution = target->resolution;
  OpenRequest open;
  open.pull = *pull;
  open.filter = std::move(*filter);
  open.registry_cfg = resolution && resolution->pretrained_cfg ? resolution->pretrained_cfg->to_json() : json();
  if (resolution && !resolution->name.starts_with("hf-hub:")) {
    open.fallback_architecture = resolution->name.substr(0, resolution->name.find('.'));
  }

  const auto started = std::chrono::steady_clock::now();
  auto progress = std::make_shared<PullProgress>();
  auto outcome = co_await (run_open(std::move(open), progress) || report_progress(id, progress, pull->repo));
  if (outcome.index() == 1) {
    spdlog::info("client {} (pid {}) went away during the open of {}", m_id, m_peer.pid, name);
    co_return false;
  }
  auto& answer = std::get<0>(outcome);
  if (!answer && resolution && resolution->needs_hub_confirmation() && answer.error().code == Errc::not_found) {
    answer = unverified_tag_not_found(*resolution, answer.error());
  }
  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!answer) {
    spdlog::warn("open of {} ({}@{}) for pid {} failed after {:.1f} ms: {}: {}", name, pull->repo, pull->revision,
                 m_peer.pid, elapsed, proto::to_string(answer.error().code), answer.error().message);
    co_return co_await send_error(id, answer.error());
  }

  const auto& served = *answer->served;
  const auto lease_id = m_next_lease++;
  m_leases.emplace(lease_id, m_context.leases.acquire(served.sha256));
  json weights = nullptr;
  for (const auto& file : answer->pull.files) {
    if (file.path != "config.json") {
      weights = {{"path", file.path}, {"sha256", file.sha256}, {"size", file.size}, {"format", served.source_format}};
      break;
    }
  }
  std::string prepared = "now";
  if (answer->memory_hit) {
    prepared = "memory";
  } else if (served.derived_from_cache) {
    prepared = "derived_cache";
  }
  json body = {{"name", resolution ? resolution->name : pull->repo},
               {"resolved_by", resolution ? std::string(registry::to_string(resolution->resolved_by)) : "hub_repository"},
               {"notice", resolution && resolution->notice ? json(*resolution->notice) : json(nullptr)},
               {"repo", answer->pull.repo},
               {"revision", answer->pull.revision},
               {"commit", answer->pull.commit},
               {"revision_from_cache", answer->pull.revision_from_cache},
               {"pretrained_cfg", resolution && resolution->pretrained_cfg ? resolution->pretrained_cfg->to_json() : json()},
               {"weights", std::move(weights)},
               {"served", {{"sha256", served.sha256},
                           {"size", served.size},
                           {"derived", served.derived},
                           {"prepared", prepared}}},
               {"architecture", served.architecture},
               {"family", served.family},
               {"rules_version", served.rules_version},
               {"strict", served.strict},
               {"missing_keys", served.missing_keys},
               {"unexpected_keys", served.unexpected_keys},
               {"notes", served.notes},
               {"lease", lease_id},
               {"tensors", served.tensors}};
  set_pretrained_cfg(body, answer->pretrained_cfg);

  spdlog::info("open of {} ({}@{}) for pid {} done in {:.1f} ms: {} tensors from blob {} ({}, {}), lease {}", name,
               answer->pull.repo, answer->pull.commit, m_peer.pid, elapsed, served.tensors.size(),
               served.sha256.substr(0, 12), served.derived ? "derived" : "stored weights", served.family, lease_id);
  const json message = {{"id", id}, {"ok", true}, {"result", std::move(body)}};
  co_return co_await write_frame_with_fd(m_socket, message, answer->fd.get(), m_context.config.frame_timeout);
}

proto::Result<json> Session::handle_release(const json& request) {
  if (!request.contains("lease") || !request["lease"].is_number_unsigned()) {
    return missing_field("release", "lease", "unsigned integer from an 'open' answer");
  }
  const auto lease = request["lease"].get<std::uint64_t>();
  const auto found = m_leases.find(lease);
  if (found == m_leases.end()) {
    return proto::make_error(Errc::not_found, "this connection holds no lease " + std::to_string(lease) +
                                                  "; leases are per connection and released once",
                             {{"lease", lease}});
  }
  m_leases.erase(found);
  return json_result({{"released", lease}});
}

proto::Result<json> Session::handle_gc(const json& request) {
  GcRequest gc;
  if (request.contains("max_bytes") && !request["max_bytes"].is_null()) {
    if (!request["max_bytes"].is_number_unsigned()) {
      return proto::make_error(Errc::invalid_request, "'max_bytes' must be a non-negative integer", {{"field", "max_bytes"}});
    }
    gc.max_bytes = request["max_bytes"].get<std::uint64_t>();
  } else if (m_context.config.max_cache_bytes > 0) {
    gc.max_bytes = m_context.config.max_cache_bytes;
  }
  if (request.contains("dry_run")) {
    if (!request["dry_run"].is_boolean()) {
      return proto::make_error(Errc::invalid_request, "'dry_run' must be true or false", {{"field", "dry_run"}});
    }
    gc.dry_run = request["dry_run"].get<bool>();
  }
  // NOTE: evictions run on the I/O thread so that no open can lease a blob being removed; each
  // is one SQLite delete and one unlink.
  auto report = collect_garbage(gc, m_context.index, m_context.blobs, m_context.leases);
  if (!report) {
    return report.error();
  }
  spdlog::info("gc for pid {}{}: {} blobs, {} bytes {}; {} kept by pins, {} by leases", m_peer.pid,
               gc.dry_run ? " (dry run)" : "", report->evicted.size(), report->bytes_before - report->bytes_after,
               gc.dry_run ? "would be freed" : "freed", report->kept_pinned, report->kept_leased);
  auto answer = report->to_json();
  answer["dry_run"] = gc.dry_run;
  return json_result(std::move(answer));
}

proto::Result<json> Session::handle_pin(const json& request, std::int64_t delta) {
  const char* op = delta > 0 ? "pin" : "unpin";
  if (!request.contains("name") || !request["name"].is_string()) {
    return missing_field(op, "name", "string");
  }
  const auto registry = m_context.registry.current();
  auto target = resolve_pull_target(request["name"].get<std::string>(), *registry, m_context.aliases, true);
  if (!target) {
    return target.error();
  }
  auto pull = pull_request_for(*target, request);
  if (!pull) {
    return pull.error();
  }
  std::string commit = pull->revision;
  if (auto ref = m_context.index.find_ref(pull->repo, pull->revision); ref && *ref) {
    commit = (*ref)->commit;
  }
  auto files = m_context.index.files_at(pull->repo, commit);
  if (!files) {
    return files.error();
  }
  json pinned = json::array();
  if (*files) {
    for (const auto& file : **files) {
      if (file.blob_sha256.empty()) {
        continue;
      }
      // Unpinning a blob without pins changes nothing, and the client says so.
      if (delta < 0) {
        auto row = m_context.index.find_blob(file.blob_sha256);
        if (!row) {
          return row.error();
        }
        if (*row && (*row)->pin_count == 0) {
          pinned.push_back({{"path", file.path}, {"sha256", file.blob_sha256}, {"pin_count", 0}, {"changed", false}});
          continue;
        }
      }
      auto count = m_context.index.add_pins(file.blob_sha256, delta);
      if (!count) {
        return count.error();
      }
      pinned.push_back(
        {{"path", file.path}, {"sha256", file.blob_sha256}, {"pin_count", *count}, {"changed", true}});
    }
  }
  if (pinned.empty()) {
    return proto::make_error(Errc::not_found,
                             "nothing of " + pull->repo + "@" + pull->revision + " is cached; pull it first",
                             {{"repo", pull->repo}, {"revision", pull->revision}});
  }
  spdlog::info("{} of {}@{} ({}) for pid {}: {} blobs", op, pull->repo, pull->revision, commit, m_peer.pid,
               pinned.size());
  return json_result({{"repo", pull->repo}, {"revision", pull->revision}, {"commit", commit}, {"blobs", pinned}});
}

asio::awaitable<proto::Result<OpenAnswer>> Session::run_open(OpenRequest open, std::shared_ptr<PullProgress> progress) {
  try {
    co_return co_await m_context.opens.open(std::move(open), std::move(progress));
  } catch (const boost::system::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      throw;
    }
    co_return proto::make_error(Errc::internal, std::string("open failed: ") + error.what());
  } catch (const std::exception& error) {
    co_return proto::make_error(Errc::internal, std::string("open failed: ") + error.what());
  }
}

asio::awaitable<proto::Result<PullResult>> Session::run_pull(PullRequest pull, std::shared_ptr<PullProgress> progress) {
  try {
    co_return co_await m_context.pulls.pull(std::move(pull), std::move(progress));
  } catch (const boost::system::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      throw;
    }
    co_return proto::make_error(Errc::internal, std::string("pull failed: ") + error.what());
  } catch (const std::exception& error) {
    co_return proto::make_error(Errc::internal, std::string("pull failed: ") + error.what());
  }
}

asio::awaitable<void> Session::report_progress(json id, std::shared_ptr<PullProgress> progress, std::string repo) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  json last;
  while (true) {
    timer.expires_after(k_progress_interval);
    co_await timer.async_wait(asio::use_awaitable);
    if (progress->files.empty()) {
      continue;
    }
    auto files = progress_json(*progress);
    if (files == last) {
      continue;
    }
    last = files;
    const json event = {
        {"id", id}, {"event", "progress"}, {"repo", repo}, {"commit", progress->commit}, {"files", files}};
    if (!co_await send(event)) {
      co_return;
    }
  }
}

asio::awaitable<bool> Session::send(const json& message) {
  co_return co_await write_frame(m_socket, message, m_context.config.frame_timeout);
}

asio::awaitable<bool> Session::send_result(const json& id, const json& result) {
  const json message = {{"id", id}, {"ok", true}, {"result", result}};
  co_return co_await send(message);
}

asio::awaitable<bool> Session::send_error(const json& id, const proto::Error& error) {
  const json message = {{"id", id}, {"ok", false}, {"error", error.to_json()}};
  co_return co_await send(message);
}

} // namespace timmd::server
