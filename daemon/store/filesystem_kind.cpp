#include "daemon/store/filesystem_kind.hpp"

#include "daemon/store/file_handle.hpp"

#include <array>
#include <cerrno>
#include <utility>

#include <sys/vfs.h>

namespace timmd::store {
namespace {

// Magic numbers from the kernel's include/uapi/linux/magic.h and the filesystems' own sources.
constexpr std::array<std::pair<unsigned long, std::string_view>, 14> k_network_filesystems{{
  {0x6969, "NFS"},
  {0x517B, "SMB"},
  {0xFF534D42, "CIFS"},
  {0xFE534D42, "SMB2"},
  {0x00C36400, "Ceph"},
  {0x5346414F, "AFS"},
  {0x6B414653, "kAFS"},
  {0x01021997, "9P"},
  {0x73757245, "Coda"},
  {0x564C, "NCP"},
  {0x0BD00BD0, "Lustre"},
  {0x47504653, "GPFS"},
  {0x65735546, "FUSE"},
  {0x013111A8, "IBRIX"},
}};

} // namespace

std::optional<std::string_view> network_filesystem_name(unsigned long magic) {
  for (const auto& [number, name] : k_network_filesystems) {
    if (number == magic) {
      return name;
    }
  }
  return std::nullopt;
}

proto::Result<void> check_local_filesystem(const std::filesystem::path& dir) {
  struct statfs filesystem {};
  if (::statfs(dir.c_str(), &filesystem) != 0) {
    return errno_error("checking the filesystem of", dir, errno);
  }
  // f_type is signed on some ABIs; the magic numbers are 32-bit patterns.
  const auto magic = static_cast<unsigned long>(static_cast<std::uint32_t>(filesystem.f_type));
  const auto name = network_filesystem_name(magic);
  if (!name) {
    return {};
  }
  return proto::make_error(
    proto::Errc::invalid_request,
    "cache directory " + dir.string() + " is on a " + std::string(*name) +
      " filesystem, where its lock cannot keep a daemon on another host out and SQLite's WAL "
      "index can be corrupted; use a local directory, or set \"allow_network_cache\": true if "
      "only this one daemon ever uses it",
    {{"path", dir.string()}, {"filesystem", std::string(*name)}});
}

} // namespace timmd::store
