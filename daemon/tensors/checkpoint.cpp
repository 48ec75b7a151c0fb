#include "daemon/tensors/checkpoint.hpp"

#include "daemon/tensors/npy_reader.hpp"
#include "daemon/tensors/safetensors_reader.hpp"
#include "daemon/tensors/torch_reader.hpp"
#include "daemon/tensors/zip_reader.hpp"

#include <cstring>

namespace timmd::tensors {
namespace {

constexpr std::string_view k_lfs_prefix = "version https://git-lfs.github.com/spec/";

bool starts_with(std::span<const std::byte> bytes, std::string_view text) {
  return bytes.size() >= text.size() && std::memcmp(bytes.data(), text.data(), text.size()) == 0;
}

std::string hex_prefix(std::span<const std::byte> bytes) {
  constexpr char k_hex[] = "0123456789abcdef";
  std::string text;
  for (const auto b : bytes.first(std::min<std::size_t>(bytes.size(), 8))) {
    text.push_back(k_hex[std::to_integer<unsigned>(b) >> 4U]);
    text.push_back(k_hex[std::to_integer<unsigned>(b) & 0xFU]);
  }
  return text;
}

// The zip is an npz when no record is a torch pickle and every record is an .npy array.
proto::Result<Checkpoint> read_zip_checkpoint(const ByteSource& source, const ReadLimits& limits) {
  auto archive = ZipArchive::open(source, limits);
  if (!archive) {
    return archive.error();
  }
  bool all_npy = !archive->entries().empty();
  for (const auto& entry : archive->entries()) {
    all_npy = all_npy && entry.name.ends_with(".npy");
  }
  return all_npy ? read_npz(source, limits) : read_torch_zip(source, limits);
}

} // namespace

std::string_view to_string(Format format) {
  switch (format) {
  case Format::safetensors: return "safetensors";
  case Format::torch_zip: return "torch_zip";
  case Format::torch_legacy: return "torch_legacy";
  case Format::numpy_npy: return "numpy_npy";
  case Format::numpy_npz: return "numpy_npz";
  }
  return "unknown";
}

bool looks_like_lfs_pointer(std::span<const std::byte> prefix) {
  const auto n = std::min(prefix.size(), k_lfs_prefix.size());
  return n >= 8 && std::memcmp(prefix.data(), k_lfs_prefix.data(), n) == 0;
}

proto::Result<Checkpoint> read_checkpoint(const ByteSource& source, const ReadLimits& limits) {
  const auto& name = source.name();
  auto head = source.read_vector(0, std::min<std::uint64_t>(source.size(), 512));
  if (!head) {
    return head.error();
  }
  const std::span<const std::byte> prefix = *head;

  if (looks_like_lfs_pointer(prefix)) {
    return unsupported_format(name, "this is a Git LFS pointer file, not the weights; download "
                                    "the LFS object it names");
  }
  if (starts_with(prefix, "PK\x03\x04") || starts_with(prefix, "PK\x05\x06")) {
    return read_zip_checkpoint(source, limits);
  }
  if (starts_with(prefix, "\x93NUMPY")) {
    return read_npy(source, limits);
  }
  if (prefix.size() >= 262 && std::memcmp(prefix.data() + 257, "ustar", 5) == 0) {
    return unsupported_format(name, "this is a TAR-based torch.save file (PyTorch before 0.1.10), "
                                    "which timmd does not read; load it with an old PyTorch and "
                                    "save it again");
  }
  if (prefix.size() >= 2 && prefix[0] == std::byte{0x80} && std::to_integer<unsigned>(prefix[1]) <= 5) {
    return read_torch_legacy(source, limits);
  }
  if (prefix.size() >= 9 && prefix[8] == std::byte{'{'}) {
    return read_safetensors(source, limits);
  }
  return unsupported_format(name, "not a recognised checkpoint format (first bytes " +
                                      hex_prefix(prefix) +
                                      "); timmd reads safetensors, torch.save (zip and legacy), "
                                      ".npy and .npz files");
}

proto::Result<Checkpoint> open_checkpoint(const std::filesystem::path& path, const ReadLimits& limits) {
  auto source = FileSource::open(path);
  if (!source) {
    return source.error();
  }
  return read_checkpoint(*source, limits);
}

} // namespace timmd::tensors
