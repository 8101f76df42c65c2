#!/usr/bin/env bash
#! Makes `debian:bookworm-slim` on the local engine when no registry can provide it: a
#! minimal debootstrap of bookworm from Debian's package mirror, imported as that tag and
#! cached as a tarball. Captain's proxy image (and test images) build FROM it.
set -euo pipefail
image=debian:bookworm-slim
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi
cache=/var/cache/captain-testbed
tarball=$cache/bookworm-slim.tar
mkdir -p "$cache"
exec 9>/tmp/captain-base-image.lock
flock 9
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi
if [ ! -f "$tarball" ]; then
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$rootfs" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf "$rootfs"
fi
docker import --change 'CMD ["bash"]' "$tarball" "$image" >/dev/null
