// Opening a checkpoint file of any supported format and listing its tensors.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/tensor_info.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::tensors {

enum class Format {
  safetensors,
  torch_zip,     // torch.save since PyTorch 1.6: a zip with data.pkl and data/N storages
  torch_legacy,  // torch.save before 1.6: consecutive pickles, then raw storages
  numpy_npy,
  numpy_npz,
};

std::string_view to_string(Format format);

// Bounds applied while parsing untrusted files. A file past one of them is rejected with
// invalid_checkpoint naming the limit, never partially read.
struct ReadLimits {
  // Safetensors JSON header; the Rust reference reader uses the same default (MAX_HEADER_SIZE
  // in safetensors/src/tensor.rs).
  std::uint64_t max_header_bytes = 100'000'000;
  // A pickle (data.pkl, or each pickle of a legacy file).
  std::uint64_t max_pickle_bytes = 256ULL << 20U;
  // Containers nested inside containers, and the unpickler's stack of MARKs.
  std::uint32_t max_nesting = 256;
  // Memo entries, and objects created by one pickle (also the bound of its stack). A state
  // dict needs about 20 objects per tensor; each costs about 100 bytes while parsing.
  std::uint64_t max_memo_entries = 1ULL << 22U;
  std::uint64_t max_pickle_objects = 1ULL << 22U;
  // Bytes of one LONG/LONG4 integer, string or bytes object inside a pickle.
  std::uint64_t max_pickle_value_bytes = 64ULL << 20U;
  // Entries in a zip central directory.
  std::uint64_t max_zip_entries = 1ULL << 20U;
  // Inflated size of one DEFLATED npz member: protects against zip bombs.
  std::uint64_t max_inflated_bytes = 64ULL << 30U;
  std::uint64_t max_tensors = 1ULL << 20U;
  std::uint32_t max_dimensions = 64;
};

// The tensor table of one checkpoint file.
struct Checkpoint {
  Format format = Format::safetensors;
  std::vector<TensorInfo> tensors;
  // Safetensors: the __metadata__ object (string values). Torch: non-tensor values found next to
  // the state dict (epoch, arch, ...) converted to JSON where they are plain data. Otherwise {}.
  nlohmann::json metadata = nlohmann::json::object();
  // Key path of the state dict inside the top-level object ("" when it is the top level,
  // "state_dict", "model.state_dict", ...).
  std::string state_dict_path;
  // Prefixes shared by every tensor name that wrappers add ("module.", "_orig_mod."), reported
  // and never stripped.
  std::vector<std::string> key_prefixes;
  // End of the header or pickle data: bytes past it are tensor data (0 when not meaningful).
  std::uint64_t header_bytes = 0;
};

// Reads the tensor table of the file at `path`, detecting the format from its first bytes (the
// file name is ignored). Fails with not_found when the file is missing, unsupported_format for
// formats timmd does not read (TAR-era torch files, Git LFS pointers) and invalid_checkpoint
// for malformed or hostile content. Reads headers only; tensor bytes are not touched.
proto::Result<Checkpoint> open_checkpoint(const std::filesystem::path& path,
                                          const ReadLimits& limits = {});

// Same as open_checkpoint on an already opened source.
proto::Result<Checkpoint> read_checkpoint(const ByteSource& source, const ReadLimits& limits = {});

// True when `prefix` is the start of a Git LFS pointer file rather than real content.
bool looks_like_lfs_pointer(std::span<const std::byte> prefix);

} // namespace timmd::tensors
