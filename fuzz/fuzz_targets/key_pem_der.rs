//! Key loading with automatic form detection (`PrivateKey::from_bytes`,
//! `PublicKey::from_bytes`: PEM PKCS#8 plain and encrypted, SEC1, PKCS#1,
//! SPKI, DER, base64 of any of these, and whatever else the detector
//! dispatches to), and the round trip of whatever loads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcrypt::KeyError;
use mailcrypt::keys::{PointForm, PrivateKey, PublicKey};

fn same_public(a: &PublicKey, b: &PublicKey) {
    assert_eq!(a.key_type(), b.key_type());
    assert_eq!(a.canonical_id(), b.canonical_id());
}

fn check_public(k: &PublicKey) {
    for form in [PointForm::Compressed, PointForm::Uncompressed] {
        let der = k.spki_der(form);
        match PublicKey::from_spki_der(&der) {
            Ok(again) => same_public(k, &again),
            Err(e) => panic!("SPKI of a loaded key does not load: {e}"),
        }
        match PublicKey::from_bytes(k.to_pem(form).as_bytes()) {
            Ok(again) => same_public(k, &again),
            Err(e) => panic!("PEM of a loaded key does not load: {e}"),
        }
    }
    let _ = format!("{k:?} {}", k.key_type());
}

fn check_private(k: &PrivateKey) {
    for form in [PointForm::Compressed, PointForm::Uncompressed] {
        let der = match k.to_pkcs8_der(form) {
            Ok(d) => d,
            Err(e) => panic!("a loaded key does not encode: {e}"),
        };
        match PrivateKey::from_bytes(&der, None) {
            Ok(again) => same_public(k.public_key(), again.public_key()),
            Err(e) => panic!("PKCS#8 of a loaded key does not load: {e}"),
        }
    }
    check_public(k.public_key());
}

fuzz_target!(|data: &[u8]| {
    match PrivateKey::from_bytes(data, None) {
        Ok(k) => check_private(&k),
        Err(KeyError::PasswordRequired) => {
            for pw in mailcrypt_fuzz::PASSWORDS {
                match PrivateKey::from_bytes(data, Some(pw)) {
                    Ok(k) => check_private(&k),
                    Err(e) => {
                        let _ = format!("{e} {e:?}");
                    }
                }
            }
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
    match PublicKey::from_bytes(data) {
        Ok(k) => check_public(&k),
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
});
