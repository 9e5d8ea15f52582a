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
