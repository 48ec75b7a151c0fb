#include "proto/frame.hpp"

#include <utility>

namespace timmd::proto {

Result<std::string> encode_frame(const nlohmann::json& message) {
  if (!message.is_object()) {
    return make_error(Errc::invalid_request, "a protocol frame must hold a JSON object");
  }

  // Replacing invalid UTF-8 keeps a bad string from a file name or header from aborting the send.
  std::string payload = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (payload.size() > k_max_frame_size) {
    return make_error(Errc::invalid_request, "message of " + std::to_string(payload.size()) +
                                                 " bytes exceeds the frame limit of " +
                                                 std::to_string(k_max_frame_size) + " bytes");
  }

  const auto size = static_cast<std::uint32_t>(payload.size());
  std::string frame;
  frame.reserve(k_frame_header_size + payload.size());
  frame.push_back(static_cast<char>((size >> 24) & 0xffU));
  frame.push_back(static_cast<char>((size >> 16) & 0xffU));
  frame.push_back(static_cast<char>((size >> 8) & 0xffU));
  frame.push_back(static_cast<char>(size & 0xffU));
  frame += payload;
  return frame;
}

Result<std::uint32_t> decode_frame_length(const std::array<std::byte, k_frame_header_size>& header,
                                          std::uint32_t max_size) {
  std::uint32_t size = 0;
  for (const auto byte : header) {
    size = (size << 8) | std::to_integer<std::uint32_t>(byte);
  }
  if (size == 0) {
    return make_error(Errc::invalid_request, "empty frame: a frame must hold a JSON object");
  }
  if (size > max_size) {
    return make_error(Errc::invalid_request,
                      "frame of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(max_size) +
                          " bytes",
                      {{"frame_size", size}, {"max_frame_size", max_size}});
  }
  return size;
}

Result<nlohmann::json> decode_frame_payload(std::string_view payload) {
  auto message = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) {
    return make_error(Errc::invalid_request, "frame payload is not valid UTF-8 JSON");
  }
  if (!message.is_object()) {
    return make_error(Errc::invalid_request,
                      std::string("frame payload must be a JSON object, not ") + message.type_name());
  }
  // nlohmann::json converts from anything, so the value alternative must be named explicitly.
  return Result<nlohmann::json>(boost::system::in_place_value, std::move(message));
}

} // namespace timmd::proto
