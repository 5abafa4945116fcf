#!/usr/bin/env bash
# The agent image's root filesystem, cut out of an installed Debian root: the paths that
# image/packages names, the shared libraries every kept ELF file and every given executable link
# against (their ldd closure, resolved in this root), and a few files of our own (passwd, group,
# nsswitch.conf, /tmp). No shell, apt or dpkg: nothing in the image execs them.
#
#   minimal-rootfs.sh packages    print image/packages' package names, one a line
#   minimal-rootfs.sh build OUT [--link PATH=TARGET]... [EXECUTABLE...]
#
# `build` runs inside the root it trims (the Dockerfile's rootfs stage runs it in
# debian:bookworm-slim after apt-get install; scripts/build-image.sh in an mmdebstrap root, by
# chroot), so both images are cut by this one script from the same packages. OUT must not exist.
# EXECUTABLEs (dist/'s, copied into the root for this) are not copied: only their libraries are.
# --link makes the symlink PATH -> TARGET in OUT (an executable's other name, which the image's
# next layer fills in).
# Every entry's mtime is SOURCE_DATE_EPOCH (default 0), so the same packages give the same bytes.
# Fails, and removes OUT, when a package is not installed, a path matches nothing, or a library
# cannot be resolved.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
spec="$here/packages"

die() { echo "minimal-rootfs.sh: $*" >&2; exit 1; }

# Lines of image/packages without comments: "package [path...]".
spec_lines() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%#*}
    [[ $line =~ [^[:space:]] ]] && printf '%s\n' "$line"
  done <"$spec"
}

packages() {
  local name _
  spec_lines | while read -r name _; do printf '%s\n' "$name"; done
}

# kept: every path asked for, as named; made: what is in $out, by its real path (one directory
# is reached both as /lib/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu).
declare -A kept=() made=()
out=

# Copies path P (absolute, in this root) to $out: every symlink on the way stays a symlink (the
# merged-/usr links /lib, /bin, /sbin; library soname links), with its target kept too; a
# directory is made with its mode; a file is copied with its mode.
keep() {
  local p=$1 parent real_parent name q target
  [[ -n ${kept[$p]:-} ]] && return 0
  kept[$p]=1
  [[ -e $p || -L $p ]] || die "$p does not exist"
  parent=${p%/*}
  parent=${parent:-/}
  [[ $parent != / ]] && keep "$parent"
  real_parent=$(realpath -e "$parent")
  name=${p##*/}
  q=${real_parent%/}/$name
  [[ -n ${made[$q]:-} ]] && return 0
  made[$q]=1
  if [[ -L $p ]]; then
    target=$(readlink "$p")
    ln -s "$target" "$out$q"
    [[ $target == /* ]] || target=$real_parent/$target
    keep "$(realpath -ms "$target")"
  elif [[ -d $p ]]; then
    mkdir "$out$q"
    chmod --reference="$p" "$out$q"
  else
    cp --preserve=mode "$p" "$out$q"
  fi
}

# Keeps P; a directory with everything in it.
keep_tree() {
  local p=$1 entry
  keep "$p"
  if [[ -d $p && ! -L $p ]]; then
    while IFS= read -r entry; do keep "$entry"; done <<<"$(find "$p" -mindepth 1 | LC_ALL=C sort)"
  fi
}

is_elf() {
  [[ -f $1 && ! -L $1 ]] && [[ $(head -c 4 "$1") == $'\x7fELF' ]]
}

# The shared libraries FILE loads, as paths in this root (ldd lists the whole closure).
libraries_of() {
  local file=$1 lines line
  # ldd exits 1 for an ELF file that is not dynamic (nothing to add) and says so.
  if ! lines=$(LC_ALL=C ldd "$file" 2>&1); then
    [[ $lines == *"not a dynamic executable"* ]] && return 0
    die "ldd $file: $lines"
  fi
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    case $line in
      *'=> not found'*) die "$file needs ${line%% *}, which is not in this root (add its package to image/packages)" ;;
      *' => /'*) line=${line#* => }; printf '%s\n' "${line%% (*}" ;;
      /*) printf '%s\n' "${line%% (*}" ;;
    esac
  done <<<"$lines"
}

build() {
  [[ $# -ge 1 ]] || die "usage: minimal-rootfs.sh build OUT [--link PATH=TARGET]... [EXECUTABLE...]"
  out=$1
  shift
  local -a links=()
  while [[ ${1:-} == --link ]]; do
    [[ ${2:-} == /*=?* ]] || die "--link needs PATH=TARGET with an absolute PATH, got ${2:-nothing}"
    links+=("$2")
    shift 2
  done
  [[ $out == /* ]] || die "OUT must be absolute, got $out"
  [[ ! -e $out ]] || die "$out already exists"
  local name paths path status matched lib libs file link
  local -a globbed elves=()
  mkdir "$out"
  # shellcheck disable=SC2064 # $out is fixed from here on
  trap "[[ \$? == 0 ]] || rm -rf '$out'" EXIT
  chmod 755 "$out"
  kept[/]=1
  made[/]=1

  while read -r name paths; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null) || status=absent
    [[ $status == installed ]] || die "package $name is not installed ($status)"
    for path in $paths; do
      # The glob is expanded here, in the root; a pattern that matches nothing is an error.
      # shellcheck disable=SC2206
      globbed=($path)
      matched=0
      for file in "${globbed[@]}"; do
        [[ -e $file || -L $file ]] || continue
        matched=1
        keep_tree "$file"
      done
      [[ $matched == 1 ]] || die "$path (package $name) matches nothing"
    done
  done <<<"$(spec_lines)"

  # The merged-/usr links (/bin -> usr/bin, ...), so a tool is found by either of its names.
  for path in /bin /sbin /lib /lib64; do [[ -L $path ]] && keep "$path"; done

  for file in "${!made[@]}"; do is_elf "$file" && elves+=("$file"); done
  elves+=("$@")
  for file in "${elves[@]}"; do
    libs=$(libraries_of "$file")
    while IFS= read -r lib; do [[ -z $lib ]] || keep "$lib"; done <<<"$libs"
  done

  # Our own few files: root and nobody (numeric IDs resolve without them, names do not), files-only
  # lookups, and a /tmp.
  mkdir -p "$out/etc" "$out/tmp" "$out/run"
  chmod 1777 "$out/tmp"
  printf 'root:x:0:0:root:/root:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n' >"$out/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$out/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$out/etc/nsswitch.conf"
  chmod 644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf"

  for link in "${links[@]}"; do
    mkdir -p "$out$(dirname "${link%%=*}")"
    ln -s "${link#*=}" "$out${link%%=*}"
  done

  chown -R -h 0:0 "$out"
  find "$out" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
}

case ${1:-} in
  packages) packages ;;
  build) shift; build "$@" ;;
  *) die "usage: minimal-rootfs.sh packages | build OUT [--link PATH=TARGET]... [EXECUTABLE...]" ;;
esac
