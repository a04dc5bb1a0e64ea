//! Dovecot's attribute file (`mail_attribute_dict = file:`): parsing, the
//! key-store scan, and loading every key it can open with the vector
//! password into an empty ring.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcrypt::keys::{AttributeFile, KeyRing, UserKeyStore};

fuzz_target!(|data: &[u8]| {
    let attrs = match AttributeFile::parse(data) {
        Ok(a) => a,
        Err(e) => {
            let _ = format!("{e} {e:?}");
            return;
        }
    };
    assert_eq!(attrs.iter().count(), attrs.len());
    for (k, v) in attrs.iter() {
        assert_eq!(attrs.get(k), Some(v));
    }
    let _ = format!("{attrs:?}");
    let store = UserKeyStore::from_attributes(&attrs);
    let _ = format!("{store:?} {:?}", store.active_user_key());
    for k in store.keys() {
        let _ = format!("{} {k:?}", k.role);
    }
    let password = mailcrypt_fuzz::PASSWORDS.get(1).copied();
    let mut ring = KeyRing::new();
    match store.load_into(&mut ring, password) {
        Ok(report) => {
            assert_eq!(report.loaded.len(), ring.len());
            for (_, id) in &report.loaded {
                assert!(ring.find(id).is_some(), "a reported key is not in the ring");
            }
            let _ = format!("{report:?}");
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
});
