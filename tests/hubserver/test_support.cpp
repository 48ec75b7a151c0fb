#include "tests/hubserver/test_support.hpp"

#include <curl/curl.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace timmd::testhub::testing {

namespace {

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct CurlListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& headers = *static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  std::string line(data, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.pop_back();
  }
  if (line.starts_with("HTTP/")) {
    headers.clear(); // a new response after a followed redirect
  } else if (const auto colon = line.find(':'); colon != std::string::npos) {
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    headers.emplace_back(line.substr(0, colon), value);
  }
  return size * count;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

} // namespace

TempDir::TempDir() {
  auto pattern = (std::filesystem::temp_directory_path() / "timmd-testhub-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  m_path = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(m_path, ignored);
}

void write_file(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream output(path, std::ios::binary | std::ios::trunc);
  output.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!output) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string pattern_bytes(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) {
    byte = static_cast<char>(generator() & 0xFFU);
  }
  return bytes;
}

std::string HttpResult::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequal(key, name)) {
      return value;
    }
  }
  return {};
}

bool HttpResult::has_header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequal(key, name)) {
      return true;
    }
  }
  return false;
}

HttpResult fetch(const std::string& method, const std::string& url, const RequestOptions& options) {
  std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  std::unique_ptr<curl_slist, CurlListDeleter> header_list;
  for (const auto& header : options.headers) {
    header_list.reset(curl_slist_append(header_list.release(), header.c_str()));
  }

  HttpResult result;
  auto* curl = handle.get();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, options.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 20L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (!options.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, options.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(options.body.size()));
  }

  result.curl_code = static_cast<int>(curl_easy_perform(curl));
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

HubFixture::HubFixture(std::size_t page_size) {
  const auto& base = root.path();
  const auto model = base / "org" / "model";
  model_bytes = pattern_bytes(300 * 1000);
  write_file(model / "config.json", "{\"model_type\": \"test\"}\n");
  write_file(model / "model.safetensors", model_bytes);
  write_file(model / "sub" / "data.txt", "hello\n");
  write_file(model / "names" / "with space.txt", "space\n");
  write_file(model / "names" / "\xc3\xbcn\xc3\xaf.txt", "unicode\n");
  write_file(model / "names" / "a#b%c.txt", "hash percent\n");
  write_file(model / ".hub" / "pr1" / "config.json", "{\"model_type\": \"pr\"}\n");
  write_file(model / ".hub" / "v1" / "config.json", "{\"model_type\": \"v1\"}\n");
  write_file(model / ".hub" / "dev" / "config.json", "{\"model_type\": \"dev\"}\n");
  write_file(model / ".hub" / "config.json",
             R"({"refs": {"refs/pr/1": "pr1", "refs/tags/v1.0": "v1", "dev": "dev"}})");

  const auto styles = base / "org" / "styles";
  write_file(styles / "config.json", "{}\n");
  write_file(styles / "big.txt", "not lfs but sent through the CDN\n");
  write_file(styles / "weights.bin", pattern_bytes(1000, 2));
  write_file(styles / ".hub" / "config.json",
             R"({"head_style": {"*.json": "direct", "big.txt": "cdn", "weights.bin": "relative"}})");

  write_file(base / "org" / "old-name" / ".hub" / "config.json", R"({"renamed_to": "org/model"})");
  write_file(base / "org" / "private" / "config.json", "{}\n");
  write_file(base / "org" / "private" / ".hub" / "config.json", R"({"private": true})");
  write_file(base / "org" / "gated" / "config.json", "{}\n");
  write_file(base / "org" / "gated" / ".hub" / "config.json", R"({"gated": true})");
  write_file(base / "org" / "disabled" / "config.json", "{}\n");
  write_file(base / "org" / "disabled" / ".hub" / "config.json", R"({"disabled": true})");

  Options options;
  options.repos_root = base;
  options.token = k_token;
  options.tree_page_size = page_size;
  server = std::make_unique<Server>(options);
  server->start();
}

} // namespace timmd::testhub::testing
