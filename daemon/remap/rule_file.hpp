// Remap rule files: JSON, one per model family, under config/remap/. Each names the
// architectures it serves (fnmatch globs) and the ordered steps that bring that family's
// checkpoint layouts to timm's current one.
#pragma once

#include "daemon/remap/rule_step.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::remap {

struct RuleFile {
  std::string family;                    // "vit"
  std::string file;                      // file name, for messages
  std::vector<std::string> architectures; // globs on the architecture name
  std::vector<Step> steps;
  // SHA-256 of the file's bytes: the rule set version that keys derived blobs, so an edited
  // rule file never serves a checkpoint materialised by its previous text.
  std::string version;
};

// Parses and validates one rule file's text. Every error is invalid_request and names the
// file, the step (by index and op, nested as "step 2 then 0") and the field.
proto::Result<RuleFile> parse_rule_file(std::string_view text, const std::string& file);

// The rule files of a directory, in file-name order.
class RuleSet {
public:
  // Loads every *.json file of `directory`; the first invalid file fails the whole load, so a
  // daemon never starts with half its rules. A missing directory is an empty set.
  static proto::Result<RuleSet> load(const std::filesystem::path& directory);

  // Loads the valid files of `directory` and appends one error per file it skips, so that a
  // daemon starting with one broken file still serves the other families.
  static RuleSet load_valid(const std::filesystem::path& directory, std::vector<proto::Error>& rejected);

  // Adds one parsed file (tests, and rules a client names).
  void add(RuleFile file) { m_files.push_back(std::move(file)); }

  // The file whose glob matches `architecture`; the longest matching glob wins and file-name
  // order breaks ties. nullptr when none matches: only the generic steps apply.
  const RuleFile* select(std::string_view architecture) const;

  const std::vector<RuleFile>& files() const { return m_files; }

private:
  std::vector<RuleFile> m_files;
};

} // namespace timmd::remap
