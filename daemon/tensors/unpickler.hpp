// The opcode machine behind unpickle(); internal to the tensors library.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/pickle_globals.hpp"
#include "daemon/tensors/pickle_opcodes.hpp"
#include "daemon/tensors/pickle_reader.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace timmd::tensors::detail {

// Interprets the opcodes of one pickle in [begin, end) of a source. Single use: construct,
// then run() once.
class Unpickler {
public:
  Unpickler(const ByteSource& source, std::uint64_t begin, std::uint64_t end, const ReadLimits& limits)
    : m_source(source), m_pos(begin), m_end(end), m_limits(limits) {}

  proto::Result<Unpickled> run();

private:
  // Failure of the current opcode; the message names the opcode and its offset.
  proto::Error fail(const std::string& what) const {
    return invalid_checkpoint(m_source.name(), "pickle opcode " + std::string(opcode_name(m_op)) +
                                                   " at offset " + std::to_string(m_op_offset) +
                                                   ": " + what);
  }

  proto::Result<std::span<const std::byte>> take(std::uint64_t n);
  proto::Result<std::string> line();
  proto::Result<std::uint64_t> length_prefix(std::size_t width);
  proto::Result<void> step(bool& stopped);

  proto::Result<ValueId> pop();
  proto::Result<std::vector<ValueId>> pop_to_mark();
  proto::Result<void> push(PickleValue value);
  // DUP and GET push without creating objects, so the stack has its own bound.
  proto::Result<void> push_id(ValueId id) {
    if (m_stack.size() >= m_limits.max_pickle_objects) {
      return fail("stack deeper than " + std::to_string(m_limits.max_pickle_objects) +
                  " entries (ReadLimits::max_pickle_objects)");
    }
    m_stack.push_back(id);
    return {};
  }
  proto::Result<void> push_container(PickleKind kind, std::vector<ValueId> items);
  proto::Result<void> push_integer_bytes(std::span<const std::byte> bytes);
  proto::Result<void> push_text(PickleKind kind, std::span<const std::byte> bytes);
  proto::Result<void> append_to(ValueId target, const std::vector<ValueId>& items, PickleKind kind);
  proto::Result<void> memo_put(std::uint64_t index);
  proto::Result<void> memo_get(std::uint64_t index);
  proto::Result<void> push_global(std::string module, std::string name);
  proto::Result<void> push_outcome(const CallOutcome& outcome);
  proto::Result<void> text_number(char op);

  const ByteSource& m_source;
  std::uint64_t m_pos;
  std::uint64_t m_end;
  const ReadLimits& m_limits;
  std::vector<std::byte> m_buffer;
  std::uint64_t m_buffer_start = 0;
  std::uint8_t m_op = 0;
  std::uint64_t m_op_offset = 0;
  PickleGraph m_graph;
  std::vector<ValueId> m_stack;
  std::vector<std::size_t> m_marks;
  std::unordered_map<std::uint64_t, ValueId> m_memo;
};

} // namespace timmd::tensors::detail
