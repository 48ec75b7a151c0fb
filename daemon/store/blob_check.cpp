#include "daemon/store/blob_check.hpp"

#include "daemon/store/digest.hpp"
#include "daemon/store/file_handle.hpp"

#include <cerrno>
#include <span>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace timmd::store {
namespace {

constexpr std::size_t k_read_size = 1024 * 1024;

} // namespace

proto::Result<BlobFileState> read_blob_file(const std::filesystem::path& path, bool with_git_oid,
                                            std::optional<std::uint64_t> expected_size,
                                            const HashProgress& progress) {
  BlobFileState state;
  const auto fd = open_file(path, O_RDONLY | O_NOFOLLOW);
  if (!fd) {
    const int error = errno;
    if (error == ENOENT) {
      return state;
    }
    return errno_error("opening for verification", path, error);
  }
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    return errno_error("reading the size of", path, errno);
  }
  state.exists = true;
  state.size = static_cast<std::uint64_t>(status.st_size);
  if (expected_size && *expected_size != state.size) {
    return state;
  }

  auto sha256 = Hasher::sha256();
  auto git = Hasher::git_blob_sha1(state.size);
  std::vector<std::byte> buffer(k_read_size);
  for (;;) {
    const auto count = ::read(fd.get(), buffer.data(), buffer.size());
    if (count < 0 && errno == EINTR) {
      continue;
    }
    if (count < 0) {
      return errno_error("reading for verification", path, errno);
    }
    if (count == 0) {
      break;
    }
    const auto chunk = std::span(buffer).first(static_cast<std::size_t>(count));
    sha256.update(chunk);
    if (with_git_oid) {
      git.update(chunk);
    }
    if (progress) {
      progress(static_cast<std::uint64_t>(count));
    }
  }

  state.sha256 = sha256.final_hex();
  if (with_git_oid) {
    state.git_oid = git.final_hex();
  }
  return state;
}

} // namespace timmd::store
