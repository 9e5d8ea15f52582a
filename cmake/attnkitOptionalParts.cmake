# Which of attnkit's own parts to build: tests, benchmarks, examples. Installing the headers needs
# none of them, so `cmake -S . -B build && cmake --install build` must work on a machine without
# Catch2 or Google Benchmark.
#
# As the top-level project each part defaults to ON when everything it needs is found, and to OFF
# otherwise, with a message naming what is missing; as a subproject each defaults to OFF. The
# default is worked out again at every configure, so installing a dependency later turns its part
# on. A value the user gives (-D, the cache editor, or a variable set before add_subdirectory) is
# kept, and ON with a dependency missing stops the configure naming the package to install.
#
# What each part needs:
#   tests       a CUDA compiler, Catch2 3, Threads (the CPU reference runs on std::thread), cuBLAS
#               (the standard-attention oracle)
#   benchmarks  a CUDA compiler, Google Benchmark, cuBLAS (the standard-attention baseline)
#   examples    a CUDA compiler
# Run after find_package(CUDAToolkit), which defines CUDA::cublas when the toolkit has it.

include(CheckLanguage)

# Probed only when some part may be built, so a consumer's configure pays nothing for them.
if(PROJECT_IS_TOP_LEVEL OR ATTNKIT_BUILD_TESTS OR ATTNKIT_BUILD_BENCH OR ATTNKIT_BUILD_EXAMPLES)
  check_language(CUDA)
  find_package(Threads QUIET)
  find_package(Catch2 3 QUIET)
  find_package(benchmark QUIET)
endif()

set(_attnkit_missing_cuda "")
if(NOT CMAKE_CUDA_COMPILER)
  set(_attnkit_missing_cuda "a CUDA compiler (nvcc on PATH, or -DCMAKE_CUDA_COMPILER=<path>)")
endif()
set(_attnkit_missing_cublas "")
if(NOT TARGET CUDA::cublas)
  set(_attnkit_missing_cublas "cuBLAS (part of the CUDA toolkit)")
endif()

set(_attnkit_missing_tests ${_attnkit_missing_cuda} ${_attnkit_missing_cublas})
if(NOT Catch2_FOUND)
  list(APPEND _attnkit_missing_tests
    "Catch2 3 (Debian: libcatch2-dev from bookworm-backports, or -DCatch2_DIR=<its cmake dir>)")
endif()
if(NOT Threads_FOUND)
  list(APPEND _attnkit_missing_tests "a threads library (CMake's Threads package)")
endif()

set(_attnkit_missing_bench ${_attnkit_missing_cuda} ${_attnkit_missing_cublas})
if(NOT benchmark_FOUND)
  list(APPEND _attnkit_missing_bench
    "Google Benchmark (Debian: libbenchmark-dev, or -Dbenchmark_DIR=<its cmake dir>)")
endif()

set(_attnkit_missing_examples ${_attnkit_missing_cuda})

# attnkit_part_option(<option> <what it builds> <missing...>): sets <option> as described above.
# The marker ATTNKIT_AUTO_<option> holds the value chosen automatically; a cached value that
# differs from it was set by the user.
function(attnkit_part_option option what)
  set(missing ${ARGN})
  set(chosen_by_user FALSE)
  if(DEFINED ${option})
    set(chosen_by_user TRUE)
    if(DEFINED CACHE{ATTNKIT_AUTO_${option}})
      if((${option} AND ATTNKIT_AUTO_${option}) OR (NOT ${option} AND NOT ATTNKIT_AUTO_${option}))
        set(chosen_by_user FALSE)
      endif()
    endif()
  endif()

  set(help "Build ${what} (default: ON for the top-level project when their dependencies are found)")
  if(chosen_by_user)
    unset(ATTNKIT_AUTO_${option} CACHE)
    if(DEFINED CACHE{${option}})
      # A -D without a type leaves the entry untyped; the cache editor should show a checkbox.
      set_property(CACHE ${option} PROPERTY TYPE BOOL)
      set_property(CACHE ${option} PROPERTY HELPSTRING "${help}")
    endif()
    if(${option} AND missing)
      list(JOIN missing "\n  - " missing_text)
      message(FATAL_ERROR "attnkit: ${option} is ON, but ${what} need what was not found:\n"
        "  - ${missing_text}\n"
        "Install what is missing and configure again, or pass -D${option}=OFF.")
    endif()
    return()
  endif()

  set(value OFF)
  if(PROJECT_IS_TOP_LEVEL AND NOT missing)
    set(value ON)
  endif()
  set(${option} ${value} CACHE BOOL "${help}" FORCE)
  set(ATTNKIT_AUTO_${option} ${value} CACHE INTERNAL "")
  if(PROJECT_IS_TOP_LEVEL AND missing)
    list(JOIN missing "\n  - " missing_text)
    message(STATUS "attnkit: ${option} is OFF: ${what} need what was not found:\n"
      "  - ${missing_text}\n"
      "   Install what is missing and configure again (the part then turns on by itself), or pass "
      "-D${option}=ON to require it. The library and its install need none of this.")
  endif()
endfunction()

attnkit_part_option(ATTNKIT_BUILD_TESTS "attnkit's tests" ${_attnkit_missing_tests})
attnkit_part_option(ATTNKIT_BUILD_BENCH "attnkit's benchmarks" ${_attnkit_missing_bench})
attnkit_part_option(ATTNKIT_BUILD_EXAMPLES "attnkit's examples" ${_attnkit_missing_examples})
