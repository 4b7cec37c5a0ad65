#!/usr/bin/env bash
# nodeimage/make-payload.sh — what provision.sh installs under /opt/xen-cri:
#   node        this machine's Node.js binary (Debian 12 has Node 18; xen-cri needs 20)
#   app/        package.json, dist/, build/lib (libvgpu), proto/ and build/proto (the shim's), production node_modules,
#               and for the QEMU node's tests build/vgpu-tests/ring_client and build/test-images
#   guest/      the pod VM (build-guest.sh): vmlinuz, initrd.img
#   bin/crictl  (tests and operators)
#
#   make-payload.sh           build/nodeimage/xen-cri-payload.tar.gz, for Packer (provision.sh --payload)
#   make-payload.sh --image   build/nodeimage/payload.img, an ext4 disk the QEMU node mounts at /opt/xen-cri
#                             (local disk, not a 9p share: nothing is executed from 9p)
# Needs npm run build and build-guest.sh first.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
mode=tar
[ "${1:-}" = --image ] && mode=image
ni_need npm mke2fs
for f in dist/shim/main.js dist/proxy/main.js build/lib/libvgpu.so; do
  [ -e "$NI_REPO/$f" ] || ni_die "$f is missing: run npm run build"
done
[ -f "$NI_OUT/guest/initrd.img" ] || ni_die "the pod VM is not built: run nodeimage/build-guest.sh"

# Production node_modules, reinstalled only when the lock file changes.
mods="$NI_OUT/node_modules-prod"
mkey=$(ni_hash "$NI_REPO/package-lock.json" "$(node --version)")
if ! ni_fresh "$mods" "$mkey"; then
  ni_log "production node_modules"
  rm -rf "$mods" "$mods.stage" && mkdir -p "$mods.stage"
  cp "$NI_REPO/package.json" "$NI_REPO/package-lock.json" "$mods.stage/"
  (cd "$mods.stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) || ni_die "npm ci --omit=dev failed"
  mv "$mods.stage/node_modules" "$mods" && rm -rf "$mods.stage"
  ni_stamp "$mods" "$mkey"
fi

p="$NI_OUT/payload"
rm -rf "$p" && mkdir -p "$p/bin" "$p/guest" "$p/app/build"
cp "$(readlink -f "$(command -v node)")" "$p/node"
crictl=$(command -v crictl || true)
[ -n "$crictl" ] || crictl="${GOBIN:-$HOME/go/bin}/crictl"
[ -x "$crictl" ] && cp "$crictl" "$p/bin/crictl"
cp "$NI_OUT/guest/vmlinuz" "$NI_OUT/guest/initrd.img" "$p/guest/"
cp "$NI_REPO/package.json" "$NI_REPO/package-lock.json" "$p/app/"
cp -a "$NI_REPO/dist" "$p/app/dist"
cp -a "$mods" "$p/app/node_modules"
cp -a "$NI_REPO/build/lib" "$p/app/build/lib"
[ -d "$NI_REPO/build/proto" ] && cp -a "$NI_REPO/build/proto" "$p/app/build/proto"
[ -d "$NI_REPO/proto" ] && cp -a "$NI_REPO/proto" "$p/app/proto"

if [ "$mode" = image ]; then
  mkdir -p "$p/app/build/vgpu-tests"
  cp "$NI_REPO/build/vgpu-tests/ring_client" "$p/app/build/vgpu-tests/"
  [ -d "$NI_REPO/build/test-images" ] && cp -a "$NI_REPO/build/test-images" "$p/app/build/test-images"
  mib=$(( $(du -sm "$p" | cut -f1) + 64 ))
  rm -f "$NI_OUT/payload.img"
  mke2fs -q -t ext4 -L xen-cri-payload -d "$p" -E root_owner=0:0 "$NI_OUT/payload.img" "${mib}M"
  ni_log "payload disk: ${mib} MiB ($NI_OUT/payload.img)"
else
  tar -C "$p" -czf "$NI_OUT/xen-cri-payload.tar.gz" .
  ni_log "payload: $(du -h "$NI_OUT/xen-cri-payload.tar.gz" | cut -f1) ($NI_OUT/xen-cri-payload.tar.gz)"
fi
