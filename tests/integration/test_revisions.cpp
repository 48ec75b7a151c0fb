// Revisions through the daemon: branches that move, tags, pull requests, offline resolution,
// `resolve` with and without the Hub, pretrained_cfg from config.json, and registry reloads.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include <csignal>

using namespace timmd::testing;
using nlohmann::json;

namespace {

constexpr const char* k_repo = "timm/test_vit.r160_in1k";

std::filesystem::path demo_dir() {
  return data_dir() / "timm" / "demo-repo" / k_repo;
}

// The demo config.json with pretrained_cfg.crop_pct replaced, so a test can tell which copy
// of the file (or the registry) a pretrained_cfg came from.
void write_config(const std::filesystem::path& path, double crop_pct) {
  std::ifstream in(demo_dir() / "config.json");
  auto config = json::parse(in);
  config["pretrained_cfg"]["crop_pct"] = crop_pct;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << config.dump(2);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A copy of the demo repository whose main has crop_pct 0.5, tag v1.0 has 0.6 and pull request
// 1 has 0.7, all with the same weights.
struct RevisionsSetup {
  ScratchDir scratch;
  std::filesystem::path repo_dir;
  std::unique_ptr<timmd::testhub::Server> hub;
  std::unique_ptr<DaemonProcess> daemon;

  explicit RevisionsSetup(json config = json::object()) {
    const auto root = scratch.path() / "hub";
    repo_dir = root / k_repo;
    make_repo(root, k_repo,
              {{"model.safetensors", demo_dir() / "model.safetensors"}, {"README.md", demo_dir() / "README.md"}});
    write_config(repo_dir / "config.json", 0.5);
    for (const auto& [tree, crop_pct] : {std::pair{"v1", 0.6}, std::pair{"pr1", 0.7}}) {
      make_repo(repo_dir / ".hub", tree, {{"model.safetensors", demo_dir() / "model.safetensors"}});
      write_config(repo_dir / ".hub" / tree / "config.json", crop_pct);
    }
    const json hub_config = {{"refs", {{"refs/tags/v1.0", "v1"}, {"refs/pr/1", "pr1"}}}};
    write_text(repo_dir / ".hub" / "config.json", hub_config.dump());

    hub = start_hub(root);
    restart(config);
  }

  // Stops the daemon (if running) and starts a new one on the same cache.
  void restart(json config, std::vector<std::string> extra_args = {}) {
    if (daemon) {
      REQUIRE(daemon->terminate() == 0);
    }
    daemon = std::make_unique<DaemonProcess>(scratch.path() / "daemon",
                                             DaemonOptions{hub->endpoint(), std::move(config), std::move(extra_args)});
    daemon->start();
  }

  // Points `ref` at a new commit of the demo weights with `config_text` as config.json, and
  // returns the commit.
  std::string move_ref(const std::string& ref, const std::string& tree, const std::string& config_text) {
    const auto dir = scratch.path() / "trees" / tree;
    make_repo(dir.parent_path(), tree, {{"model.safetensors", demo_dir() / "model.safetensors"}});
    write_text(dir / "config.json", config_text);
    return hub->set_ref(k_repo, ref, dir);
  }
};

json request_ok(timmd::client::Connection& connection, const std::string& op, const json& params) {
  auto result = connection.request(op, params);
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  return *result;
}

const json& file_named(const json& result, const std::string& path) {
  const auto& files = result["files"];
  const auto found = std::find_if(files.begin(), files.end(), [&](const json& file) { return file["path"] == path; });
  REQUIRE_MESSAGE(found != files.end(), "no file " << path << " in " << result.dump());
  return *found;
}

std::size_t count_requests(const timmd::testhub::Server& hub, const std::string& method,
                           const std::string& path_suffix) {
  const auto records = hub.requests();
  return static_cast<std::size_t>(std::ranges::count_if(
      records, [&](const auto& r) { return r.method == method && r.path.ends_with(path_suffix); }));
}

std::string registry_file_text(const std::string& crop_pct) {
  return "{\n"
         "  \"architectures\": {\n"
         "    \"local_net\": {\n"
         "      \"tags\": [{\"tag\": \"v1\", \"hf_hub_id\": \"local/net\", \"crop_pct\": " +
         crop_pct +
         "}]\n"
         "    }\n"
         "  }\n"
         "}\n";
}

} // namespace

TEST_CASE("moved branch reuses unchanged blobs") {
  RevisionsSetup setup;
  auto connection = setup.daemon->connect();
  const auto first = request_ok(connection, "pull", {{"name", k_repo}});

  std::ifstream in(demo_dir() / "config.json");
  auto changed = json::parse(in);
  changed["num_features"] = 65;
  const auto moved_to = setup.move_ref("main", "main2", changed.dump());
  setup.hub->clear_requests();

  const auto second = request_ok(connection, "pull", {{"name", k_repo}});
  CHECK(second["commit"] == moved_to);
  CHECK(second["commit"] != first["commit"]);
  CHECK(file_named(second, "model.safetensors")["cached"] == true);
  CHECK(file_named(second, "model.safetensors")["sha256"] == file_named(first, "model.safetensors")["sha256"]);
  CHECK(file_named(second, "config.json")["cached"] == false);
  CHECK(count_requests(*setup.hub, "GET", "/model.safetensors") == 0);
  CHECK(count_requests(*setup.hub, "GET", "/config.json") >= 1);
  // model.safetensors is the only LFS file, and LFS bytes come from the CDN listener.
  const auto records = setup.hub->requests();
  CHECK(std::ranges::count(records, std::string("cdn"), &timmd::testhub::RequestRecord::listener) == 0);

  // Both commits stay listed, and main points at the new one.
  const auto listed = request_ok(connection, "list", json::object());
  const auto& snapshots = listed["snapshots"];
  CHECK(snapshots.size() == 2);
  for (const auto& snapshot : snapshots) {
    const auto& refs = snapshot["refs"];
    const bool is_main = std::find(refs.begin(), refs.end(), json("main")) != refs.end();
    CHECK(is_main == (snapshot["commit"] == moved_to));
  }
}

TEST_CASE("tag pulls as @v1.0") {
  RevisionsSetup setup;
  auto connection = setup.daemon->connect();
  const auto main = request_ok(connection, "pull", {{"name", k_repo}});
  const auto tagged = request_ok(connection, "pull", {{"name", std::string(k_repo) + "@v1.0"}});

  CHECK(tagged["revision"] == "v1.0");
  CHECK(tagged["commit"].get<std::string>().size() == 40);
  CHECK(tagged["commit"] != main["commit"]);
  CHECK(file_named(tagged, "config.json")["sha256"] == sha256_of(setup.repo_dir / ".hub" / "v1" / "config.json"));
  CHECK(file_named(tagged, "model.safetensors")["cached"] == true);
  CHECK(tagged["pretrained_cfg"]["crop_pct"] == 0.6);

  const auto resolved = request_ok(connection, "resolve", {{"name", std::string(k_repo) + "@v1.0"}});
  CHECK(resolved["commit"] == tagged["commit"]);
  CHECK(resolved["revision"] == "v1.0");
}

TEST_CASE("pull request ref refs/pr/1") {
  RevisionsSetup setup;
  auto connection = setup.daemon->connect();
  const auto in_name = request_ok(connection, "pull", {{"name", std::string(k_repo) + "@refs/pr/1"}});
  CHECK(in_name["revision"] == "refs/pr/1");
  CHECK(file_named(in_name, "config.json")["sha256"] == sha256_of(setup.repo_dir / ".hub" / "pr1" / "config.json"));

  const auto in_field = request_ok(connection, "pull", {{"name", k_repo}, {"revision", "refs/pr/1"}});
  CHECK(in_field["commit"] == in_name["commit"]);
  CHECK(file_named(in_field, "config.json")["cached"] == true);

  const auto main = request_ok(connection, "pull", {{"name", k_repo}});
  CHECK(main["commit"] != in_name["commit"]);
}

TEST_CASE("offline daemon resolves revisions from the index") {
  RevisionsSetup setup;
  auto online = setup.daemon->connect();
  const auto pulled = request_ok(online, "pull", {{"name", "test_vit"}});

  setup.restart(json::object(), {"--offline"});
  setup.hub->clear_requests();
  auto connection = setup.daemon->connect();

  const auto offline = request_ok(connection, "pull", {{"name", "test_vit"}});
  CHECK(offline["commit"] == pulled["commit"]);
  CHECK(offline["revision_from_cache"] == true);
  for (const auto& file : offline["files"]) {
    CHECK(file["cached"] == true);
  }

  const auto remote = request_ok(connection, "resolve", {{"name", "test_vit"}, {"remote", true}});
  CHECK(remote["commit"] == pulled["commit"]);
  CHECK(remote["revision_from_cache"] == true);

  auto never_pulled = connection.request("pull", {{"name", std::string(k_repo) + "@v1.0"}});
  REQUIRE_FALSE(never_pulled);
  CHECK(never_pulled.error().code == timmd::proto::Errc::upstream_unavailable);
  CHECK(never_pulled.error().message.find("'v1.0'") != std::string::npos);
  CHECK(never_pulled.error().details["revision"] == "v1.0");

  auto never_resolved = connection.request("resolve", {{"name", std::string(k_repo) + "@v1.0"}, {"remote", true}});
  REQUIRE_FALSE(never_resolved);
  CHECK(never_resolved.error().code == timmd::proto::Errc::upstream_unavailable);
  CHECK(never_resolved.error().message.find("'v1.0'") != std::string::npos);

  CHECK(setup.hub->requests().empty());
}

TEST_CASE("resolve without remote sends no Hub request") {
  RevisionsSetup setup;
  auto connection = setup.daemon->connect();

  const auto unknown = request_ok(connection, "resolve", {{"name", "test_vit"}});
  CHECK(unknown["remote"] == false);
  CHECK(unknown["commit"].is_null());
  CHECK(unknown["files"].is_null());
  CHECK(unknown["pretrained_cfg_source"] == "registry");
  const auto unverified = request_ok(connection, "resolve", {{"name", "test_vit.no_such_tag"}});
  CHECK(unverified["resolved_by"] == "unverified_tag");
  const auto tagged = request_ok(connection, "resolve", {{"name", std::string(k_repo) + "@v1.0"}});
  CHECK(tagged["commit"].is_null());
  CHECK(setup.hub->requests().empty());

  const auto pulled = request_ok(connection, "pull", {{"name", "test_vit"}});
  setup.hub->clear_requests();
  const auto known = request_ok(connection, "resolve", {{"name", "test_vit"}});
  CHECK(known["commit"] == pulled["commit"]);
  CHECK(known["revision_from_cache"] == true);
  CHECK(known["files"].size() == 3);
  CHECK(known["weights_file"] == "model.safetensors");
  CHECK(setup.hub->requests().empty());
}

TEST_CASE("resolve remote lists files without downloading") {
  RevisionsSetup setup;
  auto connection = setup.daemon->connect();

  const auto remote = request_ok(connection, "resolve", {{"name", "test_vit"}, {"remote", true}});
  CHECK(remote["remote"] == true);
  CHECK(remote["repo"] == k_repo);
  CHECK(remote["commit"].get<std::string>().size() == 40);
  CHECK(remote["revision_from_cache"] == false);
  CHECK(remote["weights_file"] == "model.safetensors");
  REQUIRE(remote["files"].size() == 3);
  const auto& weights = file_named(remote, "model.safetensors");
  CHECK(weights["size"] == std::filesystem::file_size(demo_dir() / "model.safetensors"));
  CHECK(weights["etag"] == sha256_of(demo_dir() / "model.safetensors"));
  CHECK(remote["pretrained_cfg_source"] == "registry");
  CHECK(count_requests(*setup.hub, "GET", "/model.safetensors") == 0);
  CHECK(count_requests(*setup.hub, "HEAD", "/model.safetensors") == 0);
  CHECK(cached_blobs(setup.daemon->cache_dir()).empty());

  // The commit and files are recorded, so resolve without remote now finds them.
  setup.hub->clear_requests();
  const auto local = request_ok(connection, "resolve", {{"name", "test_vit"}});
  CHECK(local["commit"] == remote["commit"]);
  CHECK(local["files"].size() == remote["files"].size());
  CHECK(file_named(local, "model.safetensors") == weights);
  CHECK(setup.hub->requests().empty());

  const auto tagged = request_ok(connection, "resolve", {{"name", std::string(k_repo) + "@v1.0"}, {"remote", true}});
  CHECK(tagged["commit"] != remote["commit"]);

  auto missing = connection.request("resolve", {{"name", "test_vit.no_such_tag"}, {"remote", true}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == timmd::proto::Errc::not_found);
  CHECK(missing.error().details["suggestions"].size() > 0);

  auto wrong_type = connection.request("resolve", {{"name", "test_vit"}, {"remote", "yes"}});
  REQUIRE_FALSE(wrong_type);
  CHECK(wrong_type.error().code == timmd::proto::Errc::invalid_request);

  const auto printed = run_timmctl({"--socket", setup.daemon->socket().string(), "resolve", "--remote", "test_vit"});
  CHECK(printed.status == 0);
  CHECK(printed.out.find(remote["commit"].get<std::string>()) != std::string::npos);
  CHECK(printed.out.find("weights file  model.safetensors") != std::string::npos);
}

TEST_CASE("pretrained_cfg from cached config.json") {
  RevisionsSetup setup;
  auto connection = setup.daemon->connect();

  const auto before = request_ok(connection, "resolve", {{"name", "test_vit"}});
  CHECK(before["pretrained_cfg_source"] == "registry");
  CHECK(before["pretrained_cfg"]["input_size"] == json::array({3, 160, 160}));

  const auto pulled = request_ok(connection, "pull", {{"name", "test_vit"}});
  CHECK(pulled["pretrained_cfg_source"] == "config.json");
  CHECK(pulled["pretrained_cfg"]["crop_pct"] == 0.5);
  const auto after = request_ok(connection, "resolve", {{"name", "test_vit"}});
  CHECK(after["pretrained_cfg_source"] == "config.json");
  CHECK(after["pretrained_cfg"]["crop_pct"] == 0.5);
  CHECK(after["pretrained_cfg"]["tag"] == "r160_in1k");

  SUBCASE("malformed config.json falls back to the registry") {
    const std::string broken = "{\"pretrained_cfg\": {\"crop_pct\": 0.5,";
    setup.move_ref("main", "broken", broken);
    const auto result = request_ok(connection, "pull", {{"name", "test_vit"}});
    CHECK(result["pretrained_cfg_source"] == "registry");
    CHECK(result["pretrained_cfg"]["input_size"] == json::array({3, 160, 160}));
    const auto blob = file_named(result, "config.json")["sha256"].get<std::string>();
    CHECK(setup.daemon->log().find("blob " + blob + ") is not a JSON object") != std::string::npos);
  }

  SUBCASE("config.json over 1 MiB is not read") {
    std::string padded = "{\"pretrained_cfg\": {\"crop_pct\": 0.25}}";
    padded.append(1024 * 1024, ' ');
    setup.move_ref("main", "large", padded);
    const auto result = request_ok(connection, "pull", {{"name", "test_vit"}});
    CHECK(result["pretrained_cfg_source"] == "registry");
    const auto blob = file_named(result, "config.json")["sha256"].get<std::string>();
    CHECK(setup.daemon->log().find("blob " + blob + ") is larger than") != std::string::npos);
  }

  SUBCASE("config.json without pretrained_cfg falls back to the registry") {
    setup.move_ref("main", "bare", "{\"architecture\": \"test_vit\"}");
    const auto result = request_ok(connection, "pull", {{"name", "test_vit"}});
    CHECK(result["pretrained_cfg_source"] == "registry");
    const auto blob = file_named(result, "config.json")["sha256"].get<std::string>();
    CHECK(setup.daemon->log().find("blob " + blob + ") has no 'pretrained_cfg' object") != std::string::npos);
  }
}

TEST_CASE("reload rejects a broken registry file and keeps the old registry") {
  ScratchDir files;
  const auto extra = files.path() / "extra.json";
  write_text(extra, registry_file_text("0.9"));
  const json config = {{"registry_files", json::array({extra.string()})}};
  RevisionsSetup setup(config);
  auto connection = setup.daemon->connect();

  const auto before = request_ok(connection, "resolve", {{"name", "local_net"}});
  CHECK(before["repo"] == "local/net");
  CHECK(before["pretrained_cfg"]["crop_pct"] == 0.9);

  write_text(extra, registry_file_text("\"wide\""));
  auto rejected = connection.request("reload");
  REQUIRE_FALSE(rejected);
  CHECK(rejected.error().code == timmd::proto::Errc::invalid_request);
  CHECK(rejected.error().message.find(extra.string()) != std::string::npos);
  CHECK(rejected.error().message.find("line 4") != std::string::npos);
  CHECK(rejected.error().message.find("crop_pct") != std::string::npos);
  CHECK(rejected.error().details["file"] == extra.string());
  CHECK(rejected.error().details["line"] == 4);

  const auto kept = request_ok(connection, "resolve", {{"name", "local_net"}});
  CHECK(kept["pretrained_cfg"]["crop_pct"] == 0.9);

  const auto printed = run_timmctl({"--socket", setup.daemon->socket().string(), "reload"});
  CHECK(printed.status == 1);
  CHECK(printed.err.find("crop_pct") != std::string::npos);

  write_text(extra, registry_file_text("0.8"));
  const auto reloaded = request_ok(connection, "reload", json::object());
  CHECK(reloaded["architectures"].get<std::size_t>() > 1);
  CHECK(reloaded["files"].back() == extra.string());
  const auto after = request_ok(connection, "resolve", {{"name", "local_net"}});
  CHECK(after["pretrained_cfg"]["crop_pct"] == 0.8);

  // SIGHUP goes through the same reload.
  write_text(extra, registry_file_text("0.7"));
  REQUIRE(::kill(setup.daemon->pid(), SIGHUP) == 0);
  bool reloaded_by_signal = false;
  for (int attempt = 0; attempt < 100 && !reloaded_by_signal; ++attempt) {
    const auto current = request_ok(connection, "resolve", {{"name", "local_net"}});
    reloaded_by_signal = current["pretrained_cfg"]["crop_pct"] == 0.7;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(reloaded_by_signal);
}
