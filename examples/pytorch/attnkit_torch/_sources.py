"""The extension's sources, shared by the on-first-use build (__init__._load) and the
ahead-of-time one (setup.py): the two fixed units and one generated unit per (head dim, score
modification) for the dense kernels and per (head dim, modification) for the block-sparse ones,
so that the compiler runs them in parallel. No torch import here: setup.py loads this file
before anything is built."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "include"))  # attnkit's headers
CSRC = os.path.join(HERE, "csrc")
# csrc/kernels.h's ScoreModKind by name. The block-sparse entry takes one modification at a
# time, so it has no units for alibi_softcap.
SCORE_MODS = ("none", "softcap", "alibi", "alibi_softcap")
SPARSE_SCORE_MODS = ("none", "softcap", "alibi")
HEAD_DIMS = (32, 64, 96, 128, 192, 256)


def head_dims_from_env(default="64 128"):
    """ATTNKIT_TORCH_HEAD_DIMS ("64 128", commas allowed), checked against the kernels that exist."""
    dims = [int(d) for d in os.environ.get("ATTNKIT_TORCH_HEAD_DIMS", default).replace(",", " ").split()]
    unknown = [d for d in dims if d not in HEAD_DIMS]
    if unknown or not dims:
        raise ValueError(f"attnkit_torch: ATTNKIT_TORCH_HEAD_DIMS = {os.environ.get('ATTNKIT_TORCH_HEAD_DIMS')!r}: "
                         f"each must be one of {' '.join(map(str, HEAD_DIMS))}")
    return dims


def sources(build_dir, head_dims):
    """The source paths, the generated units written into build_dir (rewritten only when their
    text changes, so an unchanged unit keeps the compiler's cache)."""
    os.makedirs(build_dir, exist_ok=True)
    paths = [os.path.join(CSRC, "binding.cpp"), os.path.join(CSRC, "block_masks.cu")]
    units = [("kernels", "kernels.cuh", "ATTNKIT_TORCH_REGISTER", SCORE_MODS),
             ("sparse", "block_sparse.cuh", "ATTNKIT_TORCH_REGISTER_SPARSE", SPARSE_SCORE_MODS)]
    for d in head_dims:
        for prefix, header, register, mods in units:
            for mod in mods:
                path = os.path.join(build_dir, f"{prefix}_d{d}_{mod}.cu")
                text = f'#include "{header}"\n{register}({d}, {mod})\n'
                if not os.path.exists(path) or open(path).read() != text:
                    with open(path, "w") as f:
                        f.write(text)
                paths.append(path)
    return paths


CUDA_FLAGS = ["-O3", "--expt-relaxed-constexpr"]
CXX_FLAGS = ["-O2"]  # torch picks the C++ standard its headers need
