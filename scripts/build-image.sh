#!/usr/bin/env bash
# Builds the agent's image without Docker, as the Dockerfile describes it, into an OCI archive
# that `ctr -n k8s.io images import` and `docker load` accept:
#
#   scripts/build-image.sh [--output FILE] [--tag NAME:TAG]
#     default: dist/bridgeway-<version>.oci.tar, tagged bridgeway:<version> (package.json)
#
# Needs root (mmdebstrap's root mode, chroot), mmdebstrap (Debian package), Node 24 and dist/
# built (npm run build). The Dockerfile's two last stages, reproduced:
#   - rootfs: a Debian root of the stage's suite with image/packages installed, by mmdebstrap
#     instead of debian:<suite>-slim + apt-get; the stage's COPYs put into it; then the same
#     image/minimal-rootfs.sh cuts it down to /rootfs, in a chroot;
#   - the final stage: scripts/image-archive.ts writes one layer per COPY and the config from
#     the Dockerfile itself (scripts/image/dockerfile.ts reads it).
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

# What the Dockerfile's rootfs stage starts from and copies in (the build stage's /src is this
# repository, where npm run build put dist/).
stage_dirs=(--stage "build:/src=$repo")
suite=
copies=()
in_stage=()
while read -r kind first second; do
  case $kind in
    suite) suite=$first ;;
    context | stage)
      [[ -f $first ]] || die "$first is missing (run npm run build first)"
      copies+=("$first" "$second")
      # dist/'s executables: minimal-rootfs.sh keeps the libraries they link against.
      [[ $kind == stage ]] && in_stage+=("$second")
      ;;
  esac
done < <("$node" scripts/image-archive.ts rootfs-inputs "${stage_dirs[@]}")
[[ -n $suite ]] || die "no suite read from the Dockerfile"

work=$(mktemp -d /tmp/bridgeway-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/out"

# The hook that puts the stage's files into mmdebstrap's root: one `install` per file, the list
# written here so that no path is re-parsed by a shell.
{
  echo 'set -eu'
  for ((i = 0; i < ${#copies[@]}; i += 2)); do
    # shellcheck disable=SC2016 # "$1" is the hook's argument, expanded when the hook runs
    printf 'install -D -m %s %q "$1"%q\n' "$(stat -c %a "${copies[i]}")" "${copies[i]}" "${copies[i + 1]}"
  done
} >"$work/copy-in.sh"

echo "build-image.sh: Debian $suite ($architecture) with image/packages, cut by image/minimal-rootfs.sh" >&2
packages=$(image/minimal-rootfs.sh packages | paste -sd, -)
if ! unshare --mount --propagation private -- mmdebstrap --mode=root --variant=essential \
    --include="$packages" \
    --customize-hook="bash $work/copy-in.sh \"\$1\"" \
    --customize-hook="chroot \"\$1\" env SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH /image/minimal-rootfs.sh build /rootfs ${in_stage[*]}" \
    --customize-hook="mv \"\$1/rootfs\" $work/out/rootfs" \
    --format=null "$suite" /dev/null \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb ${mirror%/debian}/debian-security $suite-security main" \
    >"$work/mmdebstrap.log" 2>&1; then
  tail -n 30 "$work/mmdebstrap.log" >&2
  die "mmdebstrap failed (the end of its log is above)"
fi

mkdir -p "$(dirname "$output")"
"$node" scripts/image-archive.ts write "${stage_dirs[@]}" --stage "rootfs:/rootfs=$work/out/rootfs" \
  --tag "$tag" --output "$output" --architecture "$architecture"
