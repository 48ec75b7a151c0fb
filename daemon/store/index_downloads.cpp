// Index methods for the resume state of partial downloads.
#include "daemon/store/index.hpp"

#include "daemon/store/digest.hpp"
#include "daemon/store/index_impl.hpp"

namespace timmd::store {
namespace {

std::size_t chunk_count(std::uint64_t size, std::uint64_t chunk_size) {
  return static_cast<std::size_t>(size / chunk_size + (size % chunk_size != 0 ? 1 : 0));
}

// Bit i of the map is bit (i % 8), least significant first, of byte i / 8.
std::vector<std::byte> encode_chunks(const std::vector<bool>& chunks) {
  std::vector<std::byte> bitmap((chunks.size() + 7) / 8);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i]) {
      bitmap[i / 8] |= std::byte{1} << (i % 8);
    }
  }
  return bitmap;
}

std::vector<bool> decode_chunks(const std::vector<std::byte>& bitmap, std::size_t count) {
  std::vector<bool> chunks(count, false);
  for (std::size_t i = 0; i < count && i / 8 < bitmap.size(); ++i) {
    chunks[i] = (bitmap[i / 8] & (std::byte{1} << (i % 8))) != std::byte{0};
  }
  return chunks;
}

constexpr std::string_view k_download_columns =
  "SELECT key, size, chunk_size, chunks, started FROM downloads ";

DownloadRecord read_download(const sqlite::Statement& statement) {
  DownloadRecord record{
    .key = statement.column_text(0),
    .size = statement.column_size(1),
    .chunk_size = statement.column_size(2),
    .chunks_done = {},
    .started = statement.column_int(4),
  };
  // The schema enforces chunk_size > 0, so the division is safe.
  record.chunks_done =
    decode_chunks(statement.column_blob(3), chunk_count(record.size, record.chunk_size));
  return record;
}

proto::Error download_not_found(std::string_view key) {
  return proto::make_error(proto::Errc::not_found,
                           "no download of " + std::string(key) +
                             " is in progress; open the partial download first",
                           {{"key", std::string(key)}});
}

// Rewrites one flag of the chunk map. The read-modify-write runs in one transaction, and the
// caller's lock keeps other threads of this process out.
proto::Result<void> set_chunk_done(IndexConnection& connection, std::string_view key,
                                   std::size_t chunk, bool done) {
  auto transaction = sqlite::Transaction::begin(connection.db.get(), "update chunk map");
  if (!transaction) {
    return transaction.error();
  }

  std::vector<bool> chunks;
  {
    auto select = connection.prepare(
      "read chunk map", "SELECT size, chunk_size, chunks FROM downloads WHERE key = ?1");
    if (!select) {
      return select.error();
    }
    auto row = select->bind_text(1, key).step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return download_not_found(key);
    }
    const auto count = chunk_count(select->column_size(0), select->column_size(1));
    if (chunk >= count) {
      return proto::make_error(proto::Errc::invalid_request,
                               "chunk " + std::to_string(chunk) + " is out of range for download " +
                                 std::string(key) + ", which has " + std::to_string(count) +
                                 " chunks",
                               {{"key", std::string(key)}, {"chunk", chunk}});
    }
    chunks = decode_chunks(select->column_blob(2), count);
  }
  chunks[chunk] = done;

  auto update =
    connection.prepare("write chunk map", "UPDATE downloads SET chunks = ?2 WHERE key = ?1");
  if (!update) {
    return update.error();
  }
  if (auto written = update->bind_text(1, key).bind_blob(2, encode_chunks(chunks)).run();
      !written) {
    return written.error();
  }
  return transaction->commit();
}

} // namespace

proto::Result<void> Index::begin_download(const DownloadRecord& download) {
  if (!is_sha256_hex(download.key) && !is_sha1_hex(download.key)) {
    return proto::make_error(proto::Errc::invalid_request,
                             "invalid download key '" + download.key +
                               "': expected the etag of the file, 64 or 40 lowercase hex digits",
                             {{"key", download.key}});
  }
  if (download.chunk_size == 0 ||
      download.chunks_done.size() != chunk_count(download.size, download.chunk_size)) {
    return proto::make_error(proto::Errc::invalid_request,
                             "invalid download plan for " + download.key + ": size " +
                               std::to_string(download.size) + ", chunk size " +
                               std::to_string(download.chunk_size) + " and " +
                               std::to_string(download.chunks_done.size()) +
                               " chunk flags do not fit together",
                             {{"key", download.key}});
  }
  std::lock_guard lock(m_impl->mutex);

  auto statement = m_impl->prepare("begin download", R"sql(
    INSERT OR REPLACE INTO downloads (key, size, chunk_size, chunks, started)
    VALUES (?1, ?2, ?3, ?4, ?5))sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, download.key)
    .bind_size(2, download.size)
    .bind_size(3, download.chunk_size)
    .bind_blob(4, encode_chunks(download.chunks_done))
    .bind_int(5, download.started);
  return statement->run();
}

proto::Result<std::optional<DownloadRecord>> Index::find_download(std::string_view key) {
  std::lock_guard lock(m_impl->mutex);
  auto statement =
    m_impl->prepare("find download", std::string(k_download_columns) + "WHERE key = ?1");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, key);

  auto row = statement->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::optional<DownloadRecord>();
  }
  return std::optional<DownloadRecord>(read_download(*statement));
}

proto::Result<void> Index::mark_chunk_done(std::string_view key, std::size_t chunk) {
  std::lock_guard lock(m_impl->mutex);
  return set_chunk_done(*m_impl, key, chunk, true);
}

proto::Result<void> Index::mark_chunk_missing(std::string_view key, std::size_t chunk) {
  std::lock_guard lock(m_impl->mutex);
  return set_chunk_done(*m_impl, key, chunk, false);
}

proto::Result<void> Index::delete_download(std::string_view key) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("delete download", "DELETE FROM downloads WHERE key = ?1");
  if (!statement) {
    return statement.error();
  }
  return statement->bind_text(1, key).run();
}

proto::Result<std::vector<DownloadRecord>> Index::all_downloads() {
  std::lock_guard lock(m_impl->mutex);
  auto statement =
    m_impl->prepare("list downloads", std::string(k_download_columns) + "ORDER BY key");
  if (!statement) {
    return statement.error();
  }

  std::vector<DownloadRecord> downloads;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return downloads;
    }
    downloads.push_back(read_download(*statement));
  }
}

} // namespace timmd::store
