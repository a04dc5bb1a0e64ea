//! `undo`: revert what a change log records.
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::error::{StoreError, io_at, sha256_file};
use super::keys::StoreKeys;
use super::log::{ChangeLog, LogRecord};
use super::mail::{MailRef, MailStatus};
use super::repair::{rewrite_attributes, rewrite_ids};
use super::replace::replace_file;
use super::scan::inspect;
use super::walk::Shape;
use crate::container::Header;

/// One event of an undo.
#[derive(Debug)]
#[non_exhaustive]
pub enum UndoEvent {
    /// A record was (or would be) reverted.
    Reverted {
        /// The record.
        record: LogRecord,
        /// Where the file is now (Dovecot may have renamed a Maildir file).
        path: PathBuf,
        /// Written (false in a dry run).
        applied: bool,
    },
    /// Already as before the change (an earlier undo, or the change never
    /// reached the disk).
    AlreadyUndone(LogRecord),
    /// A record that cannot be reverted.
    Failed {
        /// The record's line.
        what: String,
        /// Why.
        error: StoreError,
    },
}

/// What an undo did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UndoSummary {
    /// Records reverted (or to revert).
    pub reverted: u64,
    /// Records already undone.
    pub already: u64,
    /// Records that could not be reverted.
    pub failed: u64,
}

/// Find a Maildir file again after Dovecot may have renamed it: the base
/// name (before `:2,`) stays when flags change or it moves `new/` → `cur/`.
fn locate_maildir_file(path: &Path) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let name = path.file_name()?.to_str()?;
    let base = name.split(':').next()?;
    let dir = path.parent()?;
    let folder = dir.parent()?;
    for sub in [dir.to_path_buf(), folder.join("cur"), folder.join("new")] {
        let Ok(entries) = fs::read_dir(&sub) else {
            continue;
        };
        for e in entries.flatten() {
            let n = e.file_name();
            if n.to_string_lossy().split(':').next() == Some(base) {
                return Some(e.path());
            }
        }
    }
    None
}

/// The mail whose container starts at `offset` in `path`.
fn mail_at(path: &Path, offset: u64) -> Result<MailRef, StoreError> {
    let is_dbox = {
        let mut first = [0u8; 3];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut first))
            .map_err(io_at(path))?;
        super::dbox::looks_like_dbox(crate::io_count::head(&first, n).map_err(io_at(path))?)
    };
    if !is_dbox {
        return MailRef::maildir(path.to_path_buf()).map_err(io_at(path));
    }
    let mails = MailRef::dbox_mails(path, Shape::Mdbox).map_err(|source| StoreError::Dbox {
        path: path.to_path_buf(),
        source,
    })?;
    mails
        .into_iter()
        .find(|m| m.offset == offset)
        .ok_or_else(|| StoreError::Refused(format!("no mail starts at byte {offset} any more")))
}

fn undo_record(
    record: &LogRecord,
    keys: &StoreKeys,
    apply: bool,
    log: Option<&ChangeLog>,
) -> UndoEvent {
    let failed = |error| UndoEvent::Failed {
        what: record.to_line(),
        error,
    };
    match record {
        LogRecord::KeyId {
            path,
            offset,
            recipient,
            old,
            new,
        } => {
            let Some(found) = locate_maildir_file(path) else {
                return failed(StoreError::Refused(format!(
                    "{}: the file no longer exists (expunged?)",
                    path.display()
                )));
            };
            let mail = match mail_at(&found, *offset) {
                Ok(m) => m,
                Err(e) => return failed(e),
            };
            let current = match inspect(&mail, keys) {
                Ok(MailStatus::Encrypted(m)) => match &m.header {
                    Header::V2(h) => h
                        .recipients
                        .get(*recipient)
                        .map(|r| (r.key_id, h.key_id_offset(*recipient))),
                    _ => None,
                },
                _ => None,
            };
            match current {
                Some((id, _)) if id == *old => UndoEvent::AlreadyUndone(record.clone()),
                Some((id, Some(off))) if id == *new => {
                    if apply {
                        let back = LogRecord::KeyId {
                            path: path.clone(),
                            offset: *offset,
                            recipient: *recipient,
                            old: *new,
                            new: *old,
                        };
                        if let Err(e) = rewrite_ids(
                            &found,
                            &[(mail.offset + off as u64, *new, *old)],
                            std::slice::from_ref(&mail),
                            keys,
                            log.map(|l| (l, vec![back])),
                        ) {
                            return failed(e);
                        }
                    }
                    UndoEvent::Reverted {
                        record: record.clone(),
                        path: found,
                        applied: apply,
                    }
                }
                _ => failed(StoreError::Refused(format!(
                    "{}: the key id is neither the logged old nor new id",
                    mail.display()
                ))),
            }
        }
        LogRecord::Attribute {
            path,
            attribute,
            old,
            new,
        } => {
            let current = crate::keys::AttributeFile::read(path)
                .ok()
                .and_then(|a| a.get(attribute).map(str::to_owned));
            let Some(value) = current else {
                return failed(StoreError::Refused(format!(
                    "{}: attribute {attribute} not found",
                    path.display()
                )));
            };
            if value.ends_with(&old.to_hex()) {
                return UndoEvent::AlreadyUndone(record.clone());
            }
            if !value.ends_with(&new.to_hex()) {
                return failed(StoreError::Refused(format!(
                    "{attribute}: the id field is neither the logged old nor new id"
                )));
            }
            if apply {
                let password = keys.user().and_then(|u| u.password());
                if let Err(e) = rewrite_attributes(
                    path,
                    &[(attribute.clone(), *new, *old)],
                    password,
                    log,
                    false,
                ) {
                    return failed(e);
                }
            }
            UndoEvent::Reverted {
                record: record.clone(),
                path: path.clone(),
                applied: apply,
            }
        }
        LogRecord::Reencrypted {
            path,
            old_sha256,
            new_sha256,
            original,
        } => {
            let Some(found) = locate_maildir_file(path) else {
                return failed(StoreError::Refused(format!(
                    "{}: the file no longer exists (expunged?)",
                    path.display()
                )));
            };
            let now = match sha256_file(&found) {
                Ok(h) => h,
                Err(e) => return failed(io_at(&found)(e)),
            };
            if now == *old_sha256 {
                return UndoEvent::AlreadyUndone(record.clone());
            }
            if now != *new_sha256 {
                return failed(StoreError::Refused(format!(
                    "{}: changed since it was re-encrypted",
                    found.display()
                )));
            }
            if apply {
                let r = replace_file(
                    &found,
                    |out| io::copy(&mut File::open(original)?, out).map(|_| ()),
                    |tmp| match sha256_file(tmp) {
                        Ok(h) if h == *old_sha256 => Ok(()),
                        Ok(_) => Err(format!(
                            "the saved original {} does not match its hash",
                            original.display()
                        )),
                        Err(e) => Err(e.to_string()),
                    },
                );
                if let Err(source) = r {
                    return failed(StoreError::Replace {
                        path: found,
                        source,
                    });
                }
            }
            UndoEvent::Reverted {
                record: record.clone(),
                path: found,
                applied: apply,
            }
        }
        LogRecord::Rekeyed { .. } => failed(StoreError::Refused(
            "a rekey cannot be undone (the old container is gone); rekey back to the old key instead"
                .into(),
        )),
    }
}

/// Revert the changes recorded in `log_path`, newest first. Each revert
/// is checked and atomic like the change itself; with `log`, reverts are
/// logged too.
pub fn undo(
    log_path: &Path,
    keys: &StoreKeys,
    apply: bool,
    log: Option<&ChangeLog>,
    mut observer: impl FnMut(UndoEvent),
) -> Result<UndoSummary, StoreError> {
    let records = LogRecord::read_all(log_path).map_err(io_at(log_path))?;
    let mut summary = UndoSummary::default();
    for r in records.into_iter().rev() {
        let ev = match r {
            Ok(rec) => undo_record(&rec, keys, apply, log),
            Err(e) => UndoEvent::Failed {
                what: e.0.clone(),
                error: StoreError::Refused(e.to_string()),
            },
        };
        match &ev {
            UndoEvent::Reverted { .. } => summary.reverted += 1,
            UndoEvent::AlreadyUndone(_) => summary.already += 1,
            UndoEvent::Failed { .. } => summary.failed += 1,
        }
        observer(ev);
    }
    Ok(summary)
}
