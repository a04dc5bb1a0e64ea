//! `decrypt_store`: a plaintext copy of a store (Maildir++ for dbox).
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{StoreError, check_roots, io_at};
use super::keys::StoreKeys;
use super::mail::{MailRef, MailStatus};
use super::par::map_ordered;
use super::replace::{AtomicFile, replace_file, sync_tree};
use super::scan::inspect;
use super::walk::{Found, Shape, Walker, layouts};
use crate::decryptor::Decryptor;
use crate::error::DecryptError;

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
        for &b in crate::io_count::head(buf, n)? {
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
    let dec = Decryptor::open(
        mail.open().map_err(io_at(&mail.path))?,
        keys.ring(),
        &crate::DecryptOptions::default(),
    )
    .map_err(fail)?
    .use_source_buffer();
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
                match Decryptor::open_seekable(src, keys.ring(), &crate::DecryptOptions::verified())
                {
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
        // A mail without dbox metadata (none recorded) gets time 0 and a
        // sequence number for a name.
        let meta = mail.dbox.as_ref();
        let received = meta.and_then(|m| m.received).unwrap_or(0);
        let unique = match meta.and_then(|m| m.guid.as_ref()) {
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
    let mut summary = DecryptStoreSummary::default();
    map_ordered(
        Walker::new([src]),
        opts.jobs,
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
