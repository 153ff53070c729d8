#!/usr/bin/env bash
# The GPU tier: run on a machine with a GPU and JAX with CUDA, from the
# repository's root. Keras needs not be installed: when `import keras` fails,
# Keras, namex, optree and keras-aug are installed from the wheels in
# ${WHEELS:-.whl} (fetch them where pip works with `bash tools/gpu_wheels.sh`).
# Then, on the JAX backend:
#   1. the backend-agnostic suite and the GPU tests (pytest -m "backends or gpu"),
#   2. benchmarks/gpu.py (ours, Keras's and keras-aug's layers in one run),
#   3. benchmarks/stochastic_residual.py (a residual stack's train step).
# Exits with the test run's status; the benchmarks print their tables.
# Usage: bash tools/gpu_check.sh [pytest args...]
set -uo pipefail
cd "$(dirname "$0")/.."

export KERAS_BACKEND=jax
# Several test processes share the GPU: no process takes 75% of its memory.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export PYTHONUNBUFFERED=1
if ! python3 -c "import keras" 2>/dev/null; then
  site=${TMPDIR:-/tmp}/regkit-site
  python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target "$site" "${WHEELS:-.whl}"/*.whl || exit 1
  export PYTHONPATH="$site"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python3 - <<'PY' || exit 1
import jax
if jax.default_backend() != "gpu":
    raise SystemExit(f"tools/gpu_check.sh needs a GPU; JAX sees {jax.devices()}")
print("GPU:", [d.device_kind for d in jax.devices()])
PY

status=0
python3 -m pytest -p no:benchmark -p no:cacheprovider -q -n 4 \
  -m "backends or gpu" "$@" || status=$?
echo "== benchmarks/gpu.py"
python3 benchmarks/gpu.py
echo "== benchmarks/stochastic_residual.py"
python3 benchmarks/stochastic_residual.py --epochs 3
exit "$status"
