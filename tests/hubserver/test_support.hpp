// Helpers for the test Hub's own tests: a scratch directory, fixture repositories, and a
// blocking libcurl client.
#pragma once

#include "tests/hubserver/hub_server.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace timmd::testhub::testing {

// A fresh directory under the system temp directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

// Creates `path` (and its parent directories) holding `content`.
void write_file(const std::filesystem::path& path, std::string_view content);

// Returns `size` bytes of a fixed pseudo-random pattern.
std::string pattern_bytes(std::size_t size, unsigned seed = 1);

struct HttpResult {
  int curl_code = 0; // CURLcode; 18 (CURLE_PARTIAL_FILE) when the body was cut short
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body{};

  // Returns the first header named `name` (without case), or "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

struct RequestOptions {
  std::vector<std::string> headers{}; // "Name: value"
  std::string body{};
  long timeout_ms = 10000;
  bool follow_redirects = false;
};

// Sends one request and waits for the response. HEAD sends no body and reads none.
HttpResult fetch(const std::string& method, const std::string& url, const RequestOptions& options = {});

// The repositories most tests use, under one temporary root:
//   org/model     config.json, model.safetensors (LFS, 300 KB), sub/data.txt,
//                 "names/with space.txt", "names/ünï.txt", "names/a#b%c.txt",
//                 refs: refs/pr/1, refs/tags/v1.0, branch dev
//   org/styles    head_style direct for *.json, cdn for big.txt, relative for weights.bin
//   org/private, org/gated, org/disabled   with that flag set
//   org/old-name  renamed to org/model
struct HubFixture {
  static constexpr const char* k_token = "hf_testhubtoken";

  explicit HubFixture(std::size_t page_size = 1000);

  TempDir root;
  std::string model_bytes;
  std::unique_ptr<Server> server;

  std::string url(std::string_view path) const { return server->endpoint() + std::string(path); }
  std::string auth_header() const { return std::string("Authorization: Bearer ") + k_token; }
};

} // namespace timmd::testhub::testing
