//! Why a store operation failed, and helpers every operation shares.
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::dbox::DboxError;
use super::replace::ReplaceError;
use crate::error::KeyError;
use crate::error::{DecryptError, EncryptError};

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
    /// A mail did not decrypt. Displayed with the decryption error's
    /// whole `source()` chain.
    #[error("{mail}: {}", crate::error::Chain(source))]
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

pub(super) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn check_roots<P: AsRef<Path>>(roots: &[P]) -> Result<(), StoreError> {
    if roots.is_empty() {
        return Err(StoreError::Refused("no directory given".into()));
    }
    for r in roots {
        let r = r.as_ref();
        fs::symlink_metadata(r).map_err(io_at(r))?;
    }
    Ok(())
}

/// SHA-256 of everything written to it.
#[derive(Default)]
pub(super) struct Sha256Sink(sha2::Sha256);

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
    pub(super) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

pub(super) fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut h = Sha256Sink::default();
    io::copy(&mut BufReader::new(File::open(path)?), &mut h)?;
    Ok(h.finish())
}

/// Copy the plaintext `dec` yields into the new container `w` and finish
/// it; the plaintext's SHA-256, for the caller's check of the new file.
pub(super) fn reencrypt_through<W: Write>(
    dec: &mut impl Read,
    mut w: crate::encryptor::StreamWriter<W>,
) -> io::Result<[u8; 32]> {
    let mut plain = Sha256Sink::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = dec.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = crate::io_count::head(&buf, n)?;
        plain.write_all(chunk)?;
        w.write_all(chunk)?;
    }
    w.finish()?;
    Ok(plain.finish())
}
