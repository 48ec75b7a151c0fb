// The public C++ API of timmd: connect to the daemon, pull a model, and open its tensors
// (filtered and remapped as timm would load them) as read-only memory shared with the cache.
//
//   auto client = timmd::client::Client::connect();
//   auto weights = client->open("vit_base_patch16_224.augreg_in21k", {{"num_classes", 10}});
//   for (const auto& t : weights->tensors()) use(t.name, t.dtype, t.shape, t.data);
//
// Thread safety: one thread at a time per Client. A MappedCheckpoint is immutable and may be
// read from any number of threads.
#pragma once

#include "client/connection.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace timmd::client {

// One tensor of an opened checkpoint; `data` points into the shared mapping.
struct TensorView {
  std::string name;
  std::string dtype; // safetensors spelling: F32, F16, BF16, I64, ...
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> data; // row-major, little-endian
};

// The `progress` events of a pull or open, as the daemon sends them.
using ProgressCallback = std::function<void(const nlohmann::json& event)>;

// A remapped state dict mapped read-only from the daemon's cache. It keeps the daemon's lease
// on the blob (through the connection it shares with its Client) and the mapping until it is
// destroyed.
class MappedCheckpoint {
public:
  MappedCheckpoint(MappedCheckpoint&& other) noexcept;
  MappedCheckpoint& operator=(MappedCheckpoint&& other) noexcept;
  MappedCheckpoint(const MappedCheckpoint&) = delete;
  MappedCheckpoint& operator=(const MappedCheckpoint&) = delete;
  ~MappedCheckpoint();

  // In the order the daemon served them: the manifest's order when one was sent.
  const std::vector<TensorView>& tensors() const noexcept { return m_tensors; }
  // nullptr when there is no tensor of that name.
  const TensorView* find(const std::string& name) const;
  // The daemon's result without the tensor table: name, repo, commit, pretrained_cfg, strict,
  // missing_keys, unexpected_keys, notes, served blob.
  const nlohmann::json& info() const noexcept { return m_info; }

private:
  friend class Client;
  MappedCheckpoint() = default;

  std::shared_ptr<Connection> m_connection;
  void* m_base = nullptr;
  std::size_t m_length = 0;
  std::vector<TensorView> m_tensors;
  std::map<std::string, std::size_t> m_by_name;
  nlohmann::json m_info;
};

class Client {
public:
  // Connects as DESIGN.md describes: `socket` if given, else $TIMMD_SOCKET, the system socket,
  // then the per-user one, starting a per-user daemon when none accepts the connection.
  static proto::Result<Client> connect(std::optional<std::filesystem::path> socket = std::nullopt);

  // Downloads what the cache lacks; returns the daemon's `pull` result.
  proto::Result<nlohmann::json> pull(const std::string& name, const std::string& revision = "",
                                     const ProgressCallback& progress = {});

  // Opens `name` with a filter ({num_classes, in_chans, img_size, dtype, include, exclude,
  // manifest}, see proto/PROTOCOL.md) and maps the served blob. Fails with the daemon's error,
  // or `internal` when the answer's table does not fit the descriptor it came with.
  proto::Result<MappedCheckpoint> open(const std::string& name, const nlohmann::json& filter = nlohmann::json::object(),
                                       const std::string& revision = "", const ProgressCallback& progress = {});

  Connection& connection() { return *m_connection; }

private:
  explicit Client(std::shared_ptr<Connection> connection) : m_connection(std::move(connection)) {}
  std::shared_ptr<Connection> m_connection;
};

} // namespace timmd::client
