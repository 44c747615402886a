# Warnings (as errors with DBKEEP_WERROR, which the presets and CI turn on) and sanitizers, as INTERFACE targets
# that every dbkeep target links.
add_library(dbkeep_warnings INTERFACE)
if(DBKEEP_WERROR)
  target_compile_options(dbkeep_warnings INTERFACE -Werror)
endif()
target_compile_options(dbkeep_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wimplicit-fallthrough -Wno-missing-field-initializers)

add_library(dbkeep_sanitizers INTERFACE)
if(DBKEEP_SANITIZE)
  target_compile_options(dbkeep_sanitizers INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  target_link_options(dbkeep_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
