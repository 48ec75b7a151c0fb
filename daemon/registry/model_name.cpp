#include "daemon/registry/model_name.hpp"

#include <algorithm>
#include <array>

namespace timmd::registry {
namespace {

constexpr std::size_t k_max_repo_part = 96;
constexpr std::size_t k_max_name_length = 512;
constexpr std::array<std::string_view, 2> k_hub_prefixes = {"hf-hub:", "hf_hub:"};

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

char to_lower_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) { return a == to_lower_ascii(b); });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_ascii_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_ascii_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::string check_repo_part(std::string_view part, std::string_view part_name) {
  if (part.empty() || part.size() > k_max_repo_part) {
    return std::string(part_name) + " must have 1 to 96 characters";
  }
  const bool valid_chars = std::all_of(part.begin(), part.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
  if (!valid_chars) {
    return std::string(part_name) + " may contain only letters, digits, '_', '-' and '.'";
  }
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.') {
    return std::string(part_name) + " must not start or end with '-' or '.'";
  }
  if (part.find("--") != std::string_view::npos || part.find("..") != std::string_view::npos) {
    return std::string(part_name) + " must not contain \"--\" or \"..\"";
  }
  return {};
}

proto::Error invalid_name(std::string_view text, const std::string& problem) {
  return proto::make_error(proto::Errc::invalid_request, "invalid model name '" + std::string(text) + "': " + problem,
                           {{"name", std::string(text)}});
}

// Splits off "@REVISION"; the revision keeps its case and may contain '/' (`refs/pr/1`).
proto::Result<std::optional<std::string>> split_revision(std::string_view original, std::string_view& body) {
  const auto at = body.find('@');
  if (at == std::string_view::npos) {
    return std::optional<std::string>{};
  }
  const auto revision = body.substr(at + 1);
  body = body.substr(0, at);
  if (revision.empty()) {
    return invalid_name(original, "the revision after '@' is empty; write NAME@REVISION or leave out the '@'");
  }
  if (revision.find('@') != std::string_view::npos) {
    return invalid_name(original, "it contains more than one '@'; write NAME@REVISION");
  }
  return std::optional<std::string>(std::string(revision));
}

proto::Result<ModelName> parse_hub_name(std::string_view original, std::string_view body) {
  auto revision = split_revision(original, body);
  if (!revision) {
    return revision.error();
  }
  if (const auto problem = check_repo_id(body); !problem.empty()) {
    return invalid_name(original, problem);
  }

  ModelName parsed;
  parsed.kind = NameKind::hub_repository;
  parsed.name = std::string(body);
  parsed.revision = std::move(*revision);
  return parsed;
}

} // namespace

std::string_view ModelName::arch() const {
  return std::string_view(name).substr(0, name.find('.'));
}

std::optional<std::string_view> ModelName::tag() const {
  const auto dot = name.find('.');
  if (dot == std::string::npos) {
    return std::nullopt;
  }
  return std::string_view(name).substr(dot + 1);
}

std::ostream& operator<<(std::ostream& os, const ModelName& name) {
  if (name.kind == NameKind::hub_repository) {
    os << "hf-hub:";
  }
  os << name.name;
  if (name.revision) {
    os << '@' << *name.revision;
  }
  return os;
}

std::string check_repo_id(std::string_view repo) {
  const auto slash = repo.find('/');
  if (slash == std::string_view::npos || repo.find('/', slash + 1) != std::string_view::npos) {
    return "a Hub repository id has the form ORG/REPO with exactly one '/'";
  }
  if (auto problem = check_repo_part(repo.substr(0, slash), "the organisation"); !problem.empty()) {
    return problem;
  }
  return check_repo_part(repo.substr(slash + 1), "the repository name");
}

bool is_timm_identifier(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

proto::Result<ModelName> parse_model_name(std::string_view text) {
  const auto body = trim(text);
  if (body.empty()) {
    return proto::make_error(proto::Errc::invalid_request,
                             "model name is empty; give a timm name such as 'resnet50.a1_in1k' or a "
                             "Hub repository such as 'hf-hub:timm/resnet50.a1_in1k'",
                             {{"name", std::string(text)}});
  }
  if (body.size() > k_max_name_length) {
    return invalid_name(body.substr(0, 64), "it is longer than 512 characters");
  }
  const auto bad = std::find_if(body.begin(), body.end(), [](char c) { return is_ascii_space(c) || is_control(c); });
  if (bad != body.end()) {
    return invalid_name(body, "it contains whitespace or a control character at position " +
                                  std::to_string(bad - body.begin() + 1) + "; remove it");
  }

  for (const auto prefix : k_hub_prefixes) {
    if (starts_with_ignoring_case(body, prefix)) {
      return parse_hub_name(body, body.substr(prefix.size()));
    }
  }
  const auto colon = body.find(':');
  if (colon != std::string_view::npos) {
    return invalid_name(body, "the scheme '" + std::string(body.substr(0, colon + 1)) +
                                  "' is not supported; timmd serves timm names and Hub repositories "
                                  "('hf-hub:ORG/REPO')");
  }
  // A revision may contain '/' (`refs/pr/1`), so only the part before '@' decides.
  if (body.substr(0, body.find('@')).find('/') != std::string_view::npos) {
    return parse_hub_name(body, body);
  }

  auto registry_name = body;
  auto revision = split_revision(body, registry_name);
  if (!revision) {
    return revision.error();
  }
  if (registry_name.empty()) {
    return invalid_name(body, "the name before '@' is empty");
  }

  ModelName parsed;
  parsed.kind = NameKind::registry;
  parsed.revision = std::move(*revision);
  parsed.name.reserve(registry_name.size());
  for (const char c : registry_name) {
    const char lower = to_lower_ascii(c);
    parsed.case_folded = parsed.case_folded || lower != c;
    parsed.name += lower;
  }
  return parsed;
}

} // namespace timmd::registry
