# Shared warning and sanitizer settings, linked by every target as INTERFACE libraries.
add_library(timmd_warnings INTERFACE)
target_compile_options(timmd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wformat=2 -Wimplicit-fallthrough
  # With optimisation GCC 12 reports false null dereferences inside Asio and the standard
  # library, so this check runs in Debug builds only.
  $<$<CONFIG:Debug>:-Wnull-dereference>
  # GCC 12 also reports mismatched new/delete on optimised coroutine frames, a false positive.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<NOT:$<CONFIG:Debug>>>:-Wno-mismatched-new-delete>)
if(TIMMD_WERROR)
  target_compile_options(timmd_warnings INTERFACE -Werror)
endif()

add_library(timmd_sanitizers INTERFACE)
if(TIMMD_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_compile_options(timmd_sanitizers INTERFACE ${_san})
  target_link_options(timmd_sanitizers INTERFACE ${_san})
  # The Asio library is compiled with the same flags so container overflow checks agree.
  target_compile_options(timmd_asio PRIVATE ${_san})
endif()

# Usage: timmd_target_defaults(target) applies warnings and sanitizers to a project target.
function(timmd_target_defaults target)
  target_link_libraries(${target} PRIVATE timmd_warnings timmd_sanitizers)
endfunction()
