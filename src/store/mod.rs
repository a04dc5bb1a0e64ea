//! Whole mail stores: every shape Dovecot writes (Maildir, sdbox, mdbox;
//! global keys or per-user keys in the attribute dictionary), and the
//! operations that rescue them: [`scan`], [`repair`] (and [`undo`]),
//! [`rekey`] and [`decrypt_store`]. Each returns a typed summary and hands
//! every per-mail report to an observer as it happens, so memory stays
//! flat whatever the size of the store; the command-line tool is a thin
//! renderer over these functions.
//!
//! ```
//! use mailcrypt::store::{self, ScanEvent, ScanOptions, StoreKeys};
//! use mailcrypt::keys::{KeyRing, PrivateKey};
//! let mut ring = KeyRing::new();
//! ring.add(PrivateKey::from_bytes(&std::fs::read("vectors/stores/keys/p256/private.pem")?, None)?);
//! let keys = StoreKeys::new(ring);
//! let mut mails = 0;
//! let summary = store::scan(&["vectors/stores/mixed/Maildir"], &keys, &ScanOptions::default(), |e| {
//!     if let ScanEvent::Mail(_) = e { mails += 1 }
//! })?;
//! assert_eq!(summary.mails, mails);
//! assert!(summary.is_clean(true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Writes follow one rule: a temporary file in the same directory, fsync,
//! verification of the new bytes, rename ([`replace_file`],
//! [`AtomicFile`]). A new plaintext tree from [`decrypt_store`] is synced
//! once at the end instead (its source is untouched, so a crash only means
//! running it again).

pub mod dbox;
mod error;
mod export;
mod keys;
mod log;
mod mail;
mod par;
mod rekey;
mod repair;
mod replace;
mod scan;
mod undo;
mod walk;

pub use error::StoreError;
pub use export::{
    DecryptStoreEvent, DecryptStoreOptions, DecryptStoreSummary, Destination, decrypt_store,
};
pub use keys::{Fix, KeyRejection, StoreKeys, StoredEntry, Unreadable, UserKeys, Verdict};
pub use log::{ChangeLog, LogLineError, LogRecord};
pub use mail::{
    EncryptedMail, FileRange, MailRef, MailStatus, inspect_mail, inspect_reader, match_recipient,
};
pub use rekey::{RekeyEvent, RekeyOptions, RekeySummary, rekey};
pub use repair::{Change, RepairEvent, RepairOptions, RepairSummary, repair};
pub use replace::{AtomicFile, ReplaceError, replace_file, sync_tree};
pub use scan::{
    FileReport, MailOutcome, MailReport, SERVER_TARGETS, ScanEvent, ScanOptions, ScanSummary,
    TargetCounts, VerifyOutcome, scan,
};
pub use undo::{UndoEvent, UndoSummary, undo};
pub use walk::{Found, Shape, Unsupported, Walker, layouts};

use std::io;
use std::path::{Path, PathBuf};

/// Dovecot files that are not mails, by what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetaKind {
    /// `dovecot.index*`, `dovecot.list.index*`, `dovecot.map.index*`,
    /// `dovecot.mailbox.log`: indexes and caches. The cache holds
    /// **plaintext** headers (Subject, From, To, MIME structure) of
    /// encrypted mails.
    IndexOrCache,
    /// `dovecot-uidlist`, `dovecot-keywords`, `dovecot-uidvalidity*`,
    /// `subscriptions`, `maildirfolder`, attribute dictionaries: control files.
    Control,
}

/// Classify a file name that is not a mail.
pub fn meta_kind(name: &str) -> Option<MetaKind> {
    if name.starts_with("dovecot.index")
        || name.starts_with("dovecot.list.index")
        || name.starts_with("dovecot.map.index")
        || name.starts_with("dovecot.mailbox.log")
    {
        Some(MetaKind::IndexOrCache)
    } else if name.starts_with("dovecot-uidlist")
        || name.starts_with("dovecot-keywords")
        || name.starts_with("dovecot-uidvalidity")
        || name.starts_with("dovecot-attributes")
        || name == "subscriptions"
        || name == "maildirfolder"
        || name == "dovecot-acl"
        || name == "dovecot-acl-list"
    {
        Some(MetaKind::Control)
    } else {
        None
    }
}

/// What a walk over one or more Maildir trees found (collected; for large
/// stores iterate a [`Walker`] instead).
#[derive(Debug, Default, Clone)]
pub struct Walk {
    /// Mail files (Maildir files and dbox files), sorted.
    pub mails: Vec<PathBuf>,
    /// Dovecot index and cache files (plaintext headers of encrypted mail).
    pub index_files: Vec<PathBuf>,
    /// Dovecot control files and any other non-mail file.
    pub other_files: Vec<PathBuf>,
}

/// Collect a whole walk (see [`Walker`]) into sorted lists.
///
/// ```
/// let walk = mailcrypt::store::walk(&["vectors/userkeys/new/Maildir"]).unwrap();
/// assert_eq!(walk.mails.len(), 3);
/// ```
pub fn walk<P: AsRef<Path>>(roots: &[P]) -> io::Result<Walk> {
    let mut w = Walk::default();
    for f in Walker::new(roots) {
        match f? {
            Found::Maildir(p) | Found::Dbox(p, _) => w.mails.push(p),
            Found::Index(p) => w.index_files.push(p),
            Found::Other(p) | Found::Unsupported(p, _) => w.other_files.push(p),
        }
    }
    w.mails.sort();
    w.index_files.sort();
    w.other_files.sort();
    Ok(w)
}

/// Whether `name` is a temporary file mailcrypt itself creates.
pub fn is_own_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".mailcrypt-") && name.ends_with(".tmp")
}

/// Maildir file-name fields: `S=<size>` and `W=<virtual size>` in the part
/// before `:2,`. Dovecot writes the plaintext size in `S=` for encrypted
/// mail, so re-encrypting never changes a name.
pub fn maildir_sizes(name: &str) -> (Option<u64>, Option<u64>) {
    let base = name.split(':').next().unwrap_or(name);
    let mut s = None;
    let mut w = None;
    for field in base.split(',').skip(1) {
        if let Some(v) = field.strip_prefix("S=") {
            s = v.parse().ok();
        } else if let Some(v) = field.strip_prefix("W=") {
            w = v.parse().ok();
        }
    }
    (s, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_maildir_names() {
        assert_eq!(
            maildir_sizes("1796002096.M192080P21119.vm,S=84,W=89:2,S"),
            (Some(84), Some(89))
        );
        assert_eq!(
            maildir_sizes("1796002096.M253595P21120.vm,S=202,W=210"),
            (Some(202), Some(210))
        );
        assert_eq!(maildir_sizes("plain"), (None, None));
    }

    #[test]
    fn classifies_dovecot_files() {
        assert_eq!(
            meta_kind("dovecot.index.cache"),
            Some(MetaKind::IndexOrCache)
        );
        assert_eq!(
            meta_kind("dovecot.list.index.log"),
            Some(MetaKind::IndexOrCache)
        );
        assert_eq!(meta_kind("dovecot-uidlist"), Some(MetaKind::Control));
        assert_eq!(meta_kind("1796002096.M1P2.vm,S=84"), None);
        assert!(is_own_temp(".x.mailcrypt-1-ab.tmp"));
    }
}
