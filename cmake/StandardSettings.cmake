# Warnings (as errors with DBKEEP_WERROR, which the presets and CI turn on) and sanitizers, as INTERFACE targets
# that every dbkeep target links.
add_library(dbkeep_warnings INTERFACE)
if(DBKEEP_WERROR)
  target_compile_options(dbkeep_warnings INTERFACE -Werror)
endif()
# GCC 12 at -O3 raises false -Wrestrict warnings inside libstdc++'s std::string (GCC bugs 105329 and 105651,
# fixed in GCC 13) wherever a string is built with operator+: off for that compiler only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(dbkeep_warnings INTERFACE -Wno-restrict)
endif()
target_compile_options(dbkeep_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wimplicit-fallthrough -Wno-missing-field-initializers)

add_library(dbkeep_sanitizers INTERFACE)
if(DBKEEP_SANITIZE)
  # -O1, as AddressSanitizer's documentation advises for reasonable speed: at -O0 every std::span and iterator
  # call in the byte loops (RDB, pg_dump archive, streams) is a checked out-of-line call, and the sanitized
  # integration tests spent most of their time there. Frame pointers keep the reports' stacks whole.
  target_compile_options(dbkeep_sanitizers INTERFACE -O1 -fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  # GCC 12 with the sanitizers' instrumentation at -O1 warns of maybe-uninitialized members inside libstdc++'s own
  # <regex> and <functional>; the release build (-O3, no sanitizers) keeps the warning for dbkeep's code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(dbkeep_sanitizers INTERFACE -Wno-maybe-uninitialized)
  endif()
  target_link_options(dbkeep_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
