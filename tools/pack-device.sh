#!/usr/bin/env bash
# Prepares what the GPU machine needs and cannot install itself (it has no
# Node.js and no registry): the build outputs, this machine's Node binary and
# the production node_modules (koffi, pino), under .device/ (git-ignored).
#
# Carry `dist`, `build/lib`, `.device` there, and begin the command with:
#   xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH && ln -sfn .device/node_modules node_modules
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
npm run -s build
mkdir -p .device
node_bin=$(readlink -f "$(command -v node)")
if [ ! -s .device/node.xz ] || [ "$node_bin" -nt .device/node.xz ]; then
  echo "packing Node $(node --version) into .device/node.xz"
  xz -T2 -6 -c "$node_bin" > .device/node.xz.tmp && mv .device/node.xz.tmp .device/node.xz
fi
if [ ! -d .device/node_modules ] || [ package-lock.json -nt .device/node_modules ]; then
  echo "installing production node_modules into .device/node_modules"
  rm -rf .device/prod && mkdir -p .device/prod
  cp package.json package-lock.json .device/prod/
  (cd .device/prod && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  rm -rf .device/node_modules && mv .device/prod/node_modules .device/node_modules && rm -rf .device/prod
fi
du -sh .device/node.xz .device/node_modules dist build/lib | sed 's/^/  /'
