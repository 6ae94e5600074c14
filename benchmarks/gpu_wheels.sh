#!/usr/bin/env bash
# Wheels for the GPU benchmark machine, downloaded here (it cannot reach a registry).
#
#   bash benchmarks/gpu_wheels.sh          # fills .whl/ (git-ignored); prints the command to run there
#
# The GPU machine: Python 3.12, jax 0.11 (CUDA), torch 2.11, flax, optax, orbax,
# absl, chex, tqdm, matplotlib. It lacks the packages below (each named with
# what needs it) and this package, so this script downloads them as Python 3.12
# manylinux x86_64 wheels with --no-deps and builds neural-art-jax as a wheel
# beside them (WHL=DIR: into DIR instead of .whl/). Installing them touches none
# of the machine's packages except any of these it has at another version, which
# pip replaces (PyYAML comes with flax, python-dateutil with matplotlib). Copy the
# repository with .whl/ to the machine and run the printed command in it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHL="${WHL:-$ROOT/.whl}"
PY="${PYTHON:-python3}"

MISSING=(
  "ml_collections"            # dcgan's --config files (benchmarks/dcgan.py), biggan_jax configs
  "PyYAML"                    # ml_collections' config_dict imports yaml
  "pytorch-pretrained-biggan" # the BigGAN PyTorch peer (benchmarks/biggan_forward.py, biggan_sweep.py)
  "boto3" "botocore" "s3transfer" "jmespath" "python-dateutil<3" "six" "urllib3"
                              # pytorch_pretrained_biggan.file_utils imports boto3 at import time;
                              # botocore requires python-dateutil<3 (4.x, which a newer matplotlib
                              # may bring, fails `pip check`; 2.x suits matplotlib and needs six)
  "requests" "certifi" "charset-normalizer" "idna"
                              # ... and requests
)

mkdir -p "$WHL"
"$PY" -m pip download --no-deps --only-binary=:all: --dest "$WHL" \
  --python-version 3.12 --implementation cp --abi cp312 \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  "${MISSING[@]}"
had_build=0; [ -e "$ROOT/build" ] && had_build=1
"$PY" -m pip wheel --no-deps --no-build-isolation --wheel-dir "$WHL" "$ROOT"
[ "$had_build" = 1 ] || rm -rf "$ROOT/build"   # setuptools' in-tree leftovers of this build
ls -1 "$WHL"
echo
[ "$WHL" -ef "$ROOT/.whl" ] || echo "(They are in $WHL: copy them to .whl/ of the repository there.)"
echo "On the GPU machine, in the copied repository (with .whl/):"
echo "  python -m pip install --no-index --no-deps .whl/*.whl && python benchmarks/gpu_suite.py"
