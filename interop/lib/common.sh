# shellcheck shell=bash disable=SC2034
# interop/lib/common.sh - sourced by interop/run.sh and interop/lib/install.sh.
#
# Shared settings and helpers of the interoperability harness. Nothing here
# names a mirror host: the Debian mirror is read from the host's /etc/apt
# sources at run time (or given explicitly with INTEROP_MIRROR /
# INTEROP_SECURITY_MIRROR).

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$INTEROP_DIR/.." && pwd)
INTEROP_CACHE=${INTEROP_CACHE:-/var/cache/mailcrypt-interop}

# The four Dovecot builds (names used in the matrix):
#   new       Debian 12 host package dovecot-core (2.3.19.1, Debian-patched, OpenSSL 3)
#   old       Debian 11 dovecot-core (2.3.13, OpenSSL 1.1.1) in a debootstrap chroot
#   upstream  upstream 2.3 from Debian's orig tarball, no Debian patches, host OpenSSL 3
#   v24       Debian 13 dovecot-core (2.4.x, OpenSSL 3.5) in a debootstrap chroot
INTEROP_ALL_BUILDS="new old upstream v24"
OLD_SUITE=${INTEROP_OLD_SUITE:-bullseye}
V24_SUITE=${INTEROP_V24_SUITE:-trixie}

log() { printf '[interop %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, uses chroot)"
}

host_codename() {
    # shellcheck disable=SC1091
    (. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

# apt_sources_uris: print "MAIN_URI SECURITY_URI" for the host's own Debian
# release, read from /etc/apt/sources.list(.d) (one-line and deb822 formats).
# SECURITY_URI may be "-" when none is configured.
apt_sources_uris() {
    local code files
    code=$(host_codename)
    [ -n "$code" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
    files=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    # shellcheck disable=SC2086
    awk -v code="$code" '
        function consider(types, uris, suites, enabled,   n, i, s, u, ns, su) {
            if (enabled ~ /^[Nn]o/) return
            if (types !~ /(^|[ \t])deb([ \t]|$)/) return
            ns = split(suites, su, /[ \t]+/)
            n = split(uris, u, /[ \t]+/)
            for (s = 1; s <= ns; s++) {
                for (i = 1; i <= n; i++) {
                    if (u[i] == "") continue
                    if (su[s] == code && main == "") main = u[i]
                    if (su[s] == code "-security" && sec == "") sec = u[i]
                    if (su[s] == code "/updates" && sec == "") sec = u[i]
                }
            }
        }
        function flush() { if (st_uris != "") consider(st_types, st_uris, st_suites, st_enabled)
                           st_types = st_uris = st_suites = st_enabled = "" }
        FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
        deb822 && /^[ \t]*$/ { flush(); next }
        deb822 && /^[ \t]*#/ { next }
        deb822 {
            key = $1; sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "Types") st_types = val
            else if (key == "URIs") st_uris = val
            else if (key == "Suites") st_suites = val
            else if (key == "Enabled") st_enabled = val
            next
        }
        /^[ \t]*deb[ \t]/ {
            line = $0; sub(/^[ \t]*deb[ \t]+/, "", line)
            if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
            split(line, f, /[ \t]+/)
            consider("deb", f[1], f[2], "")
        }
        END { flush(); if (sec == "") sec = "-"; print main, sec }
    ' $files
}

# debian_mirrors: sets MIRROR and SECURITY_MIRROR (may be empty).
debian_mirrors() {
    local m s
    read -r m s <<<"$(apt_sources_uris)"
    MIRROR=${INTEROP_MIRROR:-$m}
    SECURITY_MIRROR=${INTEROP_SECURITY_MIRROR:-$s}
    [ "$SECURITY_MIRROR" = "-" ] && SECURITY_MIRROR=""
    [ -n "$MIRROR" ] || die "no Debian mirror for $(host_codename) found in /etc/apt (set INTEROP_MIRROR)"
}

apt_install() {
    # apt_install PKG... on the host (update once and retry on failure)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "$@" >&2 || {
        log "apt-get install $* failed; apt-get update and retry"
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
            --no-install-recommends "$@" >&2
    }
}

# dovecot_pids: PIDs of running processes called "dovecot" (master daemons).
# (reads /proc directly: procps may not be installed on a minimal machine)
dovecot_pids() {
    local f c out=""
    for f in /proc/[0-9]*/comm; do
        c=$(cat "$f" 2>/dev/null) || continue
        if [ "$c" = dovecot ]; then
            f=${f#/proc/}
            out="$out ${f%/comm}"
        fi
    done
    echo "$out"
}

# stop_new_dovecots "BEFORE": stop (by PID) every dovecot master process that
# is not in the list BEFORE, i.e. that appeared while we were working.
stop_new_dovecots() {
    local before=" $1 " p
    for p in $(dovecot_pids); do
        case "$before" in
            *" $p "*) ;;
            *) log "stopping dovecot pid $p that appeared during the run"; kill "$p" 2>/dev/null || true ;;
        esac
    done
}
