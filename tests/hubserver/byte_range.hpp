// The single-range subset of the HTTP Range header that download clients send.
#pragma once

#include <cstdint>
#include <string_view>

namespace timmd::testhub {

struct ByteRangeResult {
  enum class Kind {
    whole,         // no usable Range: respond 200 with everything
    partial,       // respond 206 with [first, last]
    unsatisfiable, // respond 416 with "Content-Range: bytes */size"
  };
  Kind kind = Kind::whole;
  std::uint64_t first = 0;
  std::uint64_t last = 0; // inclusive
};

// Interprets `header` ("bytes=a-b", "bytes=a-", "bytes=-n") against a body of `size` bytes.
// An end past the end of the body is clamped, as hf_transfer's last chunk needs. A start at or
// past the end, or a zero suffix, is unsatisfiable. Malformed and multi-range headers are
// ignored (RFC 9110 allows a server to ignore Range).
ByteRangeResult parse_byte_range(std::string_view header, std::uint64_t size);

} // namespace timmd::testhub
