// 32 clients issuing pull, open, list, gc and remove at once for a bounded time. Afterwards the
// index and the files must agree, every pull and open must have succeeded, and every open must
// have served the right bytes.
#include "tests/campaign/cache_checker.hpp"
#include "tests/campaign/campaign_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include <unistd.h>

using namespace timmd::campaign;
using timmd::proto::Errc;
using timmd::testing::DaemonOptions;
using timmd::testing::DaemonProcess;
using timmd::testing::ScratchDir;
using nlohmann::json;

namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;
constexpr int k_clients = 32;

// The tensors of a safetensors file, read without the daemon's code: name -> raw bytes.
std::map<std::string, std::string> read_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), sizeof(header_size)); // little-endian, as is x86-64
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  const auto data_start = 8 + header_size;
  std::map<std::string, std::string> tensors;
  const auto table = json::parse(header);
  for (const auto& [name, entry] : table.items()) {
    if (name == "__metadata__") {
      continue;
    }
    const auto begin = entry["data_offsets"][0].get<std::uint64_t>();
    const auto end = entry["data_offsets"][1].get<std::uint64_t>();
    std::string bytes(end - begin, '\0');
    in.seekg(static_cast<std::streamoff>(data_start + begin));
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    tensors[name] = std::move(bytes);
  }
  return tensors;
}

struct Tally {
  std::mutex mutex;
  std::map<std::string, std::map<std::string, std::size_t>> outcomes; // op -> outcome -> count
  std::size_t tensors_compared = 0;
  std::vector<std::string> failures;

  void record(const std::string& op, const std::string& outcome) {
    std::lock_guard lock(mutex);
    ++outcomes[op][outcome];
  }
  void fail(std::string what) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(what));
  }
};

// Compares the tensors an `open` result describes, read through its descriptor, with the
// source file's bytes. Returns the number of tensors compared.
std::size_t compare_opened(const json& opened, int fd, const std::map<std::string, std::string>& expected,
                           Tally& tally) {
  std::size_t compared = 0;
  for (const auto& tensor : opened["tensors"]) {
    const auto name = tensor["name"].get<std::string>();
    const auto found = expected.find(name);
    if (found == expected.end()) {
      tally.fail("open served tensor '" + name + "' that the source file does not have");
      continue;
    }
    if (!tensor["offset"].is_number_unsigned() || !tensor["length"].is_number_unsigned()) {
      tally.fail("open listed tensor '" + name + "' without offset and length: " + tensor.dump());
      continue;
    }
    std::string bytes(tensor["length"].get<std::size_t>(), '\0');
    const auto got = ::pread(fd, bytes.data(), bytes.size(), tensor["offset"].get<off_t>());
    if (got != static_cast<ssize_t>(bytes.size()) || bytes != found->second) {
      tally.fail("open served other bytes for tensor '" + name + "' than the source file holds");
    }
    ++compared;
  }
  return compared;
}

} // namespace

TEST_CASE("concurrency campaign: 32 clients pull, open, list and gc") {
  const auto duration = std::chrono::seconds(campaign_size("TIMMD_CAMPAIGN_CLIENT_SECONDS", 10, 60));
  const auto seed = campaign_seed();
  const auto rerun = "TIMMD_CAMPAIGN_SEED=" + std::to_string(seed) +
                     " TIMMD_CAMPAIGN_CLIENT_SECONDS=" + std::to_string(duration.count()) +
                     " tests/campaign/test_campaign -tc='concurrency campaign*'";
  INFO("seed " << seed << "; rerun with: " << rerun);
  const auto started = std::chrono::steady_clock::now();

  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto root = scratch.path() / "hub";
  const auto demo = timmd::testing::data_dir() / "timm" / "demo-repo" / "timm" / "test_vit.r160_in1k";
  // Two names for the same files (one blob each, shared), and two repositories with other weights.
  const std::vector<std::string> openable = {"timm/test_vit.r160_in1k", "org/vit-copy"};
  for (const auto& repo : openable) {
    timmd::testing::make_repo(root, repo,
                              {{"model.safetensors", demo / "model.safetensors"}, {"config.json", demo / "config.json"}});
  }
  const std::vector<RepoFile> others = {
    make_random_repo_file(root, "org/weights-a", "pytorch_model.bin", 6 * k_mib + 3, 501),
    make_random_repo_file(root, "org/weights-b", "pytorch_model.bin", 3 * k_mib + 5, 502),
  };
  const auto expected_tensors = read_safetensors(demo / "model.safetensors");
  auto hub = timmd::testing::start_hub(root, "", 16 * k_mib);
  DaemonProcess daemon(scratch.path() / "daemon",
                       DaemonOptions{hub->endpoint(), {{"download", {{"stall_timeout_s", 60}}}}});
  daemon.start();

  // `remove` joins the mix once the daemon supports it.
  const auto probe = request_within(daemon, "remove", {{"name", "org/never-pulled"}}, std::chrono::seconds(60));
  REQUIRE(probe.result.has_value());
  const bool has_remove = *probe.result || probe.result->error().code != Errc::invalid_request;
  std::vector<std::string> ops = {"pull", "pull", "pull", "open", "open", "open", "list", "list", "gc"};
  if (has_remove) {
    ops.push_back("remove");
  }

  Tally tally;
  const auto deadline = std::chrono::steady_clock::now() + duration;
  std::vector<std::thread> clients;
  for (int client = 0; client < k_clients; ++client) {
    clients.emplace_back([&, client] {
      std::mt19937_64 random(seed + static_cast<std::uint64_t>(client));
      std::optional<timmd::client::Connection> connection;
      while (std::chrono::steady_clock::now() < deadline) {
        if (!connection) {
          auto opened = timmd::client::Connection::open(daemon.socket(), "campaign-" + std::to_string(client));
          if (!opened) {
            tally.fail("connect failed: " + opened.error().message);
            return;
          }
          connection.emplace(std::move(*opened));
        }
        const auto op = ops[random() % ops.size()];
        json params = json::object();
        if (op == "pull" || op == "remove") {
          const auto pick = random() % (openable.size() + others.size());
          params["name"] = pick < openable.size() ? openable[pick] : others[pick - openable.size()].repo;
        } else if (op == "open") {
          params["name"] = openable[random() % openable.size()];
        } else if (op == "gc") {
          // Half the collections shrink the cache below its contents, so blobs get evicted
          // while other clients pull and open them.
          params["max_bytes"] = random() % 2 == 0 ? 0 : 2 * k_mib;
        }
        auto result = connection->request(op, params);
        const std::string outcome = result ? "ok" : std::string(to_string(result.error().code));
        tally.record(op, outcome);
        if (!result) {
          // Every repository exists on the Hub, and pulls and opens hold their blobs against gc
          // and remove, so only a remove may fail: of a repository not cached, or during a pull
          // of it.
          const auto code = result.error().code;
          const bool expected = op == "remove" && (code == Errc::not_found || code == Errc::busy);
          if (!expected) {
            tally.fail(op + " " + params.dump() + " failed: " + outcome + ": " + result.error().message);
          }
          if (code == Errc::upstream_unavailable) {
            connection.reset(); // the connection broke
          }
          continue;
        }
        if (op == "open") {
          auto fd = connection->take_received_fd();
          if (!fd) {
            tally.fail("open answered without a descriptor");
            continue;
          }
          const auto compared = compare_opened(*result, *fd, expected_tensors, tally);
          ::close(*fd);
          std::lock_guard lock(tally.mutex);
          tally.tensors_compared += compared;
          // Drop the lease, so that gc may evict the blob again.
          if ((*result).contains("lease")) {
            (void)connection->request("release", {{"lease", (*result)["lease"]}});
          }
        }
      }
    });
  }
  for (auto& client : clients) {
    client.join();
  }

  for (const auto& failure : tally.failures) {
    FAIL_CHECK(failure);
  }
  std::size_t requests = 0;
  std::cout << "concurrency campaign: " << k_clients << " clients for " << duration.count() << " s, seed " << seed;
  for (const auto& [op, outcomes] : tally.outcomes) {
    std::cout << "\n  " << op << ":";
    for (const auto& [outcome, count] : outcomes) {
      std::cout << ' ' << outcome << '=' << count;
      requests += count;
    }
  }
  std::cout << "\n  " << requests << " requests, " << tally.tensors_compared << " tensors compared" << std::endl;
  CHECK(tally.outcomes["open"]["ok"] > 0);
  CHECK(tally.outcomes["pull"]["ok"] > 0);
  CHECK(tally.outcomes["gc"]["ok"] > 0);

  auto report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());
  for (const auto& repo : {openable[0], openable[1], others[0].repo, others[1].repo}) {
    CAPTURE(repo);
    const auto pulled = request_within(daemon, "pull", {{"name", repo}}, std::chrono::seconds(120));
    REQUIRE(pulled.result.has_value());
    CHECK_MESSAGE(*pulled.result, (*pulled.result ? "" : pulled.result->error().message));
  }
  CHECK(daemon.terminate() == 0);
  report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "concurrency campaign: " << seconds << " s\n  rerun: " << rerun << std::endl;
}
