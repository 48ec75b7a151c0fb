// One client connection: reads requests in order, replies to each with zero or more `event`
// frames and one final frame, and logs every request with the client's pid and uid.
#pragma once

#include "daemon/server/access_policy.hpp"
#include "daemon/server/cache_verifier.hpp"
#include "daemon/server/config.hpp"
#include "daemon/server/frame_io.hpp"
#include "daemon/server/lease_table.hpp"
#include "daemon/server/open_service.hpp"
#include "daemon/server/pull_target.hpp"
#include "daemon/server/pull_service.hpp"
#include "daemon/server/unix_listener.hpp"
#include "daemon/registry/reloadable_registry.hpp"
#include "daemon/registry/user_aliases.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <sys/types.h>

namespace timmd::server {

// State shared by the sessions and the daemon; used on the I/O thread only.
struct ServerContext {
  const Config& config;
  const AccessPolicy& access;
  PullService& pulls;
  OpenService& opens;
  LeaseTable& leases;
  store::Index& index;
  const store::CacheLayout& layout;
  const store::BlobStore& blobs;
  boost::asio::any_io_executor blocking; // worker pool for file reads and registry loads
  registry::ReloadableRegistry& registry;
  const registry::UserAliases& aliases;
  ListenerInfo listener;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::size_t sessions = 0;
  std::size_t active_requests = 0;
  bool shutting_down = false;
  bool verifying = false; // one `verify` at a time
};

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Reads SO_PEERCRED; zeros when the kernel does not report them.
PeerCredentials peer_credentials(UnixSocket& socket);

class Session : public std::enable_shared_from_this<Session> {
public:
  Session(UnixSocket socket, ServerContext& context, std::uint64_t id);

  boost::asio::awaitable<void> run();

  // Closes the connection now (shutdown); a request in progress ends with it.
  void close();
  bool busy() const noexcept { return m_busy; }
  std::uint64_t id() const noexcept { return m_id; }

private:
  boost::asio::awaitable<bool> handle(const nlohmann::json& request);
  boost::asio::awaitable<bool> handle_pull(const nlohmann::json& id, const nlohmann::json& request);
  boost::asio::awaitable<bool> handle_open(const nlohmann::json& id, const nlohmann::json& request);
  proto::Result<nlohmann::json> handle_release(const nlohmann::json& request);
  proto::Result<nlohmann::json> handle_gc(const nlohmann::json& request);
  // `verify` and `remove` (session_maintenance.cpp).
  boost::asio::awaitable<bool> handle_verify(const nlohmann::json& id, const nlohmann::json& request);
  boost::asio::awaitable<proto::Result<VerifyReport>> run_verify(VerifyRequest verify,
                                                                 std::shared_ptr<VerifyProgress> progress);
  boost::asio::awaitable<void> report_verify_progress(nlohmann::json id, std::shared_ptr<VerifyProgress> progress);
  proto::Result<nlohmann::json> handle_remove(const nlohmann::json& request);
  // `pin` (delta 1) and `unpin` (delta -1) of the cached blobs of a name's snapshot.
  proto::Result<nlohmann::json> handle_pin(const nlohmann::json& request, std::int64_t delta);
  // Builds the pull a `pull` or `open` request describes: the target's repository, the revision of the
  // name or the request (not both), `all`.
  proto::Result<PullRequest> pull_request_for(const PullTarget& target, const nlohmann::json& request) const;
  proto::Result<nlohmann::json> handle_hello(const nlohmann::json& request);
  proto::Result<nlohmann::json> handle_list();
  boost::asio::awaitable<proto::Result<nlohmann::json>> handle_resolve(const nlohmann::json& request);
  boost::asio::awaitable<proto::Result<nlohmann::json>> handle_reload();
  nlohmann::json handle_status() const;

  boost::asio::awaitable<bool> send(const nlohmann::json& message);
  boost::asio::awaitable<bool> send_result(const nlohmann::json& id, const nlohmann::json& result);
  boost::asio::awaitable<bool> send_error(const nlohmann::json& id, const proto::Error& error);
  // The pull with unexpected exceptions turned into `internal` errors; cancellation propagates.
  boost::asio::awaitable<proto::Result<PullResult>> run_pull(PullRequest pull, std::shared_ptr<PullProgress> progress);
  boost::asio::awaitable<proto::Result<OpenAnswer>> run_open(OpenRequest open, std::shared_ptr<PullProgress> progress);
  // The `pretrained_cfg` of the cached config.json at (repo, commit), read on the worker pool;
  // nullopt when it is not cached or not usable.
  boost::asio::awaitable<std::optional<nlohmann::json>> cached_pretrained_cfg(std::string repo, std::string commit);
  // The snapshot resolve_remote() returns, with unexpected exceptions turned into `internal`
  // errors; cancellation propagates.
  boost::asio::awaitable<proto::Result<PullService::Snapshot>> run_resolve_remote(std::string repo,
                                                                                  std::string revision);
  boost::asio::awaitable<void> report_progress(nlohmann::json id, std::shared_ptr<PullProgress> progress,
                                               std::string repo);

  UnixSocket m_socket;
  ServerContext& m_context;
  std::uint64_t m_id;
  PeerCredentials m_peer;
  ClientIdentity m_identity;
  bool m_greeted = false;
  bool m_busy = false;
  // Leases on the blobs this client has open, by the lease id its `open` results carried.
  std::map<std::uint64_t, Lease> m_leases;
  std::uint64_t m_next_lease = 1;
};

} // namespace timmd::server
