#!/bin/bash
# interop/run.sh - prove that mailcrypt and four real Dovecot builds read each
# other's mail-crypt files, in both directions.
#
# Usage (as root, on Debian 12):   interop/run.sh [--install-only]
#
# 1. Installs (idempotent, cached under $INTEROP_CACHE):
#      new       Debian 12 host package dovecot-core (2.3.19.1, Debian-patched, OpenSSL 3)
#      old       Debian 11 dovecot-core (2.3.13, OpenSSL 1.1.1), debootstrap chroot
#      upstream  upstream 2.3 built from the Debian source package's orig tarball,
#                no Debian patches, against the host OpenSSL 3 (cached by version)
#      v24       Debian 13 dovecot-core (2.4.x, OpenSSL 3.5), debootstrap chroot
#    from the Debian mirror configured in the host's /etc/apt; no daemon is started.
# 2. Generates fresh keys (P-256/384/521 in both PEM point forms, RSA-2048) and
#    plaintexts (0 B, 1 B, 10 KiB, 1 MiB, an RFC 5322 mail).
# 3. Runs the matrix (interop/lib/matrix.py): every build writes, mailcrypt
#    decrypts; mailcrypt writes for every target, every build decrypts; per-user
#    key stores; key ids; known-incompatible cells must fail exactly as expected.
# 4. Runs the store cells (interop/lib/store.py, issue 6; INTEROP_STORES=0 turns
#    them off): the Maildir stores in vectors/stores/ are rewritten by
#    `mailcrypt repair` / `rekey` / `decrypt-store` and the real builds must serve
#    every mail exactly (before repair they must fail on the mails they cannot read).
# 4b. Runs the dbox and per-user store cells (interop/lib/dbox.py, issue 14;
#    INTEROP_DBOX=0 turns them off): the sdbox/mdbox stores of vectors/dbox/ (one per
#    build, two written by upstream and new in turn, one with per-user keys) and the
#    per-user Maildir stores vectors/userkeys/{upstream,old-v1} go through `mailcrypt
#    decrypt-store`, `repair --target T` (+ undo), `scan --json` and `rekey` (must
#    refuse dbox); each real build reads each store with one `doveadm fetch`.
# 5. Runs the key cells (interop/lib/keys.py, issue 4; INTEROP_KEYS=0 turns them
#    off): every build uses private/public key files mailcrypt wrote (PEM, `2:`,
#    JWK; generated and converted; with and without password) as its global keys,
#    and reads the per-user stores of vectors/userkeys/ after mailcrypt rewrote
#    their user and folder key strings.
# 6. Prints the matrix, the store and the key cells, writes $INTEROP_OUT/matrix.tsv,
#    stores.tsv, dbox.tsv and keys.tsv, and ends with one line
#      interop: N cells: A ok, B expected-fail, C FAIL, D skipped (matrix M, stores S, keys K, dbox X)
#    Exit status 0 only when no cell is FAIL.
#
# Environment:
#   MAILCRYPT=/path/to/mailcrypt   binary to test (default: cargo build --release --features cli)
#   INTEROP_CACHE=DIR              install cache (default /var/cache/mailcrypt-interop)
#   INTEROP_OUT=DIR                results (default interop/out)
#   INTEROP_OLD_ROOT=DIR           reuse an existing Debian 11 chroot with dovecot-core
#   INTEROP_V24_ROOT=DIR           reuse an existing Debian 13 chroot with dovecot-core
#   INTEROP_UPSTREAM_PREFIX=DIR    reuse an existing unpatched upstream 2.3 install
#   INTEROP_BUILDS="new old upstream v24"   drive only these builds
#   INTEROP_USERKEYS=1|0           per-user key cells (default 1)
#   INTEROP_REQUIRE_USERKEYS=1     count skipped per-user cells as FAIL
#   INTEROP_STORES=1|0             store cells: repair / rekey / decrypt-store (default 1)
#   INTEROP_KEYS=1|0               key cells: mailcrypt-written keys in the builds (default 1)
#   INTEROP_DBOX=1|0               dbox / per-user store cells (default 1)
#   INTEROP_DBOX_CELLS="read decrypt repair userkey rekey"   only these dbox cell groups
#   INTEROP_JOBS=N                 parallel cells (default: CPUs)
#   INTEROP_MATRIX_KEYS="p256c x25519"   matrix cells for these keys only (default: all)
#   INTEROP_MATRIX_MODES="v2-samecalg c:*"  matrix cells for these modes only (fnmatch patterns)
#   INTEROP_KEEP=1                 keep the work dir (keys, containers) even on success
#   INTEROP_MIRROR / INTEROP_SECURITY_MIRROR   override the mirror read from /etc/apt
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source=lib/install.sh
. "$HERE/lib/install.sh"

INSTALL_ONLY=0
for a in "$@"; do
    case "$a" in
        --install-only) INSTALL_ONLY=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $a (see --help)" ;;
    esac
done

need_root
T_START=$SECONDS
[ "$(host_codename)" = bookworm ] \
    || log "WARNING: host is $(host_codename), not Debian 12 (bookworm): build 'new' is then that release's dovecot-core"
INTEROP_OUT=${INTEROP_OUT:-$HERE/out}
BUILDS=${INTEROP_BUILDS:-$INTEROP_ALL_BUILDS}
STORES=${INTEROP_STORES:-1}
case "$STORES" in 0|1) ;; *) die "INTEROP_STORES must be 0 or 1, not '$STORES'" ;; esac
KEYCELLS=${INTEROP_KEYS:-1}
DBOXCELLS=${INTEROP_DBOX:-1}
case "$DBOXCELLS" in 0|1) ;; *) die "INTEROP_DBOX must be 0 or 1, not '$DBOXCELLS'" ;; esac
if [ "$DBOXCELLS" = 1 ]; then
    [ -f "$REPO_DIR/vectors/dbox/manifest.tsv" ] \
        || die "INTEROP_DBOX=1 needs the dbox stores in $REPO_DIR/vectors/dbox (or set INTEROP_DBOX=0)"
fi
case "$KEYCELLS" in 0|1) ;; *) die "INTEROP_KEYS must be 0 or 1, not '$KEYCELLS'" ;; esac
if [ "$KEYCELLS" = 1 ]; then
    [ -f "$REPO_DIR/vectors/userkeys/new/dovecot-attributes" ] \
        || die "INTEROP_KEYS=1 needs the per-user stores in $REPO_DIR/vectors/userkeys (or set INTEROP_KEYS=0)"
fi
if [ "$STORES" = 1 ]; then
    [ -f "$REPO_DIR/vectors/stores/mixed/manifest.tsv" ] \
        || die "INTEROP_STORES=1 needs the sample stores in $REPO_DIR/vectors/stores (or set INTEROP_STORES=0)"
fi
for b in $BUILDS; do
    case " $INTEROP_ALL_BUILDS " in *" $b "*) ;; *) die "unknown build '$b' in INTEROP_BUILDS" ;; esac
done
has_build() { case " $BUILDS " in *" $1 "*) return 0 ;; esac; return 1; }

DOVECOTS_BEFORE=$(dovecot_pids)
WORK=""
# shellcheck disable=SC2317
cleanup() {
    stop_new_dovecots "$DOVECOTS_BEFORE"
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------------
need=""
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v python3 >/dev/null 2>&1 || need="$need python3"
if [ -n "$need" ]; then
    log "installing$need on the host"
    # shellcheck disable=SC2086
    apt_install $need
fi

# --- 1. the Dovecot builds ---------------------------------------------------------
T_INSTALL=$SECONDS
has_build new && install_host

# host packages the parallel steps below need, installed first (one apt at a time)
pre=""
if { has_build old && [ -z "${INTEROP_OLD_ROOT:-}" ]; } || { has_build v24 && [ -z "${INTEROP_V24_ROOT:-}" ]; }; then
    command -v debootstrap >/dev/null 2>&1 || pre="$pre debootstrap"
fi
if has_build upstream && [ -z "${INTEROP_UPSTREAM_PREFIX:-}" ] && ! upstream_cached_prefix >/dev/null; then
    pre="$pre $(upstream_build_tools_missing)"
fi
# shellcheck disable=SC2086,SC2116
pre=$(echo $pre)
if [ -n "$pre" ]; then
    log "installing on the host: $pre"
    # shellcheck disable=SC2086
    apt_install $pre
fi

UPSTREAM_LOG=""
UPSTREAM_PID=""
if has_build upstream; then
    if [ -n "${INTEROP_UPSTREAM_PREFIX:-}" ]; then
        [ -x "$INTEROP_UPSTREAM_PREFIX/bin/doveadm" ] && [ -f "$INTEROP_UPSTREAM_PREFIX/lib/dovecot/libfs_crypt.so" ] \
            || die "INTEROP_UPSTREAM_PREFIX=$INTEROP_UPSTREAM_PREFIX has no bin/doveadm + lib/dovecot/libfs_crypt.so"
        log "upstream: using $INTEROP_UPSTREAM_PREFIX ($("$INTEROP_UPSTREAM_PREFIX/sbin/dovecot" --version))"
    else
        # the compile is CPU-bound, the chroots network-bound: run side by side
        mkdir -p "$INTEROP_CACHE"
        UPSTREAM_LOG=$(mktemp)
        install_upstream > "$UPSTREAM_LOG" &
        UPSTREAM_PID=$!
    fi
fi
if has_build old; then
    if [ -n "${INTEROP_OLD_ROOT:-}" ]; then
        [ -x "$INTEROP_OLD_ROOT/usr/bin/doveadm" ] || die "INTEROP_OLD_ROOT=$INTEROP_OLD_ROOT has no usr/bin/doveadm"
        log "old: using chroot $INTEROP_OLD_ROOT"
    else
        INTEROP_OLD_ROOT=$INTEROP_CACHE/chroot-$OLD_SUITE
        install_chroot "$OLD_SUITE" "$INTEROP_OLD_ROOT"
    fi
fi
if has_build v24; then
    if [ -n "${INTEROP_V24_ROOT:-}" ]; then
        [ -x "$INTEROP_V24_ROOT/usr/bin/doveadm" ] || die "INTEROP_V24_ROOT=$INTEROP_V24_ROOT has no usr/bin/doveadm"
        log "v24: using chroot $INTEROP_V24_ROOT"
    else
        INTEROP_V24_ROOT=$INTEROP_CACHE/chroot-$V24_SUITE
        install_chroot "$V24_SUITE" "$INTEROP_V24_ROOT"
    fi
fi
if [ -n "$UPSTREAM_PID" ]; then
    wait "$UPSTREAM_PID" || die "upstream build failed"
    INTEROP_UPSTREAM_PREFIX=$(tail -1 "$UPSTREAM_LOG")
    rm -f "$UPSTREAM_LOG"
fi
T_INSTALL=$((SECONDS - T_INSTALL))
log "builds ready in $T_INSTALL s"
[ "$INSTALL_ONLY" = 1 ] && { log "--install-only: done"; exit 0; }

# --- the mailcrypt binary ------------------------------------------------------------
if [ -n "${MAILCRYPT:-}" ]; then
    [ -x "$MAILCRYPT" ] || die "MAILCRYPT=$MAILCRYPT is not executable"
else
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or set MAILCRYPT=/path/to/mailcrypt)"
    log "cargo build --release --features cli"
    (cd "$REPO_DIR" && cargo build --release --features cli >&2)
    MAILCRYPT=${CARGO_TARGET_DIR:-$REPO_DIR/target}/release/mailcrypt
    case "$MAILCRYPT" in /*) ;; *) MAILCRYPT=$REPO_DIR/$MAILCRYPT ;; esac
fi
MAILCRYPT=$(readlink -f "$MAILCRYPT")
log "mailcrypt: $MAILCRYPT ($("$MAILCRYPT" --version 2>/dev/null || echo '?'))"

# --- 2. fresh keys and plaintexts ------------------------------------------------------
mkdir -p "$INTEROP_OUT"
INTEROP_OUT=$(cd "$INTEROP_OUT" && pwd)
WORK=$INTEROP_OUT/work
rm -rf "$WORK" "$INTEROP_OUT/matrix.tsv" "$INTEROP_OUT/matrix.txt" "$INTEROP_OUT/summary.txt" \
    "$INTEROP_OUT/builds.tsv" "$INTEROP_OUT/stores.tsv" "$INTEROP_OUT/stores.txt" \
    "$INTEROP_OUT/keys.tsv" "$INTEROP_OUT/keys.txt" "$INTEROP_OUT/dbox.tsv" "$INTEROP_OUT/dbox.txt"
mkdir -p "$WORK/keys" "$WORK/plain"
T_MAT=$SECONDS

spki_len() { openssl pkey -pubin -in "$1" -outform DER | wc -c; }
for kc in p256:prime256v1:91:59 p384:secp384r1:120:72 p521:secp521r1:158:90; do
    IFS=: read -r k curve ulen clen <<<"$kc"
    d=$WORK/keys/$k c=$WORK/keys/${k}c
    mkdir -p "$d" "$c"
    openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" \
        -pkeyopt ec_param_enc:named_curve -out "$d/private.pem" 2>/dev/null
    openssl pkey -in "$d/private.pem" -pubout -out "$d/public.pem"
    # the same key pair, PEM with compressed points
    openssl pkey -in "$d/private.pem" -ec_conv_form compressed -out "$c/private.pem"
    openssl pkey -in "$c/private.pem" -pubout -ec_conv_form compressed -out "$c/public.pem"
    [ "$(spki_len "$d/public.pem")" -eq "$ulen" ] || die "$k: public PEM is not uncompressed"
    [ "$(spki_len "$c/public.pem")" -eq "$clen" ] || die "${k}c: public PEM is not compressed"
done
mkdir -p "$WORK/keys/rsa2048"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/keys/rsa2048/private.pem" 2>/dev/null
openssl pkey -in "$WORK/keys/rsa2048/private.pem" -pubout -out "$WORK/keys/rsa2048/public.pem"
# RFC 8410 keys (Dovecot 2.4 only; the 2.3 builds panic on them)
for x in x25519 x448; do
    mkdir -p "$WORK/keys/$x"
    openssl genpkey -algorithm "$x" -out "$WORK/keys/$x/private.pem" 2>/dev/null
    openssl pkey -in "$WORK/keys/$x/private.pem" -pubout -out "$WORK/keys/$x/public.pem"
done
chmod -R go-rwx "$WORK/keys"

# random bytes without CR: Dovecot's mail path (doveadm save) turns CRLF into
# LF, so CR-free data is the same plaintext for every writer
rand_nocr() { head -c "$1" /dev/urandom | tr '\r' '\016'; }
: > "$WORK/plain/0.bin"
rand_nocr 64 | tr -d '\n' > "$WORK/plain/1.tmp"
head -c 1 "$WORK/plain/1.tmp" > "$WORK/plain/1.bin" && rm -f "$WORK/plain/1.tmp"
[ "$(stat -c %s "$WORK/plain/1.bin")" -eq 1 ] || die "could not make the 1-byte plaintext"
rand_nocr 10240 > "$WORK/plain/10k.bin"
rand_nocr 1048576 > "$WORK/plain/1m.bin"
python3 - "$WORK/plain/mail.bin" <<'EOF'
# A real-looking RFC 5322 mail (LF line ends, as Dovecot stores it in a Maildir):
# trace and address headers, an encoded-word subject, multipart/mixed with a
# quoted-printable text part and a base64 attachment of random bytes.
import base64, email.utils, os, sys, time
now = time.time()
boundary = "=_mci_%s" % os.urandom(8).hex()
att = base64.encodebytes(os.urandom(3000)).decode()
msgid = "<%s@interop.mailcrypt.test>" % os.urandom(10).hex()
mail = f"""Return-Path: <alice@example.org>
Delivered-To: bob@example.net
Received: from mx.example.org (mx.example.org [192.0.2.25])
\tby mail.example.net (Postfix) with ESMTPS id 4Xy7Zq1kQnz9v
\tfor <bob@example.net>; {email.utils.formatdate(now - 60)}
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mail;
\tt={int(now)}; h=from:to:subject:date:message-id;
\tbh={base64.b64encode(os.urandom(32)).decode()};
\tb={base64.b64encode(os.urandom(64)).decode()}
Date: {email.utils.formatdate(now - 120)}
From: Alice Example <alice@example.org>
To: Bob Example <bob@example.net>
Cc: "Carol, the auditor" <carol@example.com>
Subject: =?UTF-8?B?{base64.b64encode("Quartalszahlen Q3 – Entwurf 📈".encode()).decode()}?=
Message-ID: {msgid}
In-Reply-To: <{os.urandom(6).hex()}@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="{boundary}"

This is a multi-part message in MIME format.

--{boundary}
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Hi Bob,

here are the draft numbers for Q3 (see attachment). Gr=C3=BC=C3=9Fe an das =
Team =E2=80=93 and please keep this confidential.

> On Monday you wrote:
> Could you send me the figures?

--=20
Alice

--{boundary}
Content-Type: application/octet-stream; name="q3-draft.bin"
Content-Disposition: attachment; filename="q3-draft.bin"
Content-Transfer-Encoding: base64

{att}
--{boundary}--
"""
assert "\r" not in mail
open(sys.argv[1], "w", encoding="utf-8", newline="\n").write(mail)
EOF

# descriptions of the builds for the matrix header
{
    has_build new && printf 'new\tDovecot %s, Debian 12 dovecot-core %s, OpenSSL %s\n' \
        "$(/usr/sbin/dovecot --version)" "$(dpkg-query -W -f='${Version}' dovecot-core)" \
        "$(dpkg-query -W -f='${Version}' libssl3)"
    has_build old && printf 'old\tDovecot %s, Debian 11 dovecot-core %s, OpenSSL %s\n' \
        "$(chroot "$INTEROP_OLD_ROOT" /usr/sbin/dovecot --version)" \
        "$(chroot "$INTEROP_OLD_ROOT" dpkg-query -W -f='${Version}' dovecot-core)" \
        "$(chroot "$INTEROP_OLD_ROOT" dpkg-query -W -f='${Version}' libssl1.1)"
    has_build upstream && printf 'upstream\tDovecot %s, unpatched upstream source (Debian orig tarball), host OpenSSL %s, %s\n' \
        "$("$INTEROP_UPSTREAM_PREFIX/sbin/dovecot" --version)" "$(dpkg-query -W -f='${Version}' libssl3)" \
        "$INTEROP_UPSTREAM_PREFIX"
    has_build v24 && printf 'v24\tDovecot %s, Debian 13 dovecot-core %s, OpenSSL %s\n' \
        "$(chroot "$INTEROP_V24_ROOT" /usr/sbin/dovecot --version)" \
        "$(chroot "$INTEROP_V24_ROOT" dpkg-query -W -f='${Version}' dovecot-core)" \
        "$(chroot "$INTEROP_V24_ROOT" dpkg-query -W -f='${Version}' libssl3t64)"
    true
} > "$WORK/builds.tsv"

cp "$WORK/builds.tsv" "$INTEROP_OUT/builds.tsv"

# --- 3./4. the matrix ------------------------------------------------------------------
rc=0
export MAILCRYPT INTEROP_WORK=$WORK INTEROP_OUT INTEROP_BUILDS=$BUILDS \
    INTEROP_OLD_ROOT=${INTEROP_OLD_ROOT:-} INTEROP_V24_ROOT=${INTEROP_V24_ROOT:-} \
    INTEROP_UPSTREAM_PREFIX=${INTEROP_UPSTREAM_PREFIX:-}
python3 "$HERE/lib/matrix.py" || rc=$?
T_MAT=$((SECONDS - T_MAT))

# --- 5. the store cells (issue 6) --------------------------------------------------------
T_STORES=$SECONDS
if [ "$STORES" = 1 ]; then
    python3 "$HERE/lib/store.py" || rc=$?
fi
T_STORES=$((SECONDS - T_STORES))

# --- 5b. the dbox and per-user store cells (issue 14) ----------------------------------------
T_DBOX=$SECONDS
if [ "$DBOXCELLS" = 1 ]; then
    python3 "$HERE/lib/dbox.py" || rc=$?
fi
T_DBOX=$((SECONDS - T_DBOX))

# --- 6. the key cells (issue 4) -------------------------------------------------------------
T_KEYS=$SECONDS
if [ "$KEYCELLS" = 1 ]; then
    python3 "$HERE/lib/keys.py" || rc=$?
fi
T_KEYS=$((SECONDS - T_KEYS))

# one summary line over the matrix, the store and the key cells -> summary.txt
summarize() {
    python3 - "$INTEROP_OUT" "$STORES" "$KEYCELLS" "$DBOXCELLS" <<'EOF'
import csv, os, sys
out, stores, keys, dbox = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4] == "1"
def statuses(name):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return None
    with open(p, newline="") as f:
        return [r["status"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
m = statuses("matrix.tsv")
s = statuses("stores.tsv") if stores else []
k = statuses("keys.tsv") if keys else []
d = statuses("dbox.tsv") if dbox else []
if m is None or s is None or k is None or d is None:
    print("interop: the %s did not complete" % ("matrix" if m is None else "store cells" if s is None
                                                 else "key cells" if k is None else "dbox cells"))
    sys.exit(1)
st = m + s + k + d
n = {c: st.count(c) for c in ("ok", "expected-fail", "FAIL", "skipped")}
print("interop: %d cells: %d ok, %d expected-fail, %d FAIL, %d skipped (matrix %d, stores %s, keys %s, dbox %s)" % (
    len(st), n["ok"], n["expected-fail"], n["FAIL"], n["skipped"], len(m), len(s) if stores else "off",
    len(k) if keys else "off", len(d) if dbox else "off"))
EOF
}
summarize > "$INTEROP_OUT/summary.txt.new" || rc=1
mv "$INTEROP_OUT/summary.txt.new" "$INTEROP_OUT/summary.txt"

left=""
for p in $(dovecot_pids); do
    case " $DOVECOTS_BEFORE " in *" $p "*) ;; *) left="$left $p" ;; esac
done
if [ -n "$left" ]; then
    log "ERROR: dovecot processes appeared during the run:$left (stopping them)"
    rc=1
fi
if [ "$rc" -eq 0 ] && [ "${INTEROP_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
else
    log "work dir kept: $WORK"
fi
log "install/check $T_INSTALL s, matrix $T_MAT s, stores $T_STORES s, dbox $T_DBOX s, keys $T_KEYS s, total $((SECONDS - T_START)) s; results in $INTEROP_OUT"
cat "$INTEROP_OUT/summary.txt"
exit "$rc"
