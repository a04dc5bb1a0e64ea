# helper for the dbox vectors; sourced. Reuses ../../stores/scripts/lib.sh (mk_home, dv, inner).
# The interop harness installs old/v24 as chroots under /var/cache/mailcrypt-interop and upstream
# under /var/cache/mailcrypt-interop/upstream/...; point the oracle scripts there unless told.
IC=${INTEROP_CACHE:-/var/cache/mailcrypt-interop}
[ -d /opt/bullseye ] || export OLD_CHROOT=${OLD_CHROOT:-$IC/chroot-bullseye}
[ -d /opt/trixie ] || export V24_CHROOT=${V24_CHROOT:-$IC/chroot-trixie}
if [ ! -x /opt/dovecot-upstream/bin/doveadm ] && [ -z "${UPSTREAM_PREFIX:-}" ]; then
  for p in "$IC"/upstream/*/prefix "$IC"/upstream/prefix-* "$IC"/upstream/*; do
    [ -x "$p/bin/doveadm" ] && { export UPSTREAM_PREFIX=$p; break; }
  done
fi
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../stores/scripts" && pwd)/lib.sh"
D=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# write_dbox_conf ENV T KEYDIR LAYOUT(sdbox|mdbox|maildir) CRYPT(global|user|no) [ROTATE]
# KEYDIR holds public.pem/private.pem (global keys); CRYPT=user: per-user keys in
# T/home/dovecot-attributes (mail_attribute_dict), no global key.
write_dbox_conf() {
  local env=$1 t=$2 kd=$3 lay=$4 crypt=$5 rot=${6:-1k} in; in=$(inner "$env" "$t")
  if [ "$crypt" = global ]; then
    cp "$kd/public.pem" "$t/public.pem"; cp "$kd/private.pem" "$t/private.pem"; chmod 644 "$t"/*.pem
  fi
  if oracle_is_24 "$env"; then
    {
    echo "dovecot_config_version = 2.4.1"
    echo "dovecot_storage_version = 2.4.1"
    echo "base_dir = $in/run"
    echo "log_path = /dev/stderr"
    echo "mail_uid = 65534"
    echo "mail_gid = 65534"
    echo "mail_driver = $lay"
    echo "mail_path = $in/home/$lay"
    [ "$lay" = mdbox ] && echo "mdbox_rotate_size = $rot"
    echo "mail_plugins {"
    [ "$crypt" != no ] && echo "  mail_crypt = yes"
    echo "}"
    if [ "$crypt" = global ]; then
      echo "crypt_global_public_key_file = $in/public.pem"
      echo "crypt_global_private_key main {"
      echo "  crypt_private_key_file = $in/private.pem"
      echo "}"
    elif [ "$crypt" = user ]; then
      echo "crypt_user_key_curve = prime256v1"
      echo "mail_attribute {"
      echo "  dict file {"
      echo "    dict_file_path = $in/home/dovecot-attributes"
      echo "  }"
      echo "}"
    fi
    } > "$t/dovecot.conf"
  else
    {
    echo "base_dir = $in/run"
    echo "log_path = /dev/stderr"
    echo "ssl = no"
    echo "mail_uid = 65534"
    echo "mail_gid = 65534"
    echo "mail_location = $lay:~/$lay"
    [ "$lay" = mdbox ] && echo "mdbox_rotate_size = $rot"
    if [ "$crypt" = no ]; then echo "mail_plugins ="; else echo "mail_plugins = mail_crypt"; fi
    [ "$crypt" = user ] && echo "mail_attribute_dict = file:$in/home/dovecot-attributes"
    echo "plugin {"
    if [ "$crypt" = global ]; then
      echo "  mail_crypt_global_public_key = <$in/public.pem"
      echo "  mail_crypt_global_private_key = <$in/private.pem"
      echo "  mail_crypt_save_version = 2"
    elif [ "$crypt" = user ]; then
      echo "  mail_crypt_curve = prime256v1"
      echo "  mail_crypt_save_version = 2"
    fi
    echo "}"
    } > "$t/dovecot.conf"
  fi
}
