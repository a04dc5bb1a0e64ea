#!/bin/bash
# interop/lib/install.sh - install the four real Dovecot builds the harness drives.
#
#   install.sh host              Debian 12 host package dovecot-core (apt)
#   install.sh chroot SUITE DIR  Debian SUITE (bullseye, trixie) debootstrap chroot
#                                with dovecot-core + openssl in DIR
#   install.sh upstream          upstream 2.3 from the host release's Debian source
#                                package's orig tarball (no Debian patches), built
#                                against the host OpenSSL 3; prints the prefix
#
# Every step is idempotent and leaves a stamp file; a finished install is
# detected in well under a second. Needs root. Packages and sources come only
# from the Debian mirror configured in the host's /etc/apt (see common.sh).
# No dovecot daemon is ever started: a policy-rc.d refusing service starts is
# in place while packages are installed, and any dovecot master process that
# appears anyway is stopped by PID.
set -euo pipefail
# shellcheck source=common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

STAMP=.mailcrypt-interop-ready

install_host() {
    local t0=$SECONDS created_policy="" before
    if [ -x /usr/bin/doveadm ] && [ -f /usr/lib/dovecot/modules/libfs_crypt.so ] \
       && [ -f /usr/lib/dovecot/modules/lib10_mail_crypt_plugin.so ]; then
        log "host: dovecot $(/usr/sbin/dovecot --version 2>/dev/null) already installed"
        return 0
    fi
    log "host: apt-get install dovecot-core"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# mailcrypt interop: no daemons while installing\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    before=$(dovecot_pids)
    local rc=0
    apt_install dovecot-core || rc=$?
    [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
    stop_new_dovecots "$before"
    [ "$rc" -eq 0 ] || die "host: installing dovecot-core failed"
    [ -f /usr/lib/dovecot/modules/libfs_crypt.so ] || die "host: dovecot-core has no libfs_crypt.so"
    log "host: dovecot $(/usr/sbin/dovecot --version) installed in $((SECONDS - t0)) s"
}

chroot_ready() {
    local dir=$1
    [ -f "$dir/$STAMP" ] && [ -x "$dir/usr/bin/doveadm" ] \
        && [ -f "$dir/usr/lib/dovecot/modules/libfs_crypt.so" ] \
        && chroot "$dir" /usr/sbin/dovecot --version >/dev/null 2>&1
}

install_chroot() {
    local suite=$1 dir=$2 t0=$SECONDS
    if chroot_ready "$dir"; then
        log "$suite: chroot $dir ready (dovecot $(chroot "$dir" /usr/sbin/dovecot --version))"
        return 0
    fi
    debian_mirrors
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap on the host"
        apt_install debootstrap
    fi
    if [ ! -f "$dir/.mailcrypt-interop-debootstrap" ]; then
        if [ -e "$dir" ]; then
            # an interrupted debootstrap: start over (only inside our cache)
            case "$dir" in
                "$INTEROP_CACHE"/*)
                    log "$suite: removing incomplete $dir"
                    # an interrupted debootstrap may leave proc/sys mounted inside
                    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r \
                        | while read -r m; do umount -l "$m" || true; done
                    rm -rf --one-file-system "$dir" ;;
                *) die "$dir exists but is no finished chroot of ours; remove it or choose another directory" ;;
            esac
        fi
        mkdir -p "$(dirname "$dir")"
        log "$suite: debootstrap --variant=minbase $suite $dir (mirror from /etc/apt)"
        debootstrap --variant=minbase "$suite" "$dir" "$MIRROR" > "$dir.debootstrap.log" 2>&1 || {
            tail -20 "$dir.debootstrap.log" >&2
            die "$suite: debootstrap failed (log: $dir.debootstrap.log)"
        }
        touch "$dir/.mailcrypt-interop-debootstrap"
    fi
    rm -f "$dir"/etc/apt/sources.list.d/*.sources
    {
        echo "deb $MIRROR $suite main"
        echo "deb $MIRROR $suite-updates main"
        [ -n "$SECURITY_MIRROR" ] && echo "deb $SECURITY_MIRROR $suite-security main"
    } > "$dir/etc/apt/sources.list"
    printf '#!/bin/sh\n# mailcrypt interop: never start daemons in this chroot\nexit 101\n' \
        > "$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    # upgrade first: debootstrap installs from the release suite only, so e.g.
    # libssl would otherwise miss its security updates
    log "$suite: apt-get upgrade + install dovecot-core openssl in the chroot"
    local before
    before=$(dovecot_pids)
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C \
        DEBIAN_FRONTEND=noninteractive /bin/sh -c \
        'apt-get update -q && apt-get upgrade -y -q && apt-get install -y -q --no-install-recommends dovecot-core openssl && apt-get clean' \
        > "$dir.apt.log" 2>&1 || {
        tail -20 "$dir.apt.log" >&2
        stop_new_dovecots "$before"
        die "$suite: apt-get in the chroot failed (log: $dir.apt.log)"
    }
    stop_new_dovecots "$before"
    mkdir -p "$dir/tmp" && chmod 1777 "$dir/tmp"
    chroot "$dir" /usr/sbin/dovecot --version > "$dir/$STAMP"
    log "$suite: dovecot $(cat "$dir/$STAMP") ready in $((SECONDS - t0)) s"
}

upstream_ready() { [ -f "$1/$STAMP" ] && [ -x "$1/bin/doveadm" ] && [ -f "$1/lib/dovecot/libfs_crypt.so" ]; }

# upstream_cached_prefix: print the newest finished upstream build in the cache
upstream_cached_prefix() {
    local p
    for p in $( (ls -d "$INTEROP_CACHE"/upstream/dovecot-2.3.* 2>/dev/null || true) | sort -V -r); do
        upstream_ready "$p" && { echo "$p"; return 0; }
    done
    return 1
}

upstream_build_tools_missing() {
    local need="" p
    for p in gcc make pkg-config; do command -v $p >/dev/null 2>&1 || need="$need $p"; done
    [ -f /usr/include/openssl/evp.h ] || need="$need libssl-dev"
    dpkg -s libc6-dev >/dev/null 2>&1 || need="$need libc6-dev"
    echo "$need"
}

# install_upstream: prints the install prefix on stdout.
# Cached by version: $INTEROP_CACHE/upstream/dovecot-<version>. A finished
# build is reused without any network access; INTEROP_UPSTREAM_REFRESH=1 looks
# the current source version up first (a new Debian upload of a new upstream
# version then gets its own build).
install_upstream() {
    local t0=$SECONDS suite base prefix orig ver p
    suite=${INTEROP_UPSTREAM_SUITE:-$(host_codename)}
    base=$INTEROP_CACHE/upstream
    mkdir -p "$base/src-$suite"
    if [ "${INTEROP_UPSTREAM_REFRESH:-0}" != 1 ] && p=$(upstream_cached_prefix); then
        log "upstream: $(cat "$p/$STAMP") ready in $p"
        echo "$p"; return 0
    fi
    orig=$(ls "$base/src-$suite"/dovecot_2.3.*.orig.tar.gz 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$orig" ] || [ "${INTEROP_UPSTREAM_REFRESH:-0}" = 1 ]; then
        debian_mirrors
        local a kr=""
        a=$(mktemp -d)
        mkdir -p "$a/lists/partial" "$a/parts"
        [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
            && kr="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        # the release suite only: every Debian revision of the package carries
        # the same orig tarball, and only that is used
        echo "deb-src ${kr}$MIRROR $suite main" > "$a/src.list"
        local apto=(-o "Dir::Etc::SourceList=$a/src.list" -o "Dir::Etc::SourceParts=$a/parts"
                    -o "Dir::State::Lists=$a/lists")
        log "upstream: apt-get source --download-only dovecot ($suite, temporary deb-src list)"
        apt-get "${apto[@]}" update -q > "$base/src-$suite/apt.log" 2>&1 \
            || { tail -20 "$base/src-$suite/apt.log" >&2; rm -rf "$a"; die "upstream: apt-get update (deb-src) failed"; }
        (cd "$base/src-$suite" && apt-get "${apto[@]}" source --download-only dovecot >> apt.log 2>&1) \
            || { tail -20 "$base/src-$suite/apt.log" >&2; rm -rf "$a"; die "upstream: apt-get source failed"; }
        rm -rf "$a"
        orig=$(ls "$base/src-$suite"/dovecot_2.3.*.orig.tar.gz | sort -V | tail -1)
    fi
    [ -n "$orig" ] || die "upstream: no dovecot_2.3.*.orig.tar.gz for $suite"
    ver=$(basename "$orig" | sed -E 's/^dovecot_([0-9.]+).*/\1/')
    prefix=$base/dovecot-$ver
    if upstream_ready "$prefix"; then
        log "upstream: $(cat "$prefix/$STAMP") ready in $prefix"
        echo "$prefix"; return 0
    fi
    local need
    need=$(upstream_build_tools_missing)
    if [ -n "$need" ]; then
        log "upstream: installing build tools:$need"
        # shellcheck disable=SC2086
        apt_install $need
    fi
    local build=$base/build-$ver
    rm -rf "$build" "$prefix"
    mkdir -p "$build"
    # only the upstream tarball is unpacked: no debian/ directory, no patches
    tar -xzf "$orig" -C "$build"
    local srcdir
    srcdir=$(ls -d "$build"/dovecot-2.3* | head -1)
    log "upstream: building $(basename "$orig") (no Debian patches) against $(openssl version | cut -d' ' -f1-2); ~5-9 min on 2 cores"
    (
        cd "$srcdir"
        CFLAGS="-O2" ./configure --prefix="$prefix" --sysconfdir="$prefix/etc" \
            --localstatedir="$prefix/var" --with-ssl=openssl \
            --without-pam --without-ldap --without-sql --without-lua \
            --without-stemmer --without-textcat --without-icu --without-solr \
            --without-libcap --without-zlib --without-bzlib --without-lzma \
            --without-lz4 --without-zstd > "$build/configure.log" 2>&1 \
            || { tail -30 "$build/configure.log" >&2; exit 1; }
        make -j"$(( $(nproc) + 1 ))" > "$build/make.log" 2>&1 || { tail -30 "$build/make.log" >&2; exit 1; }
        make install > "$build/install.log" 2>&1 || { tail -30 "$build/install.log" >&2; exit 1; }
    ) || die "upstream: build failed (logs in $build)"
    ldd "$prefix/lib/dovecot/libdcrypt_openssl.so" | grep -q 'libssl\.so\.3' \
        || die "upstream: libdcrypt_openssl.so is not linked against OpenSSL 3"
    echo "$("$prefix/sbin/dovecot" --version) ($(basename "$orig"), no Debian patches)" > "$prefix/$STAMP"
    rm -rf "$build"
    log "upstream: $(cat "$prefix/$STAMP") built into $prefix in $((SECONDS - t0)) s"
    echo "$prefix"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    need_root
    case "${1:-}" in
        host) install_host ;;
        chroot) [ $# -eq 3 ] || die "usage: $0 chroot SUITE DIR"; install_chroot "$2" "$3" ;;
        upstream) install_upstream ;;
        *) echo "usage: $0 host | chroot SUITE DIR | upstream" >&2; exit 2 ;;
    esac
fi
