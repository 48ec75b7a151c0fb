// Hub errors and transient faults, each ending in its protocol error or a success in bounded time.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>

using namespace timmd::testing;
using timmd::proto::Errc;
using timmd::testhub::Fault;
using timmd::testhub::FaultKind;
using nlohmann::json;

namespace {

constexpr const char* k_token = "hf_testtoken_0123456789abcdef";

struct Setup {
  ScratchDir scratch;
  std::unique_ptr<timmd::testhub::Server> hub;
  std::unique_ptr<DaemonProcess> daemon;
};

// Repositories: org/public, org/private (needs the token), org/gated.
std::unique_ptr<Setup> make_setup(json config = json::object(), std::map<std::string, std::string> env = {}) {
  auto setup = std::make_unique<Setup>();
  const auto root = setup->scratch.path() / "hub";
  const auto weights = data_dir() / "real" / "weights" / "facenet-pytorch_mtcnn_pnet.pt";
  for (const auto* repo : {"org/public", "org/private", "org/gated"}) {
    make_repo(root, repo, {{"pytorch_model.bin", weights}});
  }
  std::filesystem::create_directories(root / "org/private/.hub");
  std::ofstream(root / "org/private/.hub/config.json") << R"({"private": true})";
  std::filesystem::create_directories(root / "org/gated/.hub");
  std::ofstream(root / "org/gated/.hub/config.json") << R"({"gated": true})";

  setup->hub = start_hub(root, k_token);
  setup->daemon = std::make_unique<DaemonProcess>(setup->scratch.path() / "daemon",
                                                  DaemonOptions{setup->hub->endpoint(), config, {}, env});
  setup->daemon->start();
  return setup;
}

timmd::proto::Result<json> pull(Setup& setup, const std::string& name) {
  auto connection = setup.daemon->connect();
  return connection.request("pull", {{"name", name}});
}

Fault status_fault(const std::string& method, int status, std::uint32_t count) {
  Fault fault;
  fault.match = {"any", method, "*"};
  fault.kind = FaultKind::status;
  fault.status = status;
  fault.count = count;
  return fault;
}

} // namespace

TEST_CASE("missing repository is not_found") {
  auto setup = make_setup();
  INFO("scratch directory: " << setup->scratch.path());
  auto result = pull(*setup, "org/does-not-exist");
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::not_found);
  CHECK(result.error().message.find("org/does-not-exist") != std::string::npos);
}

TEST_CASE("missing revision is revision_not_found") {
  auto setup = make_setup();
  INFO("scratch directory: " << setup->scratch.path());
  auto result = pull(*setup, "org/public@no-such-branch");
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::revision_not_found);
  CHECK(result.error().message.find("no-such-branch") != std::string::npos);
}

TEST_CASE("EntryNotFound on the file is not_found naming the file") {
  auto setup = make_setup();
  INFO("scratch directory: " << setup->scratch.path());
  Fault fault = status_fault("HEAD", 404, 1);
  fault.error_code = "EntryNotFound";
  fault.message = "Entry not found";
  setup->hub->add_fault(fault);
  auto result = pull(*setup, "org/public");
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::not_found);
  CHECK(result.error().message.find("pytorch_model.bin") != std::string::npos);
}

TEST_CASE("gated repository without a token is gated with the fix") {
  auto setup = make_setup();
  INFO("scratch directory: " << setup->scratch.path());
  auto result = pull(*setup, "org/gated");
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::gated);
  CHECK(result.error().message.find("HF_TOKEN") != std::string::npos);
}

TEST_CASE("private repository needs the token and gets it") {
  auto anonymous = make_setup();
  INFO("scratch directory: " << anonymous->scratch.path());
  auto refused = pull(*anonymous, "org/private");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::not_found);

  auto authorised = make_setup(json::object(), {{"HF_TOKEN", k_token}});
  auto result = pull(*authorised, "org/private");
  CHECK_MESSAGE(result, (result ? "" : result.error().message));
}

TEST_CASE("bad token is unauthorized") {
  auto setup = make_setup(json::object(), {{"HF_TOKEN", "hf_wrong"}});
  INFO("scratch directory: " << setup->scratch.path());
  auto result = pull(*setup, "org/public");
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::unauthorized);
  CHECK(result.error().message.find("HF_TOKEN") != std::string::npos);
}

TEST_CASE("429 then 200 succeeds after the server's delay") {
  auto setup = make_setup();
  INFO("scratch directory: " << setup->scratch.path());
  Fault fault = status_fault("GET", 429, 1);
  fault.retry_after = 1;
  setup->hub->add_fault(fault);
  const auto started = std::chrono::steady_clock::now();
  auto result = pull(*setup, "org/public");
  CHECK_MESSAGE(result, (result ? "" : result.error().message));
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(900));
  CHECK(setup->daemon->log().find("retrying") != std::string::npos);
}

TEST_CASE("503 three times then 200 succeeds") {
  auto setup = make_setup();
  INFO("scratch directory: " << setup->scratch.path());
  setup->hub->add_fault(status_fault("any", 503, 3));
  auto result = pull(*setup, "org/public");
  CHECK_MESSAGE(result, (result ? "" : result.error().message));
}

TEST_CASE("503 past the retry budget is upstream_unavailable") {
  auto setup = make_setup();
  INFO("scratch directory: " << setup->scratch.path());
  setup->hub->add_fault(status_fault("any", 503, 0));
  auto result = pull(*setup, "org/public");
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::upstream_unavailable);
  CHECK(result.error().message.find("4 attempts") != std::string::npos);
}

TEST_CASE("stall past the deadline ends in timeout within bounded time") {
  auto setup = make_setup({{"download", {{"stall_timeout_s", 1}, {"retry_attempts", 2}}}});
  INFO("scratch directory: " << setup->scratch.path());
  Fault stall;
  stall.match = {"cdn", "GET", "*"};
  stall.kind = FaultKind::stall;
  stall.after_bytes = 100;
  stall.ms = 20'000;
  stall.count = 0;
  setup->hub->add_fault(stall);
  const auto started = std::chrono::steady_clock::now();
  auto result = pull(*setup, "org/public");
  const auto elapsed = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::timeout);
  CHECK(elapsed < std::chrono::seconds(10));
}

TEST_CASE("token never reaches the log or the CDN") {
  const std::string planted = "hf_planted_secret_token_42";
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto weights = data_dir() / "real" / "weights" / "facenet-pytorch_mtcnn_pnet.pt";
  make_repo(scratch.path() / "hub", "org/public", {{"pytorch_model.bin", weights}});
  auto hub = start_hub(scratch.path() / "hub", planted);
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint(), {{"token", planted}, {"log_level", "trace"}}});
  daemon.start();
  auto connection = daemon.connect();
  auto result = connection.request("pull", {{"name", "org/public"}});
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));

  CHECK(daemon.log().find(planted) == std::string::npos);
  std::size_t api_with_token = 0;
  std::size_t cdn_requests = 0;
  for (const auto& record : hub->requests()) {
    if (record.listener == "cdn") {
      ++cdn_requests;
      CHECK(record.authorization.empty());
    } else if (record.authorization == "Bearer " + planted) {
      ++api_with_token;
    }
  }
  CHECK(cdn_requests > 0);
  CHECK(api_with_token > 0);
}
