//! Dovecot's dbox framing (sdbox: one mail per `u.<uid>` file; mdbox:
//! several mails per `m.<n>` file), parsed exactly and with caps. With
//! mail_crypt, each mail's bytes are one mail-crypt container.
//!
//! A dbox file is a header line, then per mail:
//!
//! ```text
//! 2 M1e C<create stamp hex>\n                 file header (once)
//! \x01\x02N <8 legacy-uid chars> <16 hex size>\n   message header (M bytes)
//! <size bytes: the mail as stored, here a container>
//! \n\x01\x03\n                                metadata block:
//! G<guid>\n R<received hex>\n Z<size hex>\n ... lines, ended by an empty line
//! ```
//!
//! ```
//! use mailcrypt::store::dbox::DboxFile;
//! let file = b"2 M1e C6751f0a0\n\x01\x02N          0000000000000005\nhello\n\x01\x03\nGabc\nBINBOX\nR6751f0a0\n\n";
//! let dbox = DboxFile::parse(&mut std::io::Cursor::new(&file[..]), file.len() as u64)?;
//! assert_eq!(dbox.mails.len(), 1);
//! let m = &dbox.mails[0];
//! assert_eq!((m.offset, m.len), (46, 5));
//! assert_eq!(m.meta.guid.as_deref(), Some("abc"));
//! assert_eq!(m.meta.mailbox.as_deref(), Some("INBOX"));
//! assert_eq!(m.meta.received, Some(0x6751f0a0));
//! # Ok::<(), mailcrypt::store::dbox::DboxError>(())
//! ```

use std::io::{self, BufRead, Read, Seek, SeekFrom};

/// The message header's size in version 2 dbox files (`M1e`).
pub const MESSAGE_HEADER_LEN: u64 = 30;
/// Longest file header line read.
pub const MAX_FILE_HEADER_LINE: usize = 1024;
/// Longest metadata line read.
pub const MAX_METADATA_LINE: usize = 64 * 1024;
/// Most metadata lines per mail.
pub const MAX_METADATA_LINES: usize = 1024;
/// Most mails in one dbox file (an mdbox file rotates at a few MiB).
pub const MAX_MAILS_PER_FILE: usize = 1 << 20;

const MAGIC_PRE: &[u8; 2] = b"\x01\x02";
const MAGIC_POST: &[u8; 4] = b"\n\x01\x03\n";

/// Why a file is not a dbox file this parser accepts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DboxError {
    /// Reading failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The first line is not a version 2 dbox header.
    #[error("not a dbox file: {0}")]
    NotDbox(&'static str),
    /// A structure at `offset` is malformed.
    #[error("malformed dbox file at byte {offset}: {what}")]
    Malformed {
        /// Byte offset in the file.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// The file ends inside a mail or its metadata.
    #[error("dbox file truncated at byte {offset}: {what}")]
    Truncated {
        /// Byte offset in the file.
        offset: u64,
        /// What was being read.
        what: &'static str,
    },
    /// More than [`MAX_MAILS_PER_FILE`] mails.
    #[error("more than {MAX_MAILS_PER_FILE} mails in one dbox file")]
    TooManyMails,
}

/// The metadata lines of one mail that mailcrypt uses; the others are
/// kept as they are in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DboxMetadata {
    /// `G`: the message GUID.
    pub guid: Option<String>,
    /// `B`: the mailbox the mail was saved into (mdbox; sdbox files name
    /// their mailbox by their directory).
    pub mailbox: Option<String>,
    /// `R`: received time, seconds since the epoch.
    pub received: Option<u64>,
    /// `Z`: physical size Dovecot recorded (the plaintext's with
    /// mail_crypt).
    pub physical_size: Option<u64>,
    /// `V`: virtual size (CRLF line endings).
    pub virtual_size: Option<u64>,
}

/// One mail in a dbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DboxMail {
    /// Offset of its message header.
    pub header_offset: u64,
    /// Offset of the first byte of the mail (the container).
    pub offset: u64,
    /// Its size in bytes.
    pub len: u64,
    /// Its metadata.
    pub meta: DboxMetadata,
}

/// The structure of a dbox file: where each mail is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DboxFile {
    /// The message header size the file header declares.
    pub message_header_len: u64,
    /// Every mail, in file order.
    pub mails: Vec<DboxMail>,
}

/// Whether `first` (the first bytes of a file) starts like a dbox file.
///
/// ```
/// assert!(mailcrypt::store::dbox::looks_like_dbox(b"2 M1e C6751f0a0\n"));
/// assert!(!mailcrypt::store::dbox::looks_like_dbox(b"CRYPTED\x03\x07"));
/// ```
pub fn looks_like_dbox(first: &[u8]) -> bool {
    first.starts_with(b"2 M") || first.starts_with(b"2 C")
}

fn hex_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
}

/// Read one `\n`-terminated line of at most `max` bytes (without the
/// `\n`); `None` at end of input.
fn read_line<R: BufRead>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = r.take(max as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            if line.len() > max {
                "line too long"
            } else {
                "line not terminated"
            },
        ));
    }
    line.pop();
    Ok(Some(line))
}

impl DboxFile {
    /// Parse the structure of a dbox file of `file_len` bytes. The mails'
    /// bytes are skipped (seek), so this reads only headers and metadata.
    pub fn parse<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<DboxFile, DboxError> {
        r.seek(SeekFrom::Start(0))?;
        let mut br = io::BufReader::with_capacity(4096, r);
        let line = read_line(&mut br, MAX_FILE_HEADER_LINE)
            .map_err(|_| DboxError::NotDbox("no header line"))?
            .ok_or(DboxError::NotDbox("empty file"))?;
        let mut fields = line.split(|&b| b == b' ');
        if fields.next() != Some(b"2") {
            return Err(DboxError::NotDbox("version is not 2"));
        }
        let mut header_len = None;
        for f in fields {
            if let Some(v) = f.strip_prefix(b"M") {
                header_len = hex_u64(v);
            }
        }
        let message_header_len = header_len.ok_or(DboxError::NotDbox("no M field"))?;
        if message_header_len != MESSAGE_HEADER_LEN {
            return Err(DboxError::Malformed {
                offset: 0,
                what: format!(
                    "message header size {message_header_len}, expected {MESSAGE_HEADER_LEN}"
                ),
            });
        }
        let mut pos = line.len() as u64 + 1;
        let mut mails = Vec::new();
        while pos < file_len {
            if mails.len() >= MAX_MAILS_PER_FILE {
                return Err(DboxError::TooManyMails);
            }
            let header_offset = pos;
            let mut hdr = [0u8; MESSAGE_HEADER_LEN as usize];
            read_exact_at(&mut br, &mut hdr, pos, "message header")?;
            let malformed = |what: &str| DboxError::Malformed {
                offset: header_offset,
                what: what.to_string(),
            };
            if hdr.get(..2) != Some(MAGIC_PRE.as_slice()) || hdr.get(2) != Some(&b'N') {
                return Err(malformed("no message header magic (\\x01\\x02N)"));
            }
            if hdr.get(3) != Some(&b' ')
                || hdr.get(12) != Some(&b' ')
                || hdr.get(29) != Some(&b'\n')
            {
                return Err(malformed("message header separators"));
            }
            let len = hdr
                .get(13..29)
                .and_then(hex_u64)
                .ok_or_else(|| malformed("message size is not 16 hex digits"))?;
            let offset = pos + MESSAGE_HEADER_LEN;
            let end =
                offset
                    .checked_add(len)
                    .filter(|&e| e <= file_len)
                    .ok_or(DboxError::Truncated {
                        offset,
                        what: "mail body",
                    })?;
            br.seek(SeekFrom::Start(end))?;
            pos = end;
            let mut post = [0u8; 4];
            read_exact_at(&mut br, &mut post, pos, "metadata magic")?;
            if &post != MAGIC_POST {
                return Err(DboxError::Malformed {
                    offset: pos,
                    what: "no metadata magic (\\n\\x01\\x03\\n) after the mail".into(),
                });
            }
            pos += 4;
            let mut meta = DboxMetadata::default();
            let mut ended = false;
            for _ in 0..MAX_METADATA_LINES {
                let line = match read_line(&mut br, MAX_METADATA_LINE) {
                    Ok(Some(l)) => l,
                    Ok(None) => {
                        return Err(DboxError::Truncated {
                            offset: pos,
                            what: "metadata",
                        });
                    }
                    Err(e) => {
                        return Err(DboxError::Malformed {
                            offset: pos,
                            what: format!("metadata line: {e}"),
                        });
                    }
                };
                pos += line.len() as u64 + 1;
                let Some((&key, value)) = line.split_first() else {
                    ended = true;
                    break;
                };
                let text = || String::from_utf8_lossy(value).into_owned();
                match key {
                    b'G' => meta.guid = Some(text()),
                    b'B' => meta.mailbox = Some(text()),
                    b'R' => meta.received = hex_u64(value),
                    b'Z' => meta.physical_size = hex_u64(value),
                    b'V' => meta.virtual_size = hex_u64(value),
                    _ => {}
                }
            }
            if !ended {
                return Err(DboxError::Malformed {
                    offset: pos,
                    what: format!("more than {MAX_METADATA_LINES} metadata lines"),
                });
            }
            mails.push(DboxMail {
                header_offset,
                offset,
                len,
                meta,
            });
        }
        Ok(DboxFile {
            message_header_len,
            mails,
        })
    }
}

fn read_exact_at<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    offset: u64,
    what: &'static str,
) -> Result<(), DboxError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => DboxError::Truncated { offset, what },
        _ => DboxError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn mail(body: &[u8], meta: &str) -> Vec<u8> {
        let mut v = format!("\x01\x02N          {:016x}\n", body.len()).into_bytes();
        v.extend_from_slice(body);
        v.extend_from_slice(b"\n\x01\x03\n");
        v.extend_from_slice(meta.as_bytes());
        v.extend_from_slice(b"\n");
        v
    }

    fn parse(data: &[u8]) -> Result<DboxFile, DboxError> {
        DboxFile::parse(&mut Cursor::new(data), data.len() as u64)
    }

    #[test]
    fn several_mails_back_to_back() {
        let mut f = b"2 M1e C1\n".to_vec();
        f.extend(mail(b"one", "Gg1\nBINBOX\nZ3\n"));
        f.extend(mail(b"second", "Gg2\nBSub\n"));
        let d = parse(&f).unwrap();
        assert_eq!(d.mails.len(), 2);
        let m2 = &d.mails[1];
        assert_eq!(
            &f[m2.offset as usize..(m2.offset + m2.len) as usize],
            b"second"
        );
        assert_eq!(m2.meta.mailbox.as_deref(), Some("Sub"));
        assert_eq!(d.mails[0].meta.physical_size, Some(3));
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let mut f = b"2 M1e C1\n".to_vec();
        f.extend(mail(b"body bytes", "Gg1\n"));
        assert!(parse(&f).is_ok());
        for cut in 0..f.len() {
            assert!(parse(&f[..cut]).is_err() || cut == 9, "cut {cut}");
        }
    }

    #[test]
    fn refuses_other_files() {
        assert!(matches!(
            parse(b"CRYPTED\x03\x07\x02"),
            Err(DboxError::NotDbox(_))
        ));
        assert!(matches!(
            parse(b"From a@b Mon\n"),
            Err(DboxError::NotDbox(_))
        ));
        let mut f = b"2 M1e C1\n".to_vec();
        f.extend(mail(b"x", "G1\n"));
        f[9 + 13] = b'z';
        assert!(matches!(parse(&f), Err(DboxError::Malformed { .. })));
        // A size pointing past the end of the file.
        let mut g = b"2 M1e C1\n".to_vec();
        g.extend(mail(b"x", "G1\n"));
        g[9 + 28] = b'f';
        assert!(matches!(parse(&g), Err(DboxError::Truncated { .. })));
    }
}
