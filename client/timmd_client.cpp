#include "client/timmd_client.hpp"

#include "client/daemon_locator.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace timmd::client {
namespace {

using nlohmann::json;
using proto::Errc;

proto::Error bad_answer(const std::string& what) {
  return proto::make_error(Errc::internal, "the daemon's open answer " + what +
                                               "; the daemon and the client library versions may differ");
}

} // namespace

MappedCheckpoint::MappedCheckpoint(MappedCheckpoint&& other) noexcept
    : m_connection(std::move(other.m_connection)), m_base(std::exchange(other.m_base, nullptr)),
      m_length(std::exchange(other.m_length, 0)), m_tensors(std::move(other.m_tensors)),
      m_by_name(std::move(other.m_by_name)), m_info(std::move(other.m_info)) {}

MappedCheckpoint& MappedCheckpoint::operator=(MappedCheckpoint&& other) noexcept {
  if (this != &other) {
    if (m_base != nullptr) {
      ::munmap(m_base, m_length);
    }
    m_connection = std::move(other.m_connection);
    m_base = std::exchange(other.m_base, nullptr);
    m_length = std::exchange(other.m_length, 0);
    m_tensors = std::move(other.m_tensors);
    m_by_name = std::move(other.m_by_name);
    m_info = std::move(other.m_info);
  }
  return *this;
}

MappedCheckpoint::~MappedCheckpoint() {
  if (m_base != nullptr) {
    ::munmap(m_base, m_length);
  }
}

const TensorView* MappedCheckpoint::find(const std::string& name) const {
  const auto found = m_by_name.find(name);
  return found == m_by_name.end() ? nullptr : &m_tensors[found->second];
}

proto::Result<Client> Client::connect(std::optional<std::filesystem::path> socket) {
  LocateOptions options;
  options.socket = std::move(socket);
  options.client_name = "libtimmclient/0.1.0";
  auto connection = connect_to_daemon(options);
  if (!connection) {
    return connection.error();
  }
  return Client(std::make_shared<Connection>(std::move(*connection)));
}

proto::Result<json> Client::pull(const std::string& name, const std::string& revision,
                                 const ProgressCallback& progress) {
  json params = {{"name", name}};
  if (!revision.empty()) {
    params["revision"] = revision;
  }
  return m_connection->request("pull", std::move(params), progress);
}

proto::Result<MappedCheckpoint> Client::open(const std::string& name, const json& filter, const std::string& revision,
                                             const ProgressCallback& progress) {
  json params = {{"name", name}, {"filter", filter}};
  if (!revision.empty()) {
    params["revision"] = revision;
  }
  auto answer = m_connection->request("open", std::move(params), progress);
  if (!answer) {
    return answer.error();
  }
  const auto fd = m_connection->take_received_fd();
  if (!fd) {
    return bad_answer("came without a file descriptor");
  }

  MappedCheckpoint checkpoint;
  checkpoint.m_connection = m_connection;
  struct stat status {};
  if (::fstat(*fd, &status) != 0) {
    const int error = errno;
    ::close(*fd);
    return proto::make_error(Errc::internal, std::string("fstat of the served blob failed: ") + std::strerror(error));
  }
  checkpoint.m_length = static_cast<std::size_t>(status.st_size);
  if (checkpoint.m_length > 0) {
    void* base = ::mmap(nullptr, checkpoint.m_length, PROT_READ, MAP_SHARED, *fd, 0);
    const int error = errno;
    ::close(*fd);
    if (base == MAP_FAILED) {
      return proto::make_error(Errc::internal, std::string("mapping the served blob failed: ") + std::strerror(error));
    }
    checkpoint.m_base = base;
  } else {
    ::close(*fd);
  }

  const auto* bytes = static_cast<const std::byte*>(checkpoint.m_base);
  if (!answer->contains("tensors") || !(*answer)["tensors"].is_array()) {
    return bad_answer("has no tensor table");
  }
  for (const auto& entry : (*answer)["tensors"]) {
    TensorView view;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    try {
      view.name = entry.at("name").get<std::string>();
      view.dtype = entry.at("dtype").get<std::string>();
      view.shape = entry.at("shape").get<std::vector<std::uint64_t>>();
      offset = entry.at("offset").get<std::uint64_t>();
      length = entry.at("length").get<std::uint64_t>();
    } catch (const json::exception& error) {
      return bad_answer(std::string("has a malformed tensor entry: ") + error.what());
    }
    if (offset > checkpoint.m_length || length > checkpoint.m_length - offset) {
      return bad_answer("places '" + view.name + "' outside the served blob");
    }
    view.data = std::span<const std::byte>(bytes + offset, length);
    checkpoint.m_by_name[view.name] = checkpoint.m_tensors.size();
    checkpoint.m_tensors.push_back(std::move(view));
  }
  answer->erase("tensors");
  checkpoint.m_info = std::move(*answer);
  return checkpoint;
}

} // namespace timmd::client
