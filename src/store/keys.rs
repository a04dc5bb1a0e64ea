//! The keys a store operation works with: private keys given directly
//! (global keys) and, for stores with per-user keys, the user's attribute
//! dictionary — what each Dovecot build accepts of it, and why not.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::container::{CipherAlg, Header};
use crate::encryptor::Target;
use crate::keys::{
    AttributeFile, IdConvention, KeyId, KeyRing, KeyType, LoadReport, PublicKey, UserKeyStore,
};

use super::StoreError;
use super::mail::EncryptedMail;

/// Keys for a store operation.
///
/// ```
/// use mailcrypt::store::StoreKeys;
/// let keys = StoreKeys::new(Default::default())
///     .with_attributes("vectors/userkeys/upstream/dovecot-attributes", Some(b"Tr0ub4dor&3-mailcrypt"))?;
/// let user = keys.user().unwrap();
/// // Unpatched 2.3 on OpenSSL 3 stored both private keys with the wrong id.
/// assert_eq!(user.entries().filter(|e| e.rejected()).count(), 2);
/// # Ok::<(), mailcrypt::store::StoreError>(())
/// ```
#[derive(Default)]
pub struct StoreKeys {
    ring: KeyRing,
    user: Option<UserKeys>,
    report: Option<LoadReport>,
}

impl fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKeys")
            .field("keys", &self.ring.len())
            .field("user", &self.user)
            .finish()
    }
}

impl StoreKeys {
    /// Global keys only.
    pub fn new(ring: KeyRing) -> StoreKeys {
        StoreKeys {
            ring,
            user: None,
            report: None,
        }
    }

    /// Add the per-user keys of a Dovecot attribute file (`mail_attribute_dict
    /// = file:…`): user key under `password`, folder keys under the user key.
    pub fn with_attributes(
        mut self,
        path: impl AsRef<Path>,
        password: Option<&[u8]>,
    ) -> Result<StoreKeys, StoreError> {
        let path = path.as_ref();
        let attrs = AttributeFile::read(path).map_err(|source| StoreError::Keys {
            path: path.to_path_buf(),
            source,
        })?;
        let store = UserKeyStore::from_attributes(&attrs);
        let report = store
            .load_into(&mut self.ring, password)
            .map_err(|source| StoreError::Keys {
                path: path.to_path_buf(),
                source,
            })?;
        self.user = Some(UserKeys::analyse(path, &store, &self.ring, password));
        self.report = Some(report);
        Ok(self)
    }

    /// The private keys.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The per-user keys, when an attribute file was given.
    pub fn user(&self) -> Option<&UserKeys> {
        self.user.as_ref()
    }

    /// What loading the attribute file did (keys that failed to open).
    pub fn load_report(&self) -> Option<&LoadReport> {
        self.report.as_ref()
    }

    /// Whether no key at all was given.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty() && self.user.is_none()
    }
}

/// One mail-crypt key entry of an attribute file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredEntry {
    /// The dictionary key (`priv/<guid>/…/crypt/privkeys/<id>`).
    pub attribute: String,
    /// The id in the attribute name: what Dovecot looks keys up by, and
    /// what mail headers must carry.
    pub name_id: KeyId,
    /// The id in the key string's last field, which every build compares
    /// with the attribute name ("Incorrect key hash … stored").
    pub stored_id: KeyId,
    /// A `privkeys/` entry (else `pubkeys/`).
    pub private: bool,
    /// For a key encrypted to another key: that key's id.
    pub encrypted_by: Option<KeyId>,
    /// The key's type, when the private key could be opened.
    pub key_type: Option<KeyType>,
    /// The convention under which `name_id` is an id of the opened key
    /// (`None`: not opened, or the name is no id of it).
    pub name_convention: Option<IdConvention>,
}

impl StoredEntry {
    /// Whether every Dovecot build refuses this private key: the key
    /// string's id field differs from the attribute name.
    pub fn rejected(&self) -> bool {
        self.private && self.stored_id != self.name_id
    }
}

/// Why a Dovecot build cannot use a stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRejection {
    /// The key string's id field is not the attribute name's id.
    IncorrectKeyHash {
        /// The attribute name's id.
        name: KeyId,
        /// The id stored in the key string.
        stored: KeyId,
    },
    /// The key is encrypted to a stored key the build rejects.
    EncryptingKeyRejected(KeyId),
    /// The build cannot use keys of this type (X25519/X448 before 2.4).
    KeyType(KeyType),
}

impl fmt::Display for KeyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRejection::IncorrectKeyHash { name, stored } => write!(
                f,
                "\"Cannot use key {name}: Incorrect key hash {stored} stored\" (the key string's id field differs from the attribute name)"
            ),
            KeyRejection::EncryptingKeyRejected(id) => {
                write!(f, "it is encrypted to key {id}, which is rejected")
            }
            KeyRejection::KeyType(t) => write!(f, "the build cannot use {t:?} keys"),
        }
    }
}

/// The mail-crypt keys of one user's attribute file, as the builds see
/// them.
pub struct UserKeys {
    path: PathBuf,
    password: Option<Zeroizing<Vec<u8>>>,
    entries: Vec<StoredEntry>,
}

impl fmt::Debug for UserKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserKeys")
            .field("path", &self.path)
            .field("entries", &self.entries)
            .finish()
    }
}

impl UserKeys {
    fn analyse(
        path: &Path,
        store: &UserKeyStore,
        ring: &KeyRing,
        password: Option<&[u8]>,
    ) -> UserKeys {
        let mut entries = Vec::new();
        for k in store.keys() {
            let (Some(name_id), Some(info)) = (k.id, k.info.as_ref()) else {
                continue;
            };
            let opened = ring
                .find(&name_id)
                .or_else(|| ring.find(&info.key_id))
                .filter(|_| k.private);
            let name_convention = opened.as_ref().and_then(|m| {
                m.key
                    .public_key()
                    .ids()
                    .into_iter()
                    .find(|(_, id)| *id == name_id)
                    .map(|(c, _)| c)
            });
            entries.push(StoredEntry {
                attribute: k.attribute.clone(),
                name_id,
                stored_id: info.key_id,
                private: k.private,
                encrypted_by: info.encryption_key_id,
                key_type: opened.as_ref().map(|m| m.key.key_type()),
                name_convention,
            });
        }
        UserKeys {
            path: path.to_path_buf(),
            password: password.map(|p| Zeroizing::new(p.to_vec())),
            entries,
        }
    }

    /// The attribute file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn password(&self) -> Option<&[u8]> {
        self.password.as_deref().map(Vec::as_slice)
    }

    /// Every key entry (private and public).
    pub fn entries(&self) -> impl Iterator<Item = &StoredEntry> {
        self.entries.iter()
    }

    /// The private-key entry whose attribute name is an id of `key`.
    pub fn entry_for(&self, key: &PublicKey) -> Option<&StoredEntry> {
        let ids = key.ids();
        self.entries
            .iter()
            .find(|e| e.private && ids.iter().any(|(_, id)| *id == e.name_id))
    }

    fn private_entry(&self, id: &KeyId) -> Option<&StoredEntry> {
        self.entries
            .iter()
            .find(|e| e.private && (e.name_id == *id || e.stored_id == *id))
    }

    /// Why build `target` cannot use the private key of `entry` (following
    /// the chain of keys it is encrypted to), or `None` when it can.
    pub fn rejection(&self, entry: &StoredEntry, target: Target) -> Option<KeyRejection> {
        let mut cur = entry;
        for _ in 0..=self.entries.len() {
            if cur.rejected() {
                return Some(if std::ptr::eq(cur, entry) {
                    KeyRejection::IncorrectKeyHash {
                        name: cur.name_id,
                        stored: cur.stored_id,
                    }
                } else {
                    KeyRejection::EncryptingKeyRejected(cur.name_id)
                });
            }
            if let Some(t) = cur.key_type
                && !target.reads_key_type(t)
            {
                return Some(KeyRejection::KeyType(t));
            }
            match cur.encrypted_by.and_then(|id| self.private_entry(&id)) {
                Some(next) => cur = next,
                None => return None,
            }
        }
        // A cycle of keys encrypted to each other: nothing opens them.
        Some(KeyRejection::EncryptingKeyRejected(entry.name_id))
    }
}

/// Whether a build reads a mail, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The build finds the key and can decrypt.
    Readable,
    /// The build fails on it.
    NotReadable(Unreadable),
    /// No given key opens the mail, so nothing can be said.
    Unknown,
}

impl Verdict {
    /// `Some(true)` readable, `Some(false)` not, `None` unknown.
    pub fn readable(&self) -> Option<bool> {
        match self {
            Verdict::Readable => Some(true),
            Verdict::NotReadable(_) => Some(false),
            Verdict::Unknown => None,
        }
    }
}

/// Why a build cannot read a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unreadable {
    /// The header's key id is not the one the build computes for its key.
    WrongId {
        /// The id in the header.
        have: KeyId,
        /// The convention of that id.
        have_convention: IdConvention,
        /// The id the build looks for.
        want: KeyId,
    },
    /// A v1 mail under a per-user folder key: Dovecot looks it up by the
    /// v1 id, which no attribute name carries ("Private key not available").
    V1PerUser,
    /// The per-user key it needs is rejected by the build.
    StoredKey(KeyRejection),
    /// The build cannot read the body cipher (ChaCha20 before 2.4).
    Cipher(String),
    /// The build cannot use the recipient's key type.
    KeyType(KeyType),
    /// Several recipients: no Dovecot build reads such a file.
    MultipleRecipients,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::WrongId {
                have,
                have_convention,
                want,
            } => write!(
                f,
                "header key id {have} ({have_convention}), the build looks for {want}"
            ),
            Unreadable::V1PerUser => f.write_str(
                "v1 mail under a per-user folder key: Dovecot looks it up by the v1 id, which no attribute name carries",
            ),
            Unreadable::StoredKey(r) => write!(f, "stored key rejected: {r}"),
            Unreadable::Cipher(c) => write!(f, "the build cannot read cipher {c}"),
            Unreadable::KeyType(t) => write!(f, "the build cannot use {t:?} keys"),
            Unreadable::MultipleRecipients => f.write_str("several recipients"),
        }
    }
}

/// What the key a store is served with looks like to `target`: the
/// matched key with the point form of the file it was loaded from (the
/// unpatched build hashes that form).
fn server_key(m: &crate::keys::MatchedKey) -> PublicKey {
    m.key.public_key().clone().with_source_point_form(
        m.key
            .source_point_form()
            .unwrap_or(crate::keys::PointForm::Uncompressed),
    )
}

/// What a repair would do to one encrypted mail for `target`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fix {
    /// Nothing: the build reads it, or nothing can be done.
    None,
    /// Rewrite recipient `index`'s id.
    RewriteId {
        /// Recipient index.
        index: usize,
        /// Its id now.
        old: KeyId,
        /// Its convention now.
        old_convention: IdConvention,
        /// The id the build needs.
        new: KeyId,
        /// Its convention.
        new_convention: IdConvention,
    },
    /// Re-encrypt the v1 mail as v2 for this key with this id.
    ReencryptV1 {
        /// The folder key's public half.
        to: PublicKey,
        /// The id the new header must carry (the attribute name's).
        id: KeyId,
        /// Its convention.
        convention: IdConvention,
    },
}

impl StoreKeys {
    /// Whether build `target`, serving this store with these keys, reads
    /// the mail.
    pub fn verdict(&self, mail: &EncryptedMail, target: Target) -> Verdict {
        let Some((_, m)) = &mail.matched else {
            return Verdict::Unknown;
        };
        let no = Verdict::NotReadable;
        if let Header::V2(h) = &mail.header {
            if h.recipients.len() != 1 {
                return no(Unreadable::MultipleRecipients);
            }
            if !target.reads_cipher(&h.cipher)
                || (h.cipher == CipherAlg::ChaCha20Poly1305
                    && !matches!(target, Target::Dovecot24 | Target::DovecotMain))
            {
                return no(Unreadable::Cipher(h.cipher.name().to_string()));
            }
        }
        let key_type = m.key.key_type();
        if !target.reads_key_type(key_type) {
            return no(Unreadable::KeyType(key_type));
        }
        if let Some(user) = &self.user
            && let Some(entry) = user.entry_for(m.key.public_key())
        {
            if matches!(mail.header, Header::V1(_)) {
                return no(Unreadable::V1PerUser);
            }
            if m.id != entry.name_id {
                return no(Unreadable::WrongId {
                    have: m.id,
                    have_convention: m.convention,
                    want: entry.name_id,
                });
            }
            return match user.rejection(entry, target) {
                Some(r) => no(Unreadable::StoredKey(r)),
                None => Verdict::Readable,
            };
        }
        if matches!(mail.header, Header::V1(_)) {
            // Global keys: every build computes the same v1 id.
            return Verdict::Readable;
        }
        let server = server_key(m);
        match server.id(target.id_convention(&server)) {
            Some(want) if want == m.id => Verdict::Readable,
            Some(want) => no(Unreadable::WrongId {
                have: m.id,
                have_convention: m.convention,
                want,
            }),
            None => no(Unreadable::KeyType(key_type)),
        }
    }

    /// What a repair for `target` does to the mail.
    pub fn fix(&self, mail: &EncryptedMail, target: Target) -> Fix {
        let Some((index, m)) = &mail.matched else {
            return Fix::None;
        };
        if let Some(user) = &self.user
            && let Some(entry) = user.entry_for(m.key.public_key())
        {
            let Some(convention) = entry.name_convention else {
                return Fix::None;
            };
            return match &mail.header {
                Header::V1(_) => Fix::ReencryptV1 {
                    to: m.key.public_key().clone(),
                    id: entry.name_id,
                    convention,
                },
                _ if m.id != entry.name_id => Fix::RewriteId {
                    index: *index,
                    old: m.id,
                    old_convention: m.convention,
                    new: entry.name_id,
                    new_convention: convention,
                },
                _ => Fix::None,
            };
        }
        let Header::V2(_) = &mail.header else {
            return Fix::None;
        };
        let server = server_key(m);
        let conv = target.id_convention(&server);
        match server.id(conv) {
            Some(want) if want != m.id => Fix::RewriteId {
                index: *index,
                old: m.id,
                old_convention: m.convention,
                new: want,
                new_convention: conv,
            },
            _ => Fix::None,
        }
    }
}

/// The keys of a rewritten attribute file, opened afresh (verification).
pub(crate) fn reload(path: &Path, password: Option<&[u8]>) -> Result<StoreKeys, StoreError> {
    StoreKeys::new(KeyRing::new()).with_attributes(path, password)
}
