#!/usr/bin/env bash
# One command on a GPU machine: configure and build everything with ninja, run every test
# (GPU tests included) and the benchmarks, and write the results under OUT_DIR:
#   build.log                       the build
#   ctest.log, ctest.xml            the test run (JUnit XML)
#   bench_<name>.json               one Google Benchmark JSON per benchmark executable
#   peers.json, peers.log           PyTorch SDPA / FlexAttention on the same grid (with --peers)
#   summary.txt                     a short table of TFLOP/s per benchmark row
#
# usage: scripts/gpu_run.sh OUT_DIR [--preset NAME] [--peers PATH/TO/peers.py] [--peers-args "..."]
#                                   [--bench-filter REGEX] [--tests-only] [--bench-only]
#                                   [--targets "T1 T2 ..."] [--tests-regex REGEX] [--pytorch] [--sanitize]
# --pytorch also builds the PyTorch extension (examples/pytorch) and runs its pytest suite
# (pytorch.log).
# --sanitize runs compute-sanitizer's memcheck, racecheck and synccheck over a reduced matrix
# that reaches every kernel family: the fuzzer (12 random shapes through the dispatch, forward
# and backward) and the examples (own_kernel: the sm_80 blocks, block_sparse: FA2 sparse,
# hopper_kernel: the Hopper roles, decode_paged: decode); sanitize_<tool>_<program>.log each,
# sanitize.txt the error counts. Any finding fails the run.
# --targets builds only those targets (benchmarks not built are not run); --tests-regex runs
# only the CTest tests it matches.
# The preset defaults to h100 (sm_90a only, for H100/H200); `default` builds sm_80 as well.
set -euo pipefail

out_dir=${1:?usage: scripts/gpu_run.sh OUT_DIR [options]}
shift
preset=h100
peers=""
peers_args="--no-bwd"
bench_filter="."
run_tests=true
run_bench=true
run_sanitize=false
targets=()
tests_regex=""
run_pytorch=false
while (( $# > 0 )); do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --peers-args) peers_args=$2; shift 2 ;;
    --bench-filter) bench_filter=$2; shift 2 ;;
    --tests-only) run_bench=false; shift ;;
    --bench-only) run_tests=false; shift ;;
    --targets) read -r -a targets <<< "$2"; shift 2 ;;
    --tests-regex) tests_regex=$2; shift 2 ;;
    --pytorch) run_pytorch=true; shift ;;
    --sanitize) run_sanitize=true; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p "${out_dir}"
out_dir=$(cd "${out_dir}" && pwd)
build_dir=build/${preset}

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "${out_dir}/gpu.txt" || true
# The SM clock, temperature and power at each phase: a hot GPU clocks lower, and attnkit's rows
# and the peers' are timed at different moments of the run.
gpu_state() {
  printf '%s: ' "$1" >> "${out_dir}/gpu.txt"
  nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv,noheader >> "${out_dir}/gpu.txt" 2>&1 || true
}

echo "==> configure and build (preset ${preset})"
cmake --preset "${preset}" > "${out_dir}/configure.log" 2>&1 || { cat "${out_dir}/configure.log"; exit 1; }
status=0
# -k 0: a target that fails to compile must not keep the others from building and running;
# the failure is shown and makes the run fail.
target_args=()
(( ${#targets[@]} > 0 )) && target_args=(--target "${targets[@]}")
cmake --build --preset "${preset}" -j "$(nproc)" "${target_args[@]}" -- -k 0 > "${out_dir}/build.log" 2>&1 ||
  { status=1; echo "build failed:"; grep -E "error|FAILED" "${out_dir}/build.log" | head -n 30; }
tail -n 3 "${out_dir}/build.log"

if [[ "${run_tests}" == true ]]; then
  echo "==> tests"
  regex_args=()
  [[ -n "${tests_regex}" ]] && regex_args=(-R "${tests_regex}")
  ctest --test-dir "${build_dir}" "${regex_args[@]}" --output-on-failure -j 4 --output-junit "${out_dir}/ctest.xml" \
    > "${out_dir}/ctest.log" 2>&1 || status=$?
  tail -n 25 "${out_dir}/ctest.log"
fi

if [[ "${run_sanitize}" == true ]]; then
  echo "==> compute-sanitizer"
  : > "${out_dir}/sanitize.txt"
  programs=(test/fuzz examples/own_kernel/own_kernel examples/block_sparse/block_sparse
            examples/hopper_kernel/hopper_kernel examples/decode_paged/decode_paged)
  for tool in memcheck racecheck synccheck; do
    for program in "${programs[@]}"; do
      [[ -x "${build_dir}/${program}" ]] || { echo "${tool} ${program}: not built" >> "${out_dir}/sanitize.txt"; continue; }
      log="${out_dir}/sanitize_${tool}_$(basename "${program}").log"
      code=0
      ATTNKIT_FUZZ_CASES=12 timeout 900 compute-sanitizer --tool "${tool}" --error-exitcode 99 \
        "${build_dir}/${program}" > "${log}" 2>&1 || code=$?
      # 77: the program found nothing to run on this GPU (a skip, not a finding).
      summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "${log}" | tail -n 1 || true)
      echo "${tool} ${program}: exit ${code}; ${summary:-no summary}" >> "${out_dir}/sanitize.txt"
      [[ ${code} -eq 0 || ${code} -eq 77 ]] || status=1
    done
  done
  cat "${out_dir}/sanitize.txt"
fi

if [[ "${run_pytorch}" == true ]]; then
  echo "==> PyTorch extension (examples/pytorch)"
  (cd examples/pytorch && python3 -m pytest -q tests) > "${out_dir}/pytorch.log" 2>&1 || status=$?
  tail -n 15 "${out_dir}/pytorch.log"
fi

if [[ "${run_bench}" == true ]]; then
  echo "==> benchmarks"
  gpu_state "before benchmarks"
  for binary in "${build_dir}"/bench/bench_*; do
    [[ -x "${binary}" ]] || continue
    name=$(basename "${binary}")
    # A hung kernel must not eat the whole run: each benchmark gets 5 minutes.
    timeout 300 "${binary}" --benchmark_filter="${bench_filter}" --benchmark_min_time=0.3s \
      --benchmark_out="${out_dir}/${name}.json" --benchmark_out_format=json > "${out_dir}/${name}.log" 2>&1 ||
      { echo "${name} failed:"; tail -n 20 "${out_dir}/${name}.log"; status=1; }
  done
  gpu_state "after benchmarks"
  if [[ -n "${peers}" ]]; then
    echo "==> peers (${peers} ${peers_args})"
    # shellcheck disable=SC2086
    PYTHONUNBUFFERED=1 python3 "${peers}" ${peers_args} --json "${out_dir}/peers.json" > "${out_dir}/peers.log" 2>&1 ||
      { echo "peers failed:"; tail -n 20 "${out_dir}/peers.log"; }
    gpu_state "after peers"
  fi
  python3 scripts/summarize_bench.py "${out_dir}" | tee "${out_dir}/summary.txt"
fi
exit "${status}"
