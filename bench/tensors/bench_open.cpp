// Measures how long building a tensor table takes and how many bytes it reads.
//
// It writes a sparse 1 GiB safetensors file with 500 F32 tensors to the temporary directory and
// opens it repeatedly. Each FILE argument is measured as well, for example a torch zip written
// by bench/tensors/make_torch_zip.py.
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/safetensors_writer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>
#include <vector>

using namespace timmd::tensors;

namespace {

// Counts the bytes the parsers read through it.
class CountingSource final : public ByteSource {
public:
  explicit CountingSource(const ByteSource& inner) : m_inner(inner) {}
  std::uint64_t size() const override { return m_inner.size(); }
  const std::string& name() const override { return m_inner.name(); }
  timmd::proto::Result<void> read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    m_bytes += out.size();
    ++m_reads;
    return m_inner.read_at(offset, out);
  }
  std::uint64_t bytes() const { return m_bytes; }
  std::uint64_t reads() const { return m_reads; }

private:
  const ByteSource& m_inner;
  mutable std::atomic<std::uint64_t> m_bytes{0};
  mutable std::atomic<std::uint64_t> m_reads{0};
};

bool write_sparse_safetensors(const std::filesystem::path& path) {
  constexpr std::size_t k_tensors = 500;
  constexpr std::uint64_t k_elements = (1ULL << 30U) / 4 / k_tensors;  // ~1 GiB of F32 in total
  std::vector<SafetensorsInput> inputs;
  for (std::size_t i = 0; i < k_tensors; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "blocks.%zu.attn.qkv.weight", i);
    inputs.push_back({name, Dtype::f32, {k_elements}, {}});
  }
  const auto header = make_safetensors_header(inputs, {{"format", "pt"}});
  if (!header) {
    return false;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return false;
  }
  std::uint8_t length[8];
  for (std::size_t i = 0; i < 8; ++i) {
    length[i] = static_cast<std::uint8_t>((header->size() >> (8 * i)) & 0xFFU);
  }
  const auto total = 8 + header->size() + k_tensors * k_elements * 4;
  const bool ok = ::write(fd, length, 8) == 8 &&
                  ::write(fd, header->data(), header->size()) == static_cast<ssize_t>(header->size()) &&
                  ::ftruncate(fd, static_cast<off_t>(total)) == 0;
  ::close(fd);
  return ok;
}

int measure(const std::filesystem::path& path, int iterations) {
  auto file = FileSource::open(path);
  if (!file) {
    std::fprintf(stderr, "%s\n", file.error().message.c_str());
    return 1;
  }
  std::vector<double> micros;
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;
  std::uint64_t reads = 0;
  Format format = Format::safetensors;
  for (int i = 0; i < iterations; ++i) {
    const CountingSource counting(*file);
    const auto start = std::chrono::steady_clock::now();
    const auto checkpoint = read_checkpoint(counting);
    const auto stop = std::chrono::steady_clock::now();
    if (!checkpoint) {
      std::fprintf(stderr, "%s\n", checkpoint.error().message.c_str());
      return 1;
    }
    micros.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
    tensors = checkpoint->tensors.size();
    format = checkpoint->format;
    bytes = counting.bytes();
    reads = counting.reads();
  }
  std::sort(micros.begin(), micros.end());
  std::printf("%s\n  format %s, %zu tensors, file %llu bytes\n  read %llu bytes in %llu reads per open\n"
              "  open_checkpoint: min %.1f us, median %.1f us, max %.1f us over %d runs\n",
              path.c_str(), std::string(to_string(format)).c_str(), tensors,
              static_cast<unsigned long long>(file->size()), static_cast<unsigned long long>(bytes),
              static_cast<unsigned long long>(reads), micros.front(), micros[micros.size() / 2],
              micros.back(), iterations);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  const auto path = std::filesystem::temp_directory_path() / "timmd-bench-1gib.safetensors";
  if (!write_sparse_safetensors(path)) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
  int status = measure(path, 200);
  std::filesystem::remove(path);
  for (int i = 1; i < argc; ++i) {
    status |= measure(argv[i], 50);
  }
  return status;
}
