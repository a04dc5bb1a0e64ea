//! Key files whose key-derivation cost would stall or exhaust the loader
//! (found by fuzzing, `fuzz/findings/key_pem_der/`) are refused up front.

use mailcrypt::KeyError;
use mailcrypt::keys::PrivateKey;

#[test]
fn hostile_pbes2_parameters_are_refused_quickly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/findings/key_pem_der");
    for f in [
        "pkcs8-pbkdf2-2pow31-iterations.pem",
        "pkcs8-scrypt-266mib.pem",
    ] {
        let data = std::fs::read(dir.join(f)).unwrap();
        // Refused by the parameter check, before any derivation work.
        let err = PrivateKey::from_bytes(&data, Some(b"x")).unwrap_err();
        assert!(
            matches!(&err, KeyError::Invalid(m) if m.contains("limit")),
            "{f}: {err}"
        );
    }
}
