//! Dovecot key strings (`1:`/`2:`; public, private in clear, under a
//! password, encrypted to another key): classification, loading with and
//! without the vector passwords and with the fixture keys, and the round
//! trip of whatever loads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcrypt::KeyError;
use mailcrypt::keys::{
    DovecotKeyEncryption, DovecotKeyInfo, DovecotKeyKind, PrivateKey, PublicKey,
};

fn check_private(key: &PrivateKey, info: Option<&DovecotKeyInfo>) {
    let id = key.public_key().canonical_id();
    // The key id stored in the string is one of the key's ids.
    if let Some(info) = info {
        let ids = key.public_key().ids();
        assert!(
            ids.iter().any(|(_, k)| *k == info.key_id),
            "a loaded key does not carry the id stored in its string"
        );
    }
    let clear = match key.to_dovecot_string(mailcrypt::keys::DovecotProtection::None) {
        Ok(s) => s,
        Err(e) => panic!("a loaded key does not serialise: {e}"),
    };
    match PrivateKey::from_dovecot_str(&clear, None) {
        Ok(k) => assert_eq!(k.public_key().canonical_id(), id),
        Err(e) => panic!("a serialised private key does not load: {e}"),
    }
    let pw = b"fuzz";
    let locked = match key.to_dovecot_string(mailcrypt::keys::DovecotProtection::password(pw)) {
        Ok(s) => s,
        Err(e) => panic!("password serialisation failed: {e}"),
    };
    match PrivateKey::from_dovecot_str(&locked, Some(pw)) {
        Ok(k) => assert_eq!(k.public_key().canonical_id(), id),
        Err(e) => panic!("a password-protected string does not load: {e}"),
    }
    assert!(
        PrivateKey::from_dovecot_str(&locked, Some(b"fuzz!")).is_err(),
        "a wrong password opened a key"
    );
    assert!(matches!(
        PrivateKey::from_dovecot_str(&locked, None),
        Err(KeyError::PasswordRequired)
    ));
    check_public(key.public_key());
}

fn check_public(key: &PublicKey) {
    let s = key.to_dovecot_string();
    match PublicKey::from_dovecot_str(&s) {
        Ok(k) => assert_eq!(k.canonical_id(), key.canonical_id()),
        Err(e) => panic!("a serialised public key does not load: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let info = DovecotKeyInfo::parse(s);
    if let Ok(i) = &info {
        let _ = format!("{i} {i:?}");
    }
    if let Err(e) = &info {
        let _ = format!("{e} {e:?}");
    }
    match PublicKey::from_dovecot_str(s) {
        Ok(k) => {
            if let Ok(i) = &info {
                assert!(
                    k.ids().iter().any(|(_, id)| *id == i.key_id),
                    "a loaded public key does not carry the id stored in its string"
                );
            }
            check_public(&k);
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
    match PrivateKey::from_dovecot_str(s, None) {
        Ok(k) => check_private(&k, info.as_ref().ok()),
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
    let Ok(info) = info else {
        return;
    };
    if info.kind != DovecotKeyKind::Private {
        return;
    }
    match info.encryption {
        DovecotKeyEncryption::Password => {
            for pw in mailcrypt_fuzz::PASSWORDS {
                if let Ok(k) = PrivateKey::from_dovecot_str(s, Some(pw)) {
                    check_private(&k, Some(&info));
                }
            }
        }
        DovecotKeyEncryption::Key => {
            let ring = mailcrypt_fuzz::ring();
            if let Some(id) = info.encryption_key_id
                && let Some(m) = ring.find(&id)
                && let Ok(k) = PrivateKey::from_dovecot_str_with_key(s, &m.key)
            {
                check_private(&k, Some(&info));
            }
        }
        _ => {}
    }
});
