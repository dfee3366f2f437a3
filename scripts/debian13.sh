#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the project on Debian 13 (trixie) from any Debian machine: a minimal trixie root made once
# with debootstrap (from the Debian archive this machine's apt already uses) and kept in a cache
# folder outside the work tree; each run clones the project's committed HEAD into it and runs a
# make target there, so nothing it writes lands in the repository.
#
#   scripts/debian13.sh test           clone, `make test` (the package step installs what trixie lacks)
#   scripts/debian13.sh bench [ARGS]   clone, build, `build/tconv bench configs/ ARGS`
#   scripts/debian13.sh shell [CMD]    the work tree as it is (uncommitted changes too), bind-mounted
#                                      at /src/tconv, for developing against trixie's libraries
#
# Environment: TCONV_CACHE_DIR (default ~/.cache/tconv; the root is $TCONV_CACHE_DIR/debian13),
# DEBIAN13_MIRROR (default: the first Debian archive in this machine's apt sources).
set -euo pipefail

die() { echo "debian13: error: $*" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${TCONV_CACHE_DIR:-${HOME:-/root}/.cache/tconv}
root=$cache/debian13

[ "$(id -u)" = 0 ] || die "debootstrap and chroot need root; run as root (e.g. with sudo)"
case $(realpath -m "$cache")/ in
  "$top"/*) die "TCONV_CACHE_DIR=$cache is inside the work tree; choose a folder outside it" ;;
esac
[ $# -ge 1 ] || die "usage: scripts/debian13.sh test | bench [ARGS...] | shell [CMD...]"
command=$1; shift
case $command in test|bench|shell) ;; *) die "unknown command '$command' (test, bench, shell)" ;; esac

# The Debian archive this machine's apt uses: deb822 `URIs:` lines or one-line `deb URL` entries,
# the security archive excepted.
mirror() {
  if [ -n "${DEBIAN13_MIRROR:-}" ]; then echo "$DEBIAN13_MIRROR"; return; fi
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
          2>/dev/null |
        sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?//p' |
        tr ' ' '\n' | grep -E '^https?://' | grep -v -- '-security' | sed -n 1p)
  echo "${url:-http://deb.debian.org/debian}"
}

# One run at a time per cache: two would share the root's apt and clone folders.
mkdir -p "$cache"
exec 9>"$cache/debian13.lock"
flock 9

if [ ! -x "$root/usr/bin/make" ]; then
  command -v debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
  url=$(mirror)
  echo "debian13: creating a minimal trixie root in $root from $url (once)"
  rm -rf "$root.tmp"
  debootstrap --variant=minbase --include=make,ca-certificates,git trixie "$root.tmp" "$url" \
    >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  rm -rf "$root"
  mv "$root.tmp" "$root"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"  # the package step inside reaches the archive

# What runs inside: a clean environment, the project at /srv/tconv (a fresh clone of HEAD) or,
# for `shell`, the work tree at /src/tconv.
inside=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" DEBIAN_FRONTEND=noninteractive)
quoted_args=$(printf ' %q' "$@")
case $command in
  test)  script="cd /srv/tconv && make test" ;;
  bench) script="cd /srv/tconv && make build >/srv/tconv-build.log 2>&1 ||
                 { tail -30 /srv/tconv-build.log; exit 2; }
                 build/tconv bench configs/$quoted_args" ;;
  shell) script=${*:-bash} ;;
esac
if [ "$command" != shell ]; then
  rm -rf "$root/srv/tconv"
  git -C "$top" rev-parse --verify -q HEAD >/dev/null || die "$top has no commit to clone"
  git clone -q --no-hardlinks "$top" "$root/srv/tconv"
  echo "debian13: $(git -C "$top" log -1 --format='%h %s') on $(cat "$root/etc/debian_version")"
fi
mkdir -p "$root/src/tconv"
# A shell may run for long and touches neither apt nor the clone: it holds no lock.
[ "$command" = shell ] && exec 9>&-

# A private mount namespace: /proc, /dev and /sys (and the work tree for `shell`) are mounted for
# this run only and vanish with it, whatever way it ends.
exec unshare --mount --propagation private bash -c '
  set -e
  root=$1; top=$2; command=$3; shift 3
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  [ "$command" = shell ] && mount --bind "$top" "$root/src/tconv"
  exec chroot "$root" "$@"
' debian13 "$root" "$top" "$command" "${inside[@]}" bash -c "$script"
