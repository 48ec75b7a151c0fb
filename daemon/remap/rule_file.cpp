#include "daemon/remap/rule_file.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <array>
#include <fnmatch.h>
#include <fstream>
#include <limits>
#include <type_traits>
#include <map>
#include <set>
#include <sstream>

namespace timmd::remap {
namespace {

using nlohmann::json;
using proto::Errc;

constexpr std::size_t k_max_rule_file_bytes = 4U << 20U;
constexpr int k_max_branch_depth = 16;

template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type {};

// Whether `value` converts to T exactly: nlohmann_json would cast 1e300 or -1 to an unsigned
// integer without complaint.
template <class T> bool has_type(const json& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return value.is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    return value.is_boolean();
  } else if constexpr (std::is_floating_point_v<T>) {
    return value.is_number();
  } else if constexpr (std::is_unsigned_v<T>) {
    return value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
  } else if constexpr (std::is_integral_v<T>) {
    return value.is_number_integer() && !(value.is_number_unsigned() && value.get<std::uint64_t>() >
                                                                          static_cast<std::uint64_t>(
                                                                              std::numeric_limits<T>::max()));
  } else {
    static_assert(IsVector<T>::value);
    return value.is_array() && std::all_of(value.begin(), value.end(),
                                           [](const json& item) { return has_type<typename T::value_type>(item); });
  }
}

class StepParser {
public:
  explicit StepParser(const std::string& file) : m_file(file) {}

  proto::Result<std::vector<Step>> steps(const json& list, const std::string& where, int depth) {
    if (!list.is_array()) {
      return error(where, "", "must be a list of steps");
    }
    if (depth > k_max_branch_depth) {
      return error(where, "", "nests 'if' steps deeper than " + std::to_string(k_max_branch_depth));
    }
    std::vector<Step> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto step = parse_step(list[i], where + (where.empty() ? "" : " ") + "step " + std::to_string(i), depth);
      if (!step) {
        return step.error();
      }
      out.push_back(std::move(*step));
    }
    return out;
  }

  proto::Result<Condition> condition(const json& value, const std::string& where) {
    if (!value.is_object() || value.size() != 1) {
      return error(where, "when", "must be an object with one of has_key, has_match, target_has, model_arg, all, "
                                  "any, not");
    }
    // Copied out of the iterator: a structured binding of items() refers into a temporary.
    const auto first = value.begin();
    const std::string kind = first.key();
    const json& argument = first.value();
    Condition condition;
    static const std::map<std::string, Condition::Kind> kinds = {
        {"has_key", Condition::Kind::has_key},     {"has_match", Condition::Kind::has_match},
        {"target_has", Condition::Kind::target_has}, {"model_arg", Condition::Kind::model_arg},
        {"all", Condition::Kind::all},             {"any", Condition::Kind::any},
        {"not", Condition::Kind::negation}};
    const auto found = kinds.find(kind);
    if (found == kinds.end()) {
      return error(where, "when", "has the unknown test '" + kind + "'");
    }
    condition.kind = found->second;
    if (condition.kind == Condition::Kind::all || condition.kind == Condition::Kind::any ||
        condition.kind == Condition::Kind::negation) {
      const json list = condition.kind == Condition::Kind::negation ? json::array({argument}) : argument;
      if (!list.is_array() || list.empty()) {
        return error(where, "when." + kind, "must be a non-empty list of tests");
      }
      for (const auto& child : list) {
        auto parsed = this->condition(child, where);
        if (!parsed) {
          return parsed.error();
        }
        condition.children.push_back(std::move(*parsed));
      }
      return condition;
    }
    if (!argument.is_string() || argument.get<std::string>().empty()) {
      return error(where, "when." + kind, "must be a non-empty string");
    }
    if (condition.kind == Condition::Kind::has_match) {
      auto regex = PythonRegex::compile(argument.get<std::string>());
      if (!regex) {
        return error(where, "when.has_match", regex.error().message);
      }
      condition.regex = std::move(*regex);
    } else {
      condition.key = argument.get<std::string>();
    }
    return condition;
  }

private:
  proto::Error error(const std::string& where, const std::string& field, const std::string& what) const {
    const auto location = m_file + (where.empty() ? "" : " " + where) + (field.empty() ? "" : " field '" + field + "'");
    return proto::make_error(Errc::invalid_request, "remap rules " + location + ": " + what,
                             {{"file", m_file}, {"step", where}, {"field", field}});
  }

  // Reads an optional field with the expected JSON type, reporting a wrong type.
  template <class T> proto::Result<std::optional<T>> field(const json& step, const std::string& where,
                                                           const std::string& name, bool required = false) {
    if (!step.contains(name) || step[name].is_null()) {
      if (required) {
        return error(where, name, "is required");
      }
      return std::optional<T>();
    }
    if (!has_type<T>(step[name])) {
      return error(where, name, "has the wrong type: " + step[name].dump());
    }
    return std::optional<T>(step[name].get<T>());
  }

  proto::Result<PythonRegex> regex_field(const json& step, const std::string& where, const std::string& name) {
    auto text = field<std::string>(step, where, name, true);
    if (!text) {
      return text.error();
    }
    auto regex = PythonRegex::compile(**text);
    if (!regex) {
      return error(where, name, regex.error().message);
    }
    return regex;
  }

  proto::Result<void> check_templates(const Step& step, const std::vector<std::string>& templates,
                                      const std::string& where, const std::string& name) {
    for (const auto& text : templates) {
      if (auto checked = step.pattern->check_template(text); !checked) {
        return error(where, name, checked.error().message);
      }
    }
    return {};
  }

  proto::Result<Step> parse_step(const json& value, const std::string& where, int depth);

  const std::string& m_file;
};

// Fields each op accepts besides "op" and "when"; anything else is a typo worth reporting.
const std::map<std::string, std::set<std::string>>& known_fields() {
  static const std::map<std::string, std::set<std::string>> fields = {
      {"unwrap", {"prefixes"}},
      {"take_prefix", {"prefix"}},
      {"add_prefix", {"prefix"}},
      {"replace", {"from", "to", "match"}},
      {"rename", {"pattern", "to", "count"}},
      {"drop", {"pattern", "keys"}},
      {"reshape", {"pattern", "shape"}},
      {"unsqueeze", {"pattern", "dim"}},
      {"flatten", {"pattern", "dim"}},
      {"unstack", {"pattern", "dim", "to"}},
      {"permute", {"pattern", "dims"}},
      {"split", {"pattern", "dim", "into"}},
      {"concat", {"pattern", "parts", "to", "dim"}},
      {"slice", {"pattern", "dim", "start", "end"}},
      {"resize_pos_embed", {"key", "patch_key", "prefix_token_keys", "prefix_tokens", "no_embed_class_arg",
                            "interpolation", "antialias"}},
      {"resize_rel_pos_table", {"pattern", "patch_key"}},
      {"zeros", {"key", "shape", "dtype"}},
      {"add", {"key", "other", "other_dim", "other_start", "other_end"}},
      {"map", {"pattern", "function", "mul", "add"}},
      {"if", {"then", "else"}},
  };
  return fields;
}

proto::Result<Step> StepParser::parse_step(const json& value, const std::string& where, int depth) {
  if (!value.is_object() || !value.contains("op") || !value["op"].is_string()) {
    return error(where, "op", "every step is an object with a string 'op'");
  }
  const auto op = value["op"].get<std::string>();
  const auto& fields = known_fields();
  const auto allowed = fields.find(op);
  if (allowed == fields.end()) {
    std::string names;
    for (const auto& [name, unused] : fields) {
      names += (names.empty() ? "" : ", ") + name;
    }
    return error(where, "op", "'" + op + "' is not an operation; the operations are " + names);
  }
  const auto at = where + " (" + op + ")";
  for (const auto& [name, unused] : value.items()) {
    if (name != "op" && name != "when" && !allowed->second.contains(name)) {
      return error(at, name, "is not a field of '" + op + "'");
    }
  }

  Step step;
  step.where = m_file + " " + at;
  if (value.contains("when")) {
    auto when = condition(value["when"], at);
    if (!when) {
      return when.error();
    }
    step.when = std::move(*when);
  }
  const bool takes_pattern = allowed->second.contains("pattern");
  if (takes_pattern && (value.contains("pattern") || op != "drop")) {
    auto pattern = regex_field(value, at, "pattern");
    if (!pattern) {
      return pattern.error();
    }
    step.pattern = std::move(*pattern);
  }

#define TIMMD_FIELD(var, type, name, required)                                                                         \
  auto var = field<type>(value, at, name, required);                                                                   \
  if (!var) {                                                                                                          \
    return var.error();                                                                                                \
  }

  if (op == "unwrap") {
    step.kind = Step::Kind::unwrap;
    TIMMD_FIELD(prefixes, std::vector<std::string>, "prefixes", true)
    step.prefixes = **prefixes;
  } else if (op == "take_prefix" || op == "add_prefix") {
    step.kind = op == "take_prefix" ? Step::Kind::take_prefix : Step::Kind::add_prefix;
    TIMMD_FIELD(prefix, std::string, "prefix", true)
    step.prefix = **prefix;
    if (step.prefix.empty()) {
      return error(at, "prefix", "must not be empty");
    }
  } else if (op == "replace") {
    step.kind = Step::Kind::replace;
    TIMMD_FIELD(from, std::string, "from", true)
    TIMMD_FIELD(to, std::string, "to", true)
    step.from = **from;
    step.to = **to;
    if (step.from.empty()) {
      return error(at, "from", "must not be empty");
    }
    if (value.contains("match")) {
      auto match = regex_field(value, at, "match");
      if (!match) {
        return match.error();
      }
      step.pattern = std::move(*match);
    }
  } else if (op == "rename") {
    step.kind = Step::Kind::rename;
    TIMMD_FIELD(to, std::string, "to", true)
    TIMMD_FIELD(count, int, "count", false)
    step.to = **to;
    step.count = count->value_or(0);
    if (auto checked = check_templates(step, {step.to}, at, "to"); !checked) {
      return checked.error();
    }
  } else if (op == "drop") {
    step.kind = Step::Kind::drop;
    TIMMD_FIELD(keys, std::vector<std::string>, "keys", false)
    step.keys = keys->value_or(std::vector<std::string>{});
    if (!step.pattern && step.keys.empty()) {
      return error(at, "pattern", "'drop' needs a pattern or a list of keys");
    }
  } else if (op == "reshape") {
    step.kind = Step::Kind::reshape;
    if (value.contains("shape") && value["shape"] == "target") {
      step.shape_from_target = true;
    } else {
      TIMMD_FIELD(shape, std::vector<std::int64_t>, "shape", true)
      step.shape = **shape;
      if (std::count(step.shape.begin(), step.shape.end(), -1) > 1 ||
          std::any_of(step.shape.begin(), step.shape.end(), [](auto e) { return e < -1; })) {
        return error(at, "shape", "takes non-negative extents and at most one -1, or \"target\"");
      }
    }
  } else if (op == "unsqueeze" || op == "flatten") {
    step.kind = op == "unsqueeze" ? Step::Kind::unsqueeze : Step::Kind::flatten;
    TIMMD_FIELD(dim, std::size_t, "dim", true)
    step.dim = **dim;
  } else if (op == "unstack") {
    step.kind = Step::Kind::unstack;
    TIMMD_FIELD(dim, std::size_t, "dim", false)
    TIMMD_FIELD(to, std::string, "to", true)
    step.dim = dim->value_or(0);
    step.to = **to;
    if (step.to.find("{i}") == std::string::npos) {
      return error(at, "to", "must contain {i}, the index along the unstacked dimension");
    }
    if (auto checked = check_templates(step, {step.to}, at, "to"); !checked) {
      return checked.error();
    }
  } else if (op == "permute") {
    step.kind = Step::Kind::permute;
    TIMMD_FIELD(dims, std::vector<std::size_t>, "dims", true)
    step.dims = **dims;
    auto sorted = step.dims;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] != i) {
        return error(at, "dims", "must be a permutation of 0..N-1");
      }
    }
  } else if (op == "split" || op == "concat") {
    step.kind = op == "split" ? Step::Kind::split : Step::Kind::concat;
    TIMMD_FIELD(dim, std::size_t, "dim", false)
    step.dim = dim->value_or(0);
    if (op == "split") {
      TIMMD_FIELD(into, std::vector<std::string>, "into", true)
      step.into = **into;
      if (step.into.size() < 2) {
        return error(at, "into", "needs at least two names (\"\" discards a chunk)");
      }
      if (auto checked = check_templates(step, step.into, at, "into"); !checked) {
        return checked.error();
      }
    } else {
      TIMMD_FIELD(parts, std::vector<std::string>, "parts", true)
      TIMMD_FIELD(to, std::string, "to", true)
      step.parts = **parts;
      step.to = **to;
      if (step.parts.size() < 2) {
        return error(at, "parts", "needs at least two tensors to join");
      }
      auto templates = step.parts;
      templates.push_back(step.to);
      if (auto checked = check_templates(step, templates, at, "parts"); !checked) {
        return checked.error();
      }
    }
  } else if (op == "slice") {
    step.kind = Step::Kind::slice;
    TIMMD_FIELD(dim, std::size_t, "dim", true)
    TIMMD_FIELD(start, std::int64_t, "start", false)
    TIMMD_FIELD(end, std::int64_t, "end", false)
    step.dim = **dim;
    step.start = start->value_or(0);
    step.end = *end;
  } else if (op == "resize_pos_embed") {
    step.kind = Step::Kind::resize_pos_embed;
    TIMMD_FIELD(key, std::string, "key", true)
    TIMMD_FIELD(patch_key, std::string, "patch_key", true)
    TIMMD_FIELD(token_keys, std::vector<std::string>, "prefix_token_keys", false)
    TIMMD_FIELD(tokens, std::uint64_t, "prefix_tokens", false)
    TIMMD_FIELD(no_embed_class, std::string, "no_embed_class_arg", false)
    TIMMD_FIELD(interpolation, std::string, "interpolation", false)
    TIMMD_FIELD(antialias, bool, "antialias", false)
    step.key = **key;
    step.patch_key = **patch_key;
    step.prefix_token_keys = token_keys->value_or(std::vector<std::string>{});
    step.prefix_tokens = *tokens;
    step.no_embed_class_arg = no_embed_class->value_or("");
    const auto mode = interpolation->value_or("bicubic");
    if (mode != "bicubic" && mode != "bilinear") {
      return error(at, "interpolation", "must be \"bicubic\" or \"bilinear\", not \"" + mode + "\"");
    }
    step.interpolation = mode == "bicubic" ? Interpolation::bicubic : Interpolation::bilinear;
    step.antialias = antialias->value_or(true);
  } else if (op == "resize_rel_pos_table") {
    step.kind = Step::Kind::resize_rel_pos_table;
    TIMMD_FIELD(patch_key, std::string, "patch_key", false)
    step.patch_key = patch_key->value_or("");
  } else if (op == "zeros") {
    step.kind = Step::Kind::zeros;
    TIMMD_FIELD(key, std::string, "key", true)
    TIMMD_FIELD(dtype_name, std::string, "dtype", false)
    step.key = **key;
    const auto dtype = tensors::dtype_from_safetensors(dtype_name->value_or("F32"));
    if (!dtype) {
      return error(at, "dtype", "must be a safetensors dtype name such as \"F32\"");
    }
    step.dtype = *dtype;
    if (!value.contains("shape") || !value["shape"].is_array()) {
      return error(at, "shape", "must be a list of extents: integers or {\"of\": KEY, \"dim\": N}");
    }
    for (const auto& extent : value["shape"]) {
      ExtentSpec spec;
      if (extent.is_number_unsigned()) {
        spec.literal = extent.get<std::uint64_t>();
      } else if (extent.is_object() && extent.contains("of") && extent["of"].is_string() && extent.contains("dim") &&
                 extent["dim"].is_number_unsigned()) {
        spec.of = extent["of"].get<std::string>();
        spec.dim = extent["dim"].get<std::size_t>();
      } else {
        return error(at, "shape", "has the extent " + extent.dump() + "; use an integer or {\"of\": KEY, \"dim\": N}");
      }
      step.zeros_shape.push_back(std::move(spec));
    }
  } else if (op == "add") {
    step.kind = Step::Kind::add;
    TIMMD_FIELD(key, std::string, "key", true)
    TIMMD_FIELD(other, std::string, "other", true)
    TIMMD_FIELD(dim, std::size_t, "other_dim", false)
    TIMMD_FIELD(start, std::int64_t, "other_start", false)
    TIMMD_FIELD(end, std::int64_t, "other_end", false)
    step.key = **key;
    step.other = **other;
    step.dim = dim->value_or(0);
    step.other_start = *start;
    step.other_end = *end;
  } else if (op == "map") {
    step.kind = Step::Kind::map;
    TIMMD_FIELD(function, std::string, "function", true)
    TIMMD_FIELD(mul, double, "mul", false)
    TIMMD_FIELD(offset, double, "add", false)
    static const std::set<std::string> functions = {"identity", "abs", "neg", "log", "exp", "reciprocal"};
    if (!functions.contains(**function)) {
      return error(at, "function", "must be one of identity, abs, neg, log, exp, reciprocal");
    }
    step.function = **function;
    for (const auto& [value_name, number] : {std::pair{"mul", mul->value_or(1.0)}, std::pair{"add", offset->value_or(0.0)}}) {
      if (!std::isfinite(number) || std::fabs(number) > static_cast<double>(std::numeric_limits<float>::max())) {
        return error(at, value_name, "must be a finite float32 value");
      }
    }
    step.mul = static_cast<float>(mul->value_or(1.0));
    step.offset = static_cast<float>(offset->value_or(0.0));
  } else {
    step.kind = Step::Kind::branch;
    if (!step.when) {
      return error(at, "when", "an 'if' step needs a 'when' test");
    }
    auto then_steps = steps(value.contains("then") ? value["then"] : json::array(), at + " then", depth + 1);
    if (!then_steps) {
      return then_steps.error();
    }
    auto else_steps = steps(value.contains("else") ? value["else"] : json::array(), at + " else", depth + 1);
    if (!else_steps) {
      return else_steps.error();
    }
    step.then_steps = std::move(*then_steps);
    step.else_steps = std::move(*else_steps);
  }
#undef TIMMD_FIELD
  return step;
}

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += k_hex[digest[i] >> 4U];
    hex += k_hex[digest[i] & 0xfU];
  }
  return hex;
}

} // namespace

proto::Result<RuleFile> parse_rule_file(std::string_view text, const std::string& file) {
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception& error) {
    // parse_error, and out_of_range for numbers too large for a double.
    return proto::make_error(Errc::invalid_request, "remap rules " + file + ": not valid JSON: " + error.what(),
                             {{"file", file}});
  }
  const auto top_error = [&](const std::string& field, const std::string& what) {
    return proto::make_error(Errc::invalid_request, "remap rules " + file + " field '" + field + "': " + what,
                             {{"file", file}, {"field", field}});
  };
  if (!document.is_object()) {
    return top_error("", "the file must hold one JSON object");
  }
  for (const auto& [name, unused] : document.items()) {
    if (name != "family" && name != "description" && name != "architectures" && name != "steps") {
      return top_error(name, "is not a rule file field; use family, description, architectures and steps");
    }
  }
  RuleFile rules;
  rules.file = file;
  if (!document.contains("family") || !document["family"].is_string() || document["family"].get<std::string>().empty()) {
    return top_error("family", "must be a non-empty string");
  }
  rules.family = document["family"].get<std::string>();
  if (!document.contains("architectures") || !document["architectures"].is_array() ||
      document["architectures"].empty()) {
    return top_error("architectures", "must be a non-empty list of globs such as \"vit_*\"");
  }
  for (const auto& glob : document["architectures"]) {
    if (!glob.is_string() || glob.get<std::string>().empty()) {
      return top_error("architectures", "holds " + glob.dump() + "; each entry is a non-empty glob");
    }
    rules.architectures.push_back(glob.get<std::string>());
  }
  StepParser parser(file);
  auto steps = parser.steps(document.contains("steps") ? document["steps"] : json::array(), "", 0);
  if (!steps) {
    return steps.error();
  }
  rules.steps = std::move(*steps);
  rules.version = sha256_hex(text);
  return rules;
}

RuleSet RuleSet::load_valid(const std::filesystem::path& directory, std::vector<proto::Error>& rejected) {
  RuleSet set;
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) {
    return set;
  }
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    if (entry.path().extension() == ".json") {
      paths.push_back(entry.path());
    }
  }
  if (ec) {
    rejected.push_back(proto::make_error(Errc::internal, "cannot list the remap rules in " + directory.string() +
                                                             ": " + ec.message()));
    return set;
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      rejected.push_back(proto::make_error(Errc::internal, "cannot read the remap rules " + path.string(),
                                           {{"file", path.string()}}));
      continue;
    }
    if (text.str().size() > k_max_rule_file_bytes) {
      rejected.push_back(proto::make_error(Errc::invalid_request,
                                           "remap rules " + path.string() + " are larger than " +
                                               std::to_string(k_max_rule_file_bytes) + " bytes",
                                           {{"file", path.string()}}));
      continue;
    }
    auto rules = parse_rule_file(text.str(), path.string());
    if (!rules) {
      rejected.push_back(rules.error());
      continue;
    }
    set.add(std::move(*rules));
  }
  return set;
}

proto::Result<RuleSet> RuleSet::load(const std::filesystem::path& directory) {
  std::vector<proto::Error> rejected;
  auto set = load_valid(directory, rejected);
  if (!rejected.empty()) {
    return rejected.front();
  }
  return set;
}

const RuleFile* RuleSet::select(std::string_view architecture) const {
  const RuleFile* best = nullptr;
  std::size_t best_length = 0;
  const std::string name(architecture);
  for (const auto& file : m_files) {
    for (const auto& glob : file.architectures) {
      if (fnmatch(glob.c_str(), name.c_str(), 0) == 0 && (best == nullptr || glob.size() > best_length)) {
        best = &file;
        best_length = glob.size();
      }
    }
  }
  return best;
}

} // namespace timmd::remap
