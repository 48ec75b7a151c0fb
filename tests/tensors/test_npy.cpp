#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/npy_reader.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "tests/tensors/test_support.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <cstring>

using namespace timmd::tensors;
using timmd::tensors::test::bytes_of;
using timmd::tensors::test::source_dir;

namespace {

std::vector<std::int32_t> ints(const std::filesystem::path& path, const TensorInfo& info,
                               const ReadLimits& limits = {}) {
  auto source = FileSource::open(path);
  REQUIRE(source.has_value());
  auto data = read_tensor(*source, info, 64, limits);
  REQUIRE_MESSAGE(data.has_value(), data.error());
  std::vector<std::int32_t> values(data->bytes().size() / 4);
  std::memcpy(values.data(), data->bytes().data(), data->bytes().size());
  return values;
}

std::filesystem::path valid(const std::string& name) {
  return source_dir() / "tests/data/tensors/valid" / name;
}

} // namespace

TEST_CASE("npy header versions 1, 2 and 3") {
  for (const auto* name : {"v1.npy", "v2.npy", "v3.npy"}) {
    CAPTURE(name);
    const auto checkpoint = open_checkpoint(valid(name));
    REQUIRE_MESSAGE(checkpoint.has_value(), checkpoint.error());
    CHECK(checkpoint->format == Format::numpy_npy);
    const auto& array = checkpoint->tensors.at(0);
    CHECK(array.name == "array");
    CHECK(array.dtype == Dtype::i32);
    CHECK(array.shape == std::vector<std::uint64_t>{2, 3});
    CHECK(ints(valid(name), array) == std::vector<std::int32_t>{0, 1, 2, 3, 4, 5});
  }
}

TEST_CASE("npy fortran order is materialised row-major") {
  const auto checkpoint = open_checkpoint(valid("fortran.npy"));
  REQUIRE(checkpoint.has_value());
  const auto& array = checkpoint->tensors.at(0);
  CHECK_FALSE(array.contiguous);
  CHECK(array.strides == std::vector<std::uint64_t>{1, 2});
  CHECK(ints(valid("fortran.npy"), array) == std::vector<std::int32_t>{0, 2, 4, 1, 3, 5});
}

TEST_CASE("npy 0-dimensional array") {
  const auto checkpoint = open_checkpoint(valid("scalar.npy"));
  REQUIRE(checkpoint.has_value());
  CHECK(checkpoint->tensors.at(0).shape.empty());
  CHECK(checkpoint->tensors.at(0).length == 8);
}

TEST_CASE("npz stored and deflated members") {
  const auto stored = open_checkpoint(valid("stored.npz"));
  REQUIRE(stored.has_value());
  CHECK(stored->format == Format::numpy_npz);
  REQUIRE(stored->tensors.size() == 2);
  CHECK(stored->tensors[1].name == "y");
  CHECK(stored->tensors[1].dtype == Dtype::boolean);
  CHECK_FALSE(stored->tensors[0].deflated);

  const auto deflated = open_checkpoint(valid("deflated.npz"));
  REQUIRE(deflated.has_value());
  REQUIRE(deflated->tensors.size() == 2);
  CHECK(deflated->tensors[0].deflated);
  CHECK(ints(valid("deflated.npz"), deflated->tensors[0]) == std::vector<std::int32_t>{0, 1, 2, 3, 4, 5});
  CHECK(ints(valid("deflated.npz"), deflated->tensors[1]) == std::vector<std::int32_t>{0, 2, 4, 1, 3, 5});
}

TEST_CASE("npz inflation limit applies when reading") {
  const auto checkpoint = open_checkpoint(valid("deflated.npz"));
  REQUIRE(checkpoint.has_value());
  ReadLimits tight;
  tight.max_inflated_bytes = 16;
  auto source = FileSource::open(valid("deflated.npz"));
  REQUIRE(source.has_value());
  const auto data = read_tensor(*source, checkpoint->tensors[0], 64, tight);
  REQUIRE_FALSE(data.has_value());
  CHECK(data.error().message.find("max_inflated_bytes") != std::string::npos);
}

TEST_CASE("npz member that inflates past its declared size") {
  // A deflate stream of 1 MiB of zeros inside a member that declares a 6-element array: the
  // table is built from the header alone, and reading the tensor stops at the declared size.
  const std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }";
  std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  std::string text = header;
  text.append((64 - (10 + text.size() + 1) % 64) % 64, ' ');
  text.push_back('\n');
  npy.push_back(static_cast<char>(text.size() & 0xFF));
  npy.push_back(static_cast<char>(text.size() >> 8));
  npy += text;
  std::string content = npy + std::string(1 << 20, '\0');

  // Raw deflate of the whole content.
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string compressed(deflateBound(&z, content.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(content.data());
  z.avail_in = static_cast<uInt>(content.size());
  z.next_out = reinterpret_cast<Bytef*>(compressed.data());
  z.avail_out = static_cast<uInt>(compressed.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  compressed.resize(z.total_out);
  deflateEnd(&z);

  TensorInfo info;
  info.name = "bomb";
  info.dtype = Dtype::i32;
  info.shape = {6};
  info.strides = {1};
  info.deflated = true;
  info.offset = 0;
  info.length = compressed.size();
  info.inflated_offset = npy.size();
  const auto bytes = bytes_of(compressed);
  const MemorySource source(bytes, "bomb.npz");
  const auto data = read_tensor(source, info);
  REQUIRE(data.has_value());
  CHECK(data->bytes().size() == 24);
}

TEST_CASE("npy header parser rejects truncation at every byte") {
  const auto file = timmd::tensors::test::read_file(valid("v1.npy"));
  for (std::size_t length = 0; length < 64; ++length) {
    CAPTURE(length);
    CHECK_FALSE(parse_npy_header(std::span(file).first(length), "cut.npy").has_value());
  }
  CHECK(parse_npy_header(file, "whole.npy").has_value());
}
