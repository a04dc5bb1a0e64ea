//! Whole mail stores: walking Maildir trees, telling mail files from
//! Dovecot's own index and control files, and replacing files atomically
//! without ever losing the original.
//!
//! ```
//! let walk = mailcrypt::store::walk(&["vectors/userkeys/new/Maildir"]).unwrap();
//! assert_eq!(walk.mails.len(), 3);
//! ```

mod replace;

pub use replace::{ReplaceError, replace_file};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Dovecot files that are not mails, by what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetaKind {
    /// `dovecot.index*`, `dovecot.list.index*`: indexes and caches. The
    /// cache holds **plaintext** headers (Subject, From, To, MIME
    /// structure) of encrypted mails.
    IndexOrCache,
    /// `dovecot-uidlist`, `dovecot-keywords`, `dovecot-uidvalidity*`,
    /// `subscriptions`, `maildirfolder`, attribute dictionaries: control files.
    Control,
}

/// Classify a file name that is not a mail.
pub fn meta_kind(name: &str) -> Option<MetaKind> {
    if name.starts_with("dovecot.index")
        || name.starts_with("dovecot.list.index")
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

/// What a walk over one or more Maildir trees found.
#[derive(Debug, Default, Clone)]
pub struct Walk {
    /// Mail files: regular files directly inside a `cur/`, `new/` or `tmp/`
    /// directory, sorted.
    pub mails: Vec<PathBuf>,
    /// Dovecot index and cache files (plaintext headers of encrypted mail).
    pub index_files: Vec<PathBuf>,
    /// Dovecot control files and any other non-mail file.
    pub other_files: Vec<PathBuf>,
}

/// Walk Maildir trees (nested folders included; symbolic links are not
/// followed). A file counts as a mail when it sits directly in a `cur`,
/// `new` or `tmp` directory and its name is not a Dovecot control name;
/// temporary files of mailcrypt itself (`.*.mailcrypt-*.tmp`) are skipped.
pub fn walk<P: AsRef<Path>>(roots: &[P]) -> io::Result<Walk> {
    let mut w = Walk::default();
    for root in roots {
        let root = root.as_ref();
        let meta = fs::symlink_metadata(root)?;
        if meta.is_file() {
            w.mails.push(root.to_path_buf());
            continue;
        }
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let in_mail_dir = matches!(
                dir.file_name().and_then(|n| n.to_str()),
                Some("cur" | "new" | "tmp")
            );
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let ft = entry.file_type()?;
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file() {
                    if is_own_temp(&name) {
                        continue;
                    }
                    match meta_kind(&name) {
                        Some(MetaKind::IndexOrCache) => w.index_files.push(path),
                        Some(_) => w.other_files.push(path),
                        None if in_mail_dir => w.mails.push(path),
                        None => w.other_files.push(path),
                    }
                }
            }
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

use crate::Target;
use crate::container::{CipherAlg, Header, RecipientType};
use crate::error::FormatError;
use crate::keys::{IdConvention, KeyRing, MatchedKey, PublicKey};

/// What a mail file is, from its first bytes and header only.
#[derive(Debug)]
#[non_exhaustive]
pub enum MailStatus {
    /// A 0-byte file (Dovecot's encrypted form of an empty mail).
    Empty,
    /// Not encrypted (no `CRYPTED` magic).
    Plain,
    /// A container.
    Encrypted(Box<EncryptedMail>),
    /// Starts with the magic but the header is malformed or truncated.
    Malformed(FormatError),
}

/// An encrypted mail's header and the key of the ring whose id matches a
/// recipient (id match only: the key is not used).
#[derive(Debug)]
pub struct EncryptedMail {
    /// The header.
    pub header: Header,
    /// Index of the matching recipient and the key.
    pub matched: Option<(usize, MatchedKey)>,
}

/// Read a mail's header and match its recipients against `ring`.
pub fn inspect_mail(path: &Path, ring: &KeyRing) -> io::Result<MailStatus> {
    use std::io::Read;
    let mut f = io::BufReader::with_capacity(8192, fs::File::open(path)?);
    let mut first = [0u8; 9];
    let mut n = 0;
    while n < first.len() {
        let k = f.read(first.get_mut(n..).unwrap_or_default())?;
        if k == 0 {
            break;
        }
        n += k;
    }
    if n == 0 {
        return Ok(MailStatus::Empty);
    }
    if first.get(..n) != crate::container::MAGIC.get(..n) || n < 9 {
        return Ok(
            if n < 9 && first.get(..n) == crate::container::MAGIC.get(..n) {
                MailStatus::Malformed(FormatError::Truncated {
                    what: "magic",
                    needed: 9 - n,
                })
            } else {
                MailStatus::Plain
            },
        );
    }
    let mut chained = io::Cursor::new(first).chain(f);
    let header = match Header::read_io(&mut chained) {
        Ok(h) => h,
        Err(crate::container::ReadHeaderError::Format(e)) => return Ok(MailStatus::Malformed(e)),
        Err(crate::container::ReadHeaderError::Io(e)) => return Err(e),
    };
    let matched = match &header {
        Header::V1(h) => crate::keys::KeyId::from_slice(&h.key_id)
            .and_then(|id| {
                ring.find_with(&id, |c| {
                    matches!(c, IdConvention::V1 | IdConvention::V1Colons)
                })
            })
            .map(|m| (0, m)),
        Header::V2(h) => h.recipients.iter().enumerate().find_map(|(i, r)| {
            let accept = |c: IdConvention| match r.key_type {
                RecipientType::Rsa | RecipientType::MlKem => c == IdConvention::Spki,
                RecipientType::Ec => matches!(
                    c,
                    IdConvention::SpkiCompressed
                        | IdConvention::SpkiUncompressed
                        | IdConvention::Spki
                ),
                _ => false,
            };
            ring.find_with(&r.key_id, accept).map(|m| (i, m))
        }),
    };
    Ok(MailStatus::Encrypted(Box::new(EncryptedMail {
        header,
        matched,
    })))
}

/// Whether a Dovecot build of family `target`, configured with the private
/// key whose public half is `server_key` (loaded from a file with that
/// key's point form), finds its key for this header. v1 files use the v1
/// id everywhere; several recipients are readable by no build.
pub fn readable_by(header: &Header, server_key: &PublicKey, target: Target) -> bool {
    match header {
        Header::V1(h) => server_key
            .id(IdConvention::V1)
            .is_some_and(|id| id.as_bytes().as_slice() == h.key_id.as_slice()),
        Header::V2(h) => {
            let [r] = h.recipients.as_slice() else {
                return false;
            };
            if !target.reads_cipher(&h.cipher)
                || !target.reads_key_type(server_key.key_type())
                || (h.cipher == CipherAlg::ChaCha20Poly1305
                    && !matches!(target, Target::Dovecot24 | Target::DovecotMain))
            {
                return false;
            }
            server_key.id(target.id_convention(server_key)) == Some(r.key_id)
        }
    }
}
