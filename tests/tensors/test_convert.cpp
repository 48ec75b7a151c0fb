// Conversion of every real PyTorch and numpy fixture to safetensors, read back.
#include "daemon/tensors/convert.hpp"
#include "daemon/tensors/safetensors_reader.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "tests/tensors/test_support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <map>

using namespace timmd::tensors;
using timmd::tensors::test::sha256_hex;
using timmd::tensors::test::source_dir;
using timmd::tensors::test::TempDir;

TEST_CASE("real fixtures convert to identical safetensors") {
  std::ifstream in(source_dir() / "tests/data/tensors/expected.json");
  REQUIRE(in.good());
  const auto expected = nlohmann::json::parse(in);
  const TempDir dir;

  std::size_t converted = 0;
  for (const auto& [relative, want] : expected["files"].items()) {
    if (want["format"] == "safetensors") {
      continue;
    }
    CAPTURE(relative);
    const auto out = dir.path() / (std::to_string(converted++) + ".safetensors");
    const auto result = convert_to_safetensors(source_dir() / "tests/data/real" / relative, out);
    CHECK_MESSAGE(result.has_value(), result.error());
    if (!result) {
      continue;
    }

    auto source = FileSource::open(out);
    REQUIRE(source.has_value());
    const auto back = read_safetensors(*source);
    REQUIRE_MESSAGE(back.has_value(), back.error());
    CHECK(back->metadata["format"] == "pt");
    CHECK(back->metadata["source_format"] == want["format"]);
    std::map<std::string, const TensorInfo*> by_name;
    for (const auto& tensor : back->tensors) {
      by_name[tensor.name] = &tensor;
    }
    CHECK(by_name.size() == want["tensors"].size());
    for (const auto& tensor : want["tensors"]) {
      const auto name = tensor["name"].get<std::string>();
      CAPTURE(name);
      REQUIRE(by_name.contains(name));
      const auto& info = *by_name[name];
      CHECK(safetensors_name(info.dtype) == tensor["dtype"].get<std::string>());
      CHECK(info.shape == tensor["shape"].get<std::vector<std::uint64_t>>());
      const auto data = read_tensor(*source, info);
      REQUIRE(data.has_value());
      CHECK(sha256_hex(data->bytes()) == tensor["sha256"].get<std::string>());
    }
  }
  CHECK(converted >= 30);
}

TEST_CASE("convert reports a missing input") {
  const TempDir dir;
  const auto result = convert_to_safetensors(dir.path() / "absent.pt", dir.path() / "out.safetensors");
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == timmd::proto::Errc::not_found);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "out.safetensors"));
}
