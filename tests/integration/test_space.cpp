// Room for downloads: the cache quota and the free-space floor, checked before a download
// starts, with least recently used blobs evicted when auto_gc allows.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace timmd::testing;
using timmd::proto::Errc;
using nlohmann::json;

namespace {

constexpr std::uint64_t k_weights_size = 3ULL * 1024 * 1024;

struct TwoRepos {
  ScratchDir scratch;
  std::string sha_a;
  std::string sha_b;
  std::unique_ptr<timmd::testhub::Server> hub;
};

std::unique_ptr<TwoRepos> make_two_repos() {
  auto setup = std::make_unique<TwoRepos>();
  const auto src = setup->scratch.path() / "src";
  write_random_file(src / "a.safetensors", k_weights_size, 31);
  write_random_file(src / "b.safetensors", k_weights_size, 32);
  setup->sha_a = sha256_of(src / "a.safetensors");
  setup->sha_b = sha256_of(src / "b.safetensors");
  make_repo(setup->scratch.path() / "hub", "org/a", {{"model.safetensors", src / "a.safetensors"}});
  make_repo(setup->scratch.path() / "hub", "org/b", {{"model.safetensors", src / "b.safetensors"}});
  setup->hub = start_hub(setup->scratch.path() / "hub");
  return setup;
}

// Starts a daemon on the test Hub of `setup` with `config` over the test defaults.
std::unique_ptr<DaemonProcess> start_daemon(const TwoRepos& setup, json config) {
  auto daemon = std::make_unique<DaemonProcess>(setup.scratch.path() / "daemon",
                                                DaemonOptions{setup.hub->endpoint(), std::move(config)});
  daemon->start();
  return daemon;
}

timmd::proto::Result<json> pull(timmd::client::Connection& connection, const std::string& name) {
  return connection.request("pull", {{"name", name}});
}

} // namespace

TEST_CASE("quota evicts least recent blob") {
  auto setup = make_two_repos();
  INFO("scratch directory: " << setup->scratch.path());
  auto daemon = start_daemon(*setup, json{{"max_cache_bytes", 2 * k_weights_size - 1}, {"min_free_bytes", 0}});
  auto connection = daemon->connect();

  REQUIRE(pull(connection, "org/a"));
  auto second = pull(connection, "org/b");
  REQUIRE_MESSAGE(second, (second ? std::string() : second.error().message));

  const auto blobs = cached_blobs(daemon->cache_dir());
  CHECK(blobs.contains(setup->sha_b));
  CHECK_FALSE(blobs.contains(setup->sha_a));
  CHECK(daemon->log().find("gc: evicted downloaded blob " + setup->sha_a) != std::string::npos);
  CHECK(daemon->log().find("of org/a") != std::string::npos);
}

TEST_CASE("pinned blob blocks quota download") {
  auto setup = make_two_repos();
  INFO("scratch directory: " << setup->scratch.path());
  auto daemon = start_daemon(*setup, json{{"max_cache_bytes", 2 * k_weights_size - 1}, {"min_free_bytes", 0}});
  auto connection = daemon->connect();
  REQUIRE(pull(connection, "org/a"));
  REQUIRE(connection.request("pin", {{"name", "org/a"}}));

  auto refused = pull(connection, "org/b");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::disk_full);
  CHECK(refused.error().message.find("org/b/model.safetensors") != std::string::npos);
  CHECK(refused.error().message.find("max_cache_bytes") != std::string::npos);
  CHECK(refused.error().message.find("pinned") != std::string::npos);

  // Nothing was fetched, the pinned blob stays, and the daemon goes on serving.
  CHECK(cached_blobs(daemon->cache_dir()).contains(setup->sha_a));
  CHECK(std::filesystem::is_empty(daemon->cache_dir() / "tmp"));
  CHECK(connection.request("list", json::object()));
  CHECK(pull(connection, "org/a"));
}

TEST_CASE("file over whole quota rejected") {
  auto setup = make_two_repos();
  INFO("scratch directory: " << setup->scratch.path());
  auto daemon = start_daemon(*setup, json{{"max_cache_bytes", 1024 * 1024}, {"min_free_bytes", 0}});
  auto connection = daemon->connect();

  auto refused = pull(connection, "org/a");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::disk_full);
  CHECK(refused.error().message.find("more than the whole cache quota") != std::string::npos);
  for (const auto& record : setup->hub->requests()) {
    CHECK_MESSAGE(record.listener != "cdn", "fetched " << record.path);
  }
}

TEST_CASE("free-space floor rejects download") {
  auto setup = make_two_repos();
  INFO("scratch directory: " << setup->scratch.path());
  // More than any disk has: the floor cannot be met, whatever eviction does.
  constexpr std::uint64_t k_floor = 1ULL << 60;
  auto daemon = start_daemon(*setup, json{{"min_free_bytes", k_floor}, {"auto_gc", false}});
  auto connection = daemon->connect();

  auto refused = pull(connection, "org/a");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::disk_full);
  const auto& message = refused.error().message;
  CHECK(message.find("needs " + std::to_string(k_weights_size) + " bytes") != std::string::npos);
  CHECK(message.find("must keep " + std::to_string(k_floor) + " free (min_free_bytes)") != std::string::npos);
  CHECK(message.find("auto_gc") != std::string::npos);
  CHECK(refused.error().details.at("needed") == k_weights_size);
  CHECK(std::filesystem::is_empty(daemon->cache_dir() / "tmp"));
}

TEST_CASE("unreachable floor evicts nothing") {
  auto setup = make_two_repos();
  INFO("scratch directory: " << setup->scratch.path());
  {
    auto daemon = start_daemon(*setup, json{{"min_free_bytes", 0}});
    auto connection = daemon->connect();
    REQUIRE(pull(connection, "org/a"));
    REQUIRE(daemon->terminate() == 0);
  }

  // Evicting org/a could never make room, so it must stay in the cache.
  auto daemon = start_daemon(*setup, json{{"min_free_bytes", 1ULL << 60}});
  auto connection = daemon->connect();
  auto refused = pull(connection, "org/b");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::disk_full);
  CHECK(refused.error().message.find("so none was evicted") != std::string::npos);
  CHECK(refused.error().message.find("lower min_free_bytes") != std::string::npos);
  CHECK(refused.error().message.find("max_cache_bytes") == std::string::npos);
  CHECK(cached_blobs(daemon->cache_dir()).contains(setup->sha_a));
}
