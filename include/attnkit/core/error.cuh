#pragma once
// Host-side error reporting: every failure is an attnkit::error whose message names the bad
// value (a shape, a pointer, a CUDA status) and where it was detected.

#include <sstream>
#include <stdexcept>
#include <string>

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
// Builds a message from any streamable pieces: fail("head_dim = ", d, " is not supported").
template <class... Parts>
[[noreturn]] inline void fail(const Parts&... parts) {
  std::ostringstream message;
  message << "attnkit: ";
  (message << ... << parts);
  throw error(message.str());
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
