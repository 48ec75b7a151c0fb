#include "hub_test_support.hpp"

#include "tests/hubserver/fault.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#include <stdlib.h>

namespace timmd::hub::testing {



HubFixture::HubFixture(std::size_t tree_page_size) {
  const auto org = root.path() / "org";

  const auto model = org / "model";
  model_bytes = make_content(200 * 1000, 1);
  write_file(model / "config.json", "{\"architecture\": \"resnet50\"}\n");
  write_file(model / "model.safetensors", model_bytes);
  write_file(model / "sub" / "data.txt", "hello\n");
  write_file(model / "names" / "with space.txt", "space\n");
  write_file(model / "names" / "a#b%c.txt", "hash and percent\n");
  write_file(model / "names" / "\xc3\xbcn\xc3\xaf.txt", "unicode\n");
  write_file(model / ".hub" / "pr1" / "config.json", "{\"architecture\": \"pr\"}\n");
  write_file(model / ".hub" / "dev" / "config.json", "{\"architecture\": \"dev\"}\n");
  write_file(model / ".hub" / "config.json", R"({"refs": {"refs/pr/1": "pr1", "dev": "dev"}})");

  const auto styles = org / "styles";
  write_file(styles / "config.json", "{}\n");
  write_file(styles / "weights.bin", make_content(1000, 2));
  write_file(styles / "big.txt", "a regular file sent through the CDN\n");
  write_file(styles / ".hub" / "config.json",
             R"({"head_style": {"*.json": "direct", "weights.bin": "relative", "big.txt": "cdn"}})");

  for (int i = 0; i < 11; ++i) {
    write_file(org / "many" / ("file" + std::to_string(i) + ".txt"), "content " + std::to_string(i) + "\n");
  }

  write_file(org / "old-name" / ".hub" / "config.json", R"({"renamed_to": "org/model"})");

  write_file(org / "gated" / "config.json", "{}\n");
  write_file(org / "gated" / ".hub" / "config.json", R"({"gated": true})");

  // The test Hub logs each start at info level, while the client's retry warnings stay visible.
  spdlog::set_level(spdlog::level::warn);

  testhub::Options options;
  options.repos_root = root.path();
  options.token = k_token;
  options.tree_page_size = tree_page_size;
  server = std::make_unique<testhub::Server>(options);
  server->start();
}

void HubFixture::add_fault(const nlohmann::json& fault) const {
  server->add_fault(testhub::Fault::from_json(fault));
}

HubSettings HubFixture::settings(bool with_token) const {
  HubSettings settings;
  settings.endpoint = server->endpoint();
  settings.token = with_token ? k_token : "";
  settings.connect_timeout = std::chrono::seconds(5);
  settings.stall_timeout = std::chrono::seconds(10);
  settings.api_timeout = std::chrono::seconds(20);
  settings.retry.base_delay = std::chrono::milliseconds(1);
  settings.retry.max_delay = std::chrono::milliseconds(4);
  settings.retry.jitter = [] { return 1.0; };
  return settings;
}

void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
  });
}

} // namespace timmd::hub::testing
