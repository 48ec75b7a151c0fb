// Readers of torch.save files: the zip format (PyTorch 1.6 and later) and the legacy format.
//
// Zip: records "<prefix>/data.pkl" (the pickle), "<prefix>/data/<key>" (one per storage, raw
// little-endian elements), and optionally "byteorder", "version", ".data/version" and
// ".data/serialization_id". The prefix is the archive name torch chose ("archive", or the
// file's stem). Every record must be STORED so tensors can be served from the file in place.
//
// Legacy: five pickles back to back (magic number 0x1950a86a20f9469cfc6c, protocol version
// 1001, sys_info, the object, the list of storage keys), then each storage in that list as an
// 8-byte little-endian element count followed by its elements.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"

namespace timmd::tensors {

// Reads the central directory and data.pkl; tensor data is not read.
proto::Result<Checkpoint> read_torch_zip(const ByteSource& source, const ReadLimits& limits = {});

// Reads the pickles and the 8-byte storage headers. Storage contents are skipped, except for
// up to 64 KiB after each pickle that the pickle reader reads ahead.
proto::Result<Checkpoint> read_torch_legacy(const ByteSource& source, const ReadLimits& limits = {});

} // namespace timmd::tensors
