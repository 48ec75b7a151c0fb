#include "daemon/server/open_service.hpp"

#include "daemon/server/cached_pretrained_cfg.hpp"
#include "daemon/util/offload.hpp"

#include <boost/system/system_error.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include <fcntl.h>

namespace asio = boost::asio;

namespace timmd::server {
namespace {

using proto::Errc;

// Prepared results kept in memory; each is a tensor table of a few hundred entries.
constexpr std::size_t k_max_answered = 256;
constexpr auto k_touch_interval = std::chrono::seconds(60);
// Attempts of an open whose derived blob gc keeps evicting between its preparation and its read.
constexpr int k_open_attempts = 3;

// The pulled files without the pull's leases, for results kept in memory: a remembered result
// must not keep gc away from its blobs.
PullResult without_leases(const PullResult& pull) {
  return PullResult{pull.repo, pull.revision, pull.commit, pull.revision_from_cache, pull.files, {}};
}

} // namespace

OpenService::OpenService(asio::any_io_executor io, asio::any_io_executor blocking, PullService& pulls,
                         store::Index& index, const store::CacheLayout& layout, const store::BlobStore& blobs,
                         std::shared_ptr<const remap::RuleSet> rules)
    : m_blocking(std::move(blocking)), m_pulls(pulls), m_index(index), m_layout(layout), m_blobs(blobs),
      m_rules(std::move(rules)), m_preparing(std::move(io)) {}

void OpenService::set_rules(std::shared_ptr<const remap::RuleSet> rules) {
  m_rules = std::move(rules);
  // Results remembered by request were remapped by the old rules.
  m_warm.clear();
}

asio::awaitable<proto::Result<OpenAnswer>> OpenService::open(OpenRequest request, std::shared_ptr<PullProgress> progress) {
  // Within the revision's time to live an identical request gets the same result, so a warm
  // open costs a map lookup and a stat instead of index queries and file reads.
  const auto warm_key = request.pull.repo + "@" + request.pull.revision + "\n" + request.filter.canonical().dump() +
                        "\n" + request.registry_cfg.dump() + "\n" + request.fallback_architecture;
  if (auto warm = warm_answer(warm_key)) {
    warm->fd = store::open_file(warm->served->path, O_RDONLY);
    if (warm->fd) {
      co_return std::move(*warm);
    }
  }

  // A gc may evict a derived blob between its preparation and its read. The next attempt
  // prepares it again.
  for (int attempt = 1;; ++attempt) {
    OpenRequest attempt_request = request;
    auto answer = co_await open_cold(std::move(attempt_request), progress, warm_key);
    if (answer || !answer.error().details.contains("evicted")) {
      co_return answer;
    }
    if (attempt == k_open_attempts) {
      answer.error().details.erase("evicted");
      answer.error().message += " (a blob was evicted during each of " + std::to_string(attempt) + " attempts)";
      co_return answer;
    }
    spdlog::warn("the served blob of {}@{} was evicted during the open; preparing it again", request.pull.repo,
                 request.pull.revision);
    progress->files.clear();
  }
}

asio::awaitable<proto::Result<OpenAnswer>> OpenService::open_cold(OpenRequest request,
                                                                  std::shared_ptr<PullProgress> progress,
                                                                  std::string warm_key) {
  auto pulled = co_await m_pulls.pull(request.pull, std::move(progress));
  if (!pulled) {
    co_return pulled.error();
  }

  ServeInputs inputs;
  for (const auto& file : pulled->files) {
    if (file.path == "config.json") {
      inputs.config_sha256 = file.sha256;
      inputs.config_blob = file.blob_path;
    } else if (inputs.weights_sha256.empty()) {
      inputs.weights_file = file.path;
      inputs.weights_sha256 = file.sha256;
      inputs.weights_blob = file.blob_path;
    }
  }
  if (inputs.weights_sha256.empty()) {
    co_return proto::make_error(Errc::not_found, "repository '" + pulled->repo + "' at commit " + pulled->commit +
                                                     " has no weights file to open");
  }
  inputs.registry_cfg = std::move(request.registry_cfg);
  inputs.fallback_architecture = std::move(request.fallback_architecture);
  inputs.filter = std::move(request.filter);
  inputs.rules = m_rules;
  const auto key = derived_key(inputs);
  const auto config_sha256 = inputs.config_sha256;

  OpenAnswer answer;
  answer.pull = std::move(*pulled);
  if (const auto known = m_answered.find(key); known != m_answered.end()) {
    std::error_code ec;
    if (std::filesystem::exists(known->second->path, ec)) {
      answer.served = known->second;
      answer.memory_hit = true;
    } else {
      m_answered.erase(known);
    }
  }
  if (!answer.served) {
    auto prepared = co_await prepare(std::move(inputs), key);
    if (!prepared) {
      co_return prepared.error();
    }
    answer.served = *prepared;
    remember(key, answer.served);
  }

  touch(answer.served->sha256);
  // The pulled config.json, leased, rather than the index's snapshot, which a `remove` may
  // have dropped since the pull.
  if (!config_sha256.empty()) {
    auto read_cfg = [this, config_sha256, repo = answer.pull.repo, commit = answer.pull.commit] {
      return read_pretrained_cfg_blob(m_layout, config_sha256, repo, commit);
    };
    answer.pretrained_cfg = co_await util::offload(m_blocking, std::move(read_cfg));
  }
  answer.fd = store::open_file(answer.served->path, O_RDONLY);
  if (!answer.fd) {
    const int error = errno;
    auto failed = store::errno_error("open", answer.served->path, error);
    if (error == ENOENT && answer.served->derived) {
      failed.details["evicted"] = true;
    }
    co_return failed;
  }
  if (request.pull.ref_max_age.count() > 0) {
    if (m_warm.size() >= k_max_answered) {
      m_warm.clear();
    }
    m_warm[warm_key] = WarmEntry{without_leases(answer.pull), answer.served, answer.pretrained_cfg,
                                 std::chrono::steady_clock::now() + request.pull.ref_max_age};
  }
  co_return answer;
}

std::optional<OpenAnswer> OpenService::warm_answer(const std::string& key) {
  const auto found = m_warm.find(key);
  if (found == m_warm.end()) {
    return std::nullopt;
  }
  std::error_code ec;
  if (std::chrono::steady_clock::now() >= found->second.expires || !std::filesystem::exists(found->second.served->path, ec)) {
    m_warm.erase(found);
    return std::nullopt;
  }
  const auto& entry = found->second;
  touch(entry.served->sha256);
  OpenAnswer answer;
  answer.pull = without_leases(entry.pull);
  answer.served = entry.served;
  answer.memory_hit = true;
  answer.pretrained_cfg = entry.pretrained_cfg;
  return answer;
}

asio::awaitable<proto::Result<std::shared_ptr<const ServedCheckpoint>>> OpenService::prepare(ServeInputs inputs,
                                                                                           std::string key) {
  // Named local: GCC 12 destroys some class temporaries of a co_await expression twice.
  std::function<asio::awaitable<Prepared>()> work = [this, inputs = std::move(inputs), key] {
    return prepare_on_pool(inputs, key);
  };
  co_return co_await m_preparing.run(key, std::move(work));
}

asio::awaitable<OpenService::Prepared> OpenService::prepare_on_pool(ServeInputs inputs, std::string key) {
  auto run = [this, inputs = std::move(inputs), key = std::move(key)]() -> Prepared {
    try {
      auto served = prepare_served_checkpoint(inputs, key, m_index, m_layout, m_blobs);
      if (!served) {
        return served.error();
      }
      return std::shared_ptr<const ServedCheckpoint>(std::make_shared<ServedCheckpoint>(std::move(*served)));
    } catch (const std::bad_alloc&) {
      return proto::make_error(Errc::internal, "out of memory while remapping " + inputs.weights_file);
    }
  };
  co_return co_await util::offload(m_blocking, std::move(run));
}

void OpenService::touch(const std::string& sha256) {
  // Garbage collection needs the last use to the minute, not to the request.
  const auto now = std::chrono::steady_clock::now();
  auto& last = m_touched[sha256];
  if (last != std::chrono::steady_clock::time_point{} && now - last < k_touch_interval) {
    return;
  }
  last = now;
  const auto unix_now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (auto touched = m_index.touch_blob(sha256, unix_now); !touched) {
    spdlog::warn("cannot record the use of blob {}: {}", sha256, touched.error().message);
  }
}

void OpenService::remember(const std::string& key, std::shared_ptr<const ServedCheckpoint> served) {
  if (m_answered.emplace(key, std::move(served)).second) {
    m_answered_order.push_back(key);
  }
  while (m_answered_order.size() > k_max_answered) {
    m_answered.erase(m_answered_order.front());
    m_answered_order.pop_front();
  }
}

} // namespace timmd::server
