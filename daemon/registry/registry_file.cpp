#include "daemon/registry/registry_file.hpp"

#include "daemon/registry/field_reader.hpp"
#include "daemon/registry/model_name.hpp"
#include "daemon/registry/registry_document.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>

namespace timmd::registry {
namespace {

constexpr int k_max_num_classes = 1 << 24;

// Fields of the upstream snapshot that timmd derives itself. They are accepted so the snapshot
// loads unchanged, and type-checked so that an override cannot misspell them.
constexpr std::string_view k_ignored_tag_flags[] = {"has_weights", "custom_url", "hf_hub_id_auto", "starred"};

// Walks one parsed file and merges it into a RegistryData.
class FileMerger {
public:
  FileMerger(const FieldReader& reader, RegistryData& data) : m_reader(reader), m_data(data) {}

  proto::Result<void> merge(const nlohmann::json& document) {
    const FieldPath root;
    if (auto ok = m_reader.object(document, root); !ok) {
      return ok;
    }
    for (const auto& [key, value] : document.items()) {
      const auto path = root.member(key);
      if (key == "source") {
        if (auto ok = merge_source(value, path); !ok) {
          return ok;
        }
      } else if (key != "architectures" && key != "deprecations" && key != "deprecation_modules" && key != "counts" &&
                 key != "notes" && key != "description") {
        return m_reader.error(path, "unknown section '" + key +
                                        "'; known sections are architectures, deprecations, "
                                        "deprecation_modules, source, counts, notes and description");
      }
    }

    // Deprecation modules refer to deprecations, which may come from the same file.
    for (const auto* section : {"architectures", "deprecations", "deprecation_modules"}) {
      if (!document.contains(section)) {
        continue;
      }
      const auto path = root.member(section);
      const auto& value = document[section];
      if (auto ok = m_reader.object(value, path); !ok) {
        return ok;
      }
      for (const auto& [name, entry] : value.items()) {
        proto::Result<void> ok;
        if (std::string_view(section) == "architectures") {
          ok = merge_architecture(name, entry, path.member(name));
        } else if (std::string_view(section) == "deprecations") {
          ok = merge_deprecation(name, entry, path.member(name));
        } else {
          ok = merge_deprecation_module(name, entry, path.member(name));
        }
        if (!ok) {
          return ok;
        }
      }
    }
    return {};
  }

private:
  proto::Result<void> merge_source(const nlohmann::json& value, const FieldPath& path) {
    if (auto ok = m_reader.object(value, path); !ok) {
      return ok;
    }
    for (const auto& [key, field] : value.items()) {
      auto text = m_reader.string(field, path.member(key));
      if (!text) {
        return text.error();
      }
      if (key == "version") {
        m_data.timm_version = std::move(*text);
      } else if (key == "commit") {
        m_data.timm_commit = std::move(*text);
      }
    }
    return {};
  }

  proto::Result<void> merge_architecture(const std::string& name, const nlohmann::json& value, const FieldPath& path) {
    if (!is_timm_identifier(name)) {
      return m_reader.error(path, "architecture name '" + name + "' may contain only a-z, 0-9 and '_'");
    }
    if (auto ok = m_reader.object(value, path); !ok) {
      return ok;
    }

    auto [slot, added] = m_data.architecture_index.try_emplace(name, m_data.architectures.size());
    if (added) {
      m_data.architectures.push_back(Architecture{name, {}, {}, {}, {}});
    }
    auto& arch = m_data.architectures[slot->second];

    std::optional<std::string> default_tag;
    for (const auto& [key, field] : value.items()) {
      const auto field_path = path.member(key);
      proto::Result<void> ok;
      if (key == "module") {
        ok = assign(m_reader.string(field, field_path), arch.module);
      } else if (key == "line") {
        ok = check(m_reader.integer(field, field_path, 0, std::numeric_limits<int>::max()));
      } else if (key == "has_pretrained") {
        ok = check(m_reader.boolean(field, field_path));
      } else if (key == "default_tag") {
        ok = assign(m_reader.string(field, field_path), default_tag.emplace());
      } else if (key == "reason") {
        ok = assign(m_reader.optional_string(field, field_path), arch.reason);
      } else if (key == "tags") {
        ok = merge_tags(arch, field, field_path);
      } else {
        ok = m_reader.error(field_path, "unknown field '" + key +
                                            "'; an architecture has module, line, default_tag, "
                                            "has_pretrained, reason and tags");
      }
      if (!ok) {
        return ok;
      }
    }

    if (arch.tags.empty()) {
      return m_reader.error(path, "architecture '" + name + "' lists no tags; add at least one record to 'tags'");
    }
    if (default_tag) {
      if (arch.find_tag(*default_tag) == nullptr) {
        return m_reader.error(path.member("default_tag"),
                              "default tag '" + *default_tag + "' is not among the tags of '" + name + "'");
      }
      arch.default_tag = std::move(*default_tag);
    } else if (added) {
      arch.default_tag = default_by_timm_rule(arch.tags).tag;
    }
    return {};
  }

  proto::Result<void> merge_tags(Architecture& arch, const nlohmann::json& value, const FieldPath& path) {
    if (!value.is_array()) {
      return m_reader.error(path, "expected a list of tag records, found " + std::string(value.type_name()));
    }
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const auto record_path = path.element(i);
      const auto& record = value[i];
      if (auto ok = m_reader.object(record, record_path); !ok) {
        return ok;
      }
      if (!record.contains("tag")) {
        return m_reader.error(record_path, "a tag record needs a 'tag' field (\"\" for the bare architecture)");
      }
      auto tag = m_reader.string(record["tag"], record_path.member("tag"));
      if (!tag) {
        return tag.error();
      }
      if (!tag->empty() && !is_timm_identifier(*tag)) {
        return m_reader.error(record_path.member("tag"), "tag '" + *tag + "' may contain only a-z, 0-9 and '_'");
      }
      if (!seen.insert(*tag).second) {
        return m_reader.error(record_path.member("tag"), "tag '" + *tag + "' appears twice in this list");
      }

      auto* existing = find_tag(arch, *tag);
      if (existing == nullptr) {
        arch.tags.push_back(TagRecord{});
        existing = &arch.tags.back();
        existing->tag = std::move(*tag);
      }
      if (auto ok = merge_tag_fields(record, *existing, record_path); !ok) {
        return ok;
      }
    }
    return {};
  }

  proto::Result<void> merge_tag_fields(const nlohmann::json& record, TagRecord& out, const FieldPath& path) {
    auto& cfg = out.pretrained_cfg;
    for (const auto& [key, value] : record.items()) {
      const auto field = path.member(key);
      proto::Result<void> ok;
      if (key == "tag") {
        continue;
      } else if (key == "hf_hub_id") {
        ok = merge_hub_id(value, field, out);
      } else if (key == "hf_hub_filename") {
        ok = assign(location(value, field), out.hf_hub_filename);
      } else if (key == "url") {
        ok = assign(location(value, field), out.url);
      } else if (key == "custom_load") {
        ok = assign(m_reader.boolean(value, field), out.custom_load);
      } else if (key == "notice") {
        ok = assign(m_reader.optional_string(value, field), out.notice);
      } else if (key == "reason") {
        ok = assign(m_reader.optional_string(value, field), out.reason);
      } else if (key == "num_classes") {
        ok = assign(m_reader.integer(value, field, 0, k_max_num_classes), cfg.num_classes);
      } else if (key == "input_size") {
        ok = assign(m_reader.sizes<3>(value, field), cfg.input_size);
      } else if (key == "test_input_size") {
        ok = assign(m_reader.optional_sizes<3>(value, field), cfg.test_input_size);
      } else if (key == "min_input_size") {
        ok = assign(m_reader.optional_sizes<3>(value, field), cfg.min_input_size);
      } else if (key == "fixed_input_size") {
        ok = assign(m_reader.boolean(value, field), cfg.fixed_input_size);
      } else if (key == "pool_size") {
        ok = assign(m_reader.optional_sizes<2>(value, field), cfg.pool_size);
      } else if (key == "crop_pct") {
        ok = assign(m_reader.positive_number(value, field), cfg.crop_pct);
      } else if (key == "test_crop_pct") {
        ok = assign(m_reader.optional_positive_number(value, field), cfg.test_crop_pct);
      } else if (key == "crop_mode") {
        ok = assign(m_reader.string(value, field), cfg.crop_mode);
      } else if (key == "interpolation") {
        ok = assign(m_reader.string(value, field), cfg.interpolation);
      } else if (key == "mean") {
        ok = assign(m_reader.numbers(value, field), cfg.mean);
      } else if (key == "std") {
        ok = assign(m_reader.numbers(value, field), cfg.std_dev);
      } else if (key == "first_conv") {
        ok = assign(m_reader.module_names(value, field), cfg.first_conv);
      } else if (key == "classifier") {
        ok = assign(m_reader.module_names(value, field), cfg.classifier);
      } else if (key == "license") {
        ok = assign(m_reader.optional_string(value, field), cfg.license);
      } else if (is_ignored_flag(key)) {
        ok = check(m_reader.boolean(value, field));
      } else {
        ok = m_reader.error(field,
                            "unknown field '" + key + "' in a tag record; config/registry/README.md lists the fields");
      }
      if (!ok) {
        return ok;
      }
    }
    return {};
  }

  // timm tests weight locations for truth, so an empty string means "no location", as null does
  // (the snapshot has one: vit_huge_patch14_clip_336.laion2b_ft_in1k).
  proto::Result<std::optional<std::string>> location(const nlohmann::json& value, const FieldPath& path) const {
    auto text = m_reader.optional_string(value, path);
    if (text && *text && (*text)->empty()) {
      text->reset();
    }
    return text;
  }

  proto::Result<void> merge_hub_id(const nlohmann::json& value, const FieldPath& path, TagRecord& out) {
    auto id = location(value, path);
    if (!id) {
      return id.error();
    }
    out.hf_hub_id.reset();
    out.hf_hub_revision.reset();
    if (!*id) {
      return {};
    }

    std::string_view repo = **id;
    const auto at = repo.find('@');
    if (at != std::string_view::npos) {
      if (at + 1 == repo.size()) {
        return m_reader.error(path, "the revision after '@' in hub id '" + **id + "' is empty");
      }
      out.hf_hub_revision = std::string(repo.substr(at + 1));
      repo = repo.substr(0, at);
    }
    if (const auto problem = check_repo_id(repo); !problem.empty()) {
      return m_reader.error(path, "invalid hub id '" + **id + "': " + problem);
    }
    out.hf_hub_id = std::string(repo);
    return {};
  }

  proto::Result<void> merge_deprecation(const std::string& name, const nlohmann::json& value, const FieldPath& path) {
    if (!is_timm_identifier(name)) {
      return m_reader.error(path, "deprecated name '" + name + "' may contain only a-z, 0-9 and '_'");
    }
    // A later entry replaces the earlier one as a whole, so that a notice written for an old
    // target never outlives it. Only the module is kept when the entry does not name one.
    auto& deprecation = m_data.deprecations[name];
    deprecation = Deprecation{name, std::nullopt, std::move(deprecation.module), std::nullopt, std::nullopt};

    if (value.is_string()) {
      return merge_target(value, path, deprecation);
    }
    if (!value.is_object()) {
      return m_reader.error(path, "expected a target name or an object with 'target', found " +
                                      std::string(value.type_name()));
    }
    if (!value.contains("target")) {
      return m_reader.error(path, "a deprecation object needs 'target' (a name, or null to withdraw the name)");
    }
    for (const auto& [key, field] : value.items()) {
      const auto field_path = path.member(key);
      proto::Result<void> ok;
      if (key == "target") {
        ok = merge_target(field, field_path, deprecation);
      } else if (key == "notice") {
        ok = assign(m_reader.optional_string(field, field_path), deprecation.notice);
      } else if (key == "reason") {
        ok = assign(m_reader.optional_string(field, field_path), deprecation.reason);
      } else if (key == "module") {
        ok = assign(m_reader.string(field, field_path), deprecation.module);
      } else {
        ok = m_reader.error(field_path,
                            "unknown field '" + key + "'; a deprecation has target, notice, module and reason");
      }
      if (!ok) {
        return ok;
      }
    }
    if (!deprecation.target && (!deprecation.notice || deprecation.notice->empty())) {
      return m_reader.error(path.member("notice"),
                            "a withdrawn name (target null) needs a 'notice' telling users what to use instead");
    }
    return {};
  }

  proto::Result<void> merge_target(const nlohmann::json& value, const FieldPath& path, Deprecation& deprecation) {
    auto target = m_reader.optional_string(value, path);
    if (!target) {
      return target.error();
    }
    if (*target) {
      const std::string_view text = **target;
      const auto dot = text.find('.');
      const bool valid = is_timm_identifier(text.substr(0, dot)) &&
                         (dot == std::string_view::npos || is_timm_identifier(text.substr(dot + 1)));
      if (!valid) {
        return m_reader.error(path, "target '" + **target + "' must be 'arch' or 'arch.tag' made of a-z, 0-9 and '_'");
      }
    }
    deprecation.target = std::move(*target);
    return {};
  }

  proto::Result<void> merge_deprecation_module(const std::string& name, const nlohmann::json& value,
                                               const FieldPath& path) {
    auto module = m_reader.string(value, path);
    if (!module) {
      return module.error();
    }
    const auto it = m_data.deprecations.find(name);
    if (it == m_data.deprecations.end()) {
      return m_reader.error(path, "'" + name + "' is not a deprecated name; add it to 'deprecations' first");
    }
    it->second.module = std::move(*module);
    return {};
  }

  static TagRecord* find_tag(Architecture& arch, std::string_view tag) {
    for (auto& record : arch.tags) {
      if (record.tag == tag) {
        return &record;
      }
    }
    return nullptr;
  }

  template <class T, class U> static proto::Result<void> assign(proto::Result<T> result, U& out) {
    if (!result) {
      return result.error();
    }
    out = std::move(*result);
    return {};
  }

  template <class T> static proto::Result<void> check(const proto::Result<T>& result) {
    if (!result) {
      return result.error();
    }
    return {};
  }

  static bool is_ignored_flag(std::string_view key) {
    for (const auto flag : k_ignored_tag_flags) {
      if (key == flag) {
        return true;
      }
    }
    return false;
  }

  const FieldReader& m_reader;
  RegistryData& m_data;
};

} // namespace

proto::Result<void> merge_registry_text(std::string_view text, std::string_view source_name, RegistryData& data) {
  auto document = parse_registry_document(text, source_name);
  if (!document) {
    return document.error();
  }
  const FieldReader reader(source_name, text);
  return FileMerger(reader, data).merge(*document);
}

proto::Result<void> merge_registry_file(const std::filesystem::path& path, RegistryData& data) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return registry_file_error(path.string(), "cannot open it; check that the file exists and is readable", {});
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return registry_file_error(path.string(), "reading it failed", {});
  }
  const auto text = std::move(buffer).str();
  return merge_registry_text(text, path.string(), data);
}

} // namespace timmd::registry
