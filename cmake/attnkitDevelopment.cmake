# Settings for attnkit's own tests, benchmarks and examples (never applied to consumers).

set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)

option(ATTNKIT_PTXAS_VERBOSE "Print registers, shared memory and spills of every kernel" OFF)

# Flags for every CUDA target attnkit builds for itself.
add_library(attnkit_dev_flags INTERFACE)
target_compile_options(attnkit_dev_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo -Xcudafe=--display_error_number>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${ATTNKIT_PTXAS_VERBOSE}>>:-Xptxas=-v>)
target_link_libraries(attnkit_dev_flags INTERFACE attnkit::attnkit)

# Targets that exist to be run on the GPU at hand, not to check that a kernel family compiles
# for every architecture (the per-family tests do that): the benchmarks and the fuzzer. They
# compile the most kernels of any target, so by default they are built for the newest
# architecture of the list only; set ATTNKIT_RUN_ARCHITECTURES (e.g. "80" for an A100, or the
# whole list) to choose.
list(GET CMAKE_CUDA_ARCHITECTURES -1 _attnkit_newest_architecture)
set(ATTNKIT_RUN_ARCHITECTURES "${_attnkit_newest_architecture}" CACHE STRING
    "CUDA architectures of the benchmarks and the fuzzer (default: the newest of CMAKE_CUDA_ARCHITECTURES)")

# attnkit_for_running(target): builds `target` for ATTNKIT_RUN_ARCHITECTURES.
function(attnkit_for_running target)
  set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES "${ATTNKIT_RUN_ARCHITECTURES}")
endfunction()
