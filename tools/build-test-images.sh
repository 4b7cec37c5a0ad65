#!/usr/bin/env bash
# Builds the test images as OCI image layouts, offline and reproducibly, from
# busybox-static (Debian) and a static pause binary compiled here:
#   pause        the pod sandbox image (/pause)
#   busybox      busybox with its applet links, /bin/sh, nobody/www-data users
#   busybox-user the same with USER 1002 (images that set a user, for critest)
# Output: OUT/<name>/ (an OCI layout with tag "latest").  Needs gcc (static libc), busybox-static, tar, gzip.
set -euo pipefail
out="${1:?usage: build-test-images.sh OUTDIR}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bb=/bin/busybox
[ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 && file -L "$bb" 2>/dev/null | grep -q 'statically' || bb=$(command -v busybox)
ldd "$bb" >/dev/null 2>&1 && { echo "build-test-images: $bb is not static: apt-get install busybox-static" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

sha() { sha256sum "$1" | cut -d' ' -f1; }

# image NAME ROOTFS CONFIG_JSON_FRAGMENT(for "config")
image() {
  local name="$1" rootfs="$2" cfg="$3" dir="$out/$1"
  rm -rf "$dir"
  mkdir -p "$dir/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$work/$name.tar" .
  local diffid; diffid=$(sha "$work/$name.tar")
  gzip -n -9 -c "$work/$name.tar" >"$work/$name.tar.gz"
  local layer; layer=$(sha "$work/$name.tar.gz")
  local lsize; lsize=$(stat -c %s "$work/$name.tar.gz")
  cp "$work/$name.tar.gz" "$dir/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"xen-cri tools/build-test-images.sh"}]}' "$cfg" "$diffid" >"$work/config.json"
  local config; config=$(sha "$work/config.json")
  local csize; csize=$(stat -c %s "$work/config.json")
  cp "$work/config.json" "$dir/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$config" "$csize" "$layer" "$lsize" >"$work/manifest.json"
  local manifest; manifest=$(sha "$work/manifest.json")
  local msize; msize=$(stat -c %s "$work/manifest.json")
  cp "$work/manifest.json" "$dir/blobs/sha256/$manifest"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$manifest" "$msize" >"$dir/index.json"
  echo "image $name: sha256:$manifest"
}

# pause
mkdir -p "$work/pause"
gcc -static -O2 -o "$work/pause/pause" "$root/test/images/pause.c"
strip "$work/pause/pause"
image pause "$work/pause" '{"Entrypoint":["/pause"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}'

# busybox
r="$work/busybox"
mkdir -p "$r/bin" "$r/etc" "$r/var/run" "$r/tmp" "$r/root" "$r/home/www-data" "$r/home/default-user" "$r/var/www" "$r/proc" "$r/sys" "$r/dev"
chmod 1777 "$r/tmp"
cp "$bb" "$r/bin/busybox"
# hard links, as in the busybox images (a bind mount over one applet must not mask them all)
for applet in $("$bb" --list); do [ "$applet" = busybox ] || ln -f "$r/bin/busybox" "$r/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/sh\nuser1002:x:1002:1002::/home/www-data:/bin/sh\ndefault-user:x:1000:1000::/home/default-user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\nuser1002:x:1002:\ngroup1003:x:1003:\ndefault-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\nnogroup:x:65534:\n' >"$r/etc/group"
echo 'hosts: files dns' >"$r/etc/nsswitch.conf"
# Debian's busybox-static has no pgrep/pkill applets: small stand-ins matching the process name.
cat >"$r/bin/pgrep" <<'SH'
#!/bin/sh
# pgrep PATTERN: pids whose process name contains PATTERN (stand-in for busybox's applet)
rc=1
for d in /proc/[0-9]*; do
  pid=${d#/proc/}
  [ "$pid" = "$$" ] && continue
  read -r comm <"$d/comm" 2>/dev/null || continue
  case "$comm" in *"$1"*) echo "$pid"; rc=0 ;; esac
done
exit $rc
SH
cat >"$r/bin/pkill" <<'SH'
#!/bin/sh
# pkill [-SIGNAL] PATTERN (stand-in for busybox's applet)
sig=TERM
case "$1" in -*) sig=${1#-}; shift ;; esac
pids=$(pgrep "$1") || exit 1
kill -"$sig" $pids
SH
cat >"$r/bin/ipcs" <<'SH'
#!/bin/sh
# ipcs -m (stand-in): System V shared memory segments, from /proc/sysvipc/shm
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch"
tail -n +2 /proc/sysvipc/shm 2>/dev/null | while read -r key shmid perms size cpid lpid nattch uid rest; do
  echo "$key $shmid $uid $perms $size $nattch"
done
SH
chmod 755 "$r/bin/pgrep" "$r/bin/pkill" "$r/bin/ipcs"
mkdir -p "$r/var/www"
echo '<html><body>xen-cri test web server</body></html>' >"$r/var/www/index.html"
env_json='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
image busybox "$r" "{$env_json,\"Cmd\":[\"sh\"]}"
image busybox-user-uid "$r" "{$env_json,\"Cmd\":[\"sh\"],\"User\":\"1002\"}"
image busybox-user-username "$r" "{$env_json,\"Cmd\":[\"sh\"],\"User\":\"www-data\"}"
image busybox-user-uid-group "$r" "{$env_json,\"Cmd\":[\"sh\"],\"User\":\"1002:1003\"}"
image busybox-user-username-group "$r" "{$env_json,\"Cmd\":[\"sh\"],\"User\":\"www-data:www-data\"}"
# critest's test-image-predefined-group: default-user (1000:1000) is also in group-defined-in-image (50000)
image busybox-predefined-group "$r" "{$env_json,\"Cmd\":[\"sh\"],\"User\":\"1000\"}"
# web servers (critest's nginx/httpd/hostnet-nginx roles): busybox httpd, its pid in /var/run/nginx.pid
web() {
  local port="$1"
  # PID 1 is a shell named "nginx: master process" (critest looks for that) that ends at TERM
  local script="trap 'kill \$!; exit 0' TERM INT; echo \$\$ >/var/run/nginx.pid; echo httpd: serving /var/www on port $port; httpd -f -p $port -h /var/www & wait"
  printf '{%s,"Cmd":["sh","-c","%s","nginx: master process"],"ExposedPorts":{"%s/tcp":{}}}' "$env_json" "$script" "$port"
}
mkdir -p "$r/var/run"
image busybox-httpd "$r" "$(web 80)"
image busybox-httpd-12003 "$r" "$(web 12003)"
