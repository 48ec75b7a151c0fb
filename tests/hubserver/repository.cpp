#include "tests/hubserver/repository.hpp"

#include "tests/hubserver/url.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace timmd::testhub {

namespace {

HeadStyle parse_head_style(const std::string& text) {
  if (text == "direct") {
    return HeadStyle::direct;
  }
  if (text == "relative") {
    return HeadStyle::relative;
  }
  if (text == "cdn") {
    return HeadStyle::cdn;
  }
  throw std::runtime_error("invalid head_style \"" + text + "\": expected direct, relative or cdn");
}

bool is_lower_hex(std::string_view text) {
  return std::ranges::all_of(text, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

} // namespace

RepoConfig RepoConfig::load(const std::filesystem::path& config_file) {
  RepoConfig config;
  std::ifstream input(config_file);
  if (!input) {
    return config;
  }

  nlohmann::ordered_json json;
  try {
    json = nlohmann::ordered_json::parse(input);
    config.is_private = json.value("private", false);
    config.gated = json.value("gated", false);
    config.disabled = json.value("disabled", false);
    config.renamed_to = json.value("renamed_to", "");
    if (json.contains("head_style")) {
      for (const auto& [glob, style] : json.at("head_style").items()) {
        config.head_styles.emplace_back(glob, parse_head_style(style.get<std::string>()));
      }
    }
    if (json.contains("refs")) {
      for (const auto& [name, directory] : json.at("refs").items()) {
        config.refs.emplace_back(name, config_file.parent_path() / directory.get<std::string>());
      }
    }
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error("invalid " + config_file.string() + ": " + error.what());
  }
  return config;
}

std::shared_ptr<const Commit> Repository::resolve(std::string_view revision) const {
  std::string name(revision);
  if (name == "HEAD") {
    name = "main";
  } else if (name.starts_with("refs/heads/")) {
    name = name.substr(11);
  } else if (name.starts_with("refs/tags/")) {
    name = name.substr(10);
  }
  if (const auto ref = refs.find(name); ref != refs.end()) {
    return commits.at(ref->second.commit);
  }

  if (revision.size() < 7 || revision.size() > 40 || !is_lower_hex(revision)) {
    return nullptr;
  }
  std::shared_ptr<const Commit> match;
  for (auto it = commits.lower_bound(std::string(revision));
       it != commits.end() && it->first.starts_with(revision); ++it) {
    if (match) {
      return nullptr; // an ambiguous prefix names no commit
    }
    match = it->second;
  }
  return match;
}

HeadStyle Repository::head_style(const RepoFile& file) const {
  for (const auto& [glob, style] : config.head_styles) {
    if (glob_match(glob, file.path)) {
      return style;
    }
  }
  return file.lfs ? HeadStyle::cdn : HeadStyle::relative;
}

std::pair<std::string, RefKind> classify_ref(std::string_view name) {
  if (name.starts_with("refs/pr/")) {
    return {std::string(name), RefKind::pull_request};
  }
  if (name.starts_with("refs/tags/")) {
    return {std::string(name.substr(10)), RefKind::tag};
  }
  if (name.starts_with("refs/heads/")) {
    return {std::string(name.substr(11)), RefKind::branch};
  }
  return {std::string(name), RefKind::branch};
}

} // namespace timmd::testhub
