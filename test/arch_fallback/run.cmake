# The architecture-fallback test: builds test/arch_fallback for each of the architectures given
# and runs it, expecting the kernel family named beside each (90a:hopper, 90:sm80, 80:sm80). On a
# machine without a GPU it builds nothing and prints "arch_fallback: skipped", which CTest
# reports as skipped (SKIP_REGULAR_EXPRESSION).
#
#   cmake -DATTNKIT_SOURCE_DIR=<src> -DWORK_DIR=<scratch> "-DBUILDS=90:sm80;80:sm80;90a:hopper"
#         [-DGENERATOR=Ninja] -P run.cmake
cmake_minimum_required(VERSION 3.25)

foreach(required ATTNKIT_SOURCE_DIR WORK_DIR BUILDS)
  if(NOT ${required})
    message(FATAL_ERROR "arch_fallback: pass -D${required}=...")
  endif()
endforeach()

# Without a GPU the builds prove nothing the compile checks of the main build do not.
execute_process(COMMAND nvidia-smi -L RESULT_VARIABLE smi_result OUTPUT_VARIABLE smi_output ERROR_QUIET)
if(NOT smi_result EQUAL 0 OR NOT smi_output MATCHES "GPU")
  message("arch_fallback: skipped: no GPU (nvidia-smi -L found none)")
  return()
endif()

set(generator_args "")
if(GENERATOR)
  set(generator_args -G "${GENERATOR}")
endif()

foreach(build ${BUILDS})
  string(REPLACE ":" ";" build "${build}")
  list(GET build 0 architecture)
  list(GET build 1 expected)
  set(build_dir "${WORK_DIR}/sm${architecture}")
  message(STATUS "arch_fallback: CMAKE_CUDA_ARCHITECTURES=${architecture}, expecting ${expected} on a Hopper GPU")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S "${ATTNKIT_SOURCE_DIR}/test/arch_fallback" -B "${build_dir}" ${generator_args}
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=${architecture} -DATTNKIT_SOURCE_DIR=${ATTNKIT_SOURCE_DIR}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "configure for ${architecture} failed:\n${output}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build "${build_dir}" RESULT_VARIABLE result OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "build for ${architecture} failed:\n${output}")
  endif()
  execute_process(COMMAND "${build_dir}/arch_fallback" ${expected} RESULT_VARIABLE result OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  message("${output}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "arch_fallback built for ${architecture} failed (${result})")
  endif()
endforeach()
