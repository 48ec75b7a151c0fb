#include "daemon/server/weights_selection.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using timmd::server::is_weights_file;
using timmd::server::select_weights_files;

using Paths = std::vector<std::string>;

TEST_CASE("weights: safetensors preferred") {
  const Paths paths = {"README.md", "pytorch_model.bin", "model.safetensors", "config.json"};
  CHECK(select_weights_files(paths) == Paths{"config.json", "model.safetensors"});
}

TEST_CASE("weights: pytorch bin without safetensors") {
  const Paths paths = {"open_clip_pytorch_model.bin", "pytorch_model.bin", "config.json"};
  CHECK(select_weights_files(paths) == Paths{"config.json", "pytorch_model.bin"});
}

TEST_CASE("weights: open_clip bin last choice") {
  const Paths paths = {"open_clip_config.json", "open_clip_pytorch_model.bin"};
  CHECK(select_weights_files(paths) == Paths{"open_clip_pytorch_model.bin"});
}

TEST_CASE("weights: single top-level npz") {
  const Paths paths = {"config.json", "ViT-B_16.npz", "README.md"};
  CHECK(select_weights_files(paths) == Paths{"config.json", "ViT-B_16.npz"});
}

TEST_CASE("weights: two npz files ambiguous") {
  const Paths paths = {"config.json", "a.npz", "b.npz"};
  CHECK(select_weights_files(paths) == Paths{"config.json"});
}

TEST_CASE("weights: nested npz ignored") {
  const Paths paths = {"config.json", "extra/weights.npz"};
  CHECK(select_weights_files(paths) == Paths{"config.json"});
}

TEST_CASE("weights: nested preferred name ignored") {
  const Paths paths = {"config.json", "sub/model.safetensors", "sub/pytorch_model.bin"};
  CHECK(select_weights_files(paths) == Paths{"config.json"});
}

TEST_CASE("weights: safetensors wins over npz") {
  const Paths paths = {"model.npz", "model.safetensors"};
  CHECK(select_weights_files(paths) == Paths{"model.safetensors"});
}

TEST_CASE("weights: no config") {
  const Paths paths = {"model.safetensors"};
  CHECK(select_weights_files(paths) == Paths{"model.safetensors"});
}

TEST_CASE("weights: nothing to select") {
  CHECK(select_weights_files({}).empty());
  CHECK(select_weights_files({"README.md", ".gitattributes"}).empty());
}

TEST_CASE("weights: input order irrelevant") {
  const Paths forward = {"config.json", "model.safetensors", "pytorch_model.bin"};
  const Paths backward = {"pytorch_model.bin", "model.safetensors", "config.json"};
  CHECK(select_weights_files(forward) == select_weights_files(backward));
}

TEST_CASE("is_weights_file: known names") {
  CHECK(is_weights_file("model.safetensors"));
  CHECK(is_weights_file("pytorch_model.bin"));
  CHECK(is_weights_file("open_clip_pytorch_model.bin"));
  CHECK(is_weights_file("ViT-B_16.npz"));
}

TEST_CASE("is_weights_file: other files") {
  CHECK_FALSE(is_weights_file("config.json"));
  CHECK_FALSE(is_weights_file("sub/model.safetensors"));
  CHECK_FALSE(is_weights_file("sub/weights.npz"));
  CHECK_FALSE(is_weights_file("model.safetensors.index.json"));
  CHECK_FALSE(is_weights_file("tf_model.h5"));
}
