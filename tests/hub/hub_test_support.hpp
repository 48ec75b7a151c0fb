// Test support for the Hub client: a scratch directory kept when a test fails, fixture
// repositories served by the in-process test Hub, and a runner for coroutines that use curl.
#pragma once

#include "daemon/hub/curl_multi.hpp"
#include "daemon/hub/hub_client.hpp"
#include "proto/error.hpp"
#include "tests/support/result_string.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/hubserver/hub_server.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <exception>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>


namespace timmd::hub::testing {

using timmd::testing::make_content;
using timmd::testing::TempDir;
using timmd::testing::write_file;


// The test Hub on 127.0.0.1, serving these repositories:
//   org/model     config.json, model.safetensors (LFS), sub/data.txt, "names/with space.txt",
//                 "names/a#b%c.txt", "names/ünï.txt", refs/pr/1 and branch dev
//   org/styles    head_style direct for *.json, relative for weights.bin, cdn for big.txt
//   org/many      eleven small files, for paging through the tree listing
//   org/old-name  renamed to org/model, so every request gets a relative 307
//   org/gated     gated, so its files need the token
// The Hub accepts k_token and rejects any other token.
struct HubFixture {
  static constexpr const char* k_token = "hf_unit_test_token";

  explicit HubFixture(std::size_t tree_page_size = 1000);

  // Adds one fault in the test Hub's JSON form, e.g. {"kind": "drop_header", ...}.
  void add_fault(const nlohmann::json& fault) const;

  // Client settings for this Hub: the token unless `with_token` is false, and retry delays of
  // a few milliseconds.
  HubSettings settings(bool with_token = true) const;

  TempDir root;
  std::string model_bytes;
  std::unique_ptr<testhub::Server> server;
};

// Calls curl_global_init once per process.
void init_curl();

// Runs `body(multi)` as a coroutine on a fresh io_context with a CurlMulti, until it and every
// transfer it started are done. Rethrows what escaped the coroutine.
template <class Body> void run_with_curl(Body&& body) {
  init_curl();
  boost::asio::io_context io;
  CurlMulti multi(io.get_executor());
  std::exception_ptr escaped;
  boost::asio::co_spawn(io, body(multi), [&escaped](std::exception_ptr error) { escaped = error; });
  io.run();
  if (escaped) {
    std::rethrow_exception(escaped);
  }
}

} // namespace timmd::hub::testing
