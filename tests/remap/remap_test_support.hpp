// Helpers shared by the remap tests: reading JSON files, building in-memory safetensors
// checkpoints, and running the remapper on them.
#pragma once

#include "daemon/remap/remapper.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace timmd::remap::test {

std::filesystem::path source_dir();
nlohmann::json read_json(const std::filesystem::path& path);

// The rule files shipped in config/remap/.
const RuleSet& shipped_rules();

// A float32 tensor whose element i is `base + i`, so that moved elements are recognisable.
struct FloatTensor {
  std::string name;
  std::vector<std::uint64_t> shape;
  float base = 0.0F;
};

// An in-memory safetensors checkpoint of the given tensors, parsed back.
class MemoryCheckpoint {
public:
  explicit MemoryCheckpoint(const std::vector<FloatTensor>& tensors);

  const tensors::Checkpoint& checkpoint() const { return m_checkpoint; }
  const tensors::ByteSource& source() const { return *m_source; }

private:
  std::vector<std::byte> m_bytes;
  std::unique_ptr<tensors::ByteSource> m_source;
  tensors::Checkpoint m_checkpoint;
};

// Runs the remapper with `family`'s shipped rules (or none for "").
proto::Result<RemapResult> run_remap(const MemoryCheckpoint& checkpoint, const ModelFacts& model,
                                     const FilterSpec& filter, const std::string& architecture);

// The float32 elements of a remapped tensor.
std::vector<float> values_of(const MemoryCheckpoint& checkpoint, const TensorValue& value);

const TensorValue* find(const RemapResult& result, const std::string& name);

} // namespace timmd::remap::test
