#include "daemon/tensors/safetensors_reader.hpp"
#include "daemon/tensors/safetensors_writer.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "tests/tensors/test_support.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace timmd::tensors;
using timmd::tensors::test::bytes_of;
using timmd::tensors::test::read_file;
using timmd::tensors::test::TempDir;

namespace {

std::vector<std::byte> file_with_header(std::string header, std::size_t data_bytes) {
  std::vector<std::byte> file(8);
  for (std::size_t i = 0; i < 8; ++i) {
    file[i] = static_cast<std::byte>((header.size() >> (8 * i)) & 0xFFU);
  }
  const auto text = bytes_of(header);
  file.insert(file.end(), text.begin(), text.end());
  file.resize(file.size() + data_bytes, std::byte{0x5A});
  return file;
}

timmd::proto::Result<Checkpoint> parse(const std::vector<std::byte>& file, const ReadLimits& limits = {}) {
  const MemorySource source(file, "test.safetensors");
  return read_safetensors(source, limits);
}

} // namespace

TEST_CASE("safetensors zero-size, 0-dim and padded headers") {
  const auto file = file_with_header(R"({"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                                     R"("scalar":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                                     R"("__metadata__":{"format":"pt"}}     )",
                                     8);
  const auto checkpoint = parse(file);
  REQUIRE_MESSAGE(checkpoint.has_value(), checkpoint.error());
  REQUIRE(checkpoint->tensors.size() == 2);
  CHECK(checkpoint->tensors[0].name == "empty");
  CHECK(checkpoint->tensors[0].length == 0);
  CHECK(checkpoint->tensors[1].shape.empty());
  CHECK(checkpoint->tensors[1].length == 8);
  CHECK(checkpoint->metadata == nlohmann::json{{"format", "pt"}});
}

TEST_CASE("safetensors empty file header") {
  const auto checkpoint = parse(file_with_header("{}", 0));
  REQUIRE(checkpoint.has_value());
  CHECK(checkpoint->tensors.empty());
}

TEST_CASE("safetensors accepts every dtype") {
  for (const auto dtype : all_dtypes()) {
    CAPTURE(safetensors_name(dtype));
    // Four elements fill whole bytes for every sub-byte type (F4: 2 bytes, F6: 3 bytes).
    const auto nbytes = *contiguous_byte_size(dtype, {4});
    const auto header = std::string(R"({"t":{"dtype":")") + std::string(safetensors_name(dtype)) +
                        R"(","shape":[4],"data_offsets":[0,)" + std::to_string(nbytes) + "]}}";
    const auto checkpoint = parse(file_with_header(header, nbytes));
    REQUIRE_MESSAGE(checkpoint.has_value(), checkpoint.error());
    CHECK(checkpoint->tensors[0].dtype == dtype);
  }
}

TEST_CASE("safetensors header limit is configurable") {
  const auto file = file_with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1);
  ReadLimits limits;
  limits.max_header_bytes = 16;
  const auto checkpoint = parse(file, limits);
  REQUIRE_FALSE(checkpoint.has_value());
  CHECK(checkpoint.error().message.find("exceeds the limit of 16") != std::string::npos);
}

TEST_CASE("safetensors reports alignment") {
  // The second one-byte tensor starts one byte into the data buffer.
  const auto file = file_with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                     R"("b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                                     2);
  const auto checkpoint = parse(file);
  REQUIRE(checkpoint.has_value());
  const auto data_start = checkpoint->header_bytes;
  CHECK(checkpoint->tensors[0].offset == data_start);
  CHECK(checkpoint->tensors[1].offset == data_start + 1);
  CHECK(checkpoint->tensors[1].alignment == offset_alignment(data_start + 1));
}

TEST_CASE("utf8 validation") {
  CHECK_FALSE(find_invalid_utf8(bytes_of("plain ascii")).has_value());
  CHECK_FALSE(find_invalid_utf8(bytes_of("caf\xc3\xa9 \xf0\x9f\x98\x80")).has_value());
  CHECK(find_invalid_utf8(bytes_of("a\xc0\xaf")) == 1U);
  CHECK(find_invalid_utf8(bytes_of("ab\xed\xa0\x80")) == 2U);
  CHECK(find_invalid_utf8(bytes_of("\xf4\x90\x80\x80")) == 0U);
  CHECK(find_invalid_utf8(bytes_of("x\xe2\x82")) == 1U);
}

TEST_CASE("safetensors writer output reads back aligned") {
  const TempDir dir;
  const auto path = dir.path() / "out.safetensors";
  const std::vector<std::byte> one(1, std::byte{1});
  const std::vector<std::byte> f64(16, std::byte{2});
  const std::vector<std::byte> f32(12, std::byte{3});
  const std::vector<std::byte> f4(2, std::byte{4});
  std::vector<SafetensorsInput> inputs;
  inputs.push_back(make_safetensors_input("z.byte", Dtype::u8, {1}, one));
  inputs.push_back(make_safetensors_input("b.float", Dtype::f32, {3}, f32));
  inputs.push_back(make_safetensors_input("a.double", Dtype::f64, {2}, f64));
  inputs.push_back(make_safetensors_input("c.fp4", Dtype::f4, {4}, f4));
  inputs.push_back(make_safetensors_input("d.scalar", Dtype::f64, {}, std::span(f64).first(8)));
  REQUIRE(write_safetensors(path, std::move(inputs), {{"format", "pt"}}).has_value());

  const auto file = read_file(path);
  const std::uint64_t header_length = load_u64(file.data());
  CHECK(header_length % 8 == 0);
  auto source = FileSource::open(path);
  REQUIRE(source.has_value());
  const auto checkpoint = read_safetensors(*source);
  REQUIRE_MESSAGE(checkpoint.has_value(), checkpoint.error());
  CHECK(checkpoint->metadata == nlohmann::json{{"format", "pt"}});

  std::vector<std::string> order;
  for (const auto& tensor : checkpoint->tensors) {
    order.push_back(tensor.name);
    CHECK(tensor.offset % natural_alignment(tensor.dtype) == 0);
  }
  CHECK(order == std::vector<std::string>{"a.double", "d.scalar", "b.float", "c.fp4", "z.byte"});
  const auto data = read_tensor(*source, checkpoint->tensors[2]);
  REQUIRE(data.has_value());
  CHECK(std::equal(f32.begin(), f32.end(), data->bytes().begin(), data->bytes().end()));
  CHECK(reinterpret_cast<std::uintptr_t>(data->bytes().data()) % 64 == 0);
}

TEST_CASE("safetensors writer rejects duplicates and wrong sizes") {
  const TempDir dir;
  const std::vector<std::byte> four(4);
  std::vector<SafetensorsInput> duplicate;
  duplicate.push_back(make_safetensors_input("x", Dtype::u8, {4}, four));
  duplicate.push_back(make_safetensors_input("x", Dtype::u8, {4}, four));
  CHECK_FALSE(write_safetensors(dir.path() / "dup.safetensors", std::move(duplicate)).has_value());

  std::vector<SafetensorsInput> wrong;
  wrong.push_back(make_safetensors_input("x", Dtype::f32, {4}, four));
  const auto result = write_safetensors(dir.path() / "wrong.safetensors", std::move(wrong));
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().message.find("need 16") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "wrong.safetensors"));
  CHECK(std::filesystem::is_empty(dir.path()));
}
