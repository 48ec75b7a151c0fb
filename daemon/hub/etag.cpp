#include "daemon/hub/etag.hpp"

#include <algorithm>
#include <cctype>

namespace timmd::hub {

proto::Result<std::string> normalize_etag(std::string_view raw) {
  std::string_view text = raw;
  if (text.starts_with("W/")) {
    text.remove_prefix(2);
  }
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }

  std::string etag(text);
  std::ranges::transform(etag, etag.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool hex = std::ranges::all_of(etag, [](unsigned char c) { return std::isxdigit(c) != 0; });
  if (!hex || (etag.size() != 40 && etag.size() != 64)) {
    return proto::make_error(proto::Errc::upstream_unavailable,
                             "the Hub sent an etag that is not a 40- or 64-digit hex hash: '" +
                                 std::string(raw.substr(0, 100)) +
                                 "'; check that the endpoint is a Hugging Face Hub or a mirror",
                             {{"etag", std::string(raw.substr(0, 100))}});
  }
  return etag;
}

} // namespace timmd::hub
