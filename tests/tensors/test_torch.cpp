#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/pickle_globals.hpp"
#include "daemon/tensors/pickle_reader.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "daemon/tensors/torch_reader.hpp"
#include "tests/tensors/test_support.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace timmd::tensors;
using timmd::tensors::test::bytes_of;
using timmd::tensors::test::source_dir;

namespace {

Checkpoint open_valid(const std::string& name) {
  const auto checkpoint = open_checkpoint(source_dir() / "tests/data/tensors/valid" / name);
  REQUIRE_MESSAGE(checkpoint.has_value(), checkpoint.error());
  return *checkpoint;
}

std::vector<float> floats(const std::string& file, const TensorInfo& info) {
  auto source = FileSource::open(source_dir() / "tests/data/tensors/valid" / file);
  REQUIRE(source.has_value());
  auto data = read_tensor(*source, info);
  REQUIRE_MESSAGE(data.has_value(), data.error());
  std::vector<float> values(data->bytes().size() / 4);
  std::memcpy(values.data(), data->bytes().data(), data->bytes().size());
  return values;
}

Unpickled unpickle_text(std::string_view text) {
  const auto bytes = bytes_of(text);
  const MemorySource source(bytes, "test.pkl");
  auto result = unpickle(source, 0, source.size());
  REQUIRE_MESSAGE(result.has_value(), result.error());
  return std::move(*result);
}

} // namespace

TEST_CASE("torch zip minimal state dict") {
  const auto checkpoint = open_valid("minimal.pt");
  CHECK(checkpoint.format == Format::torch_zip);
  REQUIRE(checkpoint.tensors.size() == 1);
  const auto& w = checkpoint.tensors[0];
  CHECK(w.name == "w");
  CHECK(w.dtype == Dtype::f32);
  CHECK(w.shape == std::vector<std::uint64_t>{2, 2});
  CHECK(w.storage == "data/0");
  CHECK(w.contiguous);
  CHECK(w.length == 16);
  CHECK(floats("minimal.pt", w) == std::vector<float>{1, 2, 3, 4});
}

TEST_CASE("torch view with storage offset") {
  const auto checkpoint = open_valid("view_offset.pt");
  const auto& v = checkpoint.tensors.at(0);
  CHECK(v.length == 8);
  CHECK(floats("view_offset.pt", v) == std::vector<float>{2, 3});
}

TEST_CASE("torch non-contiguous view is materialised") {
  const auto checkpoint = open_valid("transposed.pt");
  const auto& t = checkpoint.tensors.at(0);
  CHECK_FALSE(t.contiguous);
  CHECK(t.strides == std::vector<std::uint64_t>{1, 2});
  CHECK(floats("transposed.pt", t) == std::vector<float>{1, 3, 2, 4});
}

TEST_CASE("torch shared storage and archive prefix") {
  const auto checkpoint = open_valid("shared.pt");
  REQUIRE(checkpoint.tensors.size() == 2);
  CHECK(checkpoint.tensors[0].storage == checkpoint.tensors[1].storage);
  CHECK(checkpoint.tensors[1].offset == checkpoint.tensors[0].offset + 8);
  CHECK(floats("shared.pt", checkpoint.tensors[1]) == std::vector<float>{3, 4});
}

TEST_CASE("torch training checkpoint discovery") {
  const auto checkpoint = open_valid("training.pt");
  CHECK(checkpoint.state_dict_path == "model_ema");
  CHECK(checkpoint.key_prefixes == std::vector<std::string>{"module.", "_orig_mod."});
  REQUIRE(checkpoint.tensors.size() == 1);
  CHECK(checkpoint.tensors[0].name == "module._orig_mod.w");
  CHECK(checkpoint.metadata["epoch"] == 7);
  CHECK(checkpoint.metadata["metric"] == 81.5);
  CHECK(checkpoint.metadata["arch"] == "resnet18");
  CHECK(checkpoint.metadata["args"] == nlohmann::json{{"lr", 0.1}});
  CHECK(checkpoint.metadata["shape"] == nlohmann::json::array({2, 2}));
  CHECK(checkpoint.metadata["tags"] == nlohmann::json::array({"a"}));
}

TEST_CASE("unpickler builds plain data") {
  // Protocol 0 text opcodes: a dict of an int, a long, a float, a bool and a list.
  const auto result = unpickle_text("(dp0\nS'i'\np1\nI42\nsS'l'\nL12345678901L\nsS'f'\nF1.5\n"
                                    "sS'b'\nI01\nsS'x'\n(lp2\nI1\naI2\nas.");
  const auto json = to_json(result.graph, result.graph.root);
  CHECK(json == nlohmann::json{{"i", 42}, {"l", 12345678901LL}, {"f", 1.5}, {"b", true}, {"x", {1, 2}}});
}

TEST_CASE("unpickler integers and memo") {
  // LONG1 of 9 bytes that still fits int64 (-1), BININT negative, memo reuse.
  const auto result = unpickle_text(std::string("\x80\x02(\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                                                "J\xfe\xff\xff\xff\x94h\x00l.",
                                                24));
  CHECK(to_json(result.graph, result.graph.root) == nlohmann::json{-1, -2, -2});
  CHECK(result.stop_offset == 24);
}

TEST_CASE("unpickler stops at the first STOP") {
  const auto result = unpickle_text("N.garbage");
  CHECK(result.stop_offset == 2);
}

TEST_CASE("unpickler cycles do not hang to_json") {
  // A list that appends itself.
  const auto result = unpickle_text(std::string("\x80\x02]q\x00h\x00" "a.", 9));
  const auto json = to_json(result.graph, result.graph.root);
  CHECK(json.is_array());
}

TEST_CASE("allow-list contents") {
  CHECK(is_allowed_global("collections", "OrderedDict"));
  CHECK(is_allowed_global("torch._utils", "_rebuild_tensor_v2"));
  CHECK(is_allowed_global("torch", "HalfStorage"));
  CHECK(is_allowed_global("torch", "bfloat16"));
  CHECK_FALSE(is_allowed_global("os", "system"));
  CHECK_FALSE(is_allowed_global("torch", "load"));
  CHECK_FALSE(is_allowed_global("torch._utils", "_rebuild_device_tensor_from_numpy"));
  CHECK_FALSE(is_allowed_global("collections", "OrderedDict.__init__"));
  CHECK(allowed_globals().size() == 17);
}

TEST_CASE("torch legacy real file layout") {
  const auto checkpoint =
    open_checkpoint(source_dir() / "tests/data/real/weights/akamaster_resnet20-12fca82f.th");
  REQUIRE(checkpoint.has_value());
  CHECK(checkpoint->format == Format::torch_legacy);
  CHECK(checkpoint->state_dict_path == "state_dict");
  CHECK(checkpoint->key_prefixes == std::vector<std::string>{"module."});
  CHECK(checkpoint->metadata["best_prec1"].is_number());
  for (const auto& tensor : checkpoint->tensors) {
    CHECK(tensor.offset >= checkpoint->header_bytes);
  }
}

TEST_CASE("torch zip reads only the directory and pickle") {
  // A source that fails any read past the pickle: building the table must not touch storages.
  class Guarded final : public ByteSource {
  public:
    Guarded(const FileSource& inner, std::uint64_t forbidden_begin, std::uint64_t forbidden_end)
      : m_inner(inner), m_begin(forbidden_begin), m_end(forbidden_end) {}
    std::uint64_t size() const override { return m_inner.size(); }
    const std::string& name() const override { return m_inner.name(); }
    timmd::proto::Result<void> read_at(std::uint64_t offset, std::span<std::byte> out) const override {
      // Local headers (30 bytes + name) are allowed, storage data is not.
      if (offset + out.size() > m_begin && offset < m_end && out.size() > 64) {
        return timmd::proto::make_error(timmd::proto::Errc::internal, "storage data was read");
      }
      return m_inner.read_at(offset, out);
    }

  private:
    const FileSource& m_inner;
    std::uint64_t m_begin;
    std::uint64_t m_end;
  };

  const auto path = source_dir() / "tests/data/real/format-edge/burn-store/large_shape.pt";
  auto file = FileSource::open(path);
  REQUIRE(file.has_value());
  const auto table = read_torch_zip(*file);
  REQUIRE(table.has_value());
  const auto& tensor = table->tensors.at(0);
  const Guarded guarded(*file, tensor.offset, tensor.offset + tensor.length);
  const auto again = read_torch_zip(guarded);
  CHECK_MESSAGE(again.has_value(), again.error());
}

TEST_CASE("torch legacy storage view") {
  const auto checkpoint = open_valid("legacy_view.pt");
  CHECK(checkpoint.format == Format::torch_legacy);
  REQUIRE(checkpoint.tensors.size() == 1);
  const auto& v = checkpoint.tensors[0];
  CHECK(v.storage == "root");
  CHECK(v.length == 8);
  CHECK(floats("legacy_view.pt", v) == std::vector<float>{2, 3});
}

TEST_CASE("fuzzer regressions stay fixed") {
  // Inputs that once crashed a fuzz target (tests/data/tensors/regressions/), replayed through
  // the same calls as the target.
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "tests/data/tensors/regressions")) {
    CAPTURE(entry.path().string());
    auto source = FileSource::open(entry.path());
    REQUIRE(source.has_value());
    (void)read_checkpoint(*source);
    const auto unpickled = unpickle(*source, 0, source->size());
    if (unpickled) {
      (void)to_json(unpickled->graph, unpickled->graph.root);
    }
  }
}
