# The umbrella test: attnkit.cuh must include every header under include/attnkit/, and name
# none that is gone. A header added without its line in the umbrella fails here, naming it,
# rather than being missed by the users who include only attnkit.cuh.
#
#   cmake -DATTNKIT_INCLUDE_DIR=<src>/include -P check_umbrella.cmake
#
# No header is exempt, reference/ included: the oracles are a documented, supported API
# (docs/reference.md), and including them costs parse time only (every kernel in them is a
# template, and nothing links cuBLAS or a threads library until it is called). To exempt a
# header, add it to `not_in_umbrella` with the reason, and say so in attnkit.cuh.
cmake_minimum_required(VERSION 3.25)

if(NOT ATTNKIT_INCLUDE_DIR)
  message(FATAL_ERROR "check_umbrella: pass -DATTNKIT_INCLUDE_DIR=<attnkit's include directory>")
endif()
set(header_dir "${ATTNKIT_INCLUDE_DIR}/attnkit")
set(umbrella "${header_dir}/attnkit.cuh")
if(NOT EXISTS "${umbrella}")
  message(FATAL_ERROR "check_umbrella: ${umbrella} does not exist")
endif()

# Paths relative to include/attnkit/.
set(not_in_umbrella "")

file(GLOB_RECURSE headers RELATIVE "${header_dir}" "${header_dir}/*.cuh")
list(REMOVE_ITEM headers attnkit.cuh)
list(SORT headers)

# The umbrella's includes, in either spelling: "core/config.cuh" (beside it) or
# <attnkit/core/config.cuh>.
file(STRINGS "${umbrella}" include_lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
set(included "")
foreach(line IN LISTS include_lines)
  if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\"")
    list(APPEND included "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^[ \t]*#[ \t]*include[ \t]*<attnkit/([^>]+)>")
    list(APPEND included "${CMAKE_MATCH_1}")
  endif()
endforeach()

set(missing "")
foreach(header IN LISTS headers)
  if(NOT header IN_LIST included AND NOT header IN_LIST not_in_umbrella)
    list(APPEND missing "${header}")
  endif()
endforeach()

# An exemption or an include left behind by a rename or a removal.
set(stale "")
foreach(header IN LISTS included not_in_umbrella)
  if(NOT EXISTS "${header_dir}/${header}")
    list(APPEND stale "${header}")
  endif()
endforeach()

set(problems "")
if(missing)
  list(LENGTH missing count)
  string(APPEND problems "attnkit.cuh does not include ${count} header(s); add, in its layer's group:\n")
  foreach(header IN LISTS missing)
    string(APPEND problems "  #include \"${header}\"\n")
  endforeach()
endif()
if(stale)
  string(APPEND problems "attnkit.cuh or this script's exemptions name header(s) that do not exist:\n")
  foreach(header IN LISTS stale)
    string(APPEND problems "  ${header}\n")
  endforeach()
endif()
if(problems)
  message(FATAL_ERROR "${problems}")
endif()

list(LENGTH headers count)
message(STATUS "attnkit.cuh includes all ${count} headers under ${header_dir}")
