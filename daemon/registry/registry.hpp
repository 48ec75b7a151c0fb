// The timm model registry: architectures, their pretrained tags and deprecated names, loaded
// from JSON files (config/registry/README.md describes the fields).
#pragma once

#include "daemon/registry/edit_distance.hpp"
#include "daemon/registry/pretrained_cfg.hpp"
#include "proto/error.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace timmd::registry {

// One pretrained weight of an architecture (timm's `arch.tag` cfg entry).
struct TagRecord {
  std::string tag;                            // "" for a bare `arch` entry
  std::optional<std::string> hf_hub_id;       // ORG/REPO
  std::optional<std::string> hf_hub_revision; // from an `ORG/REPO@REVISION` hub id
  std::optional<std::string> hf_hub_filename; // weights file inside the repository
  std::optional<std::string> url;             // legacy direct download
  bool custom_load = false;                   // original JAX .npz weights
  std::optional<std::string> notice;          // shown with every resolution to this record
  std::optional<std::string> reason;          // why an override file changed the record
  PretrainedCfg pretrained_cfg;

  // True when any weight location is set, as timm's registry decides it.
  bool has_weights() const { return hf_hub_id || hf_hub_filename || url; }
};

struct Architecture {
  std::string name;
  std::string module; // file stem under timm/models/
  std::string default_tag;
  std::vector<TagRecord> tags; // in the order the registry lists them
  std::optional<std::string> reason;

  // Returns nullptr when the architecture has no such tag.
  const TagRecord* find_tag(std::string_view tag) const;
  // The record of default_tag. Registry::load guarantees that it exists.
  const TagRecord& default_record() const;
  bool has_pretrained() const;
  // `arch.tag`, or `arch` for the bare entry whose tag is "".
  std::string canonical_name(const TagRecord& record) const;
};

// Returns the tag timm's generate_default_cfgs would make the default: the first record with
// weights and an empty tag, else the first record with weights, else the first record.
// REQUIRES: `tags` is not empty.
const TagRecord& default_by_timm_rule(const std::vector<TagRecord>& tags);

// A name timm still accepts but maps to a newer one.
struct Deprecation {
  std::string name;
  // `arch.tag` or a bare `arch`; nullopt when an override withdrew the name (then `notice`
  // explains why and what to use instead).
  std::optional<std::string> target;
  std::string module;
  std::optional<std::string> notice; // replaces the generated deprecation notice
  std::optional<std::string> reason;
};

// Hash for unordered maps keyed by std::string that are looked up with std::string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

// The merged contents of registry files before indexing. registry_file.hpp fills it.
struct RegistryData {
  std::vector<Architecture> architectures;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> architecture_index;
  std::map<std::string, Deprecation, std::less<>> deprecations;
  std::string timm_version = "unknown";
  std::string timm_commit;
};

// A name users may type, with the name to suggest for it (deprecated names suggest their
// target) and its character set for the suggestion filter. Views point into the Registry
// that returned them.
struct KnownName {
  std::string_view name;
  std::string_view suggestion;
  CharacterSet characters;
};

// Immutable after load, so one instance may be shared by any number of threads. Pointers and
// references it returns live as long as the Registry.
class Registry {
public:
  // Loads `files` in order; each later file adds entries or overrides those of earlier ones
  // (see merge_registry_file). On any error (unreadable file, invalid JSON, a field of the
  // wrong type or value) returns `invalid_request` naming the file, line, column and field.
  // Nothing is loaded then, so a caller keeps using the registry it has.
  static proto::Result<std::shared_ptr<const Registry>> load(const std::vector<std::filesystem::path>& files);

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Lookups take normalised (lower-case) names; each returns nullptr on a miss.
  const Architecture* find_architecture(std::string_view name) const;
  const Deprecation* find_deprecation(std::string_view name) const;

  struct HubRecord {
    const Architecture* architecture = nullptr;
    const TagRecord* record = nullptr;
  };
  // Finds the record whose hf_hub_id is `repo` (exact match). Where several records share a
  // repository (timm's `*_clip_quickgelu_*` copies), prefers the one named `ORG/arch.tag`.
  std::optional<HubRecord> find_hub_repository(std::string_view repo) const;

  const std::vector<Architecture>& architectures() const { return m_data.architectures; }
  const std::map<std::string, Deprecation, std::less<>>& deprecations() const { return m_data.deprecations; }
  const std::vector<KnownName>& known_names() const { return m_known_names; }
  // One message per deprecated name whose target the registry does not list.
  const std::vector<std::string>& unresolved_deprecations() const { return m_unresolved; }
  const std::string& timm_version() const { return m_data.timm_version; }
  const std::vector<std::filesystem::path>& files() const { return m_files; }
  std::size_t tag_count() const { return m_tag_count; }

private:
  Registry(RegistryData data, std::vector<std::filesystem::path> files);

  RegistryData m_data;
  std::vector<std::filesystem::path> m_files;
  std::unordered_map<std::string_view, HubRecord> m_hub_index;
  std::vector<KnownName> m_known_names;
  std::vector<std::string> m_unresolved;
  std::size_t m_tag_count = 0;
};

// The files shipped in config/registry/, in load order: timm's data, then the project's
// corrections. Files from the configuration go after these.
std::vector<std::filesystem::path> bundled_registry_files(const std::filesystem::path& registry_dir);

} // namespace timmd::registry
