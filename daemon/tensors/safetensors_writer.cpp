#include "daemon/tensors/safetensors_writer.hpp"

#include "daemon/tensors/tensor_info.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <unistd.h>

namespace timmd::tensors {
namespace {

proto::Error write_error(const std::filesystem::path& path, const std::string& what) {
  const auto code = errno == ENOSPC ? proto::Errc::disk_full : proto::Errc::internal;
  return proto::make_error(code, path.string() + ": " + what + ": " + std::strerror(errno));
}

// Owns a temporary file descriptor and removes the file unless commit() renamed it.
class TemporaryFile {
public:
  explicit TemporaryFile(std::filesystem::path target)
    : m_target(std::move(target)), m_path(m_target.string() + ".tmp-XXXXXX") {}
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    if (!m_committed && m_created) {
      ::unlink(m_path.c_str());
    }
  }

  proto::Result<void> create() {
    m_fd = ::mkstemp(m_path.data());
    if (m_fd < 0) {
      return write_error(m_path, "cannot create temporary file");
    }
    m_created = true;
    return {};
  }

  proto::Result<void> write(std::span<const std::byte> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const auto n = ::write(m_fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return write_error(m_path, "write failed");
      }
      done += static_cast<std::size_t>(n);
    }
    return {};
  }

  proto::Result<void> commit() {
    if (::fsync(m_fd) != 0) {
      return write_error(m_path, "fsync failed");
    }
    if (::close(std::exchange(m_fd, -1)) != 0) {
      return write_error(m_path, "close failed");
    }
    if (::rename(m_path.c_str(), m_target.c_str()) != 0) {
      return write_error(m_target, "rename failed");
    }
    m_committed = true;
    return {};
  }

private:
  std::filesystem::path m_target;
  std::string m_path;
  int m_fd = -1;
  bool m_created = false;
  bool m_committed = false;
};

proto::Error invalid_request(const std::string& what) {
  return proto::make_error(proto::Errc::invalid_request, "cannot write safetensors: " + what);
}

} // namespace

SafetensorsInput make_safetensors_input(std::string name, Dtype dtype,
                                        std::vector<std::uint64_t> shape,
                                        std::span<const std::byte> data) {
  return {std::move(name), dtype, std::move(shape),
          [data](std::span<std::byte> out) -> proto::Result<void> {
            if (out.size() != data.size()) {
              return invalid_request("tensor data is " + std::to_string(data.size()) +
                                     " bytes, its dtype and shape need " +
                                     std::to_string(out.size()));
            }
            std::copy(data.begin(), data.end(), out.begin());
            return {};
          }};
}

proto::Result<std::string> make_safetensors_header(const std::vector<SafetensorsInput>& tensors,
                                                   const std::map<std::string, std::string>& metadata) {
  auto header = nlohmann::json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = metadata;
  }

  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& tensor : tensors) {
    if (tensor.name == "__metadata__") {
      return invalid_request("\"__metadata__\" is reserved and cannot name a tensor");
    }
    if (!names.insert(tensor.name).second) {
      return invalid_request("duplicate tensor name \"" + tensor.name + "\"");
    }
    const auto nbytes = contiguous_byte_size(tensor.dtype, tensor.shape);
    if (!nbytes || *nbytes > UINT64_MAX - offset) {
      return invalid_request("size of tensor \"" + tensor.name +
                             "\" overflows or does not fill whole bytes");
    }
    header[tensor.name] = {{"dtype", safetensors_name(tensor.dtype)},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + *nbytes}}};
    offset += *nbytes;
  }

  auto text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

proto::Result<void> write_safetensors(const std::filesystem::path& path,
                                      std::vector<SafetensorsInput> tensors,
                                      const std::map<std::string, std::string>& metadata) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    const auto align_a = natural_alignment(a.dtype);
    const auto align_b = natural_alignment(b.dtype);
    return align_a != align_b ? align_a > align_b : a.name < b.name;
  });
  auto header = make_safetensors_header(tensors, metadata);
  if (!header) {
    return header.error();
  }

  TemporaryFile file(path);
  if (auto created = file.create(); !created) {
    return created.error();
  }
  std::byte length[8];
  for (std::size_t i = 0; i < 8; ++i) {
    length[i] = static_cast<std::byte>((header->size() >> (8 * i)) & 0xFFU);
  }
  if (auto written = file.write(length); !written) {
    return written.error();
  }
  if (auto written = file.write(std::as_bytes(std::span(*header))); !written) {
    return written.error();
  }

  std::vector<std::byte> buffer;
  for (const auto& tensor : tensors) {
    // Sizes were checked by make_safetensors_header.
    buffer.assign(static_cast<std::size_t>(*contiguous_byte_size(tensor.dtype, tensor.shape)),
                  std::byte{0});
    if (auto filled = tensor.fill(buffer); !filled) {
      return filled.error();
    }
    if (auto written = file.write(buffer); !written) {
      return written.error();
    }
  }
  return file.commit();
}

} // namespace timmd::tensors
