#!/usr/bin/env bash
# `make test-qgis340` (Debian 13 trixie, QGIS 3.40 LTR) and `make test-qgis344` (Debian forky, QGIS 3.44):
# `make demo` and `make test` of this checkout inside a Debian root file system with that Debian's QGIS.
#
#   tools/debian_lane.sh trixie|forky              make demo, then make test
#   tools/debian_lane.sh trixie|forky build        only make the root file system
#   tools/debian_lane.sh trixie|forky shell [CMD]  CMD (or a shell) in the checkout inside, mounted as for a run
#
# The root file system is made once: debootstrap --variant=minbase from this machine's Debian mirror, then apt
# installs QGIS and the packages tools/setup.sh names. It is cached under
# ~/.cache/s2cloudmask/rootfs/<suite>-<hash of the recipe: build() below and setup.sh's apt packages>, so a
# change of the recipe builds a new one (and removes the old). The checkout and ../shared (read-only) are bind-mounted at their
# own paths, with /proc, /sys and /dev; every mount below the root file system is undone on exit, failures
# included, and no tree is removed while anything is mounted in it. Inside, the test tools go to their own
# virtual environment (.venv-<suite>) and the plugin's packages to .deps/py<X.Y>-<hash>, beside the host's.
# Needs root (debootstrap, chroot, mount) and the network (the Debian mirror, PyPI).
set -euo pipefail

SUITE=${1:-}
ACTION=${2:-run}
shift $(( $# < 2 ? $# : 2 ))
case "$SUITE" in
    trixie) SCRIPT=trixie ;;
    forky) SCRIPT=sid ;;  # Debian 12's debootstrap has no forky script; sid's serves every later suite
    *) echo "usage: tools/debian_lane.sh trixie|forky [build | shell [CMD]]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    echo "The Debian $SUITE lane needs root (debootstrap, chroot and bind mounts): run it as root." >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
REPO=$(cd "$(dirname "$0")/.." && pwd -P)
SHARED=$(cd "$REPO/.." && pwd -P)/shared
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/s2cloudmask/rootfs
APT_PACKAGES=$(sed -n 's/^APT_PACKAGES="\(.*\)"$/\1/p' "$REPO/tools/setup.sh")
ROOTFS=""  # $CACHE/<suite>-<recipe>, set below once build() is defined
HOST_CA=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}  # what pip on the host trusts
LANE_CA=/etc/ssl/certs/host-ca-certificates.crt  # pip inside trusts what the host trusts (proxies included)

log() { echo "[$SUITE lane $(date +%H:%M:%S)] $*"; }

mounts_below() {  # mount points at or below $1, deepest first
    awk -v top="$1" '$2 == top || index($2, top "/") == 1 { print $2 }' /proc/mounts | sort -r
}

unmount_below() {
    local point
    for point in $(mounts_below "$1"); do
        umount "$point" 2>/dev/null || umount -l "$point"
    done
}

remove_tree() {  # never rm -rf a tree that still has something mounted in it
    unmount_below "$1"
    if [ -n "$(mounts_below "$1")" ]; then
        echo "Not removing $1: still mounted: $(mounts_below "$1" | tr '\n' ' ')" >&2
        exit 1
    fi
    rm -rf --one-file-system "$1"
}

mirror() {  # this machine's Debian archive: the URI apt uses for its own release (deb822 or one-line sources)
    local codename uri
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v suite="$codename" '
        /^[ \t]*$/ { if (hit && uris != "") { print uris; exit } hit = 0; uris = "" }
        /^URIs:/ { uris = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
        END { if (hit && uris != "") print uris }' | head -n 1)
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed 's/\[[^]]*\]//' | awk -v suite="$codename" '
            $1 == "deb" && $3 == suite { print $2; exit }')
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

mount_system() {  # /proc, /sys and /dev of the host inside $1; rslave: unmounting them never reaches the host
    mount -t proc proc "$1/proc"
    mount --rbind /sys "$1/sys" && mount --make-rslave "$1/sys"
    mount --rbind /dev "$1/dev" && mount --make-rslave "$1/dev"
    cp /etc/resolv.conf "$1/etc/resolv.conf"
}

bind_at_same_path() {  # $1 (a folder of the host) at the same path inside $2; $3 = ro for read-only
    mkdir -p "$2$1"
    mount --bind "$1" "$2$1"
    mount --make-private "$2$1"
    if [ "${3:-}" = ro ]; then
        mount -o remount,bind,ro "$2$1"
    fi
}

in_rootfs() {  # a command inside $1 with a clean environment
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive PIP_CERT="$LANE_CA" PIP_DISABLE_PIP_VERSION_CHECK=1 \
        ${CI:+CI=$CI} ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
        ${no_proxy:+no_proxy=$no_proxy} "$@"
}

build() {
    if [ -f "$ROOTFS/.complete" ]; then
        return
    fi
    mkdir -p "$CACHE"
    local old
    for old in "$CACHE/$SUITE"-*; do  # other recipes of this suite, and builds cut short
        [ -e "$old" ] && { log "removing $old"; remove_tree "$old"; }
    done
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends debootstrap
    fi
    local partial=$ROOTFS.partial source
    source=$(mirror)
    log "debootstrap --variant=minbase $SUITE from $source"
    trap 'unmount_below "$ROOTFS.partial"' EXIT
    debootstrap --variant=minbase --include=ca-certificates,make "$SUITE" "$partial" "$source" \
        "/usr/share/debootstrap/scripts/$SCRIPT"
    # the archive's Release files may be past their Valid-Until on a mirror that is a snapshot
    echo 'Acquire::Check-Valid-Until "false";' > "$partial/etc/apt/apt.conf.d/99check-valid-until"
    mount_system "$partial"
    log "apt-get install $APT_PACKAGES"
    in_rootfs "$partial" apt-get update -q
    in_rootfs "$partial" apt-get install -y -q --no-install-recommends $APT_PACKAGES
    in_rootfs "$partial" apt-get clean
    unmount_below "$partial"
    trap - EXIT
    mv "$partial" "$ROOTFS"
    touch "$ROOTFS/.complete"
    log "root file system ready in $ROOTFS"
}

enter() {  # mount the host's system, the checkout and ../shared inside; undone on exit
    unmount_below "$ROOTFS"  # what a run killed outright (SIGKILL, a lost machine) left mounted
    trap 'unmount_below "$ROOTFS"' EXIT
    mount_system "$ROOTFS"
    cp "$HOST_CA" "$ROOTFS$LANE_CA"
    bind_at_same_path "$REPO" "$ROOTFS"
    [ -d "$SHARED" ] && bind_at_same_path "$SHARED" "$ROOTFS" ro
    local link target  # a checkout's links to folders elsewhere (a worktree's shared .deps): their targets too
    for link in "$REPO/.deps"; do
        if [ -L "$link" ] && target=$(readlink -f "$link") && [ -d "$target" ] && [ "${target#"$REPO"/}" = "$target" ]; then
            bind_at_same_path "$target" "$ROOTFS"
        fi
    done
}

run() {
    enter
    local versions
    versions=$(in_rootfs "$ROOTFS" /usr/bin/python3 -c \
        "from qgis.core import Qgis; import sys; print('QGIS', Qgis.QGIS_VERSION, '/ Python', sys.version.split()[0])")
    log "$versions"
    local make_args="VENV=.venv-$SUITE DEMO_OUT=demo-output-$SUITE"
    in_rootfs "$ROOTFS" S2CLOUDMASK_TRAIN_ENV="$REPO/.venv-train-$SUITE" bash -c \
        "cd '$REPO' && make $make_args demo && make $make_args test PYTEST_ARGS='${PYTEST_ARGS:-}'"
}

# Ctrl-C, a hang-up or a kill leave through exit, so the EXIT traps above undo every mount then too
trap 'exit 130' INT
trap 'exit 129' HUP
trap 'exit 143' TERM

# the recipe: what build() does, with what; a change of any of it makes a new root file system
RECIPE=$( { declare -f build; echo "$SUITE $SCRIPT $APT_PACKAGES"; } | sha1sum | cut -c1-12)
ROOTFS=$CACHE/$SUITE-$RECIPE
build
case "$ACTION" in
    run) run ;;
    shell) enter; in_rootfs "$ROOTFS" S2CLOUDMASK_TRAIN_ENV="$REPO/.venv-train-$SUITE" bash -c "cd '$REPO' && ${*:-bash}" ;;
    build) ;;
    *) echo "unknown action $ACTION: run, build or shell" >&2; exit 2 ;;
esac
