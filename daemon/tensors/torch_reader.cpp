#include "daemon/tensors/torch_reader.hpp"

#include "daemon/tensors/pickle_reader.hpp"
#include "daemon/tensors/state_dict.hpp"
#include "daemon/tensors/zip_reader.hpp"

#include <array>
#include <charconv>
#include <map>

namespace timmd::tensors {
namespace {

// Highest archive format version written by PyTorch as of 2.5 (the "version" record).
constexpr std::int64_t k_max_zip_version = 6;

// 0x1950a86a20f9469cfc6c, little-endian, as pickled by the legacy torch.save.
constexpr std::array<unsigned char, 10> k_legacy_magic{0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                                       0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr std::int64_t k_legacy_protocol = 1001;

proto::Result<std::string> find_prefix(const ZipArchive& archive, const std::string& source) {
  std::string prefix;
  int found = 0;
  for (const auto& entry : archive.entries()) {
    const auto slash = entry.name.find('/');
    if (slash != std::string::npos && entry.name.substr(slash + 1) == "data.pkl") {
      prefix = entry.name.substr(0, slash + 1);
      ++found;
    }
  }
  if (found != 1) {
    if (archive.find("constants.pkl") || found == 0) {
      return unsupported_format(source, "zip archive has no \"<name>/data.pkl\" record; it is not "
                                        "a torch.save checkpoint (TorchScript archives are not "
                                        "read)");
    }
    return invalid_checkpoint(source, "zip archive has " + std::to_string(found) +
                                          " data.pkl records in different folders");
  }
  for (const auto& entry : archive.entries()) {
    if (!entry.name.starts_with(prefix)) {
      return invalid_checkpoint(source, "record \"" + entry.name + "\" is outside the archive "
                                                                   "folder \"" + prefix + "\"");
    }
    if (entry.method != k_zip_stored) {
      return invalid_checkpoint(source, "record \"" + entry.name + "\" is compressed (method " +
                                            std::to_string(entry.method) +
                                            "); torch.save writes STORED records, and compressed "
                                            "tensor data cannot be served in place");
    }
    if (entry.name.starts_with(prefix + "code/") || entry.name == prefix + "constants.pkl") {
      return unsupported_format(source, "this is a TorchScript archive (record \"" + entry.name +
                                            "\"); save the model's state_dict() instead");
    }
  }
  return prefix;
}

proto::Result<void> check_records(const ByteSource& source, const ZipArchive& archive,
                                  const std::string& prefix) {
  const auto& name = source.name();
  if (const auto* byteorder = archive.find(prefix + "byteorder")) {
    auto text = read_zip_entry_prefix(source, *byteorder, 16);
    if (!text) {
      return text.error();
    }
    const std::string value(reinterpret_cast<const char*>(text->data()), text->size());
    if (value != "little") {
      return unsupported_format(name, "byteorder record is \"" + value +
                                          "\"; only little-endian checkpoints are read");
    }
  }
  for (const auto* record : {"version", ".data/version"}) {
    const auto* entry = archive.find(prefix + record);
    if (!entry) {
      continue;
    }
    auto text = read_zip_entry_prefix(source, *entry, 32);
    if (!text) {
      return text.error();
    }
    std::string value(reinterpret_cast<const char*>(text->data()), text->size());
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
      value.pop_back();
    }
    std::int64_t version = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), version);
    if (ec != std::errc{} || ptr != value.data() + value.size() || version < 1) {
      return invalid_checkpoint(name, std::string(record) + " record \"" + value.substr(0, 32) +
                                          "\" is not a positive integer");
    }
    if (version > k_max_zip_version) {
      return unsupported_format(name, "archive format version " + std::to_string(version) +
                                          " is newer than the newest known (" +
                                          std::to_string(k_max_zip_version) + ")");
    }
  }
  return {};
}

} // namespace

proto::Result<Checkpoint> read_torch_zip(const ByteSource& source, const ReadLimits& limits) {
  const auto& name = source.name();
  auto archive = ZipArchive::open(source, limits);
  if (!archive) {
    return archive.error();
  }
  auto prefix = find_prefix(*archive, name);
  if (!prefix) {
    return prefix.error();
  }
  if (auto checked = check_records(source, *archive, *prefix); !checked) {
    return checked.error();
  }

  const auto* pickle = archive->find(*prefix + "data.pkl");
  if (pickle->uncompressed_size > limits.max_pickle_bytes) {
    return invalid_checkpoint(name, "data.pkl is " + std::to_string(pickle->uncompressed_size) +
                                        " bytes, more than the limit of " +
                                        std::to_string(limits.max_pickle_bytes) +
                                        " (ReadLimits::max_pickle_bytes)");
  }
  auto unpickled = unpickle(source, pickle->data_offset, pickle->data_offset + pickle->uncompressed_size,
                            limits);
  if (!unpickled) {
    return unpickled.error();
  }

  const auto resolve = [&](const StorageRef& storage) -> proto::Result<StorageRange> {
    const auto record = *prefix + "data/" + storage.key;
    const auto* entry = archive->find(record);
    if (!entry) {
      return invalid_checkpoint(name, "data.pkl refers to storage \"" + storage.key +
                                          "\" but the archive has no record \"" + record + "\"");
    }
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(storage.numel, std::uint64_t{bit_width(storage.dtype) / 8}, &bytes) ||
        bytes > entry->uncompressed_size) {
      return invalid_checkpoint(name, "storage \"" + storage.key + "\" declares " +
                                          std::to_string(storage.numel) + " " +
                                          std::string(torch_name(storage.dtype)) +
                                          " elements but its record holds " +
                                          std::to_string(entry->uncompressed_size) + " bytes");
    }
    return StorageRange{entry->data_offset, bytes, "data/" + storage.key};
  };

  Checkpoint checkpoint;
  checkpoint.format = Format::torch_zip;
  checkpoint.header_bytes = archive->central_directory_offset();
  if (auto collected = collect_state_dict(unpickled->graph, resolve, name, limits, checkpoint);
      !collected) {
    return collected.error();
  }
  return checkpoint;
}

namespace {

proto::Result<Unpickled> next_pickle(const ByteSource& source, std::uint64_t& offset,
                                     const ReadLimits& limits) {
  auto unpickled = unpickle(source, offset, source.size(), limits);
  if (unpickled) {
    offset = unpickled->stop_offset;
  }
  return unpickled;
}

proto::Result<void> check_legacy_preamble(const ByteSource& source, std::uint64_t& offset,
                                          const ReadLimits& limits) {
  const auto& name = source.name();
  auto magic = next_pickle(source, offset, limits);
  if (!magic) {
    return magic.error();
  }
  const auto& magic_value = magic->graph.at(magic->graph.root);
  if (magic_value.kind != PickleKind::big_integer ||
      magic_value.text != std::string(k_legacy_magic.begin(), k_legacy_magic.end())) {
    return invalid_checkpoint(name, "first pickle is not the legacy torch.save magic number");
  }

  auto protocol = next_pickle(source, offset, limits);
  if (!protocol) {
    return protocol.error();
  }
  const auto& protocol_value = protocol->graph.at(protocol->graph.root);
  if (protocol_value.kind != PickleKind::integer || protocol_value.integer != k_legacy_protocol) {
    return unsupported_format(name, "legacy torch.save protocol is not 1001");
  }

  auto sys_info = next_pickle(source, offset, limits);
  if (!sys_info) {
    return sys_info.error();
  }
  const auto info = to_json(sys_info->graph, sys_info->graph.root, 4);
  if (!info.is_object() || info.value("little_endian", false) != true) {
    return unsupported_format(name, "legacy sys_info does not say little_endian: True; "
                                    "big-endian checkpoints are not read");
  }
  return {};
}

} // namespace

proto::Result<Checkpoint> read_torch_legacy(const ByteSource& source, const ReadLimits& limits) {
  const auto& name = source.name();
  std::uint64_t offset = 0;
  if (auto preamble = check_legacy_preamble(source, offset, limits); !preamble) {
    return preamble.error();
  }
  auto main = next_pickle(source, offset, limits);
  if (!main) {
    return main.error();
  }
  auto keys = next_pickle(source, offset, limits);
  if (!keys) {
    return keys.error();
  }
  const auto& key_list = keys->graph.at(keys->graph.root);
  if (key_list.kind != PickleKind::list) {
    return invalid_checkpoint(name, "legacy storage key list is a " +
                                        std::string(to_string(key_list.kind)) + ", not a list");
  }

  // Element type of each root storage, from the persistent ids of the main pickle.
  std::map<std::string, const StorageRef*> types;
  for (const auto& storage : main->graph.storages) {
    const auto [it, inserted] = types.emplace(storage.key, &storage);
    if (!inserted && it->second->dtype != storage.dtype) {
      return invalid_checkpoint(name, "storage \"" + storage.key + "\" is referenced with two "
                                                                   "element types");
    }
  }

  // Walk the storage records: an 8-byte element count, then the elements.
  const auto pickles_end = offset;
  std::map<std::string, StorageRange> ranges;
  for (const auto key_id : key_list.items) {
    const auto& key = keys->graph.at(key_id);
    const auto found = types.find(key.text);
    if (key.kind != PickleKind::string || found == types.end()) {
      return invalid_checkpoint(name, "legacy storage key " + to_json(keys->graph, key_id, 1).dump() +
                                          " is not referenced by any tensor");
    }
    auto count = source.read_vector(offset, 8);
    if (!count) {
      return count.error();
    }
    const auto numel = load_u64(count->data());
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel, std::uint64_t{bit_width(found->second->dtype) / 8}, &bytes) ||
        !range_fits(offset + 8, bytes, source.size())) {
      return invalid_checkpoint(name, "legacy storage \"" + key.text + "\" of " +
                                          std::to_string(numel) + " elements at offset " +
                                          std::to_string(offset) + " reaches past the end of the file");
    }
    if (numel != found->second->numel) {
      return invalid_checkpoint(name, "legacy storage \"" + key.text + "\" holds " +
                                          std::to_string(numel) + " elements but the pickle declares " +
                                          std::to_string(found->second->numel));
    }
    ranges[key.text] = StorageRange{offset + 8, bytes, key.text};
    offset += 8 + bytes;
  }
  if (offset != source.size()) {
    return invalid_checkpoint(name, std::to_string(source.size() - offset) +
                                        " trailing bytes after the last legacy storage");
  }

  const auto resolve = [&](const StorageRef& storage) -> proto::Result<StorageRange> {
    const auto found = ranges.find(storage.key);
    if (found == ranges.end()) {
      return invalid_checkpoint(name, "storage \"" + storage.key +
                                          "\" is missing from the legacy storage key list");
    }
    if (!storage.view_key) {
      return found->second;
    }
    const std::uint64_t element_size = bit_width(storage.dtype) / 8;
    std::uint64_t begin = 0;
    std::uint64_t length = 0;
    if (__builtin_mul_overflow(storage.view_offset, element_size, &begin) ||
        __builtin_mul_overflow(storage.view_numel, element_size, &length) ||
        !range_fits(begin, length, found->second.length)) {
      return invalid_checkpoint(name, "storage view \"" + *storage.view_key +
                                          "\" reaches outside its root storage \"" + storage.key + "\"");
    }
    return StorageRange{found->second.offset + begin, length, storage.key};
  };

  Checkpoint checkpoint;
  checkpoint.format = Format::torch_legacy;
  checkpoint.header_bytes = pickles_end;
  if (auto collected = collect_state_dict(main->graph, resolve, name, limits, checkpoint); !collected) {
    return collected.error();
  }
  return checkpoint;
}

} // namespace timmd::tensors
