# The package test: installs attnkit to a fresh prefix and builds examples/consumer against
# that prefix alone, the way a user who never saw the source tree would. Catches what an
# in-tree build cannot: a header left out of the install, a build-tree path leaking into the
# exported target, a broken config or version file, a dependency the config forgets to find.
#
#   cmake -DATTNKIT_SOURCE_DIR=<src> -DWORK_DIR=<scratch dir>
#         [-DCUDA_ARCHITECTURES=80;90a] [-DGENERATOR=Ninja] [-DCUDA_COMPILER=<nvcc>]
#         -P test_install_and_consume.cmake
cmake_minimum_required(VERSION 3.25)

foreach(required ATTNKIT_SOURCE_DIR WORK_DIR)
  if(NOT ${required})
    message(FATAL_ERROR "test_install_and_consume: pass -D${required}=...")
  endif()
endforeach()

# An unquoted list in add_test(COMMAND ...) arrives split: "-DCUDA_ARCHITECTURES=80;90a" comes
# as "-DCUDA_ARCHITECTURES=80" followed by a bare "90a". Gather the bare words back.
math(EXPR last_arg "${CMAKE_ARGC} - 1")
set(in_architectures FALSE)
foreach(index RANGE ${last_arg})
  set(arg "${CMAKE_ARGV${index}}")
  if(arg MATCHES "^-DCUDA_ARCHITECTURES=")
    set(in_architectures TRUE)
  elseif(arg MATCHES "^-")
    set(in_architectures FALSE)
  elseif(in_architectures)
    list(APPEND CUDA_ARCHITECTURES "${arg}")
  endif()
endforeach()

# One architecture is enough to prove the package works and costs a single device compile:
# the lowest one given (natural order puts 80 before 90a before 100).
set(consumer_architecture "")
if(CUDA_ARCHITECTURES)
  set(architectures ${CUDA_ARCHITECTURES})
  list(SORT architectures COMPARE NATURAL)
  list(GET architectures 0 consumer_architecture)
endif()

set(build_dir "${WORK_DIR}/build")
set(prefix "${WORK_DIR}/prefix")
set(consumer_build_dir "${WORK_DIR}/consumer")
set(version_probe_dir "${WORK_DIR}/version_probe")

set(generator_args "")
if(GENERATOR)
  set(generator_args -G "${GENERATOR}")
endif()

# Nothing may point find_package at a copy of attnkit other than the fresh prefix.
unset(ENV{attnkit_DIR})
unset(ENV{attnkit_ROOT})
unset(ENV{ATTNKIT_ROOT})

# Runs one step; on failure stops the test with the step's whole output.
function(run_step description)
  string(REPLACE ";" " " command_line "${ARGN}")
  message(STATUS "${description}: ${command_line}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${description} failed (${result}):\n${command_line}\n${output}")
  endif()
endfunction()

file(REMOVE_RECURSE "${build_dir}" "${prefix}" "${consumer_build_dir}" "${version_probe_dir}")

# 1. attnkit as a stand-alone project with nothing but the library, installed.
run_step("configure attnkit"
  ${CMAKE_COMMAND} -S "${ATTNKIT_SOURCE_DIR}" -B "${build_dir}" ${generator_args}
    -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_INSTALL_PREFIX=${prefix}
    -DATTNKIT_BUILD_TESTS=OFF -DATTNKIT_BUILD_BENCH=OFF -DATTNKIT_BUILD_EXAMPLES=OFF)
run_step("build attnkit" ${CMAKE_COMMAND} --build "${build_dir}")
run_step("install attnkit" ${CMAKE_COMMAND} --install "${build_dir}" --prefix "${prefix}")

# 2. The installed tree has the umbrella header and the package files where find_package looks.
foreach(installed_file
    include/attnkit/attnkit.cuh
    lib/cmake/attnkit/attnkitConfig.cmake
    lib/cmake/attnkit/attnkitConfigVersion.cmake
    lib/cmake/attnkit/attnkitTargets.cmake)
  if(NOT EXISTS "${prefix}/${installed_file}")
    file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
    list(JOIN installed "\n  " installed)
    message(FATAL_ERROR "installed tree lacks ${installed_file}; it holds:\n  ${installed}")
  endif()
endforeach()

# The package must be relocatable: no file under lib/cmake/attnkit may name the prefix or the
# source tree, or a copied install would still point at this machine's directories.
file(GLOB package_files "${prefix}/lib/cmake/attnkit/*.cmake")
foreach(package_file ${package_files})
  file(READ "${package_file}" contents)
  foreach(absolute_dir "${prefix}" "${ATTNKIT_SOURCE_DIR}" "${build_dir}")
    string(FIND "${contents}" "${absolute_dir}" position)
    if(NOT position EQUAL -1)
      message(FATAL_ERROR "${package_file} names the absolute path ${absolute_dir}; the package is not relocatable")
    endif()
  endforeach()
endforeach()

# 3. The version file: the release the headers declare (include/attnkit/version.cuh, which
# project() reads as well) is accepted, and the package reports exactly that version; a version
# not yet released (the next minor) is refused, so find_package succeeds because the version
# matches, not because the version file accepts anything. A project with no languages: the check
# costs no compiler.
file(STRINGS "${ATTNKIT_SOURCE_DIR}/include/attnkit/version.cuh" version_lines
  REGEX "^#define ATTNKIT_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
foreach(part MAJOR MINOR PATCH)
  if(NOT version_lines MATCHES "ATTNKIT_VERSION_${part} +([0-9]+)")
    message(FATAL_ERROR "include/attnkit/version.cuh has no line `#define ATTNKIT_VERSION_${part} <number>`")
  endif()
  set(header_version_${part} "${CMAKE_MATCH_1}")
endforeach()
set(header_release "${header_version_MAJOR}.${header_version_MINOR}")
set(header_version "${header_release}.${header_version_PATCH}")
string(CONFIGURE [=[
cmake_minimum_required(VERSION 3.25)
project(attnkit_version_probe LANGUAGES NONE)
find_package(attnkit @header_release@ REQUIRED)
if(NOT TARGET attnkit::attnkit)
  message(FATAL_ERROR "attnkit ${attnkit_VERSION} found without the target attnkit::attnkit")
endif()
if(NOT attnkit_VERSION VERSION_EQUAL "@header_version@")
  message(FATAL_ERROR "the package says ${attnkit_VERSION}, include/attnkit/version.cuh says @header_version@")
endif()
math(EXPR next_minor "${attnkit_VERSION_MINOR} + 1")
find_package(attnkit ${attnkit_VERSION_MAJOR}.${next_minor} QUIET)
if(attnkit_FOUND)
  message(FATAL_ERROR "attnkit ${attnkit_VERSION} accepted a request for ${attnkit_VERSION_MAJOR}.${next_minor}")
endif()
message(STATUS "attnkit ${attnkit_VERSION} from ${attnkit_DIR}")
]=] version_probe @ONLY)
file(WRITE "${version_probe_dir}/CMakeLists.txt" "${version_probe}")
run_step("find_package(attnkit ${header_release}) against the prefix"
  ${CMAKE_COMMAND} -S "${version_probe_dir}" -B "${version_probe_dir}/build" ${generator_args}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

# 4. The consumer, which sees the prefix and nothing else of attnkit.
set(consumer_args
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
if(consumer_architecture)
  list(APPEND consumer_args -DCMAKE_CUDA_ARCHITECTURES=${consumer_architecture})
endif()
if(CUDA_COMPILER)
  list(APPEND consumer_args -DCMAKE_CUDA_COMPILER=${CUDA_COMPILER})
endif()
run_step("configure the consumer"
  ${CMAKE_COMMAND} -S "${ATTNKIT_SOURCE_DIR}/examples/consumer" -B "${consumer_build_dir}" ${generator_args}
    ${consumer_args})

# find_package must have used the prefix, not a stray copy found on some other path.
file(STRINGS "${consumer_build_dir}/CMakeCache.txt" found_dir REGEX "^attnkit_DIR:")
string(REGEX REPLACE "^attnkit_DIR:[A-Z]+=" "" found_dir "${found_dir}")
file(REAL_PATH "${found_dir}" found_dir)
file(REAL_PATH "${prefix}/lib/cmake/attnkit" expected_dir)
if(NOT found_dir STREQUAL expected_dir)
  message(FATAL_ERROR "the consumer found attnkit in ${found_dir}, not in ${expected_dir}")
endif()

# ...and its compile lines must reach attnkit's headers through the prefix only.
if(EXISTS "${consumer_build_dir}/compile_commands.json")
  file(READ "${consumer_build_dir}/compile_commands.json" compile_commands)
  string(FIND "${compile_commands}" "${ATTNKIT_SOURCE_DIR}/include" position)
  if(NOT position EQUAL -1)
    message(FATAL_ERROR "the consumer compiles against ${ATTNKIT_SOURCE_DIR}/include, not the installed headers")
  endif()
endif()

run_step("build the consumer" ${CMAKE_COMMAND} --build "${consumer_build_dir}")

# 5. Run it: without a GPU it reports the kernel as skipped and exits 0; with one it checks the
# kernel's count against the host's.
file(GLOB consumer_executable "${consumer_build_dir}/consumer" "${consumer_build_dir}/consumer.exe"
  "${consumer_build_dir}/*/consumer.exe")
if(NOT consumer_executable)
  message(FATAL_ERROR "the consumer built, but no executable named consumer is in ${consumer_build_dir}")
endif()
list(GET consumer_executable 0 consumer_executable)
execute_process(COMMAND "${consumer_executable}" RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the consumer failed (${result}):\n${output}")
endif()
message(STATUS "${output}")
if(NOT consumer_architecture)
  set(consumer_architecture "CMake's default")
endif()
message(STATUS "attnkit installed to ${prefix} and consumed from there (CUDA architecture: ${consumer_architecture})")
