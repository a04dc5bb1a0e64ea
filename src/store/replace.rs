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
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(dir.join(format!(
        ".{name}.mailcrypt-{}-{}.tmp",
        std::process::id(),
        crate::hex::encode(&rnd)
    )))
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
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            d.sync_all()?;
        }
    }
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
