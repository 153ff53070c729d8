#!/usr/bin/env bash
# Downloads, into ${WHEELS:-.whl}, the wheels tools/gpu_check.sh installs on a
# GPU machine that has JAX but no Keras: Keras, its two pure-Python needs that
# such images lack (namex, optree) and keras-aug, for CPython 3.12 on x86-64
# Linux by default (PYTHON_VERSION=3.11 etc. for another).
# Usage: bash tools/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${WHEELS:-.whl}
version=${PYTHON_VERSION:-3.12}
keras_version=$(python3 -c "import keras; print(keras.__version__)")
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
for package in "keras==$keras_version" namex optree keras-aug; do
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version "$version" --implementation cp "${platforms[@]}" \
    -d "$dest" "$package"
done
ls "$dest"
