#!/usr/bin/env bash
# Issue 15's GPU check, in one run of a few minutes on a machine with an NVIDIA GPU:
#   1. install CuPy for the device's CUDA (cupy-cuda12x or cupy-cuda11x, from nvidia-smi's
#      driver CUDA version) and PyTorch for the same GPU (the yardstick);
#   2. run the test suite with TINYGEN_DEVICE=cuda on the real device (CuPy, no stand-in);
#   3. time conv/convT fwd+bwd at DCGAN shapes, a DCGAN step and a WGAN-GP step with double
#      backward, tinygen vs PyTorch eager on the same GPU, with the profiler's top kernels
#      (benchmarks/gpu_timing.py).
# Output: $OUT (or ./gpu_check_out) holds env.txt, tests.txt and timing.txt.
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
#   bash benchmarks/gpu_check.sh --dry      # anywhere: no installs, the stand-in device, tiny
#                                           # shapes, a few test files (a smoke test of this script)
# Time budget on the GPU: installs ~1-2 min, tests <= TESTS_TIMEOUT (default 240 s), timing ~1 min.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
[[ "${1:-}" == "--dry" ]] && DRY=1
OUT="${OUT:-./gpu_check_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TESTS_TIMEOUT="${TESTS_TIMEOUT:-240}"

if [[ $DRY == 1 ]]; then
    export TINYGEN_SIMULATE_CUDA=1              # the stand-in plays CuPy
    TESTS=(tinygen_tests/test_01_backend.py tinygen_tests/test_04_gradcheck.py)
    TIMING_ARGS=(--dry)
else
    cuda_major=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: \([0-9]*\).*/\1/p' | head -1)
    case "$cuda_major" in
        11) cupy_pkg=cupy-cuda11x ;;
        *)  cupy_pkg=cupy-cuda12x ;;            # 12 and newer drivers run CUDA 12 wheels
    esac
    { nvidia-smi; echo "driver CUDA: ${cuda_major:-unknown} -> $cupy_pkg"; } > "$OUT/env.txt" 2>&1
    python -m pip install --quiet "$cupy_pkg" >> "$OUT/env.txt" 2>&1 || echo "pip install $cupy_pkg failed" >> "$OUT/env.txt"
    python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
        || python -m pip install --quiet torch >> "$OUT/env.txt" 2>&1 || echo "pip install torch failed" >> "$OUT/env.txt"
    python -m pip install --quiet -e ".[test]" >> "$OUT/env.txt" 2>&1
    python -c "import cupy; print('cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())" >> "$OUT/env.txt" 2>&1
    TESTS=(tinygen_tests)
    TIMING_ARGS=()
fi
cat "$OUT/env.txt" 2>/dev/null | tail -3

echo "== tests with TINYGEN_DEVICE=cuda =="
TINYGEN_DEVICE=cuda timeout "$TESTS_TIMEOUT" python -m pytest -q -x --durations=10 \
    -p no:cacheprovider "${TESTS[@]}" > "$OUT/tests.txt" 2>&1
echo "pytest exit $? (124: stopped at ${TESTS_TIMEOUT} s)" >> "$OUT/tests.txt"
tail -15 "$OUT/tests.txt"

echo "== timing =="
python benchmarks/gpu_timing.py "${TIMING_ARGS[@]}" 2>&1 | tee "$OUT/timing.txt"
status=${PIPESTATUS[0]}
echo "gpu_check: outputs in $OUT (timing exit $status)"
exit "$status"
