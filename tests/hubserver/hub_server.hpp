// A fake Hugging Face Hub for tests, benchmarks and demos: model repositories from a directory,
// served over plain HTTP on 127.0.0.1 with the Hub's URLs, headers, redirects and errors, plus
// injectable faults and a log of every request.
#pragma once

#include "tests/hubserver/fault.hpp"
#include "tests/hubserver/request_log.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace timmd::testhub {

struct Options {
  // Repositories are ROOT/ORG/NAME: the files of branch main, plus an optional
  // .hub/config.json with "private", "gated", "disabled" (booleans), "renamed_to" ("org/new"),
  // "head_style" (glob -> "direct" | "relative" | "cdn") and "refs" (ref name -> tree
  // directory relative to .hub/; "refs/tags/X" names a tag, "refs/pr/N" a pull request).
  std::filesystem::path repos_root;
  std::string host = "127.0.0.1";
  std::uint16_t api_port = 0; // 0 picks a free port
  std::uint16_t cdn_port = 0;
  std::string token;          // the only valid token ("hf_..."); empty means none is valid
  std::size_t tree_page_size = 1000;
  std::uint64_t throttle_bytes_per_second = 0; // per connection; 0 = unthrottled
  std::uint64_t link_bytes_per_second = 0;     // all connections together; 0 = unthrottled
  int threads = 2;
};

// Two listeners: the API (resolve, /api/..., /_testhub/...) and the CDN that LFS downloads are
// redirected to. All public members are thread-safe.
class Server {
 public:
  explicit Server(Options options);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server(); // stops

  // Loads the repositories, binds both listeners and starts the threads. Throws
  // std::system_error when a port cannot be bound, std::invalid_argument for a host that is
  // not a loopback address, and std::runtime_error on a broken repository. Call at most once.
  void start();
  // Stops serving: open connections are dropped, not drained. Safe to call twice.
  void stop();

  std::uint16_t api_port() const;
  std::uint16_t cdn_port() const;
  std::string endpoint() const;     // "http://127.0.0.1:<api_port>", for HF_ENDPOINT
  std::string cdn_endpoint() const; // "http://127.0.0.1:<cdn_port>"

  void add_fault(Fault fault);
  void clear_faults();

  std::vector<RequestRecord> requests() const;
  void clear_requests();

  // Points `ref` (a branch, "refs/tags/X", or "refs/pr/N") of `repo` at a new commit built
  // from `tree_dir` and returns its id. The files are served from `tree_dir`, which must
  // outlive the server. Throws std::invalid_argument for an unknown repository.
  std::string set_ref(const std::string& repo, const std::string& ref, const std::filesystem::path& tree_dir);

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace timmd::testhub
