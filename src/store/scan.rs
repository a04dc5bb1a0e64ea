//! `scan`: report every mail of a store, and what each build makes of it.
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::dbox::DboxError;
use super::error::{StoreError, check_roots, io_at};
use super::keys::{KeyRejection, StoreKeys, Verdict};
use super::mail::{EncryptedMail, MailRef, MailStatus, inspect_reader};
use super::par::map_ordered;
use super::walk::{Found, Shape, Unsupported, Walker};
use crate::decryptor::Decryptor;
use crate::encryptor::Target;
use crate::error::DecryptError;
use crate::error::FormatError;

/// The build families a verdict is given for (Dovecot main reads what
/// 2.4 reads, so it adds nothing for existing stores).
pub const SERVER_TARGETS: [Target; 3] = [
    Target::Dovecot23,
    Target::Dovecot23OpenSsl3Unpatched,
    Target::Dovecot24,
];

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

pub(super) fn inspect(mail: &MailRef, keys: &StoreKeys) -> Result<MailStatus, StoreError> {
    let mut r = mail.open().map_err(io_at(&mail.path))?;
    inspect_reader(&mut r, keys.ring()).map_err(io_at(&mail.path))
}

/// Decrypt a mail to the end in one streaming pass; the final read fails
/// on a bad tag or HMAC, and nothing read is kept.
pub(super) fn verify_mail(mail: &MailRef, keys: &StoreKeys) -> VerifyOutcome {
    let run = || -> Result<bool, StoreError> {
        let r = mail.open().map_err(io_at(&mail.path))?;
        let fail = |source| StoreError::Decrypt {
            mail: mail.display(),
            source,
        };
        let mut d = Decryptor::open(r, keys.ring(), &crate::DecryptOptions::default())
            .map_err(fail)?
            .use_source_buffer();
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
pub(super) fn mails_of(found: &Found) -> Result<Vec<MailRef>, FileReport> {
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
    map_ordered(
        Walker::new(roots),
        opts.jobs,
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
