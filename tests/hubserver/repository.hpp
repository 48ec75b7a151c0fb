// A test repository: its settings, its refs and every commit they ever pointed at.
#pragma once

#include "tests/hubserver/commit.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace timmd::testhub {

// How HEAD and GET on /resolve/ respond for a file.
enum class HeadStyle {
  direct,   // 200 with the metadata and the bytes
  relative, // 307 to /api/resolve-cache/..., which returns 200
  cdn,      // 302 to the CDN listener, metadata on the 302 only
};

enum class RefKind { branch, tag, pull_request };

// The contents of `.hub/config.json`. Every key is optional.
struct RepoConfig {
  bool is_private = false;
  bool gated = false;
  bool disabled = false;
  std::string renamed_to; // "org/new": every request for this repository gets a relative 307 there
  std::vector<std::pair<std::string, HeadStyle>> head_styles; // glob -> style, first match wins
  std::vector<std::pair<std::string, std::filesystem::path>> refs; // ref name -> tree directory

  // Reads `config_file`. A missing file gives the defaults. Throws std::runtime_error on
  // invalid JSON or an unknown head style.
  static RepoConfig load(const std::filesystem::path& config_file);
};

struct Ref {
  std::string name; // "main", "v1.0", "refs/pr/1"
  RefKind kind = RefKind::branch;
  std::string commit;
};

// An immutable state of one repository. set_ref produces a new one.
struct Repository {
  std::string id; // "org/name"
  RepoConfig config;
  std::map<std::string, Ref> refs;                                   // by name
  std::map<std::string, std::shared_ptr<const Commit>> commits;      // by id, old ones kept

  // Maps a revision to a commit: "HEAD" (main), a branch, tag or "refs/pr/N" name, the
  // "refs/heads/X" and "refs/tags/X" forms, a full lowercase commit id, or a unique prefix of
  // at least 7 hex digits. Returns nullptr when nothing matches.
  std::shared_ptr<const Commit> resolve(std::string_view revision) const;

  // Returns the style configured for `file`, else "relative" for regular and "cdn" for LFS
  // files, as huggingface.co does.
  HeadStyle head_style(const RepoFile& file) const;
};

// Splits a ref name as written in a config file or passed to set_ref into its listed name and
// kind: "refs/pr/N" is a pull request, "refs/tags/X" the tag X, "refs/heads/X" and plain
// names are branches.
std::pair<std::string, RefKind> classify_ref(std::string_view name);

} // namespace timmd::testhub
