# Files built into the parley binary: each becomes a C array, so the server serves
# it from memory with no path to look up at run time and no copy to install.
#
# Included by the top CMakeLists.txt, this file defines parley_embed() and
# parley_embed_web(). Run as a script (cmake -P) at build time, it writes their C
# source; it is CMake rather than xxd or gzip so the build needs nothing besides
# CMake and a C compiler.

# s_c_array(FILE SYMBOL STORAGE OUT): sets OUT to the C definition of FILE's bytes
# as `STORAGE const unsigned char SYMBOL[]`, with a NUL after them (so the bytes are
# `sizeof SYMBOL - 1`); STORAGE is "" or "static".
function(s_c_array file symbol storage out)
  file(READ "${file}" hex HEX)
  # 16 bytes a line (CMake's regular expressions have no {n}, hence REPEAT).
  string(REPEAT "[0-9a-f][0-9a-f]" 16 line)
  string(REGEX REPLACE "(${line})" "\\1\n    " hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  if(storage)
    set(storage "${storage} ")
  endif()
  set(${out}
      "${storage}const unsigned char ${symbol}[] = {\n    ${bytes}0x00};\n" PARENT_SCOPE)
endfunction()

# The browser client's types, by extension.
set(s_web_types_html "text/html; charset=utf-8")
set(s_web_types_js "text/javascript; charset=utf-8")
set(s_web_types_css "text/css; charset=utf-8")
set(s_web_types_svg "image/svg+xml")
set(s_web_types_png "image/png")

# s_embed_web(DIR OUTPUT WORK): the browser client (every file of DIR) as one C file:
# each file's bytes and their gzip (made in WORK), a table pl_web_assets, and
# pl_web_version, the first 16 hex digits of a SHA-256 over every file's name and
# bytes. The version names the directory the assets are served from, so a changed
# file changes every asset's url and a browser may cache them for ever. In
# index.html, "{{version}}" is written as the version.
function(s_embed_web dir output work)
  file(GLOB names RELATIVE "${dir}" "${dir}/*")
  list(SORT names)
  set(manifest "")
  foreach(name ${names})
    file(SHA256 "${dir}/${name}" sum)
    string(APPEND manifest "${name} ${sum}\n")
  endforeach()
  string(SHA256 version "${manifest}")
  string(SUBSTRING "${version}" 0 16 version)
  file(MAKE_DIRECTORY "${work}")
  set(arrays "")
  set(rows "")
  set(i 0)
  foreach(name ${names})
    get_filename_component(ext "${name}" LAST_EXT)
    string(SUBSTRING "${ext}" 1 -1 ext)
    set(type "${s_web_types_${ext}}")
    if(NOT type)
      message(FATAL_ERROR "embed: no type for ${dir}/${name}")
    endif()
    # The file as served: index.html with its version written in.
    set(served "${work}/${name}")
    file(READ "${dir}/${name}" text)
    if(name STREQUAL "index.html")
      string(REPLACE "{{version}}" "${version}" text "${text}")
      file(WRITE "${served}" "${text}")
    else()
      configure_file("${dir}/${name}" "${served}" COPYONLY)
    endif()
    # gzip from CMake's libarchive: a "raw" archive of one file is its gzip stream.
    file(ARCHIVE_CREATE OUTPUT "${served}.gz" PATHS "${served}" FORMAT raw
         COMPRESSION GZip COMPRESSION_LEVEL 9)
    # The arrays are static: the table is how they are reached.
    s_c_array("${served}" s_web_${i} static raw)
    s_c_array("${served}.gz" s_web_${i}_gz static gz)
    string(APPEND arrays "${raw}${gz}")
    string(APPEND rows "    {\"${name}\", \"${type}\", s_web_${i}, sizeof s_web_${i} - 1,\n"
                       "     s_web_${i}_gz, sizeof s_web_${i}_gz - 1},\n")
    math(EXPR i "${i} + 1")
  endforeach()
  file(WRITE "${output}"
       "/* Generated from ${dir} by src/assets/embed.cmake; do not edit. */\n"
       "#include \"parley/assets.h\"\n\n"
       "${arrays}\n"
       "const char pl_web_version[] = \"${version}\";\n"
       "const pl_web_asset_t pl_web_assets[] = {\n${rows}};\n"
       "const size_t pl_web_asset_count = ${i};\n")
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  if(DEFINED WEB_DIR)
    # cmake -DWEB_DIR=dir -DOUTPUT=file.c -DWORK=dir -P embed.cmake
    s_embed_web("${WEB_DIR}" "${OUTPUT}" "${WORK}")
  else()
    # cmake -DINPUT=file -DOUTPUT=file.c -DSYMBOL=name -P embed.cmake
    get_filename_component(name "${INPUT}" NAME)
    s_c_array("${INPUT}" "${SYMBOL}" "" array)
    file(WRITE "${OUTPUT}"
         "/* Generated from ${name} by src/assets/embed.cmake; do not edit. */\n"
         "#include <stddef.h>\n\n" "${array}"
         "const size_t ${SYMBOL}_size = sizeof ${SYMBOL} - 1;\n")
  endif()
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

# parley_embed_web(TARGET DIR): builds every file of DIR (relative to the source
# dir) into TARGET as pl_web_assets (include/parley/assets.h), regenerated when a
# file changes; a file added or removed reconfigures the build.
function(parley_embed_web target dir)
  set(input "${PROJECT_SOURCE_DIR}/${dir}")
  set(output "${PROJECT_BINARY_DIR}/embedded/pl_web_assets.c")
  file(GLOB files CONFIGURE_DEPENDS "${input}/*")
  add_custom_command(
    OUTPUT "${output}"
    COMMAND "${CMAKE_COMMAND}" -DWEB_DIR=${input} -DOUTPUT=${output}
            -DWORK=${PROJECT_BINARY_DIR}/embedded/web -P "${PARLEY_EMBED_SCRIPT}"
    DEPENDS ${files} "${PARLEY_EMBED_SCRIPT}"
    COMMENT "Embedding the browser client (${dir})"
    VERBATIM)
  target_sources(${target} PRIVATE "${output}")
endfunction()
