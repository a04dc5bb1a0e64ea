//! One mail of a store: where its container lives (a whole Maildir file,
//! or a byte range of a dbox file), reading it, and what its header says.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::dbox::{DboxError, DboxFile, DboxMetadata};
use super::walk::Shape;
use crate::container::Header;
use crate::error::FormatError;
use crate::keys::{IdConvention, KeyRing, MatchedKey};

/// Where one mail's container is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailRef {
    /// The file holding it.
    pub path: PathBuf,
    /// The store layout of that file.
    pub shape: Shape,
    /// Offset of the container in the file (0 for a Maildir file).
    pub offset: u64,
    /// Size of the container in bytes.
    pub len: u64,
    /// Index of the mail in its dbox file (0 for Maildir).
    pub index: usize,
    /// The mailbox: from the directory for sdbox, from the `B` metadata
    /// for mdbox, `None` for Maildir (the tree says it).
    pub mailbox: Option<String>,
    /// The dbox metadata (`None` for Maildir).
    pub dbox: Option<DboxMetadata>,
}

impl MailRef {
    /// A Maildir mail file (the whole file is the container).
    pub fn maildir(path: PathBuf) -> io::Result<MailRef> {
        let len = fs::metadata(&path)?.len();
        Ok(MailRef {
            path,
            shape: Shape::Maildir,
            offset: 0,
            len,
            index: 0,
            mailbox: None,
            dbox: None,
        })
    }

    /// Every mail of a dbox file.
    pub fn dbox_mails(path: &Path, shape: Shape) -> Result<Vec<MailRef>, DboxError> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        let parsed = DboxFile::parse(&mut f, len)?;
        let mailbox_from_path = sdbox_mailbox(path);
        Ok(parsed
            .mails
            .into_iter()
            .enumerate()
            .map(|(index, m)| MailRef {
                path: path.to_path_buf(),
                shape,
                offset: m.offset,
                len: m.len,
                index,
                mailbox: match shape {
                    Shape::Sdbox => mailbox_from_path.clone(),
                    _ => m.meta.mailbox.clone(),
                },
                dbox: Some(m.meta),
            })
            .collect())
    }

    /// Open the container for reading (buffered, seekable within the
    /// container's bytes).
    pub fn open(&self) -> io::Result<BufReader<FileRange>> {
        Ok(BufReader::with_capacity(
            64 * 1024,
            FileRange::new(File::open(&self.path)?, self.offset, self.len)?,
        ))
    }

    /// `path` for a Maildir file, `path@offset` for a mail in a dbox file.
    pub fn display(&self) -> String {
        match self.shape {
            Shape::Maildir => self.path.display().to_string(),
            _ => format!("{}@{}", self.path.display(), self.offset),
        }
    }
}

/// The mailbox name of an sdbox file `…/mailboxes/<name>/dbox-Mails/u.N`
/// (`<name>` may span several directories: `Archive/2024`).
fn sdbox_mailbox(path: &Path) -> Option<String> {
    let dir = path.parent()?;
    if dir.file_name()? != "dbox-Mails" {
        return None;
    }
    let mut parts = Vec::new();
    let mut cur = dir.parent()?;
    loop {
        let name = cur.file_name()?.to_str()?;
        if name == "mailboxes" {
            break;
        }
        parts.push(name.to_string());
        cur = cur.parent()?;
    }
    parts.reverse();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A byte range of a file, read and seeked as if it were the whole file.
#[derive(Debug)]
pub struct FileRange {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl FileRange {
    /// The `len` bytes of `file` from `start`.
    pub fn new(mut file: File, start: u64, len: u64) -> io::Result<FileRange> {
        file.seek(SeekFrom::Start(start))?;
        Ok(FileRange {
            file,
            start,
            len,
            pos: 0,
        })
    }
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let Some(dst) = buf.get_mut(..want) else {
            return Ok(0);
        };
        if dst.is_empty() {
            return Ok(0);
        }
        let n = self.file.read(dst)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileRange {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        let target = target.min(self.len);
        self.file.seek(SeekFrom::Start(self.start + target))?;
        self.pos = target;
        Ok(target)
    }
}

/// What a mail is, from its first bytes and header only.
#[derive(Debug)]
#[non_exhaustive]
pub enum MailStatus {
    /// A 0-byte file (Dovecot's encrypted form of an empty mail).
    Empty,
    /// Not encrypted (no `CRYPTED` magic).
    Plain,
    /// A container.
    Encrypted(Box<EncryptedMail>),
    /// Starts with the magic but the header is malformed or truncated.
    Malformed(FormatError),
}

/// An encrypted mail's header and the key of the ring whose id matches a
/// recipient (id match only: the key is not used).
#[derive(Debug)]
pub struct EncryptedMail {
    /// The header.
    pub header: Header,
    /// Index of the matching recipient and the key.
    pub matched: Option<(usize, MatchedKey)>,
}

/// Read a mail's header and match its recipients against `ring`.
///
/// ```
/// use mailcrypt::store::{inspect_mail, MailStatus};
/// let s = inspect_mail("vectors/dovecot/sample-v2.bin".as_ref(), &Default::default())?;
/// assert!(matches!(s, MailStatus::Encrypted(_)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn inspect_mail(path: &Path, ring: &KeyRing) -> io::Result<MailStatus> {
    inspect_reader(&mut BufReader::with_capacity(8192, File::open(path)?), ring)
}

/// [`inspect_mail`] for a container read from `r`.
pub fn inspect_reader(r: &mut impl Read, ring: &KeyRing) -> io::Result<MailStatus> {
    let mut first = [0u8; 9];
    let mut n = 0;
    while n < first.len() {
        let rest = crate::io_count::rest_mut(&mut first, n)?;
        let room = rest.len();
        let k = crate::io_count::check(r.read(rest)?, room)?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let magic = crate::container::MAGIC;
    if n == 0 {
        return Ok(MailStatus::Empty);
    }
    if first.get(..n) != magic.get(..n) {
        return Ok(MailStatus::Plain);
    }
    if n < first.len() {
        return Ok(MailStatus::Malformed(FormatError::Truncated {
            what: "magic",
            needed: first.len() - n,
        }));
    }
    let mut chained = io::Cursor::new(first).chain(r);
    let header = match Header::read_io(&mut chained) {
        Ok(h) => h,
        Err(crate::container::ReadHeaderError::Format(e)) => return Ok(MailStatus::Malformed(e)),
        Err(crate::container::ReadHeaderError::Io(e)) => return Err(e),
    };
    let matched = match_recipient(&header, ring);
    Ok(MailStatus::Encrypted(Box::new(EncryptedMail {
        header,
        matched,
    })))
}

/// The recipient of `header` a key of `ring` answers to, under the id
/// conventions Dovecot uses for that recipient type.
pub fn match_recipient(header: &Header, ring: &KeyRing) -> Option<(usize, MatchedKey)> {
    match header {
        Header::V1(h) => crate::keys::KeyId::from_slice(&h.key_id)
            .and_then(|id| ring.find_with(&id, IdConvention::names_v1_recipient))
            .map(|m| (0, m)),
        Header::V2(h) => h.recipients.iter().enumerate().find_map(|(i, r)| {
            ring.find_with(&r.key_id, |c| r.key_type.accepts(c))
                .map(|m| (i, m))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_reads_and_seeks_inside_its_bounds() {
        let d = std::env::temp_dir().join(format!("mailcrypt-range-{}", std::process::id()));
        fs::write(&d, b"0123456789").unwrap();
        let mut r = FileRange::new(File::open(&d).unwrap(), 3, 4).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "3456");
        assert_eq!(r.seek(SeekFrom::End(-1)).unwrap(), 3);
        s.clear();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "6");
        assert!(r.seek(SeekFrom::Current(-10)).is_err());
        fs::remove_file(&d).unwrap();
    }

    #[test]
    fn sdbox_mailbox_names_come_from_the_path() {
        assert_eq!(
            sdbox_mailbox(Path::new("/h/sdbox/mailboxes/Archive/2024/dbox-Mails/u.3")).as_deref(),
            Some("Archive/2024")
        );
        assert_eq!(
            sdbox_mailbox(Path::new("/h/sdbox/mailboxes/INBOX/dbox-Mails/u.1")).as_deref(),
            Some("INBOX")
        );
        assert_eq!(sdbox_mailbox(Path::new("/h/x/u.1")), None);
    }
}
