//! Atomic file output: write to a temporary file in the destination's
//! directory, fsync, then rename over the destination. If anything fails
//! (or the value is dropped without `commit`), the temporary file is
//! removed and the destination is untouched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let mut rnd = [0u8; 6];
        getrandom::fill(&mut rnd).map_err(|e| io::Error::other(e.to_string()))?;
        let suffix = base16ct::lower::encode_string(&rnd);
        let tmp = dir.join(format!(
            ".{name}.mailcrypt-{}-{suffix}.tmp",
            std::process::id()
        ));
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(file),
        })
    }

    /// Set the modification time the file will have.
    pub fn set_modified(&mut self, t: std::time::SystemTime) -> io::Result<()> {
        match &self.file {
            Some(f) => f.set_modified(t),
            None => Err(io::Error::other("already committed")),
        }
    }

    /// Give the file this mode and (when permitted) owner before it is
    /// renamed into place.
    pub fn set_mode_owner(&mut self, mode: u32, uid: u32, gid: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let f = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("already committed"))?;
        f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        std::os::unix::fs::fchown(f, Some(uid), Some(gid))
    }

    /// Flush, fsync, rename into place, fsync the directory.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("already committed"))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        if let Some(dir) = self.dest.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("already committed")),
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
