"""Builds attnkit_torch ahead of time, so nothing compiles at import:

    pip install --no-build-isolation examples/pytorch

(--no-build-isolation: the build compiles against the torch already installed, whose version
the wheel then needs.) From an attnkit checkout: the kernels are attnkit's headers, compiled
into the extension; the wheel needs no headers afterwards.

    ATTNKIT_TORCH_HEAD_DIMS   head dims to build (default "64 128"; any of 32 64 96 128 192 256)
    TORCH_CUDA_ARCH_LIST      architectures (default "8.0;9.0a": the sm_80 kernels, which also
                              run on sm_86/89, and the Hopper ones, which need sm_90a)
    MAX_JOBS                  parallel compile jobs (torch's variable)
"""
import importlib.util
import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
# attnkit_torch/_sources.py by path: importing the package would need the extension built.
_spec = importlib.util.spec_from_file_location("attnkit_torch_sources", os.path.join(HERE, "attnkit_torch", "_sources.py"))
sources = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sources)

os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0a")
from torch.utils.cpp_extension import BuildExtension, CUDAExtension  # noqa: E402  (reads the arch list)

if not os.path.isdir(sources.INCLUDE):
    raise SystemExit(f"attnkit_torch: attnkit's headers are not at {sources.INCLUDE}; build from an attnkit checkout")

extension = CUDAExtension(
    name="attnkit_torch._C",
    sources=[os.path.relpath(p, HERE) for p in sources.sources(os.path.join(HERE, "build", "aot"),
                                                              sources.head_dims_from_env())],
    include_dirs=[sources.INCLUDE, sources.CSRC],
    extra_compile_args={"cxx": sources.CXX_FLAGS, "nvcc": sources.CUDA_FLAGS},
)


def attnkit_version():
    """The release attnkit's headers declare (include/attnkit/version.cuh), as CMake reads it."""
    text = open(os.path.join(sources.INCLUDE, "attnkit", "version.cuh")).read()
    parts = [re.search(rf"#define ATTNKIT_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


setup(
    name="attnkit_torch",
    version=attnkit_version(),
    description="attnkit's attention kernels behind flash-attn's function signatures",
    packages=["attnkit_torch"],
    ext_modules=[extension],
    cmdclass={"build_ext": BuildExtension},
    python_requires=">=3.9",
)
