// Names of pickle opcodes, for error messages.
#pragma once

#include <cstdint>
#include <string_view>

namespace timmd::tensors {

// Name of a pickle opcode as Python's pickletools spells it ("REDUCE"), or "unknown opcode".
std::string_view opcode_name(std::uint8_t op);

} // namespace timmd::tensors
