# Debian Bookworm roots for the device checks (check_arm64.sh, check_service.sh): sourced, not run.
#   debian_root ARCH    prints the cached root for ARCH (arm64, amd64), built on first use with
#                       debootstrap from this machine's Debian archive: python3, python3-venv and
#                       python3-numpy from apt (what Raspberry Pi OS has), and systemd, which
#                       check_service.sh boots as PID 1 (a Pi's init too).
# Environment: EDGE_FER_ROOTS (the cache, default /var/cache/edge-fer). Needs root; an arm64 root
# on another machine needs binfmt_misc with qemu-aarch64 (the caller checks).

EDGE_FER_ROOTS="${EDGE_FER_ROOTS:-/var/cache/edge-fer}"
DEBIAN_ROOT_PACKAGES="python3,python3-venv,python3-numpy,ca-certificates,systemd"

debian_root_mirror() {
    local mirror
    mirror="$(grep -rhv '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -1 || true)"
    echo "${mirror:-http://deb.debian.org/debian}"
}

debian_root() {  # $1: Debian architecture; prints the root's path, builds it once (minutes)
    local arch=$1 cache="$EDGE_FER_ROOTS/bookworm-$1" mirror
    # A root made with another package list (an older cache) is made again.
    if [ "$(cat "$cache/.edge-fer-packages" 2>/dev/null)" != "$DEBIAN_ROOT_PACKAGES" ]; then
        mirror="$(debian_root_mirror)"
        echo "debian_root: $(date +%T) building the $arch Bookworm root in $cache from $mirror" \
             "(once; minutes)" >&2
        rm -rf "$cache.tmp" "$cache" && mkdir -p "$EDGE_FER_ROOTS"
        debootstrap --arch="$arch" --variant=minbase --include="$DEBIAN_ROOT_PACKAGES" \
            bookworm "$cache.tmp" "$mirror" > "$cache.log" 2>&1 \
            || { tail -5 "$cache.log" >&2; echo "debian_root: debootstrap $arch failed" \
                 "(log: $cache.log)" >&2; return 1; }
        echo "$DEBIAN_ROOT_PACKAGES" > "$cache.tmp/.edge-fer-packages"
        mv "$cache.tmp" "$cache"
    fi
    echo "$cache"
}
