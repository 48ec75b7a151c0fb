// The server as a whole: request log, set_ref, concurrency, hang-ups, keep-alive, throttle.
#include "tests/hubserver/hub_server.hpp"

#include "tests/hubserver/test_support.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace timmd::testhub;
using namespace timmd::testhub::testing;

namespace {

// A raw loopback TCP connection, for what curl does not do on purpose.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : m_fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { ::close(m_fd); }

  void send_text(const std::string& text) {
    REQUIRE(::send(m_fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
  }

  // Reads until `needle` has been received `count` times or the peer closes.
  std::string read_until(const std::string& needle, int count) {
    std::string received;
    char buffer[4096];
    while (occurrences(received, needle) < count) {
      const auto n = ::recv(m_fd, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        break;
      }
      received.append(buffer, static_cast<std::size_t>(n));
    }
    return received;
  }

 private:
  static int occurrences(const std::string& text, const std::string& needle) {
    int found = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++found;
    }
    return found;
  }

  int m_fd;
};

} // namespace

TEST_CASE("request log records every field") {
  HubFixture hub;
  const auto location = fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors")).header("Location");
  fetch("GET", location,
        {.headers = {"Range: bytes=0-99", "Accept-Encoding: identity", "User-Agent: tester/1.0", "Accept: */*",
                     "X-Amzn-Trace-Id: trace-1"}});
  fetch("HEAD", hub.url("/org/model/resolve/main/names/with%20space.txt?x=1"), {.headers = {hub.auth_header()}});
  fetch("GET", hub.url("/_testhub/requests"));

  const auto records = hub.server->requests();
  REQUIRE(records.size() == 3);
  CHECK(records[0].listener == "api");
  CHECK(records[0].method == "HEAD");
  CHECK(records[0].status == 302);
  CHECK(records[0].body_bytes == 0);

  CHECK(records[1].listener == "cdn");
  CHECK(records[1].method == "GET");
  CHECK(records[1].range == "bytes=0-99");
  CHECK(records[1].accept_encoding == "identity");
  CHECK(records[1].user_agent == "tester/1.0");
  CHECK(records[1].accept == "*/*");
  CHECK(records[1].trace_id == "trace-1");
  CHECK(records[1].status == 206);
  CHECK(records[1].body_bytes == 100);
  CHECK(records[1].query.starts_with("X-Sig="));

  CHECK(records[2].target == "/org/model/resolve/main/names/with%20space.txt?x=1");
  CHECK(records[2].path == "/org/model/resolve/main/names/with space.txt");
  CHECK(records[2].query == "x=1");
  CHECK(records[2].authorization == hub.auth_header().substr(15));

  const auto over_http = nlohmann::json::parse(fetch("GET", hub.url("/_testhub/requests")).body);
  REQUIRE(over_http.size() == 3);
  CHECK(over_http[1].at("range") == "bytes=0-99");
  CHECK(over_http[1].at("body_bytes") == 100);

  CHECK(fetch("DELETE", hub.url("/_testhub/requests")).status == 200);
  CHECK(hub.server->requests().empty());
  fetch("GET", hub.url("/api/models/org/model"));
  CHECK(hub.server->requests().size() == 1);
  hub.server->clear_requests();
  CHECK(hub.server->requests().empty());
}

TEST_CASE("set_ref moves a branch to a new commit") {
  HubFixture hub;
  const auto head = [&](const std::string& revision) {
    return fetch("HEAD", hub.url("/org/model/resolve/" + revision + "/config.json"), {.follow_redirects = true});
  };
  const auto before = head("main").header("X-Repo-Commit");

  TempDir tree;
  write_file(tree.path() / "config.json", "{\"model_type\": \"moved\"}\n");
  write_file(tree.path() / "model.safetensors", hub.model_bytes);
  const auto after = hub.server->set_ref("org/model", "main", tree.path());
  CHECK(after.size() == 40);
  CHECK(after != before);
  CHECK(head("main").header("X-Repo-Commit") == after);
  const auto moved = fetch("GET", hub.url("/org/model/resolve/main/config.json"), {.follow_redirects = true});
  CHECK(moved.body == "{\"model_type\": \"moved\"}\n");
  CHECK(fetch("HEAD", hub.url("/org/model/resolve/main/sub/data.txt")).status == 404);

  const auto old = fetch("GET", hub.url("/org/model/resolve/" + before + "/config.json"), {.follow_redirects = true});
  CHECK(old.body == "{\"model_type\": \"test\"}\n");
  const auto same_lfs = fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors"));
  CHECK(same_lfs.header("X-Linked-Etag").size() == 66);

  const auto again = hub.server->set_ref("org/model", "main", tree.path());
  CHECK(again != after);

  const auto pr = hub.server->set_ref("org/model", "refs/pr/2", tree.path());
  CHECK(head("refs%2Fpr%2F2").header("X-Repo-Commit") == pr);
  CHECK_THROWS_AS(hub.server->set_ref("org/none", "main", tree.path()), std::invalid_argument);
}

TEST_CASE("serves many concurrent connections") {
  HubFixture hub;
  const auto location = fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors")).header("Location");
  constexpr int k_clients = 120;
  std::atomic<int> complete{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < k_clients; ++i) {
    clients.emplace_back([&] {
      const auto result = fetch("GET", location, {.timeout_ms = 60000});
      if (result.status == 200 && result.body == hub.model_bytes) {
        ++complete;
      }
    });
  }
  for (auto& client : clients) {
    client.join();
  }
  CHECK(complete == k_clients);
}

TEST_CASE("client hanging up mid-body does not disturb the server") {
  TempDir root;
  const auto big = pattern_bytes(32 * 1024 * 1024, 3);
  write_file(root.path() / "org" / "big" / "model.safetensors", big);
  write_file(root.path() / "org" / "big" / ".hub" / "config.json", R"({"head_style": {"*": "direct"}})");
  Options options;
  options.repos_root = root.path();
  Server server(options);
  server.start();

  for (int i = 0; i < 5; ++i) {
    RawConnection connection(server.api_port());
    connection.send_text("GET /org/big/resolve/main/model.safetensors HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto received = connection.read_until("\r\n\r\n", 1);
    CHECK(received.starts_with("HTTP/1.1 200"));
  }

  const auto whole = fetch("GET", server.endpoint() + "/org/big/resolve/main/model.safetensors");
  CHECK(whole.body.size() == big.size());
  CHECK(whole.body == big);

  // The hung-up transfers end with fewer bytes than the file, once their writes fail.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool all_short = false;
  while (!all_short && std::chrono::steady_clock::now() < deadline) {
    const auto records = server.requests();
    all_short = records.size() == 6;
    for (std::size_t i = 0; i + 1 < records.size(); ++i) {
      all_short = all_short && records[i].body_bytes < big.size();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(all_short);
}

TEST_CASE("keep-alive serves requests in sequence on one connection") {
  HubFixture hub;
  RawConnection connection(hub.server->api_port());
  const std::string request = "HEAD /org/styles/resolve/main/config.json HTTP/1.1\r\nHost: x\r\n\r\n";
  connection.send_text(request + request + request);
  const auto received = connection.read_until("HTTP/1.1 200 OK", 3);
  CHECK(received.find("HTTP/1.1 200 OK") != received.rfind("HTTP/1.1 200 OK"));
  CHECK(hub.server->requests().size() == 3);
}

TEST_CASE("throttle limits each connection") {
  TempDir root;
  write_file(root.path() / "org" / "m" / "model.safetensors", pattern_bytes(300 * 1000));
  Options options;
  options.repos_root = root.path();
  options.throttle_bytes_per_second = 1000 * 1000;
  Server server(options);
  server.start();

  const auto location = fetch("HEAD", server.endpoint() + "/org/m/resolve/main/model.safetensors").header("Location");
  const auto started = std::chrono::steady_clock::now();
  const auto result = fetch("GET", location);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(result.body.size() == 300 * 1000);
  CHECK(elapsed >= std::chrono::milliseconds(250));
}

TEST_CASE("start fails on a port in use and on a missing root") {
  HubFixture hub;
  Options clashing;
  clashing.repos_root = hub.root.path();
  clashing.api_port = hub.server->api_port();
  Server clash(clashing);
  CHECK_THROWS_AS(clash.start(), std::system_error);

  Options missing;
  missing.repos_root = hub.root.path() / "absent";
  Server nowhere(missing);
  CHECK_THROWS(nowhere.start());
}

TEST_CASE("start rejects a non-loopback host") {
  TempDir root;
  Options options;
  options.repos_root = root.path();
  options.host = "0.0.0.0";
  Server server(options);
  CHECK_THROWS_AS(server.start(), std::invalid_argument);
}

TEST_CASE("repositories added after start are found") {
  HubFixture hub;
  write_file(hub.root.path() / "late" / "repo" / "config.json", "{}\n");
  CHECK(fetch("GET", hub.url("/api/models/late/repo")).status == 200);
}
