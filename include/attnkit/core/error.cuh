#pragma once
// Host-side error reporting: every failure is an attnkit::error whose message names the bad
// value (a shape, a pointer, a CUDA status) and where it was detected.

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__CUDACC__) || __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define ATTNKIT_HAS_CUDA_RUNTIME 1
#endif

namespace attnkit {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Appends one part of a message. Text, numbers and pointers are formatted with snprintf, not
// through std::ostream's locale facets: an error raised in a host process whose C++ runtime
// is not the one the caller was compiled against (a Python extension loaded into an
// interpreter that brings its own) must still be reported rather than crash while its
// message is formatted. Other types go through their operator<<.
template <class T>
void append_part(std::string& out, const T& value) {
  char buffer[64];
  if constexpr (std::is_array_v<T> || std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
    out += value != nullptr ? static_cast<const char*>(value) : "(null)";
  } else if constexpr (std::is_same_v<T, std::string>) {
    out += value;
  } else if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_same_v<T, char>) {
    out += value;
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(value));
    out += buffer;
  } else if constexpr (std::is_integral_v<T>) {
    std::snprintf(buffer, sizeof buffer, "%llu", static_cast<unsigned long long>(value));
    out += buffer;
  } else if constexpr (std::is_floating_point_v<T>) {
    std::snprintf(buffer, sizeof buffer, "%g", static_cast<double>(value));
    out += buffer;
  } else if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
    std::snprintf(buffer, sizeof buffer, "%p", static_cast<const void*>(value));
    out += buffer;
  } else {
    std::ostringstream stream;
    stream << value;
    out += stream.str();
  }
}

// Builds a message from any streamable pieces: fail("head_dim = ", d, " is not supported").
template <class... Parts>
[[noreturn]] inline void fail(const Parts&... parts) {
  std::string message = "attnkit: ";
  (append_part(message, parts), ...);
  throw error(message);
}
}  // namespace detail

// Throws attnkit::error with `parts` as the message unless `condition` holds.
template <class... Parts>
inline void require(bool condition, const Parts&... parts) {
  if (!condition) detail::fail(parts...);
}

#ifdef ATTNKIT_HAS_CUDA_RUNTIME
inline void check_cuda(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    detail::fail(what, " failed: ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ") at ",
                 file, ":", line);
}
#endif

}  // namespace attnkit

// Checks a CUDA runtime call; throws attnkit::error naming the call and the status.
#define ATTNKIT_CUDA_CHECK(call) ::attnkit::check_cuda((call), #call, __FILE__, __LINE__)
// Checks that the last kernel launch was accepted (bad configuration, too much shared memory).
#define ATTNKIT_CHECK_LAUNCH() ::attnkit::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
