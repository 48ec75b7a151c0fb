// Fuzzes the restricted unpickler and the state dict walk that follows it.
#include "daemon/tensors/pickle_reader.hpp"
#include "daemon/tensors/state_dict.hpp"
#include "tests/fuzz/fuzz_limits.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace timmd::tensors;
  const MemorySource source(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.pkl");
  const auto limits = fuzz::limits();
  const auto unpickled = unpickle(source, 0, size, limits);
  if (!unpickled) {
    return 0;
  }
  (void)to_json(unpickled->graph, unpickled->graph.root);

  // Every storage is 1 KiB, so tensor bounds checks run against a fixed size.
  const StorageResolver resolve = [](const StorageRef& storage) -> timmd::proto::Result<StorageRange> {
    return StorageRange{4096, 1024, storage.key};
  };
  Checkpoint checkpoint;
  (void)collect_state_dict(unpickled->graph, resolve, source.name(), limits, checkpoint);
  for (const auto& tensor : checkpoint.tensors) {
    if (tensor.offset < 4096 || tensor.offset - 4096 + tensor.length > 1024) {
      __builtin_trap();
    }
  }
  return 0;
}
