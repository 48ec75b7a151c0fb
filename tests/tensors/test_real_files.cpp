// Every file under tests/data/real/ against what PyTorch and numpy read from it
// (tests/data/tensors/expected.json, written by tests/tensors/generate_expected.py).
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "tests/tensors/test_support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <map>

using namespace timmd::tensors;
using timmd::tensors::test::sha256_hex;
using timmd::tensors::test::source_dir;

namespace {

nlohmann::json load_expected() {
  std::ifstream in(source_dir() / "tests/data/tensors/expected.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

void check_file(const std::string& relative, const nlohmann::json& expected) {
  const auto path = source_dir() / "tests/data/real" / relative;
  auto source = FileSource::open(path);
  REQUIRE(source.has_value());
  const auto checkpoint = read_checkpoint(*source);
  CHECK_MESSAGE(checkpoint.has_value(), relative << ": " << checkpoint.error());
  if (!checkpoint) {
    return;
  }

  CHECK(to_string(checkpoint->format) == expected["format"].get<std::string>());
  CHECK(checkpoint->state_dict_path == expected["state_dict_path"].get<std::string>());
  CHECK(checkpoint->key_prefixes == expected["key_prefixes"].get<std::vector<std::string>>());
  if (expected.contains("metadata")) {
    CHECK(checkpoint->metadata == expected["metadata"]);
  }
  CHECK(checkpoint->tensors.size() == expected["tensors"].size());

  std::map<std::string, const TensorInfo*> by_name;
  for (const auto& tensor : checkpoint->tensors) {
    CHECK(by_name.emplace(tensor.name, &tensor).second);
  }
  for (const auto& want : expected["tensors"]) {
    const auto name = want["name"].get<std::string>();
    CAPTURE(name);
    CHECK(by_name.contains(name));
    if (!by_name.contains(name)) {
      continue;
    }
    const auto& info = *by_name[name];
    CHECK(safetensors_name(info.dtype) == want["dtype"].get<std::string>());
    CHECK(info.shape == want["shape"].get<std::vector<std::uint64_t>>());
    if (want.contains("strides")) {
      CHECK(info.strides == want["strides"].get<std::vector<std::uint64_t>>());
    }
    CHECK(info.contiguous == want["contiguous"].get<bool>());
    CHECK(info.requires_grad == want["requires_grad"].get<bool>());
    CHECK(info.alignment == offset_alignment(info.offset));

    auto data = read_tensor(*source, info);
    CHECK_MESSAGE(data.has_value(), data.error());
    if (!data) {
      continue;
    }
    CHECK(sha256_hex(data->bytes()) == want["sha256"].get<std::string>());
  }
}

} // namespace

TEST_CASE("real files match PyTorch and numpy") {
  const auto expected = load_expected();
  REQUIRE(expected["files"].size() >= 45);
  for (const auto& [relative, want] : expected["files"].items()) {
    CAPTURE(relative);
    check_file(relative, want);
  }
}

TEST_CASE("real files that must be rejected") {
  const auto expected = load_expected();
  for (const auto& [relative, code] : expected["rejected"].items()) {
    CAPTURE(relative);
    const auto checkpoint = open_checkpoint(source_dir() / "tests/data/real" / relative);
    REQUIRE_FALSE(checkpoint.has_value());
    CHECK(timmd::proto::to_string(checkpoint.error().code) == code.get<std::string>());
    CHECK(checkpoint.error().message.find(relative) != std::string::npos);
  }
}

TEST_CASE("every real file is covered by the expectations") {
  const auto expected = load_expected();
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(source_dir() / "tests/data/real")) {
    const auto name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "MANIFEST.md" || name == "SHA256SUMS") {
      continue;
    }
    const auto relative = std::filesystem::relative(entry.path(), source_dir() / "tests/data/real").string();
    CAPTURE(relative);
    CHECK((expected["files"].contains(relative) || expected["rejected"].contains(relative)));
    ++files;
  }
  CHECK(files == expected["files"].size() + expected["rejected"].size());
}
