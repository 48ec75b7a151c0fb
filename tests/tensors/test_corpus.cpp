// The corpus of malformed and hostile files (tests/data/tensors/corpus/, written by
// tests/tensors/generate_corpus.py): each is rejected with its own message.
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/npy_reader.hpp"
#include "daemon/tensors/pickle_reader.hpp"
#include "daemon/tensors/safetensors_reader.hpp"
#include "daemon/tensors/torch_reader.hpp"
#include "tests/tensors/test_support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>

using namespace timmd::tensors;
using timmd::tensors::test::source_dir;

namespace {

// Runs the reader the corpus kind (its folder) names; nullopt when it accepted the file.
std::optional<timmd::proto::Error> reject(const std::string& kind, const ByteSource& source) {
  const auto error_of = [](const auto& result) -> std::optional<timmd::proto::Error> {
    if (result) {
      return std::nullopt;
    }
    return result.error();
  };
  if (kind == "safetensors") {
    return error_of(read_safetensors(source));
  }
  if (kind == "pickle") {
    return error_of(unpickle(source, 0, source.size()));
  }
  if (kind == "torch") {
    return error_of(read_torch_zip(source));
  }
  if (kind == "npy") {
    return error_of(read_npy(source));
  }
  return error_of(read_npz(source));
}

} // namespace

TEST_CASE("corpus files are rejected with their own messages") {
  std::ifstream in(source_dir() / "tests/data/tensors/corpus/manifest.json");
  REQUIRE(in.good());
  const auto manifest = nlohmann::json::parse(in);

  std::map<std::string, std::size_t> counts;
  std::map<std::string, std::set<std::string>> messages;
  for (const auto& [relative, want] : manifest.items()) {
    CAPTURE(relative);
    const auto kind = relative.substr(0, relative.find('/'));
    const auto path = source_dir() / "tests/data/tensors/corpus" / relative;
    auto source = FileSource::open(path);
    REQUIRE(source.has_value());

    const auto error = reject(kind, *source);
    CHECK(error.has_value());
    if (!error) {
      continue;
    }
    CAPTURE(error->message);
    CHECK(timmd::proto::to_string(error->code) == want["code"].get<std::string>());
    CHECK(error->message.find(want["contains"].get<std::string>()) != std::string::npos);
    CHECK(error->message.starts_with(path.string()));
    CHECK(messages[kind].insert(error->message.substr(path.string().size())).second);
    ++counts[kind];

    if (kind != "pickle") {
      const auto detected = read_checkpoint(*source);
      CHECK_FALSE(detected.has_value());
    }
  }
  CHECK(counts["safetensors"] >= 30);
  CHECK(counts["pickle"] >= 20);
  CHECK(counts["torch"] >= 20);
}

TEST_CASE("corpus pickles fail under tight limits too") {
  // The limits shrink so the object, memo and size checks fire on small inputs as well.
  ReadLimits limits;
  limits.max_pickle_objects = 8;
  limits.max_memo_entries = 2;
  limits.max_nesting = 4;
  limits.max_pickle_value_bytes = 4;
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "tests/data/tensors/corpus/pickle")) {
    CAPTURE(entry.path().string());
    auto source = FileSource::open(entry.path());
    REQUIRE(source.has_value());
    const auto result = unpickle(*source, 0, source->size(), limits);
    CHECK_FALSE(result.has_value());
  }
}
