// A restricted unpickler: it interprets the pickle opcodes of protocols 0 to 5 as data and
// never executes anything. Globals outside the allow-list of pickle_globals.hpp, calls of
// anything but the allowed callables, BUILD on other objects, INST, OBJ, NEWOBJ_EX, extension
// codes, out-of-band buffers and persistent ids that are not storages are rejected with
// invalid_checkpoint naming the opcode, its offset and the global involved.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/pickle_value.hpp"

#include <cstdint>

namespace timmd::tensors {

struct Unpickled {
  PickleGraph graph;
  // Offset just past the STOP opcode: where the next pickle of a legacy file starts.
  std::uint64_t stop_offset = 0;
};

// Unpickles the bytes [begin, end) of `source`; reading stops at the first STOP. Pickles
// longer than limits.max_pickle_bytes, containers nested deeper than limits.max_nesting and
// more than limits.max_memo_entries or limits.max_pickle_objects are rejected.
proto::Result<Unpickled> unpickle(const ByteSource& source, std::uint64_t begin, std::uint64_t end,
                                  const ReadLimits& limits = {});

} // namespace timmd::tensors
