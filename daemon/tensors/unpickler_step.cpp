// The opcode dispatch of the restricted unpickler.
#include "daemon/tensors/unpickler.hpp"

#include <bit>
#include <charconv>

namespace timmd::tensors::detail {

proto::Result<void> Unpickler::step(bool& stopped) {
  m_op_offset = m_pos;
  auto op_byte = take(1);
  if (!op_byte) {
    return op_byte.error();
  }
  m_op = std::to_integer<std::uint8_t>((*op_byte)[0]);

  switch (m_op) {
  case 0x80: {  // PROTO
    auto version = take(1);
    if (!version) {
      return version.error();
    }
    if (std::to_integer<unsigned>((*version)[0]) > 5) {
      return fail("protocol " + std::to_string(std::to_integer<unsigned>((*version)[0])) +
                  " is newer than 5");
    }
    return {};
  }
  case 0x95: {  // FRAME: a length hint for buffering, checked and otherwise ignored
    auto length = take(8);
    if (!length) {
      return length.error();
    }
    if (load_u64(length->data()) > m_end - m_pos) {
      return fail("frame of " + std::to_string(load_u64(length->data())) +
                  " bytes reaches past the end of the pickle");
    }
    return {};
  }
  case '.': {  // STOP
    auto root = pop();
    if (!root) {
      return root.error();
    }
    m_graph.root = *root;
    stopped = true;
    return {};
  }
  case '(':  // MARK
    if (m_marks.size() >= m_limits.max_nesting) {
      return fail("more than " + std::to_string(m_limits.max_nesting) +
                  " nested MARKs (ReadLimits::max_nesting)");
    }
    m_marks.push_back(m_stack.size());
    return {};
  case '0': {  // POP
    auto popped = pop();
    return popped ? proto::Result<void>{} : proto::Result<void>(popped.error());
  }
  case '1': {  // POP_MARK
    auto popped = pop_to_mark();
    return popped ? proto::Result<void>{} : proto::Result<void>(popped.error());
  }
  case '2':  // DUP
    if (m_stack.empty()) {
      return fail("stack underflow");
    }
    return push_id(m_stack.back());
  case 'N':
    return push(PickleValue{});
  case 0x88:
  case 0x89: {
    PickleValue value;
    value.kind = PickleKind::boolean;
    value.boolean = m_op == 0x88;
    return push(std::move(value));
  }
  case 'I':
  case 'L':
  case 'F':
    return text_number(static_cast<char>(m_op));
  case 'J': {  // BININT: signed 32-bit
    auto bytes = take(4);
    if (!bytes) {
      return bytes.error();
    }
    return push_integer_bytes(*bytes);
  }
  case 'K':
  case 'M': {  // BININT1, BININT2: unsigned
    auto bytes = take(m_op == 'K' ? 1 : 2);
    if (!bytes) {
      return bytes.error();
    }
    PickleValue value;
    value.kind = PickleKind::integer;
    value.integer = m_op == 'K' ? std::to_integer<std::int64_t>((*bytes)[0]) : load_u16(bytes->data());
    return push(std::move(value));
  }
  case 0x8a:
  case 0x8b: {  // LONG1, LONG4
    auto length = length_prefix(m_op == 0x8a ? 1 : 4);
    if (!length) {
      return length.error();
    }
    auto bytes = take(*length);
    if (!bytes) {
      return bytes.error();
    }
    return push_integer_bytes(*bytes);
  }
  case 'G': {  // BINFLOAT: big-endian IEEE 754 double
    auto bytes = take(8);
    if (!bytes) {
      return bytes.error();
    }
    std::uint64_t bits = 0;
    for (const auto b : *bytes) {
      bits = (bits << 8U) | std::to_integer<std::uint64_t>(b);
    }
    PickleValue value;
    value.kind = PickleKind::floating;
    value.floating = std::bit_cast<double>(bits);
    return push(std::move(value));
  }
  case 'S':
  case 'V': {  // STRING (a quoted repr), UNICODE (raw-unicode-escape)
    auto text = line();
    if (!text) {
      return text.error();
    }
    if (m_op == 'S') {
      if (text->size() < 2 || text->front() != text->back() ||
          (text->front() != '\'' && text->front() != '"')) {
        return fail("argument is not a quoted string");
      }
      *text = text->substr(1, text->size() - 2);
    }
    return push_text(PickleKind::string, std::as_bytes(std::span(*text)));
  }
  case 'T':
  case 'U':
  case 'X':
  case 0x8c:
  case 0x8d:
  case 'B':
  case 'C':
  case 0x8e:
  case 0x96: {
    const std::size_t width = (m_op == 'U' || m_op == 0x8c || m_op == 'C')   ? 1
                              : (m_op == 0x8d || m_op == 0x8e || m_op == 0x96) ? 8
                                                                                : 4;
    auto length = length_prefix(width);
    if (!length) {
      return length.error();
    }
    auto bytes = take(*length);
    if (!bytes) {
      return bytes.error();
    }
    const bool is_bytes = m_op == 'B' || m_op == 'C' || m_op == 0x8e || m_op == 0x96;
    // Python 2 str (BINSTRING) is decoded as UTF-8 text, as torch.load does by default (its
    // encoding argument defaults to "utf-8" in torch 1.13).
    return push_text(is_bytes ? PickleKind::bytes : PickleKind::string, *bytes);
  }
  case ']':
    return push_container(PickleKind::list, {});
  case ')':
    return push_container(PickleKind::tuple, {});
  case '}':
    return push_container(PickleKind::dict, {});
  case 0x8f:
    return push_container(PickleKind::set, {});
  case 'l':
  case 't':
  case 0x91: {  // LIST, TUPLE, FROZENSET
    auto items = pop_to_mark();
    if (!items) {
      return items.error();
    }
    auto kind = PickleKind::set;
    if (m_op == 'l') {
      kind = PickleKind::list;
    } else if (m_op == 't') {
      kind = PickleKind::tuple;
    }
    return push_container(kind, std::move(*items));
  }
  case 0x85:
  case 0x86:
  case 0x87: {  // TUPLE1..3
    std::vector<ValueId> items(static_cast<std::size_t>(m_op - 0x84));
    for (auto it = items.rbegin(); it != items.rend(); ++it) {
      auto item = pop();
      if (!item) {
        return item.error();
      }
      *it = *item;
    }
    return push_container(PickleKind::tuple, std::move(items));
  }
  case 'd': {  // DICT
    auto items = pop_to_mark();
    if (!items) {
      return items.error();
    }
    if (items->size() % 2 != 0) {
      return fail("odd number of items for key-value pairs");
    }
    return push_container(PickleKind::dict, std::move(*items));
  }
  case 'a': {  // APPEND
    auto item = pop();
    if (!item) {
      return item.error();
    }
    if (m_stack.empty()) {
      return fail("stack underflow");
    }
    return append_to(m_stack.back(), {*item}, PickleKind::list);
  }
  case 'e':
  case 0x90:
  case 'u': {  // APPENDS, ADDITEMS, SETITEMS
    auto items = pop_to_mark();
    if (!items) {
      return items.error();
    }
    if (m_stack.empty()) {
      return fail("stack underflow");
    }
    if (m_op == 'u' && items->size() % 2 != 0) {
      return fail("odd number of items for key-value pairs");
    }
    auto kind = PickleKind::set;
    if (m_op == 'e') {
      kind = PickleKind::list;
    } else if (m_op == 'u') {
      kind = PickleKind::dict;
    }
    return append_to(m_stack.back(), *items, kind);
  }
  case 's': {  // SETITEM
    auto value = pop();
    if (!value) {
      return value.error();
    }
    auto key = pop();
    if (!key) {
      return key.error();
    }
    if (m_stack.empty()) {
      return fail("stack underflow");
    }
    return append_to(m_stack.back(), {*key, *value}, PickleKind::dict);
  }
  case 'g':
  case 'p': {  // GET, PUT with a decimal index
    auto text = line();
    if (!text) {
      return text.error();
    }
    std::uint64_t index = 0;
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), index);
    if (ec != std::errc{} || ptr != text->data() + text->size()) {
      return fail("memo index \"" + text->substr(0, 100) + "\" is not a number");
    }
    return m_op == 'g' ? memo_get(index) : memo_put(index);
  }
  case 'h':
  case 'j':
  case 'q':
  case 'r': {  // BINGET, LONG_BINGET, BINPUT, LONG_BINPUT
    auto bytes = take(m_op == 'h' || m_op == 'q' ? 1 : 4);
    if (!bytes) {
      return bytes.error();
    }
    const std::uint64_t index = bytes->size() == 1 ? std::to_integer<std::uint64_t>((*bytes)[0])
                                                   : load_u32(bytes->data());
    return m_op == 'h' || m_op == 'j' ? memo_get(index) : memo_put(index);
  }
  case 0x94:  // MEMOIZE
    return memo_put(m_memo.size());
  case 'c': {  // GLOBAL
    auto module = line();
    if (!module) {
      return module.error();
    }
    auto name = line();
    if (!name) {
      return name.error();
    }
    return push_global(std::move(*module), std::move(*name));
  }
  case 0x93: {  // STACK_GLOBAL
    auto name = pop();
    if (!name) {
      return name.error();
    }
    auto module = pop();
    if (!module) {
      return module.error();
    }
    if (m_graph.at(*name).kind != PickleKind::string || m_graph.at(*module).kind != PickleKind::string) {
      return fail("module and name are not strings");
    }
    return push_global(m_graph.at(*module).text, m_graph.at(*name).text);
  }
  case 'R':
  case 0x81: {  // REDUCE, NEWOBJ
    auto args = pop();
    if (!args) {
      return args.error();
    }
    auto callable = pop();
    if (!callable) {
      return callable.error();
    }
    return push_outcome(m_op == 'R' ? apply_reduce(m_graph, *callable, *args, m_limits)
                                    : apply_newobj(m_graph, *callable, *args));
  }
  case 'b': {  // BUILD
    auto state = pop();
    if (!state) {
      return state.error();
    }
    auto target = pop();
    if (!target) {
      return target.error();
    }
    return push_outcome(apply_build(m_graph, *target, *state));
  }
  case 'Q': {  // BINPERSID
    auto pid = pop();
    if (!pid) {
      return pid.error();
    }
    return push_outcome(load_persistent(m_graph, *pid));
  }
  case 'P':
    return fail("text persistent ids are not storages; only BINPERSID storage references are read");
  case 'i':
  case 'o':
    return fail("creates an instance of an arbitrary class, which is not allowed");
  case 0x82:
  case 0x83:
  case 0x84:
    return fail("extension registry codes are not allowed");
  case 0x92:
    return fail("NEWOBJ_EX with keyword arguments is not allowed");
  case 0x97:
  case 0x98:
    return fail("out-of-band buffers are not allowed");
  default:
    return fail("unknown opcode 0x" + [this] {
      constexpr char k_hex[] = "0123456789abcdef";
      return std::string{k_hex[m_op >> 4U], k_hex[m_op & 0xFU]};
    }());
  }
}

} // namespace timmd::tensors::detail
