//! The store operations: scan, repair and undo, rekey, decrypt-store.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::Digest;

use super::dbox::{DboxError, DboxFile};
use super::keys::{Fix, KeyRejection, StoreKeys, Verdict, reload};
use super::log::{ChangeLog, LogRecord};
use super::mail::{EncryptedMail, MailRef, MailStatus, inspect_reader};
use super::par::map_ordered;
use super::replace::{AtomicFile, ReplaceError, replace_file, sync_tree};
use super::walk::{Found, Shape, Unsupported, Walker, layouts};
use crate::KeyError;
use crate::container::{Header, Integrity};
use crate::error::FormatError;
use crate::keys::{IdConvention, KeyId, PointForm, PublicKey};
use crate::{DecryptError, Decryptor, EncryptError, Encryptor, Target};

/// The build families a verdict is given for (Dovecot main reads what
/// 2.4 reads, so it adds nothing for existing stores).
pub const SERVER_TARGETS: [Target; 3] = [
    Target::Dovecot23,
    Target::Dovecot23OpenSsl3Unpatched,
    Target::Dovecot24,
];

/// Why a store operation, or one file of it, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Keys could not be loaded.
    #[error("{}: {source}", path.display())]
    Keys {
        /// The key or attribute file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: KeyError,
    },
    /// A dbox file could not be parsed.
    #[error("{}: {source}", path.display())]
    Dbox {
        /// The dbox file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: DboxError,
    },
    /// A mail did not decrypt.
    #[error("{mail}: {source}")]
    Decrypt {
        /// The mail (`path` or `path@offset`).
        mail: String,
        /// The cause.
        #[source]
        source: DecryptError,
    },
    /// Setting up encryption failed.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    /// A file could not be replaced; the original is untouched.
    #[error("{}: {source}", path.display())]
    Replace {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ReplaceError,
    },
    /// The operation refuses this input; nothing was changed.
    #[error("{0}")]
    Refused(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check_roots<P: AsRef<Path>>(roots: &[P]) -> Result<(), StoreError> {
    if roots.is_empty() {
        return Err(StoreError::Refused("no directory given".into()));
    }
    for r in roots {
        let r = r.as_ref();
        fs::symlink_metadata(r).map_err(io_at(r))?;
    }
    Ok(())
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------- scan

/// Options of [`scan`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Decrypt every mail and check its tag (otherwise headers only).
    pub verify: bool,
    /// Worker threads (0: one per CPU).
    pub jobs: usize,
}

impl ScanOptions {
    /// Headers only, one thread per CPU.
    pub fn new() -> Self {
        Self::default()
    }
    /// Also decrypt every mail and check its tag.
    pub fn verify(mut self, yes: bool) -> Self {
        self.verify = yes;
        self
    }
    /// Worker threads (0: one per CPU).
    pub fn jobs(mut self, n: usize) -> Self {
        self.jobs = n;
        self
    }
}

/// What a mail is.
#[derive(Debug)]
#[non_exhaustive]
pub enum MailOutcome {
    /// 0 bytes (an encrypted empty mail).
    Empty,
    /// Not encrypted.
    Plain,
    /// A malformed container header.
    Malformed(FormatError),
    /// A container.
    Encrypted(Box<EncryptedMail>),
    /// It could not be read.
    Error(StoreError),
}

/// The result of decrypting a mail in full.
#[derive(Debug)]
#[non_exhaustive]
pub enum VerifyOutcome {
    /// Decrypted and its tag or HMAC matched.
    Authenticated,
    /// Decrypted; the format has no integrity protection (v1, flag NONE).
    Unauthenticated,
    /// Decryption or the tag check failed.
    Failed(StoreError),
}

/// One mail's report.
#[derive(Debug)]
#[non_exhaustive]
pub struct MailReport {
    /// Where it is.
    pub mail: MailRef,
    /// What it is.
    pub outcome: MailOutcome,
    /// Whether each build family reads it (empty unless encrypted).
    pub readable_by: Vec<(Target, Verdict)>,
    /// With [`ScanOptions::verify`], for mails a key opens.
    pub verify: Option<VerifyOutcome>,
}

impl MailReport {
    /// The encrypted mail's header and matched key, if it is one.
    pub fn encrypted(&self) -> Option<&EncryptedMail> {
        match &self.outcome {
            MailOutcome::Encrypted(m) => Some(m),
            _ => None,
        }
    }
}

/// A file reported on its own.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileReport {
    /// A Dovecot index or cache file: it holds plaintext headers of
    /// encrypted mails.
    Index(PathBuf),
    /// A dbox file that does not parse; none of its mails was processed.
    Unparsed(PathBuf, Shape, DboxError),
    /// A file mailcrypt does not process.
    Unsupported(PathBuf, Unsupported),
    /// A file or directory that could not be read.
    Error(StoreError),
}

/// One event of a scan, in walk order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScanEvent {
    /// A mail.
    Mail(Box<MailReport>),
    /// A file that is not a mail, or a mail file that could not be read.
    File(FileReport),
}

/// Readable / not readable / unknown counts for one build family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetCounts {
    /// Mails the build reads.
    pub readable: u64,
    /// Mails it fails on.
    pub not_readable: u64,
    /// Mails no given key opens.
    pub unknown: u64,
}

/// What a scan found, as counters (constant size whatever the store).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScanSummary {
    /// Mails (a dbox file counts each mail it holds).
    pub mails: u64,
    /// Files holding mails (Maildir files and dbox files).
    pub mail_files: u64,
    /// Mails by layout.
    pub by_shape: BTreeMap<&'static str, u64>,
    /// 0-byte mails.
    pub empty: u64,
    /// Plain (not encrypted) mails.
    pub plain: u64,
    /// Encrypted mails.
    pub encrypted: u64,
    /// Malformed containers.
    pub malformed: u64,
    /// Encrypted mails no given key opens.
    pub no_key: u64,
    /// Matched recipient ids by convention name.
    pub by_convention: BTreeMap<&'static str, u64>,
    /// Per build family.
    pub by_target: Vec<(Target, TargetCounts)>,
    /// With verify: authenticated.
    pub verified: u64,
    /// With verify: decrypted without integrity protection.
    pub unauthenticated: u64,
    /// With verify: failed.
    pub verify_failed: u64,
    /// Index/cache files (plaintext headers).
    pub index_files: u64,
    /// The first index/cache files found (at most 100).
    pub index_file_examples: Vec<PathBuf>,
    /// dbox files that did not parse.
    pub unparsed_files: u64,
    /// Files mailcrypt does not process (mbox, containers outside a layout).
    pub unsupported_files: u64,
    /// Files or directories that could not be read.
    pub errors: u64,
    /// Stored per-user keys a build rejects (attribute, build, why).
    pub stored_key_rejections: Vec<(String, Target, KeyRejection)>,
}

impl ScanSummary {
    /// Whether every mail is fine: nothing malformed, unreadable, unparsed
    /// or failing verification, and (when keys were given) every encrypted
    /// mail opened by one of them.
    pub fn is_clean(&self, keys_given: bool) -> bool {
        self.malformed == 0
            && self.errors == 0
            && self.verify_failed == 0
            && self.unparsed_files == 0
            && self.unsupported_files == 0
            && !(keys_given && self.no_key > 0)
    }

    fn add(&mut self, e: &ScanEvent) {
        match e {
            ScanEvent::Mail(r) => {
                self.mails += 1;
                if r.mail.index == 0 {
                    self.mail_files += 1;
                }
                *self.by_shape.entry(r.mail.shape.name()).or_default() += 1;
                match &r.outcome {
                    MailOutcome::Empty => self.empty += 1,
                    MailOutcome::Plain => self.plain += 1,
                    MailOutcome::Malformed(_) => self.malformed += 1,
                    MailOutcome::Error(_) => self.errors += 1,
                    MailOutcome::Encrypted(m) => {
                        self.encrypted += 1;
                        match &m.matched {
                            Some((_, k)) => {
                                *self.by_convention.entry(k.convention.name()).or_default() += 1
                            }
                            None => self.no_key += 1,
                        }
                    }
                }
                for (t, v) in &r.readable_by {
                    let i = match self.by_target.iter().position(|(x, _)| x == t) {
                        Some(i) => i,
                        None => {
                            self.by_target.push((*t, TargetCounts::default()));
                            self.by_target.len() - 1
                        }
                    };
                    let Some((_, c)) = self.by_target.get_mut(i) else {
                        continue;
                    };
                    match v.readable() {
                        Some(true) => c.readable += 1,
                        Some(false) => c.not_readable += 1,
                        None => c.unknown += 1,
                    }
                }
                match &r.verify {
                    Some(VerifyOutcome::Authenticated) => self.verified += 1,
                    Some(VerifyOutcome::Unauthenticated) => self.unauthenticated += 1,
                    Some(VerifyOutcome::Failed(_)) => self.verify_failed += 1,
                    None => {}
                }
            }
            ScanEvent::File(f) => match f {
                FileReport::Index(p) => {
                    self.index_files += 1;
                    if self.index_file_examples.len() < 100 {
                        self.index_file_examples.push(p.clone());
                    }
                }
                FileReport::Unparsed(..) => self.unparsed_files += 1,
                FileReport::Unsupported(..) => self.unsupported_files += 1,
                FileReport::Error(_) => self.errors += 1,
            },
        }
    }
}

fn inspect(mail: &MailRef, keys: &StoreKeys) -> Result<MailStatus, StoreError> {
    let mut r = mail.open().map_err(io_at(&mail.path))?;
    inspect_reader(&mut r, keys.ring()).map_err(io_at(&mail.path))
}

/// Decrypt a mail to the end in one streaming pass; the final read fails
/// on a bad tag or HMAC, and nothing read is kept.
fn verify_mail(mail: &MailRef, keys: &StoreKeys) -> VerifyOutcome {
    let run = || -> Result<bool, StoreError> {
        let r = mail.open().map_err(io_at(&mail.path))?;
        let fail = |source| StoreError::Decrypt {
            mail: mail.display(),
            source,
        };
        let mut d = Decryptor::new_buf_read(r, keys.ring()).map_err(fail)?;
        let auth = d.info().is_authenticated();
        io::copy(&mut d, &mut io::sink()).map_err(|e| fail(DecryptError::from_io(e)))?;
        Ok(auth)
    };
    match run() {
        Ok(true) => VerifyOutcome::Authenticated,
        Ok(false) => VerifyOutcome::Unauthenticated,
        Err(e) => VerifyOutcome::Failed(e),
    }
}

fn report_mail(mail: MailRef, keys: &StoreKeys, verify: bool) -> MailReport {
    let outcome = match inspect(&mail, keys) {
        Ok(MailStatus::Empty) => MailOutcome::Empty,
        Ok(MailStatus::Plain) => MailOutcome::Plain,
        Ok(MailStatus::Malformed(e)) => MailOutcome::Malformed(e),
        Ok(MailStatus::Encrypted(m)) => MailOutcome::Encrypted(m),
        Err(e) => MailOutcome::Error(e),
    };
    let mut readable_by = Vec::new();
    let mut verified = None;
    if let MailOutcome::Encrypted(m) = &outcome {
        readable_by = SERVER_TARGETS
            .iter()
            .map(|t| (*t, keys.verdict(m, *t)))
            .collect();
        if verify && m.matched.is_some() {
            verified = Some(verify_mail(&mail, keys));
        }
    }
    MailReport {
        mail,
        outcome,
        readable_by,
        verify: verified,
    }
}

/// The mails of one walk item, or the file report that replaces them.
fn mails_of(found: &Found) -> Result<Vec<MailRef>, FileReport> {
    match found {
        Found::Maildir(p) => MailRef::maildir(p.clone())
            .map(|m| vec![m])
            .map_err(|e| FileReport::Error(io_at(p)(e))),
        Found::Dbox(p, shape) => MailRef::dbox_mails(p, *shape).map_err(|e| match e {
            DboxError::Io(source) => FileReport::Error(StoreError::Io {
                path: p.clone(),
                source,
            }),
            e => FileReport::Unparsed(p.clone(), *shape, e),
        }),
        _ => Ok(Vec::new()),
    }
}

fn scan_item(found: io::Result<Found>, keys: &StoreKeys, verify: bool) -> Vec<ScanEvent> {
    let found = match found {
        Ok(f) => f,
        Err(source) => {
            return vec![ScanEvent::File(FileReport::Error(StoreError::Io {
                path: PathBuf::new(),
                source,
            }))];
        }
    };
    match &found {
        Found::Index(p) => return vec![ScanEvent::File(FileReport::Index(p.clone()))],
        Found::Unsupported(p, why) => {
            return vec![ScanEvent::File(FileReport::Unsupported(p.clone(), *why))];
        }
        Found::Other(_) => return Vec::new(),
        _ => {}
    }
    match mails_of(&found) {
        Ok(mails) => mails
            .into_iter()
            .map(|m| ScanEvent::Mail(Box::new(report_mail(m, keys, verify))))
            .collect(),
        Err(f) => vec![ScanEvent::File(f)],
    }
}

/// Report every mail of the stores under `roots` (Maildir, sdbox, mdbox,
/// nested; several roots for alternate storage), giving each report to
/// `observer` in walk order, and return the counters.
///
/// Errors only for what stops the whole scan (a root that does not
/// exist); a file that cannot be read is a [`FileReport::Error`].
pub fn scan<P: AsRef<Path>>(
    roots: &[P],
    keys: &StoreKeys,
    opts: &ScanOptions,
    mut observer: impl FnMut(ScanEvent),
) -> Result<ScanSummary, StoreError> {
    check_roots(roots)?;
    let mut summary = ScanSummary::default();
    if let Some(user) = keys.user() {
        for e in user.entries().filter(|e| e.private) {
            for t in SERVER_TARGETS {
                if let Some(r) = user.rejection(e, t) {
                    summary
                        .stored_key_rejections
                        .push((e.attribute.clone(), t, r));
                }
            }
        }
    }
    let jobs = if opts.jobs == 0 {
        default_jobs()
    } else {
        opts.jobs
    };
    map_ordered(
        Walker::new(roots),
        jobs,
        |f| scan_item(f, keys, opts.verify),
        |events| {
            for e in events {
                summary.add(&e);
                observer(e);
            }
            true
        },
    );
    Ok(summary)
}

// ---------------------------------------------------------------- repair

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
fn rewrite_ids(
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

/// SHA-256 of everything written to it.
#[derive(Default)]
struct Sha256Sink(sha2::Sha256);

impl Write for Sha256Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sha256Sink {
    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut h = Sha256Sink::default();
    io::copy(&mut BufReader::new(File::open(path)?), &mut h)?;
    Ok(h.finish())
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
            let mut dec = Decryptor::new_buf_read(BufReader::new(File::open(path)?), keys.ring())
                .map_err(io::Error::other)?;
            let mut w = enc.wrap_output(out).map_err(io::Error::other)?;
            let mut ph = sha2::Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = dec.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                ph.update(chunk);
                w.write_all(chunk)?;
            }
            w.finish()?;
            *plain_hash
                .lock()
                .map_err(|_| io::Error::other("hash lock poisoned"))? = ph.finalize().into();
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
            let mut d = Decryptor::new_verified(BufReader::new(f), keys.ring())
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
fn rewrite_attributes(
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
    let jobs = if opts.jobs == 0 {
        default_jobs()
    } else {
        opts.jobs
    };
    map_ordered(
        Walker::new(roots),
        jobs,
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

// ---------------------------------------------------------------- undo

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
        super::dbox::looks_like_dbox(first.get(..n).unwrap_or_default())
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

// ---------------------------------------------------------------- rekey

/// Options of [`rekey`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RekeyOptions<'a> {
    /// The new recipient.
    pub to: PublicKey,
    /// The build that will read the store.
    pub target: Target,
    /// Dovecot `crypt_write_algorithm` name of the new containers.
    pub cipher: String,
    /// Report only.
    pub dry_run: bool,
    /// Record every change.
    pub log: Option<&'a ChangeLog>,
    /// Worker threads (0: one per CPU).
    pub jobs: usize,
}

impl<'a> RekeyOptions<'a> {
    /// Re-encrypt to `to` for `target` with AES-256-GCM.
    pub fn new(to: PublicKey, target: Target) -> Self {
        RekeyOptions {
            to,
            target,
            cipher: "aes-256-gcm-sha256".into(),
            dry_run: false,
            log: None,
            jobs: 0,
        }
    }
}

/// One event of a rekey.
#[derive(Debug)]
#[non_exhaustive]
pub enum RekeyEvent {
    /// A mail was (or would be) re-encrypted.
    Mail {
        /// The mail file.
        path: PathBuf,
        /// Its old recipient id.
        old: KeyId,
        /// Its new recipient id.
        new: KeyId,
        /// Written (false in a dry run).
        applied: bool,
    },
    /// A mail could not be re-encrypted; it is untouched.
    Failed {
        /// The mail.
        what: String,
        /// Why.
        error: StoreError,
    },
}

/// What a rekey did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RekeySummary {
    /// Mail files.
    pub mails: u64,
    /// Re-encrypted (or to re-encrypt).
    pub rekeyed: u64,
    /// Failures.
    pub failed: u64,
    /// Whether new files were checked by full decryption (the new private
    /// key was among the keys) or by re-reading their bytes.
    pub full_verify: bool,
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hasher: sha2::Sha256,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn rekey_one(
    path: &Path,
    keys: &StoreKeys,
    enc: &Encryptor,
    new_id: KeyId,
    opts: &RekeyOptions<'_>,
    full_verify: bool,
) -> Option<RekeyEvent> {
    let fail = |error| {
        Some(RekeyEvent::Failed {
            what: path.display().to_string(),
            error,
        })
    };
    let m = match inspect_mail_path(path, keys) {
        Ok(MailStatus::Encrypted(m)) => m,
        Ok(_) => return None,
        Err(e) => return fail(e),
    };
    if let Header::V2(h) = &m.header
        && h.recipients.len() == 1
        && h.recipients.first().map(|r| r.key_id) == Some(new_id)
    {
        return None; // already rekeyed: resumable
    }
    let Some((_, k)) = &m.matched else {
        return fail(StoreError::Refused("no given key opens it".into()));
    };
    if opts.dry_run {
        return Some(RekeyEvent::Mail {
            path: path.to_path_buf(),
            old: k.id,
            new: new_id,
            applied: false,
        });
    }
    let plain_hash = Mutex::new([0u8; 32]);
    let file_hash = Mutex::new([0u8; 32]);
    let r = replace_file(
        path,
        |out| {
            let src = BufReader::new(File::open(path)?);
            let mut dec = Decryptor::new_verified(src, keys.ring())
                .map_err(io::Error::other)?
                .use_source_buffer();
            let mut hw = HashingWriter {
                inner: out,
                hasher: sha2::Sha256::new(),
            };
            let mut w = enc.wrap_output(&mut hw).map_err(io::Error::other)?;
            let mut ph = sha2::Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = dec.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                ph.update(chunk);
                w.write_all(chunk)?;
            }
            w.finish()?;
            *plain_hash
                .lock()
                .map_err(|_| io::Error::other("hash lock poisoned"))? = ph.finalize().into();
            *file_hash
                .lock()
                .map_err(|_| io::Error::other("hash lock poisoned"))? = hw.hasher.finalize().into();
            Ok(())
        },
        |tmp| {
            if full_verify {
                let f = File::open(tmp).map_err(|e| e.to_string())?;
                let mut d = Decryptor::new_verified(BufReader::new(f), keys.ring())
                    .map_err(|e| e.to_string())?
                    .use_source_buffer();
                let mut h = Sha256Sink::default();
                io::copy(&mut d, &mut h).map_err(|e| e.to_string())?;
                let got = h.finish();
                if got != *plain_hash.lock().map_err(|_| "hash lock poisoned")? {
                    return Err("re-encrypted file decrypts to different bytes".into());
                }
            } else if sha256_file(tmp).map_err(|e| e.to_string())?
                != *file_hash.lock().map_err(|_| "hash lock poisoned")?
            {
                return Err("re-encrypted file reads back different bytes".into());
            }
            if let Some(log) = opts.log {
                log.record(&LogRecord::Rekeyed {
                    path: fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
                    old: k.id,
                    new: new_id,
                })
                .map_err(|e| format!("writing log {}: {e}", log.path().display()))?;
            }
            Ok(())
        },
    );
    match r {
        Ok(()) => Some(RekeyEvent::Mail {
            path: path.to_path_buf(),
            old: k.id,
            new: new_id,
            applied: true,
        }),
        Err(source) => fail(StoreError::Replace {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn inspect_mail_path(path: &Path, keys: &StoreKeys) -> Result<MailStatus, StoreError> {
    super::mail::inspect_mail(path, keys.ring()).map_err(io_at(path))
}

/// Re-encrypt every mail of Maildir stores to a new key (resumable: mails
/// already for the new key are skipped). dbox stores are refused before
/// anything changes: re-encryption changes mail sizes, which mdbox's map
/// index and the dbox indexes record.
pub fn rekey<P: AsRef<Path>>(
    roots: &[P],
    keys: &StoreKeys,
    opts: &RekeyOptions<'_>,
    mut observer: impl FnMut(RekeyEvent),
) -> Result<RekeySummary, StoreError> {
    check_roots(roots)?;
    if keys.ring().is_empty() {
        return Err(StoreError::Refused(
            "rekey needs the old private key(s)".into(),
        ));
    }
    for r in roots {
        let shapes = layouts([r.as_ref()]).map_err(io_at(r.as_ref()))?;
        if shapes.iter().any(|s| *s != Shape::Maildir) {
            return Err(StoreError::Refused(format!(
                "{}: rekey refuses sdbox/mdbox stores (re-encrypting changes mail sizes, which Dovecot's dbox indexes record); \
                 use `repair` for the key-id problem, or `decrypt-store` to a Maildir and `doveadm import`/`dsync` into a store configured with the new key",
                r.as_ref().display()
            )));
        }
    }
    let enc = Encryptor::new(vec![opts.to.clone()])
        .target(opts.target)
        .algorithm(&opts.cipher)?;
    let new_id = opts
        .to
        .id(opts.target.id_convention(&opts.to))
        .ok_or_else(|| {
            StoreError::Refused(format!("target {} cannot use this key type", opts.target))
        })?;
    let full_verify = keys.ring().find(&new_id).is_some();
    let mut summary = RekeySummary {
        full_verify,
        ..Default::default()
    };
    let jobs = if opts.jobs == 0 {
        default_jobs()
    } else {
        opts.jobs
    };
    let mails = Walker::new(roots).filter_map(|f| match f {
        Ok(Found::Maildir(p)) => Some(Ok(p)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    });
    map_ordered(
        mails,
        jobs,
        |p| match p {
            Ok(p) => (true, rekey_one(&p, keys, &enc, new_id, opts, full_verify)),
            Err(source) => (
                false,
                Some(RekeyEvent::Failed {
                    what: String::new(),
                    error: StoreError::Io {
                        path: PathBuf::new(),
                        source,
                    },
                }),
            ),
        },
        |(is_mail, ev)| {
            if is_mail {
                summary.mails += 1;
            }
            if let Some(ev) = ev {
                match &ev {
                    RekeyEvent::Mail { .. } => summary.rekeyed += 1,
                    RekeyEvent::Failed { .. } => summary.failed += 1,
                }
                observer(ev);
            }
            true
        },
    );
    Ok(summary)
}

// ---------------------------------------------------------------- decrypt-store

/// Where [`decrypt_store`] writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Destination {
    /// A new tree: a copy of a Maildir source, or a Maildir++ tree for a
    /// dbox source (INBOX in `DST/{cur,new,tmp}`, other mailboxes as
    /// `DST/.<name>/`). Must not exist or be empty.
    Copy(PathBuf),
    /// Replace each encrypted Maildir mail by its plaintext (Maildir only).
    InPlace,
}

/// Options of [`decrypt_store`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecryptStoreOptions {
    /// Where to write.
    pub destination: Destination,
    /// Keep Dovecot's compression layer as it is.
    pub raw: bool,
    /// Worker threads (0: one per CPU).
    pub jobs: usize,
}

impl DecryptStoreOptions {
    /// Decrypt (and decompress) into `destination`.
    pub fn new(destination: Destination) -> Self {
        DecryptStoreOptions {
            destination,
            raw: false,
            jobs: 0,
        }
    }
    /// Keep the compression layer.
    pub fn raw(mut self, yes: bool) -> Self {
        self.raw = yes;
        self
    }
    /// Worker threads (0: one per CPU).
    pub fn jobs(mut self, n: usize) -> Self {
        self.jobs = n;
        self
    }
}

/// One event of a decrypt-store.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecryptStoreEvent {
    /// A mail was written.
    Mail {
        /// The source mail.
        mail: MailRef,
        /// The file written.
        to: PathBuf,
        /// Plaintext bytes.
        bytes: u64,
    },
    /// A mail could not be decrypted; nothing was written for it.
    Failed {
        /// The mail.
        what: String,
        /// Why.
        error: StoreError,
    },
}

/// What a decrypt-store did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DecryptStoreSummary {
    /// Mails (dbox files count each mail).
    pub mails: u64,
    /// Failures.
    pub failed: u64,
    /// Plaintext bytes written.
    pub bytes: u64,
    /// Index/cache files in the source (they hold plaintext headers).
    pub index_files: u64,
    /// Mails read from dbox files (their flags and keywords, kept in
    /// Dovecot's index, are not carried over).
    pub dbox_mails: u64,
    /// mdbox mails without a `B` (mailbox) line, written to the
    /// `.mailcrypt-no-mailbox` folder.
    pub without_mailbox: u64,
}

/// The folder a mailbox name becomes in a Maildir++ tree.
fn maildirpp_folder(dst: &Path, mailbox: Option<&str>) -> PathBuf {
    match mailbox {
        Some("INBOX") => dst.to_path_buf(),
        Some(name) => dst.join(format!(".{}", name.replace('/', "."))),
        None => dst.join(".mailcrypt-no-mailbox"),
    }
}

fn ensure_maildir(folder: &Path, is_root: bool) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(folder.join(sub))?;
    }
    if !is_root {
        let mf = folder.join("maildirfolder");
        if !mf.exists() {
            File::create(mf)?;
        }
    }
    Ok(())
}

/// Counts plaintext bytes and bare LFs (for the `W=` virtual size).
struct SizeCounter<'a, W: Write + ?Sized> {
    inner: &'a mut W,
    bytes: u64,
    bare_lf: u64,
    last_cr: bool,
}

impl<W: Write + ?Sized> Write for SizeCounter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        for &b in buf.get(..n).unwrap_or_default() {
            if b == b'\n' && !self.last_cr {
                self.bare_lf += 1;
            }
            self.last_cr = b == b'\r';
        }
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypt (and, unless `raw`, decompress) a mail into `out` in one
/// streaming pass. Callers write into a temporary file kept only on
/// success, and the final read fails on a bad tag, so nothing
/// unauthenticated is kept. When decompression fails first (tampered data
/// fed to it), the mail is authenticated separately so that the error
/// names the real cause.
fn write_plain(
    mail: &MailRef,
    keys: &StoreKeys,
    raw: bool,
    out: &mut dyn Write,
) -> Result<u64, StoreError> {
    let fail = |source| StoreError::Decrypt {
        mail: mail.display(),
        source,
    };
    let dec = Decryptor::new_buf_read(mail.open().map_err(io_at(&mail.path))?, keys.ring())
        .map_err(fail)?;
    if raw {
        let mut d = dec;
        return io::copy(&mut d, out).map_err(|e| fail(DecryptError::from_io(e)));
    }
    #[cfg(feature = "compression")]
    {
        match crate::compress::decompress_to(dec, out) {
            Ok((_, n)) => Ok(n),
            Err(e) => {
                let src = mail.open().map_err(io_at(&mail.path))?;
                match Decryptor::new_verified(src, keys.ring()) {
                    Err(auth) => Err(fail(auth)),
                    Ok(_) => Err(fail(DecryptError::from_io(e))),
                }
            }
        }
    }
    #[cfg(not(feature = "compression"))]
    {
        let _ = dec;
        Err(StoreError::Refused(
            "decompression needs the `compression` feature; use raw mode".into(),
        ))
    }
}

fn copy_owner_mode(from: &fs::Metadata, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    fs::set_permissions(to, fs::Permissions::from_mode(from.mode() & 0o7777))?;
    let t = fs::metadata(to)?;
    if (from.uid(), from.gid()) != (t.uid(), t.gid()) {
        std::os::unix::fs::chown(to, Some(from.uid()), Some(from.gid()))?;
    }
    Ok(())
}

/// Create every directory of `src` under `dst` with the same mode and
/// owner (the copy belongs to whoever owns the source).
fn mirror_dirs(src: &Path, dst: &Path) -> io::Result<()> {
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rel = dir.strip_prefix(src).unwrap_or(Path::new(""));
        let to = dst.join(rel);
        fs::create_dir_all(&to)?;
        copy_owner_mode(&fs::metadata(&dir)?, &to)?;
        for e in fs::read_dir(&dir)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(())
}

struct ExportCtx<'a> {
    src: &'a Path,
    keys: &'a StoreKeys,
    opts: &'a DecryptStoreOptions,
    dbox_tree: bool,
    seq: AtomicU64,
}

fn export_maildir_file(ctx: &ExportCtx<'_>, path: &Path) -> Vec<DecryptStoreEvent> {
    let mail = match MailRef::maildir(path.to_path_buf()) {
        Ok(m) => m,
        Err(e) => {
            return vec![DecryptStoreEvent::Failed {
                what: path.display().to_string(),
                error: io_at(path)(e),
            }];
        }
    };
    let fail = |error| {
        vec![DecryptStoreEvent::Failed {
            what: path.display().to_string(),
            error,
        }]
    };
    let status = match inspect(&mail, ctx.keys) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let MailStatus::Malformed(e) = &status {
        return fail(StoreError::Refused(format!("malformed container: {e}")));
    }
    let encrypted = matches!(status, MailStatus::Encrypted(_));
    match &ctx.opts.destination {
        Destination::InPlace => {
            if !encrypted {
                return Vec::new();
            }
            let n = AtomicU64::new(0);
            let r = replace_file(
                path,
                |out| {
                    let k = write_plain(&mail, ctx.keys, ctx.opts.raw, out)
                        .map_err(io::Error::other)?;
                    n.store(k, Ordering::Relaxed);
                    Ok(())
                },
                // The source was authenticated before the last byte was
                // written; check that everything reached the disk.
                |tmp| match fs::metadata(tmp) {
                    Ok(m) if m.len() == n.load(Ordering::Relaxed) => Ok(()),
                    Ok(m) => Err(format!(
                        "wrote {} bytes, expected {}",
                        m.len(),
                        n.load(Ordering::Relaxed)
                    )),
                    Err(e) => Err(e.to_string()),
                },
            );
            match r {
                Ok(()) => vec![DecryptStoreEvent::Mail {
                    to: path.to_path_buf(),
                    bytes: n.into_inner(),
                    mail,
                }],
                Err(source) => fail(StoreError::Replace {
                    path: path.to_path_buf(),
                    source,
                }),
            }
        }
        Destination::Copy(dst) => {
            let rel = path.strip_prefix(ctx.src).unwrap_or(path);
            let to = dst.join(rel);
            let run = || -> Result<u64, StoreError> {
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(io_at(parent))?;
                }
                let meta = fs::metadata(path).map_err(io_at(path))?;
                let mut out = AtomicFile::create(&to).map_err(io_at(&to))?;
                {
                    use std::os::unix::fs::MetadataExt;
                    out.set_mode_owner(meta.mode(), meta.uid(), meta.gid())
                        .map_err(io_at(&to))?;
                }
                let n = if encrypted {
                    write_plain(&mail, ctx.keys, ctx.opts.raw, &mut out)?
                } else {
                    io::copy(&mut File::open(path).map_err(io_at(path))?, &mut out)
                        .map_err(io_at(&to))?
                };
                out.set_modified(meta.modified().map_err(io_at(path))?)
                    .map_err(io_at(&to))?;
                out.commit_unsynced().map_err(io_at(&to))?;
                Ok(n)
            };
            match run() {
                Ok(bytes) => vec![DecryptStoreEvent::Mail {
                    to: to.clone(),
                    bytes,
                    mail,
                }],
                Err(e) => fail(e),
            }
        }
    }
}

fn export_dbox_mail(ctx: &ExportCtx<'_>, dst: &Path, mail: MailRef) -> DecryptStoreEvent {
    let what = mail.display();
    let run = || -> Result<(PathBuf, u64), StoreError> {
        let status = inspect(&mail, ctx.keys)?;
        if let MailStatus::Malformed(e) = &status {
            return Err(StoreError::Refused(format!("malformed container: {e}")));
        }
        let folder = maildirpp_folder(dst, mail.mailbox.as_deref());
        ensure_maildir(&folder, folder == dst).map_err(io_at(&folder))?;
        let seq = ctx.seq.fetch_add(1, Ordering::Relaxed);
        let meta = mail.dbox.clone().unwrap_or_default();
        let received = meta.received.unwrap_or(0);
        let unique = match &meta.guid {
            Some(g) if !g.is_empty() && g.bytes().all(|b| b.is_ascii_alphanumeric()) => g.clone(),
            _ => format!("{seq}"),
        };
        let base = format!("{received}.M{seq}P0.mailcrypt-{unique}");
        let tmp_name = folder.join("tmp").join(&base);
        let mut out = AtomicFile::create(&tmp_name).map_err(io_at(&tmp_name))?;
        let (bytes, bare_lf) = {
            let mut counter = SizeCounter {
                inner: &mut out,
                bytes: 0,
                bare_lf: 0,
                last_cr: false,
            };
            if matches!(status, MailStatus::Encrypted(_)) {
                write_plain(&mail, ctx.keys, ctx.opts.raw, &mut counter)?;
            } else {
                io::copy(&mut mail.open().map_err(io_at(&mail.path))?, &mut counter)
                    .map_err(io_at(&tmp_name))?;
            }
            (counter.bytes, counter.bare_lf)
        };
        let name = format!("{base},S={bytes},W={}:2,", bytes + bare_lf);
        let to = folder.join("cur").join(name);
        if received > 0 {
            out.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(received))
                .map_err(io_at(&to))?;
        }
        out.set_destination(to.clone());
        out.commit_unsynced().map_err(io_at(&to))?;
        Ok((to, bytes))
    };
    match run() {
        Ok((to, bytes)) => DecryptStoreEvent::Mail { mail, to, bytes },
        Err(error) => DecryptStoreEvent::Failed { what, error },
    }
}

fn export_item(ctx: &ExportCtx<'_>, found: io::Result<Found>) -> (u64, Vec<DecryptStoreEvent>) {
    let found = match found {
        Ok(f) => f,
        Err(source) => {
            return (
                0,
                vec![DecryptStoreEvent::Failed {
                    what: String::new(),
                    error: StoreError::Io {
                        path: PathBuf::new(),
                        source,
                    },
                }],
            );
        }
    };
    match (&found, &ctx.opts.destination) {
        (Found::Maildir(p), _) => (0, export_maildir_file(ctx, p)),
        (Found::Dbox(p, shape), Destination::Copy(dst)) => match MailRef::dbox_mails(p, *shape) {
            Ok(mails) => (
                0,
                mails
                    .into_iter()
                    .map(|m| export_dbox_mail(ctx, dst, m))
                    .collect(),
            ),
            Err(source) => (
                0,
                vec![DecryptStoreEvent::Failed {
                    what: p.display().to_string(),
                    error: StoreError::Dbox {
                        path: p.clone(),
                        source,
                    },
                }],
            ),
        },
        (Found::Dbox(p, _), Destination::InPlace) => (
            0,
            vec![DecryptStoreEvent::Failed {
                what: p.display().to_string(),
                error: StoreError::Refused("in-place decryption of dbox files is refused".into()),
            }],
        ),
        (Found::Index(p) | Found::Other(p), Destination::Copy(dst)) => {
            let is_index = matches!(found, Found::Index(_));
            if ctx.dbox_tree {
                // A dbox tree's control and index files mean nothing to the
                // Maildir++ copy.
                return (u64::from(is_index), Vec::new());
            }
            // Control and index files are copied as they are: Dovecot takes
            // sizes from the Maildir file names (plaintext sizes) and its
            // cache holds only plaintext-derived data, so they stay valid,
            // and the mailbox GUIDs, UIDs and flags survive.
            let rel = p.strip_prefix(ctx.src).unwrap_or(p);
            let to = dst.join(rel);
            let r = (|| -> io::Result<()> {
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::copy(p, &to)?;
                copy_owner_mode(&fs::metadata(p)?, &to)
            })();
            match r {
                Ok(()) => (u64::from(is_index), Vec::new()),
                Err(e) => (
                    u64::from(is_index),
                    vec![DecryptStoreEvent::Failed {
                        what: p.display().to_string(),
                        error: io_at(&to)(e),
                    }],
                ),
            }
        }
        (Found::Index(_), Destination::InPlace) => (1, Vec::new()),
        (Found::Unsupported(p, why), _) => (
            0,
            vec![DecryptStoreEvent::Failed {
                what: p.display().to_string(),
                error: StoreError::Refused(format!("not decrypted: {why}")),
            }],
        ),
        _ => (0, Vec::new()),
    }
}

/// Write a plaintext copy of the store at `src` (or decrypt a Maildir
/// store in place). Each mail is decrypted in one streaming pass into a
/// temporary file that is renamed only after its tag verified; a new tree
/// is synced to disk once at the end, an in-place run file by file.
pub fn decrypt_store(
    src: &Path,
    keys: &StoreKeys,
    opts: &DecryptStoreOptions,
    mut observer: impl FnMut(DecryptStoreEvent),
) -> Result<DecryptStoreSummary, StoreError> {
    check_roots(&[src])?;
    let shapes = layouts([src]).map_err(io_at(src))?;
    let dbox_tree = shapes.iter().any(|s| *s != Shape::Maildir);
    match &opts.destination {
        Destination::Copy(dst) => {
            if dst.exists() && fs::read_dir(dst).map_err(io_at(dst))?.next().is_some() {
                return Err(StoreError::Refused(format!(
                    "{} exists and is not empty",
                    dst.display()
                )));
            }
            if dbox_tree {
                fs::create_dir_all(dst).map_err(io_at(dst))?;
                ensure_maildir(dst, true).map_err(io_at(dst))?;
            } else if fs::metadata(src).map_err(io_at(src))?.is_dir() {
                mirror_dirs(src, dst).map_err(io_at(dst))?;
            } else {
                fs::create_dir_all(dst).map_err(io_at(dst))?;
            }
        }
        Destination::InPlace => {
            if dbox_tree {
                return Err(StoreError::Refused(format!(
                    "{}: --in-place refuses sdbox/mdbox stores (decrypted mails change size, which Dovecot's dbox indexes record); give a destination directory instead",
                    src.display()
                )));
            }
        }
    }
    let ctx = ExportCtx {
        src,
        keys,
        opts,
        dbox_tree,
        seq: AtomicU64::new(0),
    };
    let jobs = if opts.jobs == 0 {
        default_jobs()
    } else {
        opts.jobs
    };
    let mut summary = DecryptStoreSummary::default();
    map_ordered(
        Walker::new([src]),
        jobs,
        |f| export_item(&ctx, f),
        |(index, events)| {
            summary.index_files += index;
            for e in events {
                match &e {
                    DecryptStoreEvent::Mail { mail, bytes, .. } => {
                        summary.mails += 1;
                        summary.bytes += bytes;
                        if mail.shape != Shape::Maildir {
                            summary.dbox_mails += 1;
                            if mail.mailbox.is_none() {
                                summary.without_mailbox += 1;
                            }
                        }
                    }
                    DecryptStoreEvent::Failed { .. } => {
                        summary.mails += 1;
                        summary.failed += 1;
                    }
                }
                observer(e);
            }
            true
        },
    );
    if let Destination::Copy(dst) = &opts.destination {
        sync_tree(dst).map_err(io_at(dst))?;
    }
    Ok(summary)
}
