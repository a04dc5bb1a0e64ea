//! JSON Web Keys: private and public loading with metadata, and the round
//! trip of whatever loads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcrypt::keys::{PrivateKey, PublicKey};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match PrivateKey::from_jwk_with_meta(s) {
        Ok((k, meta)) => {
            let text = match k.to_jwk(&meta) {
                Ok(t) => t,
                Err(e) => panic!("a loaded JWK does not serialise: {e}"),
            };
            match PrivateKey::from_jwk_with_meta(&text) {
                Ok((again, meta2)) => {
                    assert_eq!(meta, meta2);
                    assert_eq!(k.key_type(), again.key_type());
                    assert_eq!(
                        k.public_key().canonical_id(),
                        again.public_key().canonical_id()
                    );
                }
                Err(e) => panic!("a serialised private JWK does not load: {e}"),
            }
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
    match PublicKey::from_jwk_with_meta(s) {
        Ok((k, meta)) => {
            let text = match k.to_jwk(&meta) {
                Ok(t) => t,
                Err(e) => panic!("a loaded public JWK does not serialise: {e}"),
            };
            match PublicKey::from_jwk_with_meta(&text) {
                Ok((again, meta2)) => {
                    assert_eq!(meta, meta2);
                    assert_eq!(k.canonical_id(), again.canonical_id());
                }
                Err(e) => panic!("a serialised public JWK does not load: {e}"),
            }
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
});
