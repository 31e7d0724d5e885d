# Files built into the parley binary: each becomes a C array, so the server serves
# it from memory with no path to look up at run time and no copy to install.
#
# Included by the top CMakeLists.txt, this file defines parley_embed(). Run as a
# script (cmake -P) at build time, it writes one file's C source; it is CMake
# rather than xxd so the build needs nothing besides CMake and a C compiler.

if(CMAKE_SCRIPT_MODE_FILE)
  # cmake -DINPUT=file -DOUTPUT=file.c -DSYMBOL=name -P embed.cmake
  file(READ "${INPUT}" hex HEX)
  string(LENGTH "${hex}" hex_len)
  math(EXPR size "${hex_len} / 2")
  # 16 bytes a line (CMake's regular expressions have no {n}, hence REPEAT).
  string(REPEAT "[0-9a-f][0-9a-f]" 16 line)
  string(REGEX REPLACE "(${line})" "\\1\n    " hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  get_filename_component(name "${INPUT}" NAME)
  file(WRITE "${OUTPUT}"
       "/* Generated from ${name} by src/assets/embed.cmake; do not edit. */\n"
       "#include <stddef.h>\n\n"
       "const unsigned char ${SYMBOL}[] = {\n    ${bytes}0x00};\n"
       "const size_t ${SYMBOL}_size = ${size};\n")
  return()
endif()

set(PARLEY_EMBED_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

# parley_embed(TARGET FILE SYMBOL): builds FILE (relative to the source dir) into
# TARGET as `const unsigned char SYMBOL[]` (with a NUL after the bytes, which it
# does not count) and `const size_t SYMBOL_size`, regenerated when FILE changes.
function(parley_embed target file symbol)
  set(input "${PROJECT_SOURCE_DIR}/${file}")
  set(output "${PROJECT_BINARY_DIR}/embedded/${symbol}.c")
  add_custom_command(
    OUTPUT "${output}"
    COMMAND "${CMAKE_COMMAND}" -DINPUT=${input} -DOUTPUT=${output} -DSYMBOL=${symbol}
            -P "${PARLEY_EMBED_SCRIPT}"
    DEPENDS "${input}" "${PARLEY_EMBED_SCRIPT}"
    COMMENT "Embedding ${file} as ${symbol}"
    VERBATIM)
  target_sources(${target} PRIVATE "${output}")
endfunction()
