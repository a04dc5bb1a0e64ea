//! A user's mail-crypt keys in Dovecot's mailbox attribute store.
//!
//! With `mail_attribute_dict = file:<path>` (2.3) or
//! `mail_attribute { dict file { dict_file_path = <path> } }` (2.4),
//! Dovecot keeps every mailbox attribute in one text file: a line with the
//! attribute's dict key, then a line with its value, repeated. Both lines
//! are "tab-escaped" (byte 0x01 followed by `0`, `1`, `t`, `r` or `n`
//! stands for NUL, 0x01, TAB, CR, LF; 0x01 before any other byte stands for
//! that byte). Dict keys are `priv/<mailbox GUID>/<attribute>` for private
//! and `shared/<mailbox GUID>/<attribute>` for shared attributes.
//!
//! mail-crypt stores (specification §5.1), with
//! `B = vendor/vendor.dovecot/pvt/crypt/` on each folder and
//! `U = vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/`
//! on the INBOX:
//!
//! * `U privkeys/<id>`: the user's private key, password-encrypted (or
//!   encrypted to a configured key, or in clear);
//! * `B privkeys/<id>`: a folder's private key, encrypted to the user key
//!   (shared attributes: in clear, or `privkeys/<hex user>/<id>` encrypted to
//!   another user's key);
//! * `U`/`B` `pubkeys/<id>` and `active`: public keys and the active id.
//!
//! [`UserKeyStore::load_into`] follows the chain folder key → user key →
//! password and puts every private key it can open into a [`KeyRing`]. The
//! ring matches every id convention, so mails whose headers name a folder
//! key by its compressed-point id, uncompressed-point id or v1 id (v1
//! containers written with `mail_crypt_save_version = 1`) all find it, and
//! key strings whose last field uses the other point convention (unpatched
//! Dovecot 2.3 on OpenSSL 3: "Incorrect key hash … stored") load anyway.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use super::dovecot::{DovecotKeyEncryption, DovecotKeyInfo, DovecotKeyKind};
use super::{KeyId, KeyRing, PrivateKey};
use crate::error::KeyError;

pub use crate::limits::MAX_ATTRIBUTE_FILE_LEN;

pub use crate::limits::MAX_ATTRIBUTES;

pub use crate::limits::MAX_STORE_PRIVATE_KEYS;

const USER_PREFIX: &str = "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/";
const FOLDER_PREFIX: &str = "vendor/vendor.dovecot/pvt/crypt/";

/// The parsed attribute file: dict key → value.
///
/// ```
/// use mailcrypt::keys::AttributeFile;
/// let attrs = AttributeFile::parse(b"shared/0123/vendor/vendor.dovecot/pvt/crypt/active\nabc\n")?;
/// assert_eq!(attrs.get("shared/0123/vendor/vendor.dovecot/pvt/crypt/active"), Some("abc"));
/// // Tab escaping: \x01t is a TAB, \x01n a newline.
/// let attrs = AttributeFile::parse(b"k\x01t1\nv\x01n2\n")?;
/// assert_eq!(attrs.get("k\t1"), Some("v\n2"));
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Default)]
pub struct AttributeFile {
    entries: BTreeMap<String, Zeroizing<String>>,
}

/// Undo Dovecot's tab escaping (`str_tabunescape`); a 0x01 at the very
/// end is dropped, as Dovecot does.
fn tab_unescape(line: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(line.len()));
    let mut it = line.iter();
    while let Some(&c) = it.next() {
        if c != 0x01 {
            out.push(c);
            continue;
        }
        match it.next() {
            None => break,
            Some(b'0') => out.push(0),
            Some(b'1') => out.push(1),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(&other) => out.push(other),
        }
    }
    out
}

fn lossy(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(String::from_utf8_lossy(bytes).into_owned())
}

impl AttributeFile {
    /// Parse the text of a `file:` dict. Lines end in LF (a CR before it
    /// is dropped); a key line without a value line at the end of the file
    /// is ignored, as Dovecot does. A last line without LF is accepted.
    /// Later duplicates replace earlier ones. At most
    /// [`MAX_ATTRIBUTE_FILE_LEN`] bytes and [`MAX_ATTRIBUTES`] attributes.
    ///
    /// ```
    /// use mailcrypt::keys::AttributeFile;
    /// let data = std::fs::read("vectors/userkeys/new/dovecot-attributes")?;
    /// let attrs = AttributeFile::parse(&data)?;
    /// assert_eq!(attrs.len(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(data: &[u8]) -> Result<AttributeFile, KeyError> {
        if data.len() > MAX_ATTRIBUTE_FILE_LEN {
            return Err(KeyError::Invalid(format!(
                "attribute file larger than {MAX_ATTRIBUTE_FILE_LEN} bytes"
            )));
        }
        let body = data.strip_suffix(b"\n").unwrap_or(data);
        let mut lines = body
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let mut entries = BTreeMap::new();
        if data.is_empty() {
            return Ok(AttributeFile { entries });
        }
        while let Some(k) = lines.next() {
            let Some(v) = lines.next() else { break };
            if entries.len() >= MAX_ATTRIBUTES {
                return Err(KeyError::Invalid(format!(
                    "attribute file holds more than {MAX_ATTRIBUTES} attributes"
                )));
            }
            let key = lossy(&tab_unescape(k));
            entries.insert(key.as_str().to_owned(), lossy(&tab_unescape(v)));
        }
        Ok(AttributeFile { entries })
    }

    /// Read and parse an attribute file (at most
    /// [`MAX_ATTRIBUTE_FILE_LEN`] bytes are read).
    ///
    /// ```no_run
    /// use mailcrypt::keys::AttributeFile;
    /// let attrs = AttributeFile::read("/home/alice/dovecot-attributes")?;
    /// println!("{} attributes", attrs.len());
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn read(path: impl AsRef<Path>) -> Result<AttributeFile, KeyError> {
        let f = std::fs::File::open(path.as_ref())?;
        // Sized up front: the file may hold unencrypted private keys, and a
        // growing buffer would leave copies behind.
        let size = f.metadata().map_or(0, |m| m.len());
        let cap = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .min(MAX_ATTRIBUTE_FILE_LEN)
            + 1;
        let mut data = Zeroizing::new(Vec::with_capacity(cap));
        f.take(MAX_ATTRIBUTE_FILE_LEN as u64 + 1)
            .read_to_end(&mut data)?;
        AttributeFile::parse(&data)
    }

    /// The value of a dict key.
    ///
    /// ```
    /// use mailcrypt::keys::AttributeFile;
    /// let attrs = AttributeFile::parse(b"priv/g/x\n1\n")?;
    /// assert_eq!(attrs.get("priv/g/x"), Some("1"));
    /// assert_eq!(attrs.get("priv/g/y"), None);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|v| v.as_str())
    }

    /// Every (dict key, value), sorted by key.
    ///
    /// ```
    /// use mailcrypt::keys::AttributeFile;
    /// let attrs = AttributeFile::parse(b"b\n2\na\n1\n")?;
    /// assert_eq!(attrs.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of attributes.
    ///
    /// ```
    /// assert_eq!(mailcrypt::keys::AttributeFile::parse(b"k\nv\n")?.len(), 1);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file holds no attribute.
    ///
    /// ```
    /// assert!(mailcrypt::keys::AttributeFile::parse(b"")?.is_empty());
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for AttributeFile {
    // Values may be unencrypted private keys: print names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttributeFile")
            .field("keys", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whose key an attribute holds.
///
/// ```
/// use mailcrypt::keys::{AttributeFile, KeyRole, UserKeyStore};
/// let store = UserKeyStore::from_attributes(&AttributeFile::read("vectors/userkeys/new/dovecot-attributes")?);
/// assert_eq!(store.keys().filter(|k| k.role == KeyRole::User).count(), 2); // public + private
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRole {
    /// The user's key (server attribute, stored on the INBOX).
    User,
    /// A folder key.
    Folder {
        /// The mailbox GUID from the dict key, when there is one.
        mailbox_guid: Option<String>,
        /// For a folder key shared with another user: that user's name,
        /// hex-decoded from the attribute name (lossy UTF-8).
        shared_with: Option<String>,
    },
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRole::User => f.write_str("user key"),
            KeyRole::Folder {
                mailbox_guid,
                shared_with,
            } => {
                f.write_str("folder key")?;
                if let Some(g) = mailbox_guid {
                    write!(f, " of mailbox {g}")?;
                }
                if let Some(u) = shared_with {
                    write!(f, " shared with {u}")?;
                }
                Ok(())
            }
        }
    }
}

/// One mail-crypt key found in the attribute store (no key material).
///
/// ```
/// use mailcrypt::keys::{AttributeFile, DovecotKeyEncryption, UserKeyStore};
/// let store = UserKeyStore::from_attributes(&AttributeFile::read("vectors/userkeys/new/dovecot-attributes")?);
/// let user = store.keys().find(|k| k.private && k.role == mailcrypt::keys::KeyRole::User).unwrap();
/// assert_eq!(user.info.as_ref().unwrap().encryption, DovecotKeyEncryption::Password);
/// assert_eq!(user.id, store.active_user_key());
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The dict key it was found under.
    pub attribute: String,
    /// User or folder key.
    pub role: KeyRole,
    /// The id in the attribute name, if it is 64 hex digits.
    pub id: Option<KeyId>,
    /// A `privkeys/` (true) or `pubkeys/` (false) entry.
    pub private: bool,
    /// What the key string says about itself, if it is one.
    pub info: Option<DovecotKeyInfo>,
}

/// What [`UserKeyStore::load_into`] did.
///
/// ```
/// use mailcrypt::keys::{AttributeFile, KeyRing, UserKeyStore};
/// let store = UserKeyStore::from_attributes(&AttributeFile::read("vectors/userkeys/old/dovecot-attributes")?);
/// let report = store.load_into(&mut KeyRing::new(), Some(b"Tr0ub4dor&3-mailcrypt"))?;
/// assert_eq!(report.loaded.len(), 2);
/// assert!(report.failed.is_empty() && report.warnings.is_empty());
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Default)]
pub struct LoadReport {
    /// (ring label, canonical id) of every key added to the ring.
    pub loaded: Vec<(String, KeyId)>,
    /// (attribute, error) for every private key that could not be opened.
    pub failed: Vec<(String, KeyError)>,
    /// Keys that loaded but whose attribute name matches none of their ids
    /// (they are in the ring anyway).
    pub warnings: Vec<String>,
}

/// The mail-crypt keys of one user, found in an [`AttributeFile`].
///
/// ```
/// use mailcrypt::keys::{AttributeFile, Curve, DovecotProtection, KeyRing, PrivateKey, UserKeyStore};
/// // A store like the one `doveadm mailbox cryptokey generate` writes:
/// let user = PrivateKey::generate_ec(Curve::P256)?;
/// let folder = PrivateKey::generate_ec(Curve::P256)?;
/// let uid = user.public_key().canonical_id();
/// let fid = folder.public_key().canonical_id();
/// let text = format!(
///     "priv/g1/vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/privkeys/{uid}\n{}\n\
///      priv/g1/vendor/vendor.dovecot/pvt/crypt/privkeys/{fid}\n{}\n",
///     user.to_dovecot_string(DovecotProtection::password(b"secret"))?.as_str(),
///     folder.to_dovecot_string(DovecotProtection::key(user.public_key()))?.as_str(),
/// );
/// let store = UserKeyStore::from_attributes(&AttributeFile::parse(text.as_bytes())?);
/// let mut ring = KeyRing::new();
/// let report = store.load_into(&mut ring, Some(b"secret"))?;
/// assert_eq!(report.loaded.len(), 2);
/// assert!(ring.find(&fid).is_some());
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
pub struct UserKeyStore {
    keys: Vec<(StoredKey, Zeroizing<String>)>,
    active_user: Option<KeyId>,
}

impl fmt::Debug for UserKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserKeyStore")
            .field(
                "keys",
                &self.keys.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("active_user", &self.active_user)
            .finish()
    }
}

/// Split `priv/<guid>/<attr>` / `shared/<guid>/<attr>`; names without that
/// prefix are taken as bare attribute names.
fn split_dict_key(name: &str) -> (Option<&str>, &str) {
    for scope in ["priv/", "shared/"] {
        if let Some(rest) = name.strip_prefix(scope)
            && let Some((guid, attr)) = rest.split_once('/')
        {
            return (Some(guid), attr);
        }
    }
    (None, name)
}

fn hex_name(s: &str) -> Option<String> {
    crate::hex::decode(s).map(|b| String::from_utf8_lossy(&b).into_owned())
}

impl UserKeyStore {
    /// Collect the mail-crypt keys (user and folder, public and private)
    /// and the user's active key id from the attributes. The mailbox GUID
    /// in the dict key is not checked (a copied store gets new GUIDs).
    ///
    /// ```
    /// use mailcrypt::keys::{AttributeFile, UserKeyStore};
    /// let attrs = AttributeFile::read("vectors/userkeys/v24/dovecot-attributes")?;
    /// assert_eq!(UserKeyStore::from_attributes(&attrs).keys().count(), 4);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn from_attributes(attrs: &AttributeFile) -> UserKeyStore {
        let mut keys = Vec::new();
        let mut active_user = None;
        for (name, value) in attrs.iter() {
            let (guid, attr) = split_dict_key(name);
            let (user, tail) = if let Some(t) = attr.strip_prefix(USER_PREFIX) {
                (true, t)
            } else if let Some(t) = attr.strip_prefix(FOLDER_PREFIX) {
                (false, t)
            } else {
                continue;
            };
            if tail == "active" {
                if user {
                    active_user = KeyId::from_hex(value);
                }
                continue;
            }
            let (private, rest) = if let Some(r) = tail.strip_prefix("privkeys/") {
                (true, r)
            } else if let Some(r) = tail.strip_prefix("pubkeys/") {
                (false, r)
            } else {
                continue;
            };
            let (shared_with, id_text) = match rest.split_once('/') {
                Some((who, id)) => (hex_name(who), id),
                None => (None, rest),
            };
            let role = if user {
                KeyRole::User
            } else {
                KeyRole::Folder {
                    mailbox_guid: guid.map(str::to_owned),
                    shared_with,
                }
            };
            let stored = StoredKey {
                attribute: name.to_owned(),
                role,
                id: KeyId::from_hex(id_text).filter(|_| id_text.len() == 64),
                private,
                info: DovecotKeyInfo::parse(value).ok(),
            };
            keys.push((stored, Zeroizing::new(value.to_owned())));
        }
        UserKeyStore { keys, active_user }
    }

    /// Every key found (no key material).
    ///
    /// ```
    /// use mailcrypt::keys::{AttributeFile, UserKeyStore};
    /// let store = UserKeyStore::from_attributes(&AttributeFile::read("vectors/userkeys/new/dovecot-attributes")?);
    /// assert_eq!(store.keys().filter(|k| k.private).count(), 2);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &StoredKey> {
        self.keys.iter().map(|(k, _)| k)
    }

    /// The id in the user's `active` attribute.
    ///
    /// ```
    /// use mailcrypt::keys::{AttributeFile, UserKeyStore};
    /// let store = UserKeyStore::from_attributes(&AttributeFile::read("vectors/userkeys/new/dovecot-attributes")?);
    /// assert_eq!(store.active_user_key().unwrap().to_hex(),
    ///            "ee7f371820eb244c9766d9f5efc558339d3b5f31f0be74f88a67354aa0247ce9");
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn active_user_key(&self) -> Option<KeyId> {
        self.active_user
    }

    /// Open every private key it can and add it to `ring`: keys in clear,
    /// keys under `password`, then, repeatedly, keys encrypted to a key
    /// already in the ring (folder key → user key → password; keys given
    /// to the ring beforehand, e.g. a configured user-key encryption key,
    /// count too). Keys already in the ring are not added twice.
    ///
    /// Fails when no private key could be opened: with the most telling
    /// error (wrong password first), or [`KeyError::UnknownFormat`] when
    /// the attributes hold no mail-crypt private key at all. Otherwise the
    /// report lists what was added and what failed.
    ///
    /// ```
    /// use std::io::Read;
    /// use mailcrypt::Decryptor;
    /// use mailcrypt::keys::{AttributeFile, KeyRing, UserKeyStore};
    /// // Written by unpatched Dovecot 2.3 on OpenSSL 3, which cannot read it back.
    /// let dir = "vectors/userkeys/upstream";
    /// let store = UserKeyStore::from_attributes(&AttributeFile::read(format!("{dir}/dovecot-attributes"))?);
    /// let password = std::fs::read(format!("{dir}/password"))?;
    /// let mut ring = KeyRing::new();
    /// store.load_into(&mut ring, Some(&password))?;
    /// let mail = std::fs::read(format!("{dir}/Maildir/new/1796002097.M706418P21207.vm,S=84,W=89:2,S"))?;
    /// let mut plain = Vec::new();
    /// Decryptor::open(&mail[..], &ring, &mailcrypt::DecryptOptions::default())?.read_to_end(&mut plain)?;
    /// assert_eq!(plain, std::fs::read(format!("{dir}/plain/1.eml"))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_into(
        &self,
        ring: &mut KeyRing,
        password: Option<&[u8]>,
    ) -> Result<LoadReport, KeyError> {
        // Keys are opened into a local list and added to the ring at the
        // end, so lookups in `ring` only ever see the keys it held before
        // (linear work, whatever the order of the attributes). A key
        // encrypted to another key waits, by that key's id, until it is
        // opened.
        let mut report = LoadReport::default();
        let mut todo: VecDeque<(&StoredKey, &str)> = VecDeque::new();
        let mut waiting: HashMap<KeyId, Vec<(&StoredKey, &str)>> = HashMap::new();
        let mut opened: Vec<(String, PrivateKey)> = Vec::new();
        let mut by_id: HashMap<KeyId, usize> = HashMap::new();
        let mut private: Vec<(&StoredKey, &str)> = self
            .keys
            .iter()
            .filter(|(k, _)| k.private)
            .map(|(k, v)| (k, v.as_str()))
            .collect();
        if private.is_empty() {
            return Err(KeyError::UnknownFormat(
                "the attribute file holds no mail-crypt private key".into(),
            ));
        }
        if private.len() > MAX_STORE_PRIVATE_KEYS {
            return Err(KeyError::Invalid(format!(
                "the attribute file holds {} mail-crypt private keys \
                 (limit {MAX_STORE_PRIVATE_KEYS})",
                private.len()
            )));
        }
        // User keys first (only changes the order of the report).
        private.sort_by_key(|(k, _)| k.role != KeyRole::User);
        for (stored, value) in private {
            match encrypting_key(stored) {
                Some(id) if ring.find(&id).is_none() => {
                    waiting.entry(id).or_default().push((stored, value));
                }
                _ => todo.push_back((stored, value)),
            }
        }
        while let Some((stored, value)) = todo.pop_front() {
            let dec_key = encrypting_key(stored).and_then(|id| match by_id.get(&id) {
                Some(i) => opened.get(*i).map(|(_, k)| DecKey::Opened(k)),
                None => ring.find(&id).map(|m| DecKey::Ring(m.key)),
            });
            let result = match &dec_key {
                Some(DecKey::Opened(k)) => PrivateKey::from_dovecot_str_with_key(value, k),
                Some(DecKey::Ring(k)) => PrivateKey::from_dovecot_str_with_key(value, k),
                None => open_plain(stored, value, password),
            };
            let key = match result {
                Ok(k) => k,
                Err(e) => {
                    report.failed.push((stored.attribute.clone(), e));
                    continue;
                }
            };
            check_name(stored, &key, &mut report);
            let canonical = key.public_key().canonical_id();
            if by_id.contains_key(&canonical) || ring.find(&canonical).is_some() {
                continue; // already known
            }
            for (_, id) in key.public_key().ids() {
                if let Some(list) = waiting.remove(&id) {
                    todo.extend(list);
                }
                by_id.insert(id, opened.len());
            }
            opened.push((label(&stored.role, &canonical), key));
        }
        for (id, list) in waiting {
            for (stored, _) in list {
                report.failed.push((
                    stored.attribute.clone(),
                    KeyError::DecryptionKeyRequired { key_id: id },
                ));
            }
        }
        if opened.is_empty() {
            let best = report
                .failed
                .iter()
                .position(|(_, e)| matches!(e, KeyError::WrongPassword(_)))
                .or_else(|| {
                    report
                        .failed
                        .iter()
                        .position(|(_, e)| matches!(e, KeyError::PasswordRequired))
                });
            match best {
                Some(i) => return Err(report.failed.swap_remove(i).1),
                None if !report.failed.is_empty() => return Err(report.failed.swap_remove(0).1),
                None => {} // every key was already in the ring
            }
        }
        for (label, key) in opened {
            report
                .loaded
                .push((label.clone(), key.public_key().canonical_id()));
            ring.add_labeled(label, key);
        }
        Ok(report)
    }
}

enum DecKey<'a> {
    Opened(&'a PrivateKey),
    Ring(std::sync::Arc<PrivateKey>),
}

/// The id of the key a key-encrypted private string is encrypted to.
fn encrypting_key(stored: &StoredKey) -> Option<KeyId> {
    match &stored.info {
        Some(i) if i.encryption == DovecotKeyEncryption::Key => i.encryption_key_id,
        _ => None,
    }
}

/// A private string that is not key-encrypted (or not a valid string at
/// all: then the parse error).
fn open_plain(
    stored: &StoredKey,
    value: &str,
    password: Option<&[u8]>,
) -> Result<PrivateKey, KeyError> {
    match &stored.info {
        None => DovecotKeyInfo::parse(value).and(Err(KeyError::NotPrivate)),
        Some(i) if i.kind != DovecotKeyKind::Private => Err(KeyError::NotPrivate),
        Some(_) => PrivateKey::from_dovecot_str(value, password),
    }
}

/// Warn when the id in the attribute name is none of the key's ids.
fn check_name(stored: &StoredKey, key: &PrivateKey, report: &mut LoadReport) {
    if let Some(named) = &stored.id {
        let mut known = false;
        for (_, id) in key.public_key().ids() {
            known |= id == *named;
        }
        if !known {
            report.warnings.push(format!(
                "{}: the key's ids do not include the id {named} in the attribute name",
                stored.attribute
            ));
        }
    }
}

fn label(role: &KeyRole, canonical: &KeyId) -> String {
    match role {
        KeyRole::User => format!("user key {canonical}"),
        KeyRole::Folder {
            mailbox_guid: Some(g),
            ..
        } => format!("folder key {canonical} (mailbox {g})"),
        KeyRole::Folder { .. } => format!("folder key {canonical}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Curve;

    #[test]
    fn unescape() {
        assert_eq!(
            tab_unescape(b"a\x010\x011\x01t\x01r\x01nz").as_slice(),
            b"a\0\x01\t\r\nz"
        );
        assert_eq!(tab_unescape(b"a\x01x").as_slice(), b"ax");
        assert_eq!(tab_unescape(b"a\x01").as_slice(), b"a");
    }

    #[test]
    fn parse_lines() {
        let a = AttributeFile::parse(b"k1\nv1\r\nk2\nv2\nlonely\n").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("k1"), Some("v1"));
        assert_eq!(a.get("lonely"), None);
        let a = AttributeFile::parse(b"k1\nv1").unwrap();
        assert_eq!(a.get("k1"), Some("v1"));
        let a = AttributeFile::parse(b"k1\n\n").unwrap();
        assert_eq!(a.get("k1"), Some(""));
        assert!(AttributeFile::parse(b"").unwrap().is_empty());
    }

    #[test]
    fn dict_key_split() {
        assert_eq!(
            split_dict_key("priv/abc/vendor/x"),
            (Some("abc"), "vendor/x")
        );
        assert_eq!(
            split_dict_key("shared/abc/vendor/x"),
            (Some("abc"), "vendor/x")
        );
        assert_eq!(split_dict_key("vendor/x"), (None, "vendor/x"));
    }

    #[test]
    fn chain_and_failures() {
        let user = PrivateKey::generate_ec(Curve::P384).unwrap();
        let folder = PrivateKey::generate_ec(Curve::P256).unwrap();
        let orphan_owner = PrivateKey::generate_ec(Curve::P256).unwrap();
        let orphan = PrivateKey::generate_ec(Curve::P256).unwrap();
        let uid = user.public_key().canonical_id();
        let fid = folder.public_key().canonical_id();
        let oid = orphan.public_key().canonical_id();
        // Folder key listed before the user key: order must not matter.
        let text = format!(
            "priv/g2/{FOLDER_PREFIX}privkeys/{fid}\n{}\n\
             priv/g2/{FOLDER_PREFIX}privkeys/{oid}\n{}\n\
             priv/g1/{USER_PREFIX}privkeys/{uid}\n{}\n\
             shared/g1/{USER_PREFIX}active\n{uid}\n",
            folder
                .to_dovecot_string(crate::keys::DovecotProtection::key(user.public_key()))
                .unwrap()
                .as_str(),
            orphan
                .to_dovecot_string(crate::keys::DovecotProtection::key(
                    orphan_owner.public_key()
                ))
                .unwrap()
                .as_str(),
            user.to_dovecot_string(crate::keys::DovecotProtection::password(b"pw"))
                .unwrap()
                .as_str(),
        );
        let store = UserKeyStore::from_attributes(&AttributeFile::parse(text.as_bytes()).unwrap());
        assert_eq!(store.active_user_key(), Some(uid));
        assert_eq!(store.keys().count(), 3);

        let mut ring = KeyRing::new();
        let r = store.load_into(&mut ring, Some(b"pw")).unwrap();
        assert_eq!(r.loaded.len(), 2);
        assert_eq!(r.failed.len(), 1);
        assert!(matches!(
            r.failed[0].1,
            KeyError::DecryptionKeyRequired { .. }
        ));
        assert!(ring.find(&fid).is_some());

        let mut ring = KeyRing::new();
        assert!(matches!(
            store.load_into(&mut ring, Some(b"wrong")),
            Err(KeyError::WrongPassword(_))
        ));
        let mut ring = KeyRing::new();
        assert!(matches!(
            store.load_into(&mut ring, None),
            Err(KeyError::PasswordRequired)
        ));
        let empty = UserKeyStore::from_attributes(&AttributeFile::default());
        assert!(empty.load_into(&mut KeyRing::new(), None).is_err());
    }

    #[test]
    fn too_many_private_keys_are_refused_before_any_work() {
        let mut text = String::new();
        for i in 0..=MAX_STORE_PRIVATE_KEYS {
            text.push_str(&format!(
                "priv/g{i}/{FOLDER_PREFIX}privkeys/{i:064x}\n2:garbage\n"
            ));
        }
        let store = UserKeyStore::from_attributes(&AttributeFile::parse(text.as_bytes()).unwrap());
        assert_eq!(store.keys().count(), MAX_STORE_PRIVATE_KEYS + 1);
        let err = store.load_into(&mut KeyRing::new(), None).unwrap_err();
        assert!(
            matches!(&err, KeyError::Invalid(m) if m.contains("limit")),
            "{err}"
        );
    }
}
