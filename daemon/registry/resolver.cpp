#include "daemon/registry/resolver.hpp"

#include "daemon/registry/model_name.hpp"
#include "daemon/registry/suggestions.hpp"

#include <utility>

namespace timmd::registry {
namespace {

void add_notice(Resolution& resolution, const std::string& text) {
  if (!resolution.notice) {
    resolution.notice = text;
  } else {
    *resolution.notice += " " + text;
  }
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) {
    text += (text.empty() ? "'" : ", '") + name + "'";
  }
  return text;
}

// Returns a not_found error whose message ends with the suggestions, then `next_step`.
proto::Error not_found(std::string message, std::string_view name, const std::vector<std::string>& suggestions,
                       nlohmann::json details = nlohmann::json::object(), const std::string& next_step = {}) {
  if (!suggestions.empty()) {
    message += "; did you mean " + quoted_list(suggestions) + "?";
  }
  if (!next_step.empty()) {
    message += (suggestions.empty() ? ". " : " ") + next_step;
  }
  details["name"] = std::string(name);
  details["suggestions"] = suggestions;
  return proto::make_error(proto::Errc::not_found, std::move(message), std::move(details));
}

class Resolver {
public:
  Resolver(const Registry& registry, const UserAliases& aliases, const ResolveOptions& options)
      : m_registry(registry), m_aliases(aliases), m_options(options) {}

  proto::Result<Resolution> resolve(std::string_view text, bool use_aliases) const {
    auto parsed = parse_model_name(text);
    if (!parsed) {
      return parsed.error();
    }
    auto resolution = parsed->kind == NameKind::hub_repository ? resolve_repository(*parsed)
                                                               : resolve_registry_name(*parsed, use_aliases);
    if (!resolution) {
      return resolution;
    }
    if (parsed->revision) {
      resolution->revision = std::move(parsed->revision);
    }
    if (parsed->case_folded) {
      add_notice(*resolution, "Read the name as '" + parsed->name + "' because timm names are lower case.");
    }
    return resolution;
  }

private:
  proto::Result<Resolution> resolve_repository(const ModelName& parsed) const {
    Resolution resolution;
    resolution.repo = parsed.name;
    resolution.resolved_by = ResolvedBy::hub_repository;

    const auto known = m_registry.find_hub_repository(parsed.name);
    if (!known) {
      resolution.name = "hf-hub:" + parsed.name;
      return resolution;
    }
    resolution.name = known->architecture->canonical_name(*known->record);
    resolution.revision = known->record->hf_hub_revision;
    resolution.file = known->record->hf_hub_filename;
    resolution.pretrained_cfg = known->record->pretrained_cfg;
    if (known->record->notice) {
      add_notice(resolution, *known->record->notice);
    }
    return resolution;
  }

  proto::Result<Resolution> resolve_registry_name(const ModelName& parsed, bool use_aliases) const {
    const std::string_view name = parsed.name;
    if (const auto* deprecation = m_registry.find_deprecation(name)) {
      return resolve_deprecation(*deprecation);
    }

    const auto tag = parsed.tag();
    const auto* arch = m_registry.find_architecture(parsed.arch());
    if (arch != nullptr) {
      if (!tag) {
        return serve(*arch, arch->default_record(), ResolvedBy::default_tag);
      }
      if (const auto* record = arch->find_tag(*tag)) {
        return serve(*arch, *record, ResolvedBy::direct);
      }
    }

    if (use_aliases) {
      if (const auto* target = m_aliases.find(name)) {
        return resolve_alias(name, *target);
      }
    }

    if (arch != nullptr && tag) {
      return resolve_unknown_tag(*arch, *tag);
    }

    auto message = "model name '" + parsed.name +
                   "' not found: no architecture, tag, deprecated name or alias in the "
                   "registry (timm " +
                   m_registry.timm_version() + ") has this name";
    const auto next_step = "A model from a newer timm can be requested by its Hub repository, '" +
                           (tag ? "hf-hub:timm/" + parsed.name : std::string("hf-hub:ORG/REPO")) + "'.";
    return not_found(std::move(message), name, suggest_names(m_registry, m_aliases, name), {}, next_step);
  }

  proto::Result<Resolution> resolve_deprecation(const Deprecation& deprecation) const {
    if (!deprecation.target) {
      return not_found("model name '" + deprecation.name + "' is withdrawn: " + deprecation.notice.value_or(""),
                       deprecation.name, {});
    }

    const std::string_view target = *deprecation.target;
    const auto dot = target.find('.');
    const auto* arch = m_registry.find_architecture(target.substr(0, dot));
    const auto* record = arch == nullptr                 ? nullptr
                         : dot == std::string_view::npos ? &arch->default_record()
                                                         : arch->find_tag(target.substr(dot + 1));
    if (record == nullptr) {
      return not_found("deprecated name '" + deprecation.name + "' points at '" + *deprecation.target +
                           "', which the registry does not list; this is a fault in the registry data, so "
                           "report it or correct it in an override file",
                       deprecation.name,
                       arch != nullptr ? suggest_tags(*arch, target.substr(dot + 1)) : std::vector<std::string>{});
    }

    auto resolution = serve(*arch, *record, ResolvedBy::deprecated_alias);
    if (!resolution) {
      auto error = resolution.error();
      error.message =
          "deprecated name '" + deprecation.name + "' maps to '" + *deprecation.target + "', but " + error.message;
      error.details["deprecated_name"] = deprecation.name;
      return error;
    }
    std::string notice;
    if (deprecation.notice) {
      notice = *deprecation.notice;
    } else {
      notice = "'" + deprecation.name + "' is deprecated; use '" + *deprecation.target + "' instead";
      if (dot == std::string_view::npos) {
        notice += " (default tag: '" + resolution->name + "')";
      }
      notice += ".";
    }
    if (resolution->notice) {
      notice += " " + *resolution->notice;
    }
    resolution->notice = std::move(notice);
    return resolution;
  }

  proto::Result<Resolution> resolve_alias(std::string_view alias, const std::string& target) const {
    auto resolution = resolve(target, false);
    if (!resolution) {
      auto error = resolution.error();
      error.message = "alias '" + std::string(alias) + "' (for '" + target + "') failed to resolve: " + error.message;
      error.details["alias"] = std::string(alias);
      return error;
    }
    resolution->resolved_by = ResolvedBy::user_alias;
    return resolution;
  }

  proto::Result<Resolution> resolve_unknown_tag(const Architecture& arch, std::string_view tag) const {
    auto suggestions = suggest_tags(arch, tag);
    const auto name = arch.name + "." + std::string(tag);
    if (!m_options.allow_unverified_tags || !is_timm_identifier(tag)) {
      return not_found("architecture '" + arch.name + "' has no tag '" + std::string(tag) + "' in the registry (timm " +
                           m_registry.timm_version() + ")",
                       name, suggestions);
    }

    Resolution resolution;
    resolution.name = name;
    resolution.repo = "timm/" + name;
    resolution.resolved_by = ResolvedBy::unverified_tag;
    resolution.notice = "Tag '" + std::string(tag) + "' of '" + arch.name + "' is not in the registry (timm " +
                        m_registry.timm_version() + "), so repository '" + resolution.repo +
                        "' is to be confirmed on the Hub.";
    if (!suggestions.empty()) {
      *resolution.notice += " Known tags: " + quoted_list(suggestions) + ".";
    }
    resolution.suggestions = std::move(suggestions);
    return resolution;
  }

  proto::Result<Resolution> serve(const Architecture& arch, const TagRecord& record, ResolvedBy resolved_by) const {
    const auto name = arch.canonical_name(record);
    if (!record.has_weights()) {
      if (!arch.has_pretrained()) {
        return not_found("architecture '" + arch.name + "' has no pretrained weights in timm " +
                             m_registry.timm_version() + "; timm can build it only with pretrained=False",
                         name, {});
      }
      return not_found("'" + name + "' has no pretrained weights in timm " + m_registry.timm_version() +
                           "; choose a tag that has weights",
                       name, suggest_tags(arch, record.tag));
    }
    if (!record.hf_hub_id) {
      return not_found("'" + name + "' has weights only at a direct URL (" + record.url.value_or("") +
                           "), not in a Hugging Face Hub repository, and timmd downloads only from the Hub",
                       name, {}, {{"url", record.url.value_or("")}});
    }

    Resolution resolution;
    resolution.name = name;
    resolution.repo = *record.hf_hub_id;
    resolution.revision = record.hf_hub_revision;
    resolution.resolved_by = resolved_by;
    resolution.notice = record.notice;
    resolution.file = record.hf_hub_filename;
    resolution.pretrained_cfg = record.pretrained_cfg;
    return resolution;
  }

  const Registry& m_registry;
  const UserAliases& m_aliases;
  const ResolveOptions& m_options;
};

} // namespace

proto::Result<Resolution> resolve(const Registry& registry, std::string_view name, const UserAliases& aliases,
                                  const ResolveOptions& options) {
  return Resolver(registry, aliases, options).resolve(name, true);
}

} // namespace timmd::registry
