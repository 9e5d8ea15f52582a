#pragma once
// attnkit's version: the one place it is written. CMakeLists.txt reads the three numbers below
// for project(VERSION), so the installed package (attnkitConfigVersion.cmake) and the headers
// always agree. Semantic versioning; before 1.0 a minor release may change the API, and the
// package accepts only the same major.minor (SameMinorVersion).
//
//   #if ATTNKIT_VERSION >= 200     // 0.2.0 or later: major · 10000 + minor · 100 + patch
//   std::puts(attnkit::version()); // "0.2.0"

// Each on its own line as `#define NAME number`: CMakeLists.txt matches exactly that form.
#define ATTNKIT_VERSION_MAJOR 0
#define ATTNKIT_VERSION_MINOR 2
#define ATTNKIT_VERSION_PATCH 0

// One integer for preprocessor comparisons, as CUDART_VERSION and CUB_VERSION are.
#define ATTNKIT_VERSION (ATTNKIT_VERSION_MAJOR * 10000 + ATTNKIT_VERSION_MINOR * 100 + ATTNKIT_VERSION_PATCH)

// Two levels, so that the numbers are spelled out rather than the macros' names.
#define ATTNKIT_DETAIL_STRINGIZE_VALUE(x) #x
#define ATTNKIT_DETAIL_STRINGIZE(x) ATTNKIT_DETAIL_STRINGIZE_VALUE(x)

namespace attnkit {

// "major.minor.patch" of the headers this unit was compiled against.
constexpr const char* version() {
  return ATTNKIT_DETAIL_STRINGIZE(ATTNKIT_VERSION_MAJOR) "." ATTNKIT_DETAIL_STRINGIZE(
      ATTNKIT_VERSION_MINOR) "." ATTNKIT_DETAIL_STRINGIZE(ATTNKIT_VERSION_PATCH);
}

}  // namespace attnkit
