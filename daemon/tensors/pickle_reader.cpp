#include "daemon/tensors/pickle_reader.hpp"

#include "daemon/tensors/safetensors_reader.hpp"
#include "daemon/tensors/unpickler.hpp"

#include <bit>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace timmd::tensors::detail {

constexpr std::uint64_t k_read_chunk = 1U << 16U;
// Maximum length of the argument line of a text opcode (INT, FLOAT, GLOBAL). Real ones are a
// few dozen bytes.
constexpr std::uint64_t k_max_line = 1U << 16U;

proto::Result<std::span<const std::byte>> Unpickler::take(std::uint64_t n) {
  if (n > m_end - m_pos) {
    return fail("needs " + std::to_string(n) + " bytes but the pickle ends after " +
                std::to_string(m_end - m_pos) + " (truncated)");
  }
  const auto buffer_end = m_buffer_start + m_buffer.size();
  if (m_pos < m_buffer_start || m_pos + n > buffer_end) {
    const auto length = std::min(std::max(n, k_read_chunk), m_end - m_pos);
    auto chunk = m_source.read_vector(m_pos, length);
    if (!chunk) {
      return chunk.error();
    }
    m_buffer = std::move(*chunk);
    m_buffer_start = m_pos;
  }
  const auto bytes = std::span<const std::byte>(m_buffer).subspan(
    static_cast<std::size_t>(m_pos - m_buffer_start), static_cast<std::size_t>(n));
  m_pos += n;
  return bytes;
}

proto::Result<std::string> Unpickler::line() {
  std::string text;
  while (true) {
    auto byte = take(1);
    if (!byte) {
      return byte.error();
    }
    const auto c = static_cast<char>((*byte)[0]);
    if (c == '\n') {
      return text;
    }
    if (text.size() >= k_max_line) {
      return fail("text argument is longer than " + std::to_string(k_max_line) + " bytes");
    }
    text.push_back(c);
  }
}

proto::Result<std::uint64_t> Unpickler::length_prefix(std::size_t width) {
  auto bytes = take(width);
  if (!bytes) {
    return bytes.error();
  }
  std::uint64_t length = width == 1   ? std::to_integer<std::uint64_t>((*bytes)[0])
                         : width == 4 ? load_u32(bytes->data())
                                      : load_u64(bytes->data());
  if (length > m_limits.max_pickle_value_bytes) {
    return fail("argument of " + std::to_string(length) + " bytes exceeds the limit of " +
                std::to_string(m_limits.max_pickle_value_bytes) +
                " (ReadLimits::max_pickle_value_bytes)");
  }
  return length;
}

proto::Result<ValueId> Unpickler::pop() {
  if (m_stack.empty() || (!m_marks.empty() && m_stack.size() <= m_marks.back())) {
    return fail("stack underflow");
  }
  const auto id = m_stack.back();
  m_stack.pop_back();
  return id;
}

proto::Result<std::vector<ValueId>> Unpickler::pop_to_mark() {
  if (m_marks.empty()) {
    return fail("no MARK on the stack");
  }
  const auto mark = m_marks.back();
  m_marks.pop_back();
  std::vector<ValueId> items(m_stack.begin() + static_cast<std::ptrdiff_t>(mark), m_stack.end());
  m_stack.resize(mark);
  return items;
}

proto::Result<void> Unpickler::push(PickleValue value) {
  if (m_graph.values.size() >= m_limits.max_pickle_objects) {
    return fail("more than " + std::to_string(m_limits.max_pickle_objects) +
                " objects (ReadLimits::max_pickle_objects)");
  }
  return push_id(m_graph.add(std::move(value)));
}

proto::Result<void> Unpickler::push_container(PickleKind kind, std::vector<ValueId> items) {
  PickleValue value;
  value.kind = kind;
  for (const auto item : items) {
    value.depth = std::max(value.depth, m_graph.at(item).depth + 1);
  }
  if (value.depth > m_limits.max_nesting) {
    return fail("containers nested deeper than " + std::to_string(m_limits.max_nesting) +
                " levels (ReadLimits::max_nesting)");
  }
  value.items = std::move(items);
  return push(std::move(value));
}

proto::Result<void> Unpickler::push_integer_bytes(std::span<const std::byte> bytes) {
  PickleValue value;
  const bool negative = !bytes.empty() && (std::to_integer<unsigned>(bytes.back()) & 0x80U) != 0;
  // Bytes past the eighth must only repeat the sign for the value to fit in int64.
  bool fits = true;
  for (std::size_t i = 8; i < bytes.size(); ++i) {
    fits = fits && std::to_integer<unsigned>(bytes[i]) == (negative ? 0xFFU : 0U);
  }
  if (bytes.size() > 8) {
    const bool sign_of_low = (std::to_integer<unsigned>(bytes[7]) & 0x80U) != 0;
    fits = fits && sign_of_low == negative;
  }
  if (!fits) {
    value.kind = PickleKind::big_integer;
    value.text.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return push(std::move(value));
  }
  std::uint64_t bits = negative ? UINT64_MAX : 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 8); ++i) {
    bits &= ~(std::uint64_t{0xFF} << (8 * i));
    bits |= std::to_integer<std::uint64_t>(bytes[i]) << (8 * i);
  }
  value.kind = PickleKind::integer;
  value.integer = std::bit_cast<std::int64_t>(bits);
  return push(std::move(value));
}

proto::Result<void> Unpickler::push_text(PickleKind kind, std::span<const std::byte> bytes) {
  if (kind == PickleKind::string) {
    if (const auto bad = find_invalid_utf8(bytes)) {
      return fail("string is not valid UTF-8 at byte " + std::to_string(*bad));
    }
  }
  PickleValue value;
  value.kind = kind;
  value.text.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return push(std::move(value));
}

proto::Result<void> Unpickler::append_to(ValueId target, const std::vector<ValueId>& items,
                                         PickleKind kind) {
  auto& container = m_graph.values[target];
  if (container.kind != kind) {
    return fail("target is a " + std::string(to_string(container.kind)) + ", expected a " +
                std::string(to_string(kind)));
  }
  std::uint32_t depth = container.depth;
  for (const auto item : items) {
    depth = std::max(depth, m_graph.at(item).depth + 1);
  }
  if (depth > m_limits.max_nesting) {
    return fail("containers nested deeper than " + std::to_string(m_limits.max_nesting) +
                " levels (ReadLimits::max_nesting)");
  }
  auto& target_value = m_graph.values[target];
  target_value.depth = depth;
  target_value.items.insert(target_value.items.end(), items.begin(), items.end());
  return {};
}

proto::Result<void> Unpickler::memo_put(std::uint64_t index) {
  if (m_stack.empty()) {
    return fail("memoizes from an empty stack");
  }
  if (m_memo.size() >= m_limits.max_memo_entries && !m_memo.contains(index)) {
    return fail("more than " + std::to_string(m_limits.max_memo_entries) +
                " memo entries (ReadLimits::max_memo_entries)");
  }
  m_memo[index] = m_stack.back();
  return {};
}

proto::Result<void> Unpickler::memo_get(std::uint64_t index) {
  const auto found = m_memo.find(index);
  if (found == m_memo.end()) {
    return fail("memo index " + std::to_string(index) + " was never stored");
  }
  return push_id(found->second);
}

proto::Result<void> Unpickler::push_global(std::string module, std::string name) {
  if (!is_allowed_global(module, name)) {
    return fail("global " + module + "." + name +
                " is not allowed; timmd reads state dicts of tensors and plain data only and "
                "never runs code from a checkpoint");
  }
  PickleValue value;
  value.kind = PickleKind::global;
  value.text = module + "." + name;
  return push(std::move(value));
}

proto::Result<void> Unpickler::push_outcome(const CallOutcome& outcome) {
  if (const auto* problem = std::get_if<std::string>(&outcome)) {
    return fail(*problem);
  }
  if (m_graph.values.size() > m_limits.max_pickle_objects) {
    return fail("more than " + std::to_string(m_limits.max_pickle_objects) +
                " objects (ReadLimits::max_pickle_objects)");
  }
  return push_id(std::get<ValueId>(outcome));
}

proto::Result<void> Unpickler::text_number(char op) {
  auto text = line();
  if (!text) {
    return text.error();
  }

  if (op == 'F') {
    char* end = nullptr;
    PickleValue value;
    value.kind = PickleKind::floating;
    value.floating = std::strtod(text->c_str(), &end);
    if (text->empty() || end != text->c_str() + text->size()) {
      return fail("\"" + *text + "\" is not a float");
    }
    return push(std::move(value));
  }
  if (op == 'I' && (*text == "00" || *text == "01")) {
    PickleValue value;
    value.kind = PickleKind::boolean;
    value.boolean = *text == "01";
    return push(std::move(value));
  }

  if (op == 'L' && !text->empty() && text->back() == 'L') {
    text->pop_back();
  }
  std::int64_t number = 0;
  const auto* first = text->data();
  const auto* last = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(first, last, number);
  if (ec != std::errc{} || ptr != last) {
    return fail("\"" + text->substr(0, 100) + "\" is not an integer that fits in 64 bits");
  }
  PickleValue value;
  value.kind = PickleKind::integer;
  value.integer = number;
  return push(std::move(value));
}

proto::Result<Unpickled> Unpickler::run() {
  if (m_end - m_pos > m_limits.max_pickle_bytes) {
    m_end = m_pos + m_limits.max_pickle_bytes;
  }
  bool stopped = false;
  while (!stopped) {
    if (m_pos >= m_end) {
      return invalid_checkpoint(m_source.name(), "pickle ends at offset " + std::to_string(m_pos) +
                                                     " without a STOP opcode (truncated, or "
                                                     "longer than ReadLimits::max_pickle_bytes)");
    }
    if (auto stepped = step(stopped); !stepped) {
      return stepped.error();
    }
  }
  return Unpickled{std::move(m_graph), m_pos};
}

} // namespace timmd::tensors::detail

namespace timmd::tensors {

proto::Result<Unpickled> unpickle(const ByteSource& source, std::uint64_t begin, std::uint64_t end,
                                  const ReadLimits& limits) {
  if (begin > end || end > source.size()) {
    return invalid_checkpoint(source.name(), "pickle range [" + std::to_string(begin) + ", " +
                                                 std::to_string(end) + ") is out of bounds");
  }
  detail::Unpickler unpickler(source, begin, end, limits);
  return unpickler.run();
}

} // namespace timmd::tensors
