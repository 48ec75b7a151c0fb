#include "daemon/server/served_checkpoint.hpp"

#include "daemon/remap/materialize.hpp"
#include "daemon/remap/remapper.hpp"
#include "daemon/server/cached_pretrained_cfg.hpp"
#include "daemon/store/digest.hpp"
#include "daemon/tensors/checkpoint.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

namespace timmd::server {
namespace {

using nlohmann::json;
using proto::Errc;

// Metadata keys of a derived safetensors file: the remap's key order and summary, so that a
// later hit serves the same result without recomputing.
constexpr const char* k_order_key = "timmd.order";
constexpr const char* k_summary_key = "timmd.summary";

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json read_config_json(const std::filesystem::path& blob) {
  if (blob.empty()) {
    return nullptr;
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(blob, ec);
  if (ec || size > k_max_config_json_size) {
    spdlog::warn("config.json blob {} is unreadable or larger than {} bytes; remapping without it", blob.string(),
                 k_max_config_json_size);
    return nullptr;
  }
  std::ifstream in(blob);
  auto parsed = json::parse(in, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    spdlog::warn("config.json blob {} is not a JSON object; remapping without it", blob.string());
    return nullptr;
  }
  return parsed;
}

json table_entry(const std::string& name, tensors::Dtype dtype, const std::vector<std::uint64_t>& shape,
                 std::uint64_t offset, std::uint64_t length) {
  return {{"name", name},
          {"dtype", tensors::safetensors_name(dtype)},
          {"shape", shape},
          {"offset", offset},
          {"length", length}};
}

void set_summary(ServedCheckpoint& served, const json& summary) {
  served.strict = summary.value("strict", true);
  served.missing_keys = summary.value("missing_keys", std::vector<std::string>{});
  served.unexpected_keys = summary.value("unexpected_keys", std::vector<std::string>{});
  served.notes = summary.value("notes", std::vector<std::string>{});
  served.family = summary.value("family", std::string("generic"));
  served.rules_version = summary.value("rules_version", std::string());
  served.architecture = summary.value("architecture", std::string());
  served.source_format = summary.value("source_format", std::string());
}

json summary_of(const ServedCheckpoint& served) {
  return {{"strict", served.strict},
          {"missing_keys", served.missing_keys},
          {"unexpected_keys", served.unexpected_keys},
          {"notes", served.notes},
          {"family", served.family},
          {"rules_version", served.rules_version},
          {"architecture", served.architecture},
          {"source_format", served.source_format}};
}

// Reads the table of a derived blob in the order recorded in its metadata. Returns nullopt when
// the file is not one timmd wrote, so that the caller materialises it again.
std::optional<ServedCheckpoint> read_derived(const std::filesystem::path& path, const std::string& sha256) {
  auto checkpoint = tensors::open_checkpoint(path);
  if (!checkpoint || checkpoint->format != tensors::Format::safetensors ||
      !checkpoint->metadata.contains(k_order_key) || !checkpoint->metadata.contains(k_summary_key)) {
    return std::nullopt;
  }
  const auto order = json::parse(checkpoint->metadata[k_order_key].get<std::string>(), nullptr, false);
  const auto summary = json::parse(checkpoint->metadata[k_summary_key].get<std::string>(), nullptr, false);
  if (!order.is_array() || !summary.is_object() || order.size() != checkpoint->tensors.size()) {
    return std::nullopt;
  }
  std::map<std::string, const tensors::TensorInfo*> by_name;
  for (const auto& info : checkpoint->tensors) {
    by_name[info.name] = &info;
  }
  ServedCheckpoint served;
  served.sha256 = sha256;
  served.path = path;
  served.derived = true;
  std::error_code ec;
  served.size = std::filesystem::file_size(path, ec);
  set_summary(served, summary);
  for (const auto& name : order) {
    const auto found = name.is_string() ? by_name.find(name.get<std::string>()) : by_name.end();
    if (found == by_name.end()) {
      return std::nullopt;
    }
    const auto& info = *found->second;
    served.tensors.push_back(table_entry(info.name, info.dtype, info.shape, info.offset, info.length));
  }
  return served;
}

std::string temporary_name(const std::string& key) {
  std::random_device random;
  std::ostringstream name;
  name << "derived-" << key.substr(0, 16) << "-" << std::hex << random() << ".safetensors";
  return name.str();
}

} // namespace

std::string derived_key(const ServeInputs& inputs) {
  // Every rule file's version counts: adding a file can change which one an architecture
  // selects.
  json rule_versions = json::array();
  if (inputs.rules) {
    for (const auto& file : inputs.rules->files()) {
      rule_versions.push_back(file.version);
    }
  }
  const json canonical = {{"engine", k_remap_engine_version},
                          {"weights", inputs.weights_sha256},
                          {"config", inputs.config_sha256},
                          {"registry_cfg", inputs.registry_cfg},
                          {"architecture", inputs.fallback_architecture},
                          {"filter", inputs.filter.canonical()},
                          {"rules", std::move(rule_versions)}};
  auto hasher = store::Hasher::sha256();
  hasher.update(std::string_view(canonical.dump()));
  return hasher.final_hex();
}

proto::Result<ServedCheckpoint> prepare_served_checkpoint(const ServeInputs& inputs, const std::string& key,
                                                          store::Index& index, const store::CacheLayout& layout,
                                                          const store::BlobStore& blobs) {
  if (auto known = index.find_derived(inputs.weights_sha256, key); known && *known && blobs.contains((*known)->derived_sha256)) {
    const auto& sha = (*known)->derived_sha256;
    if (auto served = read_derived(blobs.path(sha), sha)) {
      served->derived_from_cache = true;
      return *served;
    }
    spdlog::warn("derived blob {} for source {} is not a timmd remap output; materialising it again", sha,
                 inputs.weights_sha256);
  }

  auto source = tensors::FileSource::open(inputs.weights_blob);
  if (!source) {
    return source.error();
  }
  auto checkpoint = tensors::read_checkpoint(*source);
  if (!checkpoint) {
    return checkpoint.error();
  }
  const auto config = read_config_json(inputs.config_blob);
  const auto model = remap::ModelFacts::from_config(config, inputs.registry_cfg, inputs.fallback_architecture);
  const remap::RuleFile* rules = inputs.rules ? inputs.rules->select(model.architecture) : nullptr;
  auto result = remap::remap_state_dict({*checkpoint, *source, model, inputs.filter, rules});
  if (!result) {
    return result.error();
  }

  ServedCheckpoint served;
  served.source_format = std::string(tensors::to_string(checkpoint->format));
  served.architecture = model.architecture;
  served.family = result->family;
  served.rules_version = rules != nullptr ? rules->version : std::string();
  served.strict = result->strict;
  served.missing_keys = result->missing_keys;
  served.unexpected_keys = result->unexpected_keys;
  served.notes = result->notes;

  if (remap::servable_in_place(*result, *checkpoint)) {
    served.sha256 = inputs.weights_sha256;
    served.path = inputs.weights_blob;
    served.size = source->size();
    for (const auto& value : result->tensors) {
      served.tensors.push_back(table_entry(value.name, value.dtype, value.shape, remap::source_offset(value, *checkpoint),
                                           value.byte_length));
    }
    return served;
  }

  json order = json::array();
  for (const auto& value : result->tensors) {
    order.push_back(value.name);
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {k_order_key, order.dump()},
                                                       {k_summary_key, summary_of(served).dump()},
                                                       {"timmd.source", inputs.weights_sha256}};
  const auto tmp = layout.tmp_dir() / temporary_name(key);
  // NOTE: unlike a download, a derived blob gets no room check against max_cache_bytes and
  // min_free_bytes first, because this runs on the worker pool and SpacePolicy on the I/O
  // thread. A full disk still ends the open with `disk_full` and removes the temporary file.
  if (auto written = remap::write_remapped(tmp, *result, *checkpoint, *source, metadata); !written) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return written.error();
  }
  auto sha = store::hash_file(tmp, store::DigestKind::sha256);
  if (!sha) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return sha.error();
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(tmp, ec);
  if (auto published = blobs.publish(tmp, *sha); !published) {
    return published.error();
  }
  // Publish, then record: the index never names a file that is not there (invariant 2).
  const auto now = now_seconds();
  if (auto inserted = index.insert_blob({*sha, size, "", now, now, 0}); !inserted) {
    return inserted.error();
  }
  if (auto recorded = index.record_derived({inputs.weights_sha256, key, *sha, now}); !recorded) {
    return recorded.error();
  }
  auto derived = read_derived(blobs.path(*sha), *sha);
  if (!derived) {
    return proto::make_error(Errc::internal, "the derived blob " + *sha + " just written cannot be read back");
  }
  spdlog::info("materialised derived blob {} ({} bytes, {} tensors) from {} with the {} rules", *sha, size,
               result->tensors.size(), inputs.weights_sha256, served.family);
  return *derived;
}

} // namespace timmd::server
