//! `repair`: make a store readable by one build (key ids in headers and
//! in the attribute file, v1 mails under folder keys).
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::dbox::DboxFile;
use super::error::{Sha256Sink, StoreError, check_roots, io_at, reencrypt_through, sha256_file};
use super::keys::{Fix, StoreKeys, reload};
use super::log::{ChangeLog, LogRecord};
use super::mail::{MailRef, MailStatus};
use super::par::map_ordered;
use super::replace::{AtomicFile, replace_file};
use super::scan::{FileReport, VerifyOutcome, inspect, mails_of, verify_mail};
use super::walk::{Found, Shape, Walker};
use crate::container::{Header, Integrity};
use crate::decryptor::Decryptor;
use crate::encryptor::{Encryptor, Target};
use crate::keys::{IdConvention, KeyId, PointForm, PublicKey};

/// Options of [`repair`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RepairOptions<'a> {
    /// The build that must read the store afterwards.
    pub target: Target,
    /// Write (otherwise only report what would change).
    pub apply: bool,
    /// Record every change here (required to re-encrypt v1 mails).
    pub log: Option<&'a ChangeLog>,
    /// Worker threads (0: one per CPU).
    pub jobs: usize,
}

impl<'a> RepairOptions<'a> {
    /// A dry run for `target`.
    pub fn new(target: Target) -> Self {
        RepairOptions {
            target,
            apply: false,
            log: None,
            jobs: 0,
        }
    }
    /// Write the changes.
    pub fn apply(mut self, yes: bool) -> Self {
        self.apply = yes;
        self
    }
    /// Log every change.
    pub fn log(mut self, log: Option<&'a ChangeLog>) -> Self {
        self.log = log;
        self
    }
    /// Worker threads (0: one per CPU).
    pub fn jobs(mut self, n: usize) -> Self {
        self.jobs = n;
        self
    }
}

/// One change to a mail.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Change {
    /// The recipient key id was (or would be) rewritten.
    KeyId {
        /// Recipient index.
        index: usize,
        /// Id before.
        old: KeyId,
        /// Its convention.
        old_convention: IdConvention,
        /// Id after.
        new: KeyId,
        /// Its convention.
        new_convention: IdConvention,
    },
    /// The v1 mail was (or would be) re-encrypted as v2 under its folder key.
    ReencryptedV1 {
        /// The new header's id.
        id: KeyId,
        /// Its convention.
        convention: IdConvention,
    },
}

/// One event of a repair.
#[derive(Debug)]
#[non_exhaustive]
pub enum RepairEvent {
    /// A mail changed (or would change, in a dry run).
    Mail {
        /// The mail.
        mail: MailRef,
        /// What changed.
        change: Change,
        /// Written (false in a dry run).
        applied: bool,
    },
    /// A stored key's id field in the attribute file changed.
    Attribute {
        /// The attribute file.
        path: PathBuf,
        /// The attribute.
        attribute: String,
        /// Id field before.
        old: KeyId,
        /// After.
        new: KeyId,
        /// Written (false in a dry run).
        applied: bool,
    },
    /// A mail, file or key could not be repaired; nothing of it changed.
    Failed {
        /// What (`path`, `path@offset` or an attribute).
        what: String,
        /// Why.
        error: StoreError,
    },
}

/// What a repair did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RepairSummary {
    /// Files holding mails.
    pub mail_files: u64,
    /// Mails.
    pub mails: u64,
    /// Mails whose id was (or would be) rewritten.
    pub rewritten: u64,
    /// v1 mails (to be) re-encrypted.
    pub reencrypted: u64,
    /// Attribute entries (to be) rewritten.
    pub attributes: u64,
    /// Failures.
    pub failed: u64,
}

struct PlannedEdit {
    mail: MailRef,
    change: Change,
    /// Absolute offset of the 32 id bytes in the file (id rewrites).
    at: Option<u64>,
}

/// Plan the changes of one mail file.
fn plan_file(
    mails: Vec<MailRef>,
    keys: &StoreKeys,
    target: Target,
) -> (Vec<PlannedEdit>, Vec<(String, StoreError)>) {
    let mut edits = Vec::new();
    let mut failed = Vec::new();
    for mail in mails {
        let m = match inspect(&mail, keys) {
            Ok(MailStatus::Encrypted(m)) => m,
            Ok(_) => continue,
            Err(e) => {
                failed.push((mail.display(), e));
                continue;
            }
        };
        match keys.fix(&m, target) {
            Fix::None => {}
            Fix::RewriteId {
                index,
                old,
                old_convention,
                new,
                new_convention,
            } => {
                let Header::V2(h) = &m.header else { continue };
                if h.integrity() == Integrity::None {
                    failed.push((
                        mail.display(),
                        StoreError::Refused(
                            "flag NONE: no integrity protection, the rewrite could not be verified"
                                .into(),
                        ),
                    ));
                    continue;
                }
                let Some(off) = h.key_id_offset(index) else {
                    continue;
                };
                edits.push(PlannedEdit {
                    at: Some(mail.offset + off as u64),
                    change: Change::KeyId {
                        index,
                        old,
                        old_convention,
                        new,
                        new_convention,
                    },
                    mail,
                });
            }
            Fix::ReencryptV1 { id, convention, .. } => {
                if mail.shape != Shape::Maildir {
                    failed.push((
                        mail.display(),
                        StoreError::Refused(
                            "a v1 mail inside a dbox file cannot be re-encrypted in place (its size changes, and Dovecot's indexes record sizes); export it with decrypt-store and save it again with doveadm".into(),
                        ),
                    ));
                    continue;
                }
                edits.push(PlannedEdit {
                    at: None,
                    change: Change::ReencryptedV1 { id, convention },
                    mail,
                });
            }
        }
    }
    (edits, failed)
}

/// Decrypt every mail of `mails` (now read from `file`) to the end with a
/// tag check.
fn verify_ranges(file: &Path, mails: &[MailRef], keys: &StoreKeys) -> Result<(), String> {
    for m in mails {
        let mut at = m.clone();
        at.path = file.to_path_buf();
        match verify_mail(&at, keys) {
            VerifyOutcome::Authenticated => {}
            VerifyOutcome::Unauthenticated => {
                return Err(format!(
                    "{}: no integrity protection, cannot be verified",
                    m.display()
                ));
            }
            VerifyOutcome::Failed(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Rewrite 32-byte ids in one file at the given offsets (every edit's old
/// id checked first), verify every edited mail of the new file, log, then
/// rename.
pub(super) fn rewrite_ids(
    path: &Path,
    edits: &[(u64, KeyId, KeyId)],
    verify: &[MailRef],
    keys: &StoreKeys,
    log: Option<(&ChangeLog, Vec<LogRecord>)>,
) -> Result<(), StoreError> {
    let mut sorted: Vec<&(u64, KeyId, KeyId)> = edits.iter().collect();
    sorted.sort_by_key(|e| e.0);
    replace_file(
        path,
        |out| {
            let mut src = BufReader::new(File::open(path)?);
            let mut pos = 0u64;
            for (at, old, new) in &sorted {
                io::copy(&mut (&mut src).take(at - pos), out)?;
                let mut cur = [0u8; 32];
                src.read_exact(&mut cur)?;
                if KeyId::from_slice(&cur).as_ref() != Some(old) {
                    return Err(io::Error::other(format!(
                        "the key id at byte {at} changed since it was read"
                    )));
                }
                out.write_all(new.as_bytes())?;
                pos = at + 32;
            }
            io::copy(&mut src, out)?;
            Ok(())
        },
        |tmp| {
            if verify.iter().any(|m| m.shape != Shape::Maildir) {
                // The dbox structure must be unchanged.
                let mut f = File::open(tmp).map_err(|e| e.to_string())?;
                let len = f.metadata().map_err(|e| e.to_string())?.len();
                let parsed = DboxFile::parse(&mut f, len).map_err(|e| e.to_string())?;
                for m in verify {
                    let same = parsed
                        .mails
                        .get(m.index)
                        .is_some_and(|p| p.offset == m.offset && p.len == m.len);
                    if !same {
                        return Err(format!("{}: dbox structure changed", m.display()));
                    }
                }
            }
            verify_ranges(tmp, verify, keys)?;
            if let Some((log, records)) = &log {
                for r in records {
                    log.record(r)
                        .map_err(|e| format!("writing log {}: {e}", log.path().display()))?;
                }
            }
            Ok(())
        },
    )
    .map_err(|source| StoreError::Replace {
        path: path.to_path_buf(),
        source,
    })
}

/// Re-encrypt a v1 Maildir mail as v2 for `to` with header id `id`.
fn reencrypt_v1(
    mail: &MailRef,
    keys: &StoreKeys,
    to: &PublicKey,
    id: KeyId,
    convention: IdConvention,
    log: &ChangeLog,
) -> Result<(), StoreError> {
    let path = &mail.path;
    let target = if to.key_type().is_x_curve() {
        Target::Dovecot24
    } else {
        Target::Dovecot23
    };
    let enc = Encryptor::new(vec![to.clone()]).target(target).key_id_form(
        if convention == IdConvention::SpkiUncompressed {
            PointForm::Uncompressed
        } else {
            PointForm::Compressed
        },
    );
    let old_sha = sha256_file(path).map_err(io_at(path))?;
    // Keep the original bytes where the log says, before anything changes.
    let dir = log.originals_dir();
    fs::create_dir_all(&dir).map_err(io_at(&dir))?;
    let original = dir.join(crate::hex::encode(&old_sha));
    if !original.exists() {
        let mut f =
            AtomicFile::create_with_mode(&original, Some(0o600)).map_err(io_at(&original))?;
        io::copy(&mut File::open(path).map_err(io_at(path))?, &mut f).map_err(io_at(&original))?;
        f.commit().map_err(io_at(&original))?;
    }
    let plain_hash = Mutex::new([0u8; 32]);
    replace_file(
        path,
        |out| {
            let mut dec = Decryptor::open(
                BufReader::new(File::open(path)?),
                keys.ring(),
                &crate::DecryptOptions::default(),
            )
            .map_err(io::Error::other)?
            .use_source_buffer();
            let w = enc.wrap_output(out).map_err(io::Error::other)?;
            let ph = reencrypt_through(&mut dec, w)?;
            *plain_hash
                .lock()
                .map_err(|_| io::Error::other("hash lock poisoned"))? = ph;
            Ok(())
        },
        |tmp| {
            let mut h = Header::read_io(&mut File::open(tmp).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let Header::V2(v2) = &mut h else {
                return Err("the re-encrypted file is not v2".into());
            };
            if v2.recipients.first().map(|r| r.key_id) != Some(id) {
                return Err(format!("the re-encrypted header does not carry id {id}"));
            }
            let f = File::open(tmp).map_err(|e| e.to_string())?;
            let mut d = Decryptor::open_seekable(
                BufReader::new(f),
                keys.ring(),
                &crate::DecryptOptions::verified(),
            )
            .map_err(|e| e.to_string())?;
            let mut ph = Sha256Sink::default();
            io::copy(&mut d, &mut ph).map_err(|e| e.to_string())?;
            let got = ph.finish();
            if got != *plain_hash.lock().map_err(|_| "hash lock poisoned")? {
                return Err("the re-encrypted mail decrypts to different bytes".into());
            }
            let new_sha = sha256_file(tmp).map_err(|e| e.to_string())?;
            log.record(&LogRecord::Reencrypted {
                path: fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
                old_sha256: old_sha,
                new_sha256: new_sha,
                original: original.clone(),
            })
            .map_err(|e| format!("writing log {}: {e}", log.path().display()))
        },
    )
    .map_err(|source| StoreError::Replace {
        path: path.clone(),
        source,
    })
}

fn repair_item(
    found: io::Result<Found>,
    keys: &StoreKeys,
    opts: &RepairOptions<'_>,
) -> (u64, Vec<RepairEvent>) {
    let fail = |what: String, error| RepairEvent::Failed { what, error };
    let found = match found {
        Ok(f) => f,
        Err(source) => {
            return (
                0,
                vec![fail(
                    String::new(),
                    StoreError::Io {
                        path: PathBuf::new(),
                        source,
                    },
                )],
            );
        }
    };
    let path = match &found {
        Found::Maildir(p) | Found::Dbox(p, _) => p.clone(),
        Found::Unsupported(p, why) => {
            return (
                0,
                vec![fail(
                    p.display().to_string(),
                    StoreError::Refused(format!("not repaired: {why}")),
                )],
            );
        }
        _ => return (0, Vec::new()),
    };
    let mails = match mails_of(&found) {
        Ok(m) => m,
        Err(FileReport::Unparsed(p, _, e)) => {
            return (
                0,
                vec![fail(
                    p.display().to_string(),
                    StoreError::Dbox { path: p, source: e },
                )],
            );
        }
        Err(FileReport::Error(e)) => return (0, vec![fail(path.display().to_string(), e)]),
        Err(_) => return (0, Vec::new()),
    };
    let n = mails.len() as u64;
    let (edits, failures) = plan_file(mails, keys, opts.target);
    let mut events: Vec<RepairEvent> = failures.into_iter().map(|(w, e)| fail(w, e)).collect();
    if edits.is_empty() {
        return (n, events);
    }
    if !opts.apply {
        events.extend(edits.into_iter().map(|e| RepairEvent::Mail {
            mail: e.mail,
            change: e.change,
            applied: false,
        }));
        return (n, events);
    }
    let abs = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let (ids, reenc): (Vec<PlannedEdit>, Vec<PlannedEdit>) =
        edits.into_iter().partition(|e| e.at.is_some());
    if !ids.is_empty() {
        let mut offsets = Vec::new();
        let mut records = Vec::new();
        for e in &ids {
            if let (
                Some(at),
                Change::KeyId {
                    index, old, new, ..
                },
            ) = (e.at, &e.change)
            {
                offsets.push((at, *old, *new));
                records.push(LogRecord::KeyId {
                    path: abs.clone(),
                    offset: e.mail.offset,
                    recipient: *index,
                    old: *old,
                    new: *new,
                });
            }
        }
        let verify: Vec<MailRef> = ids.iter().map(|e| e.mail.clone()).collect();
        match rewrite_ids(
            &path,
            &offsets,
            &verify,
            keys,
            opts.log.map(|l| (l, records)),
        ) {
            Ok(()) => events.extend(ids.into_iter().map(|e| RepairEvent::Mail {
                mail: e.mail,
                change: e.change,
                applied: true,
            })),
            Err(err) => {
                let what = ids
                    .iter()
                    .map(|e| e.mail.display())
                    .collect::<Vec<_>>()
                    .join(", ");
                events.push(fail(what, err));
            }
        }
    }
    for e in reenc {
        let Change::ReencryptedV1 { id, convention } = &e.change else {
            continue;
        };
        let Some(log) = opts.log else {
            events.push(fail(
                e.mail.display(),
                StoreError::Refused(
                    "re-encrypting a v1 mail needs a change log (--log) that keeps the original"
                        .into(),
                ),
            ));
            continue;
        };
        let to = inspect(&e.mail, keys).ok().and_then(|s| match s {
            MailStatus::Encrypted(m) => m.matched.map(|(_, k)| k.key.public_key().clone()),
            _ => None,
        });
        let Some(to) = to else {
            events.push(fail(
                e.mail.display(),
                StoreError::Refused("the mail changed since it was read".into()),
            ));
            continue;
        };
        match reencrypt_v1(&e.mail, keys, &to, *id, *convention, log) {
            Ok(()) => events.push(RepairEvent::Mail {
                mail: e.mail,
                change: e.change,
                applied: true,
            }),
            Err(err) => events.push(fail(e.mail.display(), err)),
        }
    }
    (n, events)
}

/// The value line of `attribute` in an attribute file's raw lines: the
/// file alternates key lines and value lines.
fn attribute_value_line(lines: &[&[u8]], attribute: &str) -> Option<usize> {
    let mut i = 0;
    while i + 1 < lines.len() {
        let key = crate::keys::AttributeFile::parse(&[lines.get(i)?, &b"\n"[..], b"x\n"].concat())
            .ok()?;
        if key.iter().next().map(|(k, _)| k) == Some(attribute) {
            return Some(i + 1);
        }
        i += 2;
    }
    None
}

/// Rewrite the id field (the last 64 hex digits of the value) of these
/// attributes: `(attribute, old, new)`.
pub(super) fn rewrite_attributes(
    path: &Path,
    edits: &[(String, KeyId, KeyId)],
    password: Option<&[u8]>,
    log: Option<&ChangeLog>,
    expect_clean: bool,
) -> Result<(), StoreError> {
    let data = zeroize::Zeroizing::new(fs::read(path).map_err(io_at(path))?);
    let mut lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let refs: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    for (attr, old, new) in edits {
        let i = attribute_value_line(&refs, attr)
            .ok_or_else(|| StoreError::Refused(format!("attribute {attr} not found")))?;
        let Some(line) = lines.get_mut(i) else {
            return Err(StoreError::Refused(format!(
                "attribute {attr} has no value line"
            )));
        };
        let old_hex = old.to_hex();
        let tail = line.len().checked_sub(64).filter(|&t| {
            line.get(t..) == Some(old_hex.as_bytes()) && t > 0 && line.get(t - 1) == Some(&b':')
        });
        let Some(t) = tail else {
            return Err(StoreError::Refused(format!(
                "{attr}: the key string does not end in :{old}"
            )));
        };
        line.truncate(t);
        line.extend_from_slice(new.to_hex().as_bytes());
    }
    let out = zeroize::Zeroizing::new(lines.join(&b'\n'));
    replace_file(
        path,
        |f| f.write_all(&out),
        |tmp| {
            let keys = reload(tmp, password).map_err(|e| e.to_string())?;
            let user = keys.user().ok_or("no user keys after the rewrite")?;
            for (attr, _, new) in edits {
                let e = user
                    .entries()
                    .find(|e| &e.attribute == attr)
                    .ok_or_else(|| format!("{attr} missing after the rewrite"))?;
                if e.stored_id != *new {
                    return Err(format!("{attr}: id field not rewritten"));
                }
                if expect_clean && e.name_convention.is_none() {
                    return Err(format!("{attr}: the key does not open after the rewrite"));
                }
            }
            if let Some(log) = log {
                for (attr, old, new) in edits {
                    log.record(&LogRecord::Attribute {
                        path: fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
                        attribute: attr.clone(),
                        old: *old,
                        new: *new,
                    })
                    .map_err(|e| format!("writing log {}: {e}", log.path().display()))?;
                }
            }
            Ok(())
        },
    )
    .map_err(|source| StoreError::Replace {
        path: path.to_path_buf(),
        source,
    })
}

/// Make the stores under `roots` readable by `opts.target`:
///
/// * per-user keys (an attribute file in `keys`): stored private keys
///   whose id field differs from their attribute name get the name's id
///   (after checking the name is an id of the key), v2 mails get the
///   attribute name's id in their header, v1 mails are re-encrypted as v2
///   under the same folder key (Maildir only; the original is kept beside
///   the log);
/// * global keys: each v2 mail's recipient id becomes the id the build
///   computes for the key;
/// * in dbox files, the same-size id rewrite happens inside the file, one
///   atomic replacement per file after every edited mail of it verified.
///
/// Dovecot's index files are never touched. A dry run unless `opts.apply`.
pub fn repair<P: AsRef<Path>>(
    roots: &[P],
    keys: &StoreKeys,
    opts: &RepairOptions<'_>,
    mut observer: impl FnMut(RepairEvent),
) -> Result<RepairSummary, StoreError> {
    check_roots(roots)?;
    if keys.ring().is_empty() {
        return Err(StoreError::Refused(
            "repair needs the private key(s) to verify every rewritten file".into(),
        ));
    }
    let mut summary = RepairSummary::default();
    let count = |e: &RepairEvent, s: &mut RepairSummary| match e {
        RepairEvent::Mail { change, .. } => match change {
            Change::KeyId { .. } => s.rewritten += 1,
            Change::ReencryptedV1 { .. } => s.reencrypted += 1,
        },
        RepairEvent::Attribute { .. } => s.attributes += 1,
        RepairEvent::Failed { .. } => s.failed += 1,
    };
    if let Some(user) = keys.user() {
        let mut edits = Vec::new();
        for e in user.entries().filter(|e| e.rejected()) {
            if e.name_convention.is_none() {
                let ev = RepairEvent::Failed {
                    what: e.attribute.clone(),
                    error: StoreError::Refused(format!(
                        "stored key {}: its attribute name is no id of the key (or the key did not open), left as it is",
                        e.name_id
                    )),
                };
                count(&ev, &mut summary);
                observer(ev);
                continue;
            }
            edits.push((e.attribute.clone(), e.stored_id, e.name_id));
        }
        if !edits.is_empty() {
            let result = if opts.apply {
                rewrite_attributes(user.path(), &edits, user.password(), opts.log, true)
            } else {
                Ok(())
            };
            match result {
                Ok(()) => {
                    for (attribute, old, new) in edits {
                        let ev = RepairEvent::Attribute {
                            path: user.path().to_path_buf(),
                            attribute,
                            old,
                            new,
                            applied: opts.apply,
                        };
                        count(&ev, &mut summary);
                        observer(ev);
                    }
                }
                Err(error) => {
                    let ev = RepairEvent::Failed {
                        what: user.path().display().to_string(),
                        error,
                    };
                    count(&ev, &mut summary);
                    observer(ev);
                }
            }
        }
    }
    map_ordered(
        Walker::new(roots),
        opts.jobs,
        |f| repair_item(f, keys, opts),
        |(n, events)| {
            if n > 0 {
                summary.mail_files += 1;
                summary.mails += n;
            }
            for e in events {
                count(&e, &mut summary);
                observer(e);
            }
            true
        },
    );
    Ok(summary)
}
