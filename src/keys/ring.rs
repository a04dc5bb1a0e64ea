//! A key ring: private keys with their ids precomputed under every
//! convention, plus an optional lookup callback (like Dovecot's key
//! callback) for keys that are not loaded up front.

use std::fmt;
use std::sync::Arc;

use super::{IdConvention, KeyId, PrivateKey};
use crate::error::KeySearch;

type Lookup = dyn Fn(&KeyId) -> Option<PrivateKey> + Send + Sync;

struct Entry {
    label: String,
    key: Arc<PrivateKey>,
    // Computed once: hashing SPKIs per file would dominate small mails.
    ids: Vec<(IdConvention, KeyId)>,
}

/// Private keys to decrypt with.
///
/// ```
/// use mailcrypt::keys::{KeyRing, PrivateKey, KeyId, IdConvention};
/// let pem = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
/// let mut ring = KeyRing::new();
/// ring.add(PrivateKey::from_bytes(&pem, None).unwrap());
/// // The same key is found under the id unpatched Dovecot 2.3 on OpenSSL 3 writes:
/// let id = KeyId::from_hex("4b6063148a36bffe22c4855207efbd74b474ed5aabd7a5f199b5ef4a873f0078").unwrap();
/// let m = ring.find(&id).unwrap();
/// assert_eq!(m.convention, IdConvention::SpkiUncompressed);
/// ```
#[derive(Default)]
pub struct KeyRing {
    entries: Vec<Entry>,
    lookup: Option<Box<Lookup>>,
}

/// A key found for an id, and how the id matched.
#[derive(Clone)]
pub struct MatchedKey {
    /// The key.
    pub key: Arc<PrivateKey>,
    /// The convention under which the key's id equals the wanted id.
    pub convention: IdConvention,
    /// The id that matched.
    pub id: KeyId,
    /// The label the key was added with (file name, or `lookup`).
    pub label: String,
}

impl fmt::Debug for MatchedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchedKey")
            .field("key", &self.key)
            .field("convention", &self.convention)
            .field("id", &self.id)
            .field("label", &self.label)
            .finish()
    }
}

impl KeyRing {
    /// An empty key ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key (labelled by its canonical id).
    pub fn add(&mut self, key: PrivateKey) -> &mut Self {
        let label = key.public_key().canonical_id().to_hex();
        self.add_labeled(label, key)
    }

    /// Add a key with a label shown in messages (e.g. its file name).
    pub fn add_labeled(&mut self, label: impl Into<String>, key: PrivateKey) -> &mut Self {
        let ids = key.public_key().ids();
        self.entries.push(Entry {
            label: label.into(),
            key: Arc::new(key),
            ids,
        });
        self
    }

    /// Set a callback asked for ids that no loaded key has.
    pub fn set_lookup(
        &mut self,
        f: impl Fn(&KeyId) -> Option<PrivateKey> + Send + Sync + 'static,
    ) -> &mut Self {
        self.lookup = Some(Box::new(f));
        self
    }

    /// Number of loaded keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is loaded (a lookup callback may still be set).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Find a key whose id equals `id` under any convention.
    pub fn find(&self, id: &KeyId) -> Option<MatchedKey> {
        self.find_with(id, |_| true)
    }

    /// Find a key whose id equals `id` under a convention accepted by
    /// `accept`. Every key and convention is compared (constant time per
    /// comparison); the first match in insertion order wins.
    pub fn find_with(
        &self,
        id: &KeyId,
        accept: impl Fn(IdConvention) -> bool,
    ) -> Option<MatchedKey> {
        for e in &self.entries {
            for (conv, kid) in &e.ids {
                if accept(*conv) && kid == id {
                    return Some(MatchedKey {
                        key: Arc::clone(&e.key),
                        convention: *conv,
                        id: *id,
                        label: e.label.clone(),
                    });
                }
            }
        }
        let lookup = self.lookup.as_ref()?;
        let key = lookup(id)?;
        let (conv, _) = key
            .public_key()
            .ids()
            .into_iter()
            .find(|(c, k)| accept(*c) && k == id)?;
        Some(MatchedKey {
            key: Arc::new(key),
            convention: conv,
            id: *id,
            label: "lookup".into(),
        })
    }

    /// Describe what was searched, for [`crate::DecryptError::NoMatchingKey`].
    pub(crate) fn search_report(&self, wanted: Vec<KeyId>) -> KeySearch {
        KeySearch {
            wanted,
            tried: self
                .entries
                .iter()
                .map(|e| (e.label.clone(), e.ids.clone()))
                .collect(),
        }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "keys",
                &self.entries.iter().map(|e| &e.label).collect::<Vec<_>>(),
            )
            .field("lookup", &self.lookup.is_some())
            .finish()
    }
}
