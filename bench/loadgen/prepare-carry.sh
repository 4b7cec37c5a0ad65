#!/usr/bin/env bash
# Prepares what `npm run bench:compare` needs on the GPU machine and cannot
# fetch there (it has no registry): the LoadGen wheel in .whl/ (git-ignored),
# and, through tools/pack-device.sh, the build, Node and node_modules in .device/.
#
# Carry ["dist", "build/lib", "build/vgpu-tests", ".device", ".whl"] and begin the command with:
#   xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH && ln -sfn .device/node_modules node_modules;
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site;
#
# The GPU machine's Python is 3.12 (manylinux, x86-64); set BENCH_WHEEL_PYTHON
# to fetch for another version. Everything else the harness uses (torch,
# torchvision, transformers, numpy, Pillow, matplotlib) is installed there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
LOADGEN="mlcommons-loadgen==6.0.17"
py="${BENCH_WHEEL_PYTHON:-3.12}"

grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
# One version of each package: an older LoadGen wheel left here would stop the install there.
find .whl -name 'mlcommons_loadgen-*.whl' ! -name "mlcommons_loadgen-${LOADGEN#*==}-*" -delete
if ! ls .whl/mlcommons_loadgen-"${LOADGEN#*==}"-cp"${py/./}"-*.whl >/dev/null 2>&1; then
  echo "downloading the $LOADGEN wheel for CPython $py (manylinux x86-64) into .whl/"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$LOADGEN" || {
    echo "prepare-carry: could not download $LOADGEN for CPython $py from the package index" >&2
    exit 1
  }
fi
tools/pack-device.sh
du -sh .whl | sed 's/^/  /'
