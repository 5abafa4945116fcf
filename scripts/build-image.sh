#!/usr/bin/env bash
# Builds the agent's image without Docker, as the Dockerfile describes it, into an OCI archive
# that `ctr -n k8s.io images import` and `docker load` accept:
#
#   scripts/build-image.sh [--output FILE] [--tag NAME:TAG]
#     default: dist/bridgeway-<version>.oci.tar, tagged bridgeway:<version> (package.json)
#
# Needs root (mmdebstrap's root mode, chroot), mmdebstrap (Debian package), Node 24 and dist/
# built (npm run build). The Dockerfile's two last stages, read from the Dockerfile itself:
#   - rootfs: mmdebstrap makes a Debian root of the stage's suite in place of debian:<suite>-slim,
#     then the stage's own COPYs and RUNs are done in it (scripts/image/stage-script.ts): apt-get
#     installs image/packages and image/minimal-rootfs.sh cuts them down to /rootfs, in a chroot;
#   - the final stage: scripts/image-archive.ts writes one layer per COPY and the config
#     (scripts/image/dockerfile.ts reads them).
# Entries' mtimes are SOURCE_DATE_EPOCH (default: the last commit's time), so the archive depends
# only on dist/ and the Debian packages. Packages come from BRIDGEWAY_DEBIAN_MIRROR (default
# http://deb.debian.org/debian) and its -security twin. mmdebstrap's mounts live in a private
# mount namespace; its temporary root and ours are removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

die() { echo "build-image.sh: $*" >&2; exit 1; }

node=node
[[ -x $repo/node_modules/.bin/node ]] && node=$repo/node_modules/.bin/node
version=$("$node" -p 'require("./package.json").version')
tag=bridgeway:$version
output=$repo/dist/bridgeway-$version.oci.tar
while [[ $# -gt 0 ]]; do
  case $1 in
    --output) output=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    *) die "unknown argument $1 (usage: scripts/build-image.sh [--output FILE] [--tag NAME:TAG])" ;;
  esac
done
[[ $output == /* ]] || output=$PWD/$output

[[ $(id -u) == 0 ]] || die "run as root (mmdebstrap's root mode and chroot)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (apt-get install mmdebstrap)"
"$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' || die "Node >= 24 is needed ($node is $("$node" --version))"

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
mirror=${BRIDGEWAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
architecture=$(dpkg --print-architecture)

# The rootfs stage, as a script of its own COPYs and RUNs (the build stage's /src is this
# repository, where npm run build put dist/).
stage_dirs=(--stage "build:/src=$repo")
suite=$("$node" scripts/image-archive.ts suite rootfs)
work=$(mktemp -d /tmp/bridgeway-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 143' INT TERM # exit, so that the EXIT trap removes $work also when stopped
"$node" scripts/image-archive.ts stage-script rootfs "${stage_dirs[@]}" >"$work/rootfs-stage.sh"

# FROM debian:<suite>-slim: mmdebstrap's apt variant of the same suite and sources (Essential
# packages and apt; the stage's RUN installs the rest, and the cut keeps only what it names).
echo "build-image.sh: the Dockerfile's rootfs stage in Debian $suite ($architecture), by mmdebstrap" >&2
if ! unshare --mount --propagation private -- mmdebstrap --mode=root --variant=apt \
    --customize-hook="bash $work/rootfs-stage.sh \"\$1\" </dev/null" \
    --format=directory "$suite" "$work/root" \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb ${mirror%/debian}/debian-security $suite-security main" \
    >"$work/mmdebstrap.log" 2>&1; then
  tail -n 30 "$work/mmdebstrap.log" >&2
  die "mmdebstrap failed (the end of its log is above)"
fi

mkdir -p "$(dirname "$output")"
"$node" scripts/image-archive.ts write "${stage_dirs[@]}" --stage "rootfs:/=$work/root" \
  --tag "$tag" --output "$output" --architecture "$architecture"
