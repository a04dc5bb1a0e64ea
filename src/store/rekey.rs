//! `rekey`: re-encrypt a Maildir store to a new key.
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::Digest;

use super::error::{Sha256Sink, StoreError, check_roots, io_at, reencrypt_through, sha256_file};
use super::keys::StoreKeys;
use super::log::{ChangeLog, LogRecord};
use super::mail::MailStatus;
use super::par::map_ordered;
use super::replace::replace_file;
use super::walk::{Found, Shape, Walker, layouts};
use crate::container::Header;
use crate::decryptor::Decryptor;
use crate::encryptor::{Encryptor, Target};
use crate::keys::{KeyId, PublicKey};

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
        self.hasher.update(crate::io_count::head(buf, n)?);
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
            let mut dec =
                Decryptor::open_seekable(src, keys.ring(), &crate::DecryptOptions::verified())
                    .map_err(io::Error::other)?
                    .use_source_buffer();
            let mut hw = HashingWriter {
                inner: out,
                hasher: sha2::Sha256::new(),
            };
            let w = enc.wrap_output(&mut hw).map_err(io::Error::other)?;
            let ph = reencrypt_through(&mut dec, w)?;
            *plain_hash
                .lock()
                .map_err(|_| io::Error::other("hash lock poisoned"))? = ph;
            *file_hash
                .lock()
                .map_err(|_| io::Error::other("hash lock poisoned"))? = hw.hasher.finalize().into();
            Ok(())
        },
        |tmp| {
            if full_verify {
                let f = File::open(tmp).map_err(|e| e.to_string())?;
                let mut d = Decryptor::open_seekable(
                    BufReader::new(f),
                    keys.ring(),
                    &crate::DecryptOptions::verified(),
                )
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
    let mails = Walker::new(roots).filter_map(|f| match f {
        Ok(Found::Maildir(p)) => Some(Ok(p)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    });
    map_ordered(
        mails,
        opts.jobs,
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
