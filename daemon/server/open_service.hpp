// The `open` operation: pull what is missing, remap the weights for the client's filter, and
// hand back the tensor table with a read-only descriptor of the blob it points into.
//
// Identical opens share one preparation (single flight), and later ones reuse its result from
// memory. A derived blob is materialised once per (weights, filter, rules) and found in the
// index after a restart.
//
// Thread safety: use on the I/O executor thread only; remapping runs on the worker pool.
#pragma once

#include "daemon/remap/filter_spec.hpp"
#include "daemon/remap/rule_file.hpp"
#include "daemon/server/pull_service.hpp"
#include "daemon/server/served_checkpoint.hpp"
#include "daemon/server/single_flight.hpp"
#include "daemon/store/file_handle.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <string>

namespace timmd::server {

struct OpenRequest {
  PullRequest pull;
  remap::FilterSpec filter;
  nlohmann::json registry_cfg;        // the registry's pretrained_cfg for the name, or null
  std::string fallback_architecture;  // architecture of the resolved name, for repos without config.json
};

struct OpenAnswer {
  PullResult pull;
  std::shared_ptr<const ServedCheckpoint> served;
  bool memory_hit = false; // the result of an earlier identical open, kept in memory
  std::optional<nlohmann::json> pretrained_cfg; // of the cached config.json, when usable
  store::UniqueFd fd;      // read-only, on the served blob
};

class OpenService {
public:
  // REQUIRES: every reference outlives the service.
  OpenService(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking, PullService& pulls,
              store::Index& index, const store::CacheLayout& layout, const store::BlobStore& blobs,
              std::shared_ptr<const remap::RuleSet> rules);

  boost::asio::awaitable<proto::Result<OpenAnswer>> open(OpenRequest request, std::shared_ptr<PullProgress> progress);

  // Replaces the rule set (reload) and drops the results remembered by request. Results kept by
  // derived key stay, because that key includes every rule file's version.
  void set_rules(std::shared_ptr<const remap::RuleSet> rules);
  std::shared_ptr<const remap::RuleSet> rules() const { return m_rules; }

private:
  using Prepared = proto::Result<std::shared_ptr<const ServedCheckpoint>>;

  // Pulls, prepares and opens the served blob, without the warm answer. The pull's leases keep
  // its blobs until the descriptor is open. A derived blob has no lease while it is prepared,
  // so when gc evicts it before the open, the error sets `evicted` in its details and open()
  // tries once more.
  boost::asio::awaitable<proto::Result<OpenAnswer>> open_cold(OpenRequest request,
                                                              std::shared_ptr<PullProgress> progress,
                                                              std::string warm_key);
  boost::asio::awaitable<Prepared> prepare(ServeInputs inputs, std::string key);
  boost::asio::awaitable<Prepared> prepare_on_pool(ServeInputs inputs, std::string key);
  void remember(const std::string& key, std::shared_ptr<const ServedCheckpoint> served);
  // Returns the result of an identical request made less than ref_max_age ago whose blob still
  // exists. It costs no index query, Hub request or file read.
  std::optional<OpenAnswer> warm_answer(const std::string& key);
  // Records the blob's last use in the index, at most once a minute per blob.
  void touch(const std::string& sha256);

  boost::asio::any_io_executor m_blocking;
  PullService& m_pulls;
  store::Index& m_index;
  const store::CacheLayout& m_layout;
  const store::BlobStore& m_blobs;
  std::shared_ptr<const remap::RuleSet> m_rules;
  SingleFlight<Prepared> m_preparing;
  std::map<std::string, std::shared_ptr<const ServedCheckpoint>> m_answered;
  std::deque<std::string> m_answered_order; // oldest first, for eviction
  std::map<std::string, std::chrono::steady_clock::time_point> m_touched;

  struct WarmEntry {
    PullResult pull;
    std::shared_ptr<const ServedCheckpoint> served;
    std::optional<nlohmann::json> pretrained_cfg;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, WarmEntry> m_warm; // by request: repository, revision, filter, rules
};

} // namespace timmd::server
