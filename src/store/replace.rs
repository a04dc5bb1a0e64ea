//! Replace a file without ever losing it: write a temporary file in the
//! same directory, fsync it, let the caller verify it, then rename it over
//! the original, keeping the original's mode, owner and modification time
//! (Dovecot uses a Maildir file's mtime as the mail's received date).
//!
//! A crash at any point leaves either the old file or the new one under
//! the name, plus at most a temporary file that [`super::is_own_temp`]
//! recognises.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a replacement did not happen. The original is untouched in every
/// case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplaceError {
    /// Writing or syncing the temporary file failed.
    #[error("writing the replacement failed: {0}")]
    Io(#[from] io::Error),
    /// The caller's verification rejected the new content.
    #[error("the replacement did not verify: {0}")]
    Verify(String),
    /// The original changed (moved, rewritten) while we worked; nothing
    /// was replaced.
    #[error("the file changed while it was being rewritten; left as it is")]
    Changed,
}

struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: not a file name (ends in `..` or is a root)",
                path.display()
            ),
        )
    })?;
    let name = name.to_string_lossy();
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(dir.join(format!(
        ".{name}.mailcrypt-{}-{}.tmp",
        std::process::id(),
        crate::hex::encode(&rnd)
    )))
}

/// A new file written atomically: the bytes go to a temporary file in
/// the destination's directory, which [`AtomicFile::commit`] syncs and
/// renames over the destination. Dropped without `commit` (an error, a
/// panic), the temporary file is removed and the destination untouched.
///
/// ```
/// use std::io::Write;
/// let dir = std::env::temp_dir().join(format!("mailcrypt-doc-atomic-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let mut f = mailcrypt::store::AtomicFile::create(&dir.join("out"))?;
/// f.write_all(b"hello")?;
/// f.commit()?;
/// assert_eq!(std::fs::read(dir.join("out"))?, b"hello");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Start writing `dest` (created with the process's default mode).
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        Self::create_with_mode(dest, None)
    }

    /// Start writing `dest`; the temporary file gets `mode` from its
    /// creation on (e.g. `0o600` for secrets, never readable by others).
    pub fn create_with_mode(dest: &Path, mode: Option<u32>) -> io::Result<AtomicFile> {
        let tmp = temp_path(dest)?;
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        if let Some(m) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(m);
        }
        let file = opts.open(&tmp)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(file),
        })
    }

    fn file(&self) -> io::Result<&File> {
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("the atomic file was already committed"))
    }

    /// Set the modification time the destination will have.
    pub fn set_modified(&mut self, t: std::time::SystemTime) -> io::Result<()> {
        self.file()?.set_modified(t)
    }

    /// Set mode and owner (the owner only when they differ: changing it
    /// needs privileges).
    pub fn set_mode_owner(&mut self, mode: u32, uid: u32, gid: u32) -> io::Result<()> {
        let f = self.file()?;
        f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        let m = f.metadata()?;
        if (m.uid(), m.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(f, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    /// Change the destination name before committing (e.g. when it
    /// depends on what was written).
    pub fn set_destination(&mut self, dest: PathBuf) {
        self.dest = dest;
    }

    /// Sync the file and its directory, then rename it over the
    /// destination.
    pub fn commit(self) -> io::Result<()> {
        self.finish(true)
    }

    /// Rename without syncing: for a new tree whose source is kept, synced
    /// once at the end by the caller (a crash before then only means
    /// writing it again).
    pub fn commit_unsynced(self) -> io::Result<()> {
        self.finish(false)
    }

    fn finish(mut self, durable: bool) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the atomic file was already committed"))?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        if let Err(e) = fs::rename(&self.tmp, &self.dest) {
            let _ = fs::remove_file(&self.tmp);
            return Err(e);
        }
        if durable {
            sync_dir_of(&self.dest)?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("the atomic file was already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn sync_dir_of(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Sync every file and directory under `root` (after a tree was written
/// with [`AtomicFile::commit_unsynced`]); directories after their files.
pub fn sync_tree(root: &Path) -> io::Result<()> {
    let mut dirs = vec![root.to_path_buf()];
    let mut order = Vec::new();
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                dirs.push(e.path());
            } else if ft.is_file() {
                File::open(e.path())?.sync_all()?;
            }
        }
        order.push(d);
    }
    for d in order.iter().rev() {
        File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// Replace `path` by what `write` produces, after `verify` accepted the
/// synced temporary file. Mode, owner (when permitted) and mtime of the
/// original are kept.
pub fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
    verify: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), ReplaceError> {
    let before = fs::metadata(path)?;
    let tmp = temp_path(path)?;
    let mut guard = TempGuard(Some(tmp.clone()));
    let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    f.set_permissions(fs::Permissions::from_mode(before.mode() & 0o7777))?;
    write(&mut f)?;
    f.flush()?;
    f.set_modified(before.modified()?)?;
    f.sync_all()?;
    drop(f);
    // chown needs privileges; a store owned by the running user keeps its
    // owner anyway.
    if before.uid() != fs::metadata(&tmp)?.uid() || before.gid() != fs::metadata(&tmp)?.gid() {
        std::os::unix::fs::chown(&tmp, Some(before.uid()), Some(before.gid()))?;
    }
    verify(&tmp).map_err(ReplaceError::Verify)?;
    // Refuse if the original moved or changed meanwhile (a live Dovecot
    // may have renamed new/ → cur/ or expunged it).
    let now = fs::metadata(path).map_err(|_| ReplaceError::Changed)?;
    if now.ino() != before.ino()
        || now.len() != before.len()
        || now.modified()? != before.modified()?
    {
        return Err(ReplaceError::Changed);
    }
    fs::rename(&tmp, path)?;
    guard.0 = None;
    sync_dir_of(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("mailcrypt-replace-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replaces_and_keeps_mode_and_mtime() {
        let d = tmpdir("ok");
        let p = d.join("m,S=3");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        let mtime =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        replace_file(&p, |f| f.write_all(b"new content"), |_| Ok(())).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new content");
        let m = fs::metadata(&p).unwrap();
        assert_eq!(m.mode() & 0o777, 0o600);
        assert_eq!(m.modified().unwrap(), mtime);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_verification_keeps_the_original_and_no_temp() {
        let d = tmpdir("bad");
        let p = d.join("m");
        fs::write(&p, b"old").unwrap();
        let e = replace_file(&p, |f| f.write_all(b"new"), |_| Err("nope".into())).unwrap_err();
        assert!(matches!(e, ReplaceError::Verify(_)));
        let e = replace_file(&p, |_| Err(io::Error::other("disk full")), |_| Ok(())).unwrap_err();
        assert!(matches!(e, ReplaceError::Io(_)));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_changed_meanwhile_is_left_alone() {
        let d = tmpdir("chg");
        let p = d.join("m");
        fs::write(&p, b"old").unwrap();
        let e = replace_file(
            &p,
            |f| f.write_all(b"new"),
            |_| {
                fs::write(&p, b"changed by someone else").map_err(|e| e.to_string())?;
                Ok(())
            },
        )
        .unwrap_err();
        assert!(matches!(e, ReplaceError::Changed));
        assert_eq!(fs::read(&p).unwrap(), b"changed by someone else");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }
}
