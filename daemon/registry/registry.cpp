#include "daemon/registry/registry.hpp"

#include "daemon/registry/registry_file.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace timmd::registry {

const TagRecord* Architecture::find_tag(std::string_view tag) const {
  for (const auto& record : tags) {
    if (record.tag == tag) {
      return &record;
    }
  }
  return nullptr;
}

const TagRecord& Architecture::default_record() const {
  return *find_tag(default_tag);
}

bool Architecture::has_pretrained() const {
  for (const auto& record : tags) {
    if (record.has_weights()) {
      return true;
    }
  }
  return false;
}

std::string Architecture::canonical_name(const TagRecord& record) const {
  return record.tag.empty() ? name : name + "." + record.tag;
}

const TagRecord& default_by_timm_rule(const std::vector<TagRecord>& tags) {
  for (const auto& record : tags) {
    if (record.has_weights() && record.tag.empty()) {
      return record;
    }
  }
  for (const auto& record : tags) {
    if (record.has_weights()) {
      return record;
    }
  }
  return tags.front();
}

proto::Result<std::shared_ptr<const Registry>> Registry::load(const std::vector<std::filesystem::path>& files) {
  if (files.empty()) {
    return proto::make_error(proto::Errc::invalid_request,
                             "no registry files given; pass at least config/registry/timm-registry.json");
  }
  const auto start = std::chrono::steady_clock::now();

  RegistryData data;
  for (const auto& file : files) {
    if (auto merged = merge_registry_file(file, data); !merged) {
      return merged.error();
    }
  }
  std::shared_ptr<const Registry> registry(new Registry(std::move(data), files));

  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  spdlog::info("registry: loaded {} architectures, {} tags and {} deprecated names (timm {}) from {} files in "
               "{:.1f} ms",
               registry->architectures().size(), registry->tag_count(), registry->deprecations().size(),
               registry->timm_version(), files.size(), elapsed.count());
  for (const auto& problem : registry->unresolved_deprecations()) {
    spdlog::warn("registry: {}", problem);
  }
  return registry;
}

Registry::Registry(RegistryData data, std::vector<std::filesystem::path> files)
    : m_data(std::move(data)), m_files(std::move(files)) {
  m_known_names.reserve(m_data.architectures.size() + m_data.deprecations.size());

  for (const auto& arch : m_data.architectures) {
    m_known_names.push_back({arch.name, arch.name, CharacterSet(arch.name)});
    m_tag_count += arch.tags.size();
    for (const auto& record : arch.tags) {
      if (!record.hf_hub_id) {
        continue;
      }
      const HubRecord entry{&arch, &record};
      const std::string_view repo = *record.hf_hub_id;
      const bool named_after_record = repo.substr(repo.find('/') + 1) == arch.canonical_name(record);
      auto [slot, added] = m_hub_index.try_emplace(*record.hf_hub_id, entry);
      if (!added && named_after_record) {
        slot->second = entry;
      }
    }
  }

  for (const auto& [name, deprecation] : m_data.deprecations) {
    if (!deprecation.target) {
      continue;
    }
    const std::string_view target = *deprecation.target;
    const auto dot = target.find('.');
    const auto* arch = find_architecture(target.substr(0, dot));
    const bool resolved = arch != nullptr && (dot == std::string_view::npos || arch->find_tag(target.substr(dot + 1)));
    if (!resolved) {
      m_unresolved.push_back("deprecated name '" + name + "' points at '" + *deprecation.target +
                             "', which the registry does not list; correct it in an override file");
      continue;
    }
    m_known_names.push_back({name, *deprecation.target, CharacterSet(name)});
  }
}

const Architecture* Registry::find_architecture(std::string_view name) const {
  const auto it = m_data.architecture_index.find(name);
  return it == m_data.architecture_index.end() ? nullptr : &m_data.architectures[it->second];
}

const Deprecation* Registry::find_deprecation(std::string_view name) const {
  const auto it = m_data.deprecations.find(name);
  return it == m_data.deprecations.end() ? nullptr : &it->second;
}

std::optional<Registry::HubRecord> Registry::find_hub_repository(std::string_view repo) const {
  const auto it = m_hub_index.find(repo);
  if (it == m_hub_index.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<std::filesystem::path> bundled_registry_files(const std::filesystem::path& registry_dir) {
  return {registry_dir / "timm-registry.json", registry_dir / "overrides.json"};
}

} // namespace timmd::registry
