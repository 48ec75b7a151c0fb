// Framing of the wire protocol: a 4-byte big-endian length, then a UTF-8 JSON object.
#pragma once

#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace timmd::proto {

inline constexpr std::uint32_t k_protocol_version = 1;
inline constexpr std::size_t k_frame_header_size = 4;
inline constexpr std::uint32_t k_max_frame_size = 16U * 1024U * 1024U;

// Returns the header and payload of one frame. REQUIRES: message is a JSON object whose
// serialisation fits in k_max_frame_size (otherwise an invalid_request error).
Result<std::string> encode_frame(const nlohmann::json& message);

// Decodes the payload length from a frame header; rejects lengths over max_size and zero.
Result<std::uint32_t> decode_frame_length(const std::array<std::byte, k_frame_header_size>& header,
                                          std::uint32_t max_size = k_max_frame_size);

// Parses a frame payload; rejects invalid UTF-8 or JSON and anything but an object.
Result<nlohmann::json> decode_frame_payload(std::string_view payload);

} // namespace timmd::proto
