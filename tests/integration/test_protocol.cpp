// Bad frames and bad clients: the daemon replies with invalid_request and keeps serving others.
#include "tests/integration/daemon_fixture.hpp"

#include "proto/frame.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace timmd::testing;
using nlohmann::json;

namespace {

// A client that writes raw bytes, to send what the client library never would.
class RawClient {
public:
  explicit RawClient(const std::filesystem::path& socket) {
    m_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof(address.sun_path) - 1);
    REQUIRE(::connect(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~RawClient() { ::close(m_fd); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send_bytes(const std::string& bytes) {
    REQUIRE(::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }
  void send_json(const json& message) { send_bytes(timmd::proto::encode_frame(message).value()); }

  // The next frame, or a discarded JSON value when the connection closed or 10 s passed.
  json receive() {
    std::array<std::byte, 4> header{};
    if (!read_exactly(header.data(), header.size())) {
      return json(json::value_t::discarded);
    }
    const auto length = timmd::proto::decode_frame_length(header).value();
    std::string payload(length, '\0');
    if (!read_exactly(payload.data(), payload.size())) {
      return json(json::value_t::discarded);
    }
    return json::parse(payload);
  }

  // True when the daemon closed the connection within 10 s.
  bool closed_by_peer() {
    char byte = 0;
    pollfd poll_fd{m_fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, 10'000) <= 0) {
      return false;
    }
    return ::recv(m_fd, &byte, 1, 0) == 0;
  }

private:
  bool read_exactly(void* data, std::size_t size) {
    auto* out = static_cast<char*>(data);
    while (size > 0) {
      pollfd poll_fd{m_fd, POLLIN, 0};
      if (::poll(&poll_fd, 1, 10'000) <= 0) {
        return false;
      }
      const auto got = ::recv(m_fd, out, size, 0);
      if (got <= 0) {
        return false;
      }
      out += got;
      size -= static_cast<std::size_t>(got);
    }
    return true;
  }

  int m_fd = -1;
};

std::string error_code_of(const json& frame) {
  return frame.is_object() && frame.contains("error") ? frame["error"].value("code", "") : "";
}

json hello() {
  return {{"id", 1}, {"op", "hello"}, {"protocol", timmd::proto::k_protocol_version}, {"client", "raw"}};
}

void check_daemon_answers(const DaemonProcess& daemon) {
  auto connection = daemon.connect();
  auto status = connection.request("status");
  REQUIRE_MESSAGE(status, (status ? "" : status.error().message));
  CHECK((*status)["daemon"].get<std::string>().starts_with("timmd/"));
}

struct ProtocolSetup {
  ScratchDir scratch;
  std::unique_ptr<timmd::testhub::Server> hub;
  std::unique_ptr<DaemonProcess> daemon;

  explicit ProtocolSetup(json config = json::object()) {
    const auto weights = data_dir() / "real" / "weights" / "facenet-pytorch_mtcnn_pnet.pt";
    make_repo(scratch.path() / "hub", "org/public", {{"pytorch_model.bin", weights}});
    hub = start_hub(scratch.path() / "hub");
    daemon = std::make_unique<DaemonProcess>(scratch.path() / "daemon", DaemonOptions{hub->endpoint(), config});
    daemon->start();
  }
};

} // namespace

TEST_CASE("oversized frame is rejected and the connection closed") {
  ProtocolSetup setup;
  RawClient client(setup.daemon->socket());
  client.send_bytes(std::string("\x7f\xff\xff\xff", 4));
  const auto answer = client.receive();
  CHECK(error_code_of(answer) == "invalid_request");
  CHECK(answer["error"]["message"].get<std::string>().find("exceeds the limit") != std::string::npos);
  CHECK(client.closed_by_peer());
  check_daemon_answers(*setup.daemon);
}

TEST_CASE("invalid JSON gets invalid_request and the connection goes on") {
  ProtocolSetup setup;
  RawClient client(setup.daemon->socket());
  const std::string garbage = "{\"op\": ";
  const auto size = static_cast<std::uint32_t>(garbage.size());
  std::string frame = {static_cast<char>(size >> 24), static_cast<char>(size >> 16), static_cast<char>(size >> 8),
                       static_cast<char>(size)};
  client.send_bytes(frame + garbage);
  CHECK(error_code_of(client.receive()) == "invalid_request");

  client.send_json(hello());
  const auto answer = client.receive();
  CHECK(answer["ok"] == true);
  CHECK(answer["result"]["protocol"] == timmd::proto::k_protocol_version);
}

TEST_CASE("requests without hello, id, op or fields are invalid_request") {
  ProtocolSetup setup;
  RawClient client(setup.daemon->socket());

  client.send_json({{"id", 1}, {"op", "status"}});
  CHECK(error_code_of(client.receive()) == "invalid_request");

  client.send_json({{"id", 2}, {"op", "hello"}, {"protocol", 99}});
  const auto wrong_version = client.receive();
  CHECK(error_code_of(wrong_version) == "invalid_request");
  CHECK(wrong_version["error"]["message"].get<std::string>().find("99") != std::string::npos);

  client.send_json(hello());
  CHECK(client.receive()["ok"] == true);

  client.send_json({{"op", "status"}});
  CHECK(error_code_of(client.receive()) == "invalid_request");

  client.send_json({{"id", 3}});
  CHECK(error_code_of(client.receive()) == "invalid_request");

  client.send_json({{"id", 4}, {"op", "explode"}});
  const auto unknown = client.receive();
  CHECK(error_code_of(unknown) == "invalid_request");
  CHECK(unknown["error"]["message"].get<std::string>().find("explode") != std::string::npos);

  client.send_json({{"id", 5}, {"op", "pull"}});
  const auto missing = client.receive();
  CHECK(error_code_of(missing) == "invalid_request");
  CHECK(missing["error"]["message"].get<std::string>().find("name") != std::string::npos);

  client.send_json({{"id", 6}, {"op", "pull"}, {"name", "../../etc/passwd"}});
  CHECK(error_code_of(client.receive()) == "invalid_request");

  client.send_json({{"id", 7}, {"op", "status"}});
  CHECK(client.receive()["ok"] == true);
}

TEST_CASE("half a frame times out and closes the connection") {
  ProtocolSetup setup(json{{"frame_timeout_s", 1}});
  RawClient client(setup.daemon->socket());
  client.send_bytes(std::string("\x00\x00\x01\x00{\"id\"", 9));
  CHECK(client.closed_by_peer());
  check_daemon_answers(*setup.daemon);
}

TEST_CASE("client that disconnects mid-pull does not stop the daemon") {
  ProtocolSetup setup;
  {
    RawClient client(setup.daemon->socket());
    client.send_json(hello());
    CHECK(client.receive()["ok"] == true);
    client.send_json({{"id", 2}, {"op", "pull"}, {"name", "org/public"}});
  }
  auto connection = setup.daemon->connect();
  auto result = connection.request("pull", {{"name", "org/public"}});
  CHECK_MESSAGE(result, (result ? "" : result.error().message));
  CHECK(setup.daemon->running());
}

TEST_CASE("hundred idle connections do not block other clients") {
  ProtocolSetup setup;
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<RawClient>(setup.daemon->socket()));
  }
  check_daemon_answers(*setup.daemon);
  auto connection = setup.daemon->connect();
  auto result = connection.request("pull", {{"name", "org/public"}});
  CHECK_MESSAGE(result, (result ? "" : result.error().message));
  auto status = connection.request("status");
  REQUIRE(status);
  CHECK((*status)["clients"].get<int>() >= 101);
}

TEST_CASE("second daemon on the same cache and socket exits with a clear message") {
  ProtocolSetup setup;
  DaemonProcess second(setup.scratch.path() / "daemon", {setup.hub->endpoint()});
  second.launch();
  CHECK(second.wait_exit(std::chrono::seconds(10)) == 1);
  const auto log = second.log();
  CHECK(log.find("in use by another timmd process (pid " + std::to_string(setup.daemon->pid()) + ")") != std::string::npos);
  check_daemon_answers(*setup.daemon);
}

TEST_CASE("second daemon on another cache but the same socket leaves the first alone") {
  ProtocolSetup setup;
  DaemonProcess second(setup.scratch.path() / "other",
                       {setup.hub->endpoint(), json::object(), {}, {}, setup.daemon->socket()});
  second.launch();
  CHECK(second.wait_exit(std::chrono::seconds(10)) == 1);
  CHECK(second.log().find("another daemon is listening") != std::string::npos);
  CHECK(std::filesystem::exists(setup.daemon->socket()));
  check_daemon_answers(*setup.daemon);
}
