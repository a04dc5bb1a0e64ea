# helper for the stores work; sourced
. /work/shared/oracle/oracle-env.sh
K=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/keys
# mk_home ENV -> prints host path of a fresh temp dir (inside the env's root), home/ owned by 65534
mk_home() {
  local t; t=$(oracle_mktemp "$1") || return 1
  chmod 711 "$t"; mkdir -p "$t/home" "$t/run"; chown 65534:65534 "$t/home"
  echo "$t"
}
inner() { local r; r=$(oracle_root "$1"); echo "${2#$r}"; }
# write_conf ENV T KEYSUB CRYPT(yes/no) COMPRESS(method|none|read)
write_conf() {
  local env=$1 t=$2 keysub=$3 crypt=$4 comp=$5 in; in=$(inner "$env" "$t")
  cp "$K/$keysub/public.pem" "$t/public.pem"; cp "$K/$keysub/private.pem" "$t/private.pem"; chmod 644 "$t"/*.pem
  if oracle_is_24 "$env"; then
    {
    echo "dovecot_config_version = 2.4.1"
    echo "dovecot_storage_version = 2.4.1"
    echo "base_dir = $in/run"
    echo "log_path = /dev/stderr"
    echo "mail_uid = 65534"
    echo "mail_gid = 65534"
    echo "mail_driver = maildir"
    echo "mail_path = $in/home/Maildir"
    echo "mail_plugins {"
    [ "$comp" != none ] && echo "  mail_compress = yes"
    [ "$crypt" = yes ] && echo "  mail_crypt = yes"
    echo "}"
    case "$comp" in none|read) ;; *) echo "mail_compress_write_method = $comp";; esac
    if [ "$crypt" = yes ]; then
      echo "crypt_global_public_key_file = $in/public.pem"
      echo "crypt_global_private_key main {"
      echo "  crypt_private_key_file = $in/private.pem"
      echo "}"
    fi
    } > "$t/dovecot.conf"
  else
    local pl=""
    [ "$comp" != none ] && pl="zlib"
    [ "$crypt" = yes ] && pl="$pl mail_crypt"
    {
    echo "base_dir = $in/run"
    echo "log_path = /dev/stderr"
    echo "ssl = no"
    echo "mail_uid = 65534"
    echo "mail_gid = 65534"
    echo "mail_location = maildir:~/Maildir"
    echo "mail_plugins = ${pl# }"
    echo "plugin {"
    if [ "$crypt" = yes ]; then
      echo "  mail_crypt_global_public_key = <$in/public.pem"
      echo "  mail_crypt_global_private_key = <$in/private.pem"
      echo "  mail_crypt_save_version = 2"
    fi
    case "$comp" in none|read) ;; *) echo "  zlib_save = $comp"; echo "  zlib_save_level = 6";; esac
    echo "}"
    } > "$t/dovecot.conf"
  fi
}
# dv ENV T ARGS... : doveadm mail command as user oracle with home T/home
dv() {
  local env=$1 t=$2; shift 2
  local in; in=$(inner "$env" "$t")
  if oracle_is_24 "$env"; then
    local pre=()
    while [ $# -gt 0 ]; do case "$1" in -o|-f) pre+=("$1" "$2"); shift 2;; -*) pre+=("$1"); shift;; *) break;; esac; done
    local cmd=$1; shift
    case "$cmd" in mailbox|flags|fs|mail) cmd="$cmd $1"; shift;; esac
    oracle_doveadm_user "$env" "$in/dovecot.conf" "$in/home" "${pre[@]}" $cmd --no-userdb-lookup "$@"
  else
    oracle_doveadm_user "$env" "$in/dovecot.conf" "$in/home" "$@"
  fi
}
