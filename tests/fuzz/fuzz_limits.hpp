// Read limits for the fuzz targets: small enough that no input can make a parser allocate
// more than libFuzzer's -malloc_limit_mb, large enough for the seed files.
#pragma once

#include "daemon/tensors/checkpoint.hpp"

namespace timmd::tensors::fuzz {

inline ReadLimits limits() {
  ReadLimits limits;
  limits.max_header_bytes = 1U << 20U;
  limits.max_pickle_bytes = 1U << 20U;
  limits.max_pickle_objects = 1U << 18U;
  limits.max_memo_entries = 1U << 16U;
  limits.max_pickle_value_bytes = 1U << 20U;
  limits.max_zip_entries = 1U << 12U;
  limits.max_inflated_bytes = 1U << 24U;
  limits.max_tensors = 1U << 14U;
  return limits;
}

} // namespace timmd::tensors::fuzz
