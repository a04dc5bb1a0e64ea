//! The change log of `repair` and `rekey`: one record per change, appended
//! and fsynced before the command goes on, so an interrupted run can be
//! undone from what the log holds.
//!
//! Format: UTF-8 text, one record per line, fields separated by a tab;
//! the first field names the record. Paths are absolute, with `\`, tab and
//! newline written as `\\`, `\t`, `\n`.
//!
//! | record | fields |
//! |---|---|
//! | `id` | path, container offset in the file, recipient index, old id, new id |
//! | `attr` | attribute file, attribute name, old id field, new id field |
//! | `reencrypt` | path, SHA-256 of the old file, SHA-256 of the new file, saved original |
//! | `rekey` | path, old key id, new key id (not undoable: the old container is gone) |
//!
//! Lines of earlier versions (`path, index, old, new` and `path, "rekey",
//! old, new`) are read as `id` (offset 0) and `rekey` records.
//!
//! ```
//! use mailcrypt::store::LogRecord;
//! use mailcrypt::keys::KeyId;
//! let r = LogRecord::KeyId {
//!     path: "/s/m.1".into(), offset: 46, recipient: 0,
//!     old: KeyId::from_hex(&"a".repeat(64)).unwrap(), new: KeyId::from_hex(&"b".repeat(64)).unwrap(),
//! };
//! assert_eq!(LogRecord::parse(&r.to_line()).unwrap(), r);
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::keys::KeyId;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogRecord {
    /// A recipient key id was rewritten in a container.
    KeyId {
        /// The file (Maildir file or dbox file).
        path: PathBuf,
        /// Offset of the container in the file.
        offset: u64,
        /// Recipient index in the header.
        recipient: usize,
        /// The id before.
        old: KeyId,
        /// The id after.
        new: KeyId,
    },
    /// The id field of a stored key string was rewritten.
    Attribute {
        /// The attribute file.
        path: PathBuf,
        /// The attribute (dictionary key).
        attribute: String,
        /// The id field before.
        old: KeyId,
        /// The id field after.
        new: KeyId,
    },
    /// A mail was re-encrypted in place; its original bytes were saved.
    Reencrypted {
        /// The mail file.
        path: PathBuf,
        /// SHA-256 of the original file.
        old_sha256: [u8; 32],
        /// SHA-256 of the new file.
        new_sha256: [u8; 32],
        /// Where the original bytes are kept.
        original: PathBuf,
    },
    /// A mail was re-encrypted to a new key (`rekey`).
    Rekeyed {
        /// The mail file.
        path: PathBuf,
        /// The old recipient id.
        old: KeyId,
        /// The new recipient id.
        new: KeyId,
    },
}

/// A line that is no log record.
#[derive(Debug, thiserror::Error)]
#[error("malformed log line: {0}")]
pub struct LogLineError(pub String);

fn esc(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn unesc(s: &str) -> Option<String> {
    let mut o = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            o.push(match it.next()? {
                '\\' => '\\',
                't' => '\t',
                'n' => '\n',
                _ => return None,
            });
        } else {
            o.push(c);
        }
    }
    Some(o)
}

fn sha_hex(h: &[u8; 32]) -> String {
    crate::hex::encode(h)
}

fn sha_from(s: &str) -> Option<[u8; 32]> {
    crate::hex::decode(s)?.try_into().ok()
}

impl LogRecord {
    /// The record as one log line (without the newline).
    pub fn to_line(&self) -> String {
        match self {
            LogRecord::KeyId {
                path,
                offset,
                recipient,
                old,
                new,
            } => format!("id\t{}\t{offset}\t{recipient}\t{old}\t{new}", esc(path)),
            LogRecord::Attribute {
                path,
                attribute,
                old,
                new,
            } => format!(
                "attr\t{}\t{}\t{old}\t{new}",
                esc(path),
                esc(Path::new(attribute))
            ),
            LogRecord::Reencrypted {
                path,
                old_sha256,
                new_sha256,
                original,
            } => format!(
                "reencrypt\t{}\t{}\t{}\t{}",
                esc(path),
                sha_hex(old_sha256),
                sha_hex(new_sha256),
                esc(original)
            ),
            LogRecord::Rekeyed { path, old, new } => {
                format!("rekey\t{}\t{old}\t{new}", esc(path))
            }
        }
    }

    /// Parse one line (current or earlier format).
    pub fn parse(line: &str) -> Result<LogRecord, LogLineError> {
        let bad = || LogLineError(line.to_string());
        let f: Vec<&str> = line.split('\t').collect();
        let id = |s: &str| KeyId::from_hex(s).filter(|_| s.len() == 64).ok_or_else(bad);
        let path = |s: &str| unesc(s).map(PathBuf::from).ok_or_else(bad);
        Ok(match f.as_slice() {
            ["id", p, off, idx, old, new] => LogRecord::KeyId {
                path: path(p)?,
                offset: off.parse().map_err(|_| bad())?,
                recipient: idx.parse().map_err(|_| bad())?,
                old: id(old)?,
                new: id(new)?,
            },
            ["attr", p, attr, old, new] => LogRecord::Attribute {
                path: path(p)?,
                attribute: unesc(attr).ok_or_else(bad)?,
                old: id(old)?,
                new: id(new)?,
            },
            ["reencrypt", p, o, n, orig] => LogRecord::Reencrypted {
                path: path(p)?,
                old_sha256: sha_from(o).ok_or_else(bad)?,
                new_sha256: sha_from(n).ok_or_else(bad)?,
                original: path(orig)?,
            },
            ["rekey", p, old, new] | [p, "rekey", old, new] => LogRecord::Rekeyed {
                path: path(p)?,
                old: id(old)?,
                new: id(new)?,
            },
            // Before the typed format: a Maildir id rewrite.
            [p, idx, old, new] => LogRecord::KeyId {
                path: PathBuf::from(*p),
                offset: 0,
                recipient: idx.parse().map_err(|_| bad())?,
                old: id(old)?,
                new: id(new)?,
            },
            _ => return Err(bad()),
        })
    }

    /// Read every record of a log file.
    pub fn read_all(path: &Path) -> io::Result<Vec<Result<LogRecord, LogLineError>>> {
        Ok(std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(LogRecord::parse)
            .collect())
    }
}

/// An append-only log file, each record fsynced before `record` returns.
#[derive(Debug)]
pub struct ChangeLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl ChangeLog {
    /// Open (create or append to) a log.
    pub fn open(path: &Path) -> io::Result<ChangeLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ChangeLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append a record and sync it to disk.
    pub fn record(&self, r: &LogRecord) -> io::Result<()> {
        let mut f = self
            .file
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned by a panicked worker"))?;
        let mut line = r.to_line();
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }

    /// The directory where originals of re-encrypted mails are kept.
    pub fn originals_dir(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".originals");
        PathBuf::from(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips_and_old_lines_parse() {
        let a = KeyId::from_hex(&"1".repeat(64)).unwrap();
        let b = KeyId::from_hex(&"2".repeat(64)).unwrap();
        for r in [
            LogRecord::KeyId {
                path: "/a\tb\\c\nd".into(),
                offset: 7,
                recipient: 1,
                old: a,
                new: b,
            },
            LogRecord::Attribute {
                path: "/h/dovecot-attributes".into(),
                attribute: "priv/x/vendor/vendor.dovecot/pvt/crypt/privkeys/11".into(),
                old: a,
                new: b,
            },
            LogRecord::Reencrypted {
                path: "/m".into(),
                old_sha256: [1; 32],
                new_sha256: [2; 32],
                original: "/l.originals/01".into(),
            },
            LogRecord::Rekeyed {
                path: "/m".into(),
                old: a,
                new: b,
            },
        ] {
            assert_eq!(LogRecord::parse(&r.to_line()).unwrap(), r);
        }
        let old = format!("/x/cur/1,S=3:2,S\t0\t{a}\t{b}");
        assert_eq!(
            LogRecord::parse(&old).unwrap(),
            LogRecord::KeyId {
                path: "/x/cur/1,S=3:2,S".into(),
                offset: 0,
                recipient: 0,
                old: a,
                new: b
            }
        );
        assert!(LogRecord::parse("id\tx\t1").is_err());
        assert!(LogRecord::parse(&format!("id\tx\tno\t0\t{a}\t{b}")).is_err());
    }
}
