// A client process for integration tests that need a second process. The tests start it with
// posix_spawn instead of running client code in a forked child: such a child can block forever
// on a lock that another thread of the test (the test Hub's) held at the moment of the fork.
//
// Usage:
//   timmd-test-client access-probe SOCKET CACHED UNCACHED
//       tries an open of CACHED, a pull and an open of UNCACHED, gc, verify and a dry-run
//       remove of CACHED; prints one JSON object with each outcome
//   timmd-test-client connect-probe SOCKET    prints "connected" or the connect error as JSON
//   timmd-test-client open-and-hold SOCKET NAME
//       opens NAME with num_classes 3, prints 1 (or 0 on failure) and waits to be killed
#include "client/timmd_client.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include <unistd.h>

using nlohmann::json;

namespace {

json error_of(const timmd::proto::Error& error) {
  return {{"code", std::string(timmd::proto::to_string(error.code))}, {"message", error.message}};
}

json outcome(const timmd::proto::Result<json>& result) {
  return result ? json("allowed") : error_of(result.error());
}

json access_probe(const std::string& socket, const std::string& cached, const std::string& uncached) {
  auto client = timmd::client::Client::connect(socket);
  if (!client) {
    return {{"connect", error_of(client.error())}};
  }
  json out;
  auto opened = client->open(cached, {{"img_size", 224}});
  out["open_cached"] = opened ? json(opened->tensors().size()) : error_of(opened.error());
  out["pull"] = outcome(client->connection().request("pull", {{"name", uncached}}));
  auto open_new = client->open(uncached);
  out["open_uncached"] = open_new ? json("allowed") : error_of(open_new.error());
  out["gc"] = outcome(client->connection().request("gc"));
  out["verify"] = outcome(client->connection().request("verify"));
  out["remove"] = outcome(client->connection().request("remove", {{"name", cached}, {"dry_run", true}}));
  return out;
}

int open_and_hold(const std::string& socket, const std::string& name) {
  auto client = timmd::client::Client::connect(socket);
  auto opened = client ? client->open(name, {{"num_classes", 3}})
                       : timmd::proto::Result<timmd::client::MappedCheckpoint>(client.error());
  std::cout << (opened ? '1' : '0') << std::flush;
  if (!opened) {
    std::cerr << opened.error().message << "\n";
    return 1;
  }
  for (;;) {
    ::pause();
  }
}

} // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "access-probe" && argc == 5) {
    std::cout << access_probe(argv[2], argv[3], argv[4]).dump() << "\n";
    return 0;
  }
  if (mode == "connect-probe" && argc == 3) {
    auto client = timmd::client::Client::connect(argv[2]);
    std::cout << (client ? json("connected") : error_of(client.error())).dump() << "\n";
    return 0;
  }
  if (mode == "open-and-hold" && argc == 4) {
    return open_and_hold(argv[2], argv[3]);
  }
  std::cerr << "usage: timmd-test-client access-probe SOCKET CACHED UNCACHED | connect-probe SOCKET | "
               "open-and-hold SOCKET NAME\n";
  return 2;
}
