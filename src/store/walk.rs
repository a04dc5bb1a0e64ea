//! Walking store trees as a stream, directory by directory: memory stays
//! flat whatever the number of mails (only the stack of directories still
//! to visit is kept).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{MetaKind, is_own_temp, meta_kind};

/// The on-disk layouts Dovecot stores mail in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Shape {
    /// One file per mail in `cur/`, `new/`, `tmp/` (or a single file given
    /// directly).
    Maildir,
    /// One dbox file per mail: `mailboxes/<name>/dbox-Mails/u.<uid>`.
    Sdbox,
    /// Several mails per dbox file: `storage/m.<n>`.
    Mdbox,
}

impl Shape {
    /// Lower-case name (`maildir`, `sdbox`, `mdbox`).
    pub fn name(self) -> &'static str {
        match self {
            Shape::Maildir => "maildir",
            Shape::Sdbox => "sdbox",
            Shape::Mdbox => "mdbox",
        }
    }
}

/// Why a file is reported instead of processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// An mbox file (`From ` line): mail-crypt does not support mbox.
    Mbox,
    /// A mail-crypt container outside any layout mailcrypt knows (not in a
    /// `cur`/`new`/`tmp`, `dbox-Mails` or `storage` directory).
    ContainerOutsideLayout,
    /// A dbox file outside a `dbox-Mails` or `storage` directory.
    DboxOutsideLayout,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unsupported::Mbox => "an mbox file (mail-crypt stores are Maildir, sdbox or mdbox)",
            Unsupported::ContainerOutsideLayout => {
                "a mail-crypt container outside a Maildir cur/new/tmp, sdbox dbox-Mails or mdbox storage directory"
            }
            Unsupported::DboxOutsideLayout => {
                "a dbox file outside a dbox-Mails or storage directory"
            }
        })
    }
}

/// One file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// A Maildir mail file (or a single file given as a root).
    Maildir(PathBuf),
    /// A dbox file holding mails (`u.<uid>` or `m.<n>`), not parsed yet.
    Dbox(PathBuf, Shape),
    /// A Dovecot index or cache file (plaintext headers of encrypted mail).
    Index(PathBuf),
    /// A control file or any other file that is not mail.
    Other(PathBuf),
    /// A file mailcrypt cannot process, reported instead of skipped.
    Unsupported(PathBuf, Unsupported),
}

/// A streaming walk over one or more store roots (Maildir, sdbox, mdbox;
/// nested folders; an alternate storage root, `mail_alt_path`, is simply
/// another root). Symbolic links are not followed. Directory entries are
/// produced in the order the file system lists them.
///
/// ```
/// use mailcrypt::store::{Found, Walker};
/// let mails = Walker::new(["vectors/userkeys/new/Maildir"])
///     .filter(|f| matches!(f, Ok(Found::Maildir(_))))
///     .count();
/// assert_eq!(mails, 3);
/// ```
pub struct Walker {
    roots: std::vec::IntoIter<PathBuf>,
    dirs: Vec<PathBuf>,
    current: Option<(PathBuf, DirRole, fs::ReadDir)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirRole {
    MaildirMails,
    SdboxMails,
    MdboxStorage,
    Other,
}

fn dir_role(dir: &Path) -> DirRole {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("cur" | "new" | "tmp") => DirRole::MaildirMails,
        Some("dbox-Mails") => DirRole::SdboxMails,
        Some("storage") => DirRole::MdboxStorage,
        _ => DirRole::Other,
    }
}

fn numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What the first bytes of a file outside the mail directories say.
fn sniff(path: &Path) -> io::Result<Option<Unsupported>> {
    let mut first = [0u8; 9];
    let mut f = fs::File::open(path)?;
    let mut n = 0;
    while n < first.len() {
        let rest = crate::io_count::rest_mut(&mut first, n)?;
        let room = rest.len();
        match crate::io_count::check(f.read(rest)?, room)? {
            0 => break,
            k => n += k,
        }
    }
    let first = crate::io_count::head(&first, n)?;
    Ok(if first.starts_with(b"From ") {
        Some(Unsupported::Mbox)
    } else if first.starts_with(&crate::container::MAGIC) {
        Some(Unsupported::ContainerOutsideLayout)
    } else if super::dbox::looks_like_dbox(first) {
        Some(Unsupported::DboxOutsideLayout)
    } else {
        None
    })
}

impl Walker {
    /// Walk these roots (directories, or single files taken as mails).
    pub fn new<P: AsRef<Path>>(roots: impl IntoIterator<Item = P>) -> Walker {
        Walker {
            roots: roots
                .into_iter()
                .map(|p| p.as_ref().to_path_buf())
                .collect::<Vec<_>>()
                .into_iter(),
            dirs: Vec::new(),
            current: None,
        }
    }

    fn classify(&self, path: PathBuf, name: &str, role: DirRole) -> io::Result<Found> {
        let meta = meta_kind(name);
        Ok(match (meta, role) {
            (Some(MetaKind::IndexOrCache), _) => Found::Index(path),
            (Some(_), _) => Found::Other(path),
            (None, DirRole::MaildirMails) => Found::Maildir(path),
            (None, DirRole::SdboxMails) if numbered(name, "u.") => Found::Dbox(path, Shape::Sdbox),
            (None, DirRole::MdboxStorage) if numbered(name, "m.") => {
                Found::Dbox(path, Shape::Mdbox)
            }
            _ => match sniff(&path)? {
                Some(why) => Found::Unsupported(path, why),
                None => Found::Other(path),
            },
        })
    }
}

impl Iterator for Walker {
    type Item = io::Result<Found>;

    fn next(&mut self) -> Option<io::Result<Found>> {
        loop {
            if let Some((dir, role, entries)) = &mut self.current {
                match entries.next() {
                    Some(Ok(entry)) => {
                        let ft = match entry.file_type() {
                            Ok(ft) => ft,
                            Err(e) => return Some(Err(e)),
                        };
                        let path = entry.path();
                        if ft.is_dir() {
                            self.dirs.push(path);
                            continue;
                        }
                        if !ft.is_file() {
                            continue;
                        }
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if is_own_temp(&name) {
                            continue;
                        }
                        let role = *role;
                        return Some(self.classify(path, &name, role));
                    }
                    Some(Err(e)) => {
                        let dir = dir.clone();
                        self.current = None;
                        return Some(Err(io::Error::new(
                            e.kind(),
                            format!("reading directory {}: {e}", dir.display()),
                        )));
                    }
                    None => self.current = None,
                }
                continue;
            }
            if let Some(dir) = self.dirs.pop() {
                match fs::read_dir(&dir) {
                    Ok(rd) => {
                        let role = dir_role(&dir);
                        self.current = Some((dir, role, rd));
                    }
                    Err(e) => {
                        return Some(Err(io::Error::new(
                            e.kind(),
                            format!("reading directory {}: {e}", dir.display()),
                        )));
                    }
                }
                continue;
            }
            let root = self.roots.next()?;
            match fs::symlink_metadata(&root) {
                Ok(m) if m.is_dir() => self.dirs.push(root),
                Ok(_) => {
                    // A single file given directly: a dbox file by its
                    // name and content, otherwise a mail.
                    // A file has a name (`/`, `.` and `..` are
                    // directories); were one to have none, no name would
                    // only keep it from looking like a dbox file.
                    let name = root
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    let parent_role = root.parent().map(dir_role).unwrap_or(DirRole::Other);
                    return Some(match parent_role {
                        DirRole::SdboxMails | DirRole::MdboxStorage => {
                            self.classify(root, &name, parent_role)
                        }
                        _ => Ok(Found::Maildir(root)),
                    });
                }
                Err(e) => {
                    return Some(Err(io::Error::new(
                        e.kind(),
                        format!("{}: {e}", root.display()),
                    )));
                }
            }
        }
    }
}

/// Which layouts a tree holds, from directory names alone (no file is
/// opened): for commands that must refuse a layout before changing
/// anything.
///
/// ```
/// let l = mailcrypt::store::layouts(["vectors/userkeys/new/Maildir"]).unwrap();
/// assert!(l.contains(&mailcrypt::store::Shape::Maildir) && l.len() == 1);
/// ```
pub fn layouts<P: AsRef<Path>>(roots: impl IntoIterator<Item = P>) -> io::Result<Vec<Shape>> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = Vec::new();
    for root in roots {
        let root = root.as_ref();
        if fs::symlink_metadata(root)?.is_dir() {
            stack.push(root.to_path_buf());
        } else {
            let shape = match root.parent().map(dir_role) {
                Some(DirRole::SdboxMails) => Shape::Sdbox,
                Some(DirRole::MdboxStorage) => Shape::Mdbox,
                _ => Shape::Maildir,
            };
            if !found.contains(&shape) {
                found.push(shape);
            }
        }
    }
    while let Some(dir) = stack.pop() {
        let shape = match dir_role(&dir) {
            DirRole::MaildirMails => Some(Shape::Maildir),
            DirRole::SdboxMails => Some(Shape::Sdbox),
            DirRole::MdboxStorage => Some(Shape::Mdbox),
            DirRole::Other => None,
        };
        if let Some(s) = shape
            && !found.contains(&s)
        {
            found.push(s);
        }
        for e in fs::read_dir(&dir)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(found)
}
