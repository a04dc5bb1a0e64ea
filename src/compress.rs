//! Dovecot's compression layer inside decrypted mail (feature
//! `compression`).
//!
//! With `mail_plugins = zlib mail_crypt` (2.3) or `mail_compress` (2.4),
//! Dovecot compresses a mail and then encrypts the compressed bytes, so the
//! plaintext of the container is a compressed stream. This module detects
//! the format by its magic and decompresses it with pure-Rust decoders, in
//! bounded memory:
//!
//! | format | magic | decoder | memory bound |
//! |---|---|---|---|
//! | gzip | `1f 8b` | `flate2` (miniz_oxide) | 32 KiB window |
//! | bzip2 | `BZh` | `bzip2` (libbz2-rs-sys) | 900 KiB blocks |
//! | xz | `fd 37 7a 58 5a 00` | `lzma-rs` | dictionary ≤ [`MAX_XZ_DICT`], checked before decoding |
//! | zstd | `28 b5 2f fd` | `ruzstd` | window ≤ [`MAX_ZSTD_WINDOW`] |
//! | Dovecot LZ4 | `Dovecot-LZ4\x0d\x2a\x9b\xc5` | `lz4_flex` blocks | chunk ≤ [`MAX_LZ4_CHUNK`] |
//!
//! Dovecot's LZ4 framing is its own: the 15-byte magic, a big-endian u32
//! giving the largest uncompressed chunk (64 KiB when Dovecot writes it),
//! then chunks of `BE32 compressed length ‖ LZ4 block`.
//!
//! ```
//! use mailcrypt::compress::{Compression, detect};
//! assert_eq!(detect(b"\x1f\x8b\x08\x00"), Compression::Gzip);
//! assert_eq!(detect(b"From: a@b\n"), Compression::None);
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};

pub use crate::limits::MAX_LZ4_CHUNK;
pub use crate::limits::MAX_XZ_DICT;
pub use crate::limits::MAX_ZSTD_WINDOW;

const LZ4_MAGIC: &[u8; 15] = b"Dovecot-LZ4\x0d\x2a\x9b\xc5";

/// A compression format found at the start of a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Not compressed (or not recognised).
    None,
    /// gzip (`zlib_save = gz`).
    Gzip,
    /// bzip2 (`bz2`).
    Bzip2,
    /// xz (`xz`, written by Dovecot 2.2.9–2.3.13 only).
    Xz,
    /// Zstandard (`zstd`, 2.3.12+).
    Zstd,
    /// Dovecot's LZ4 framing (`lz4`).
    DovecotLz4,
}

impl Compression {
    /// Dovecot's name for the method (`gz`, `bz2`, `xz`, `zstd`, `lz4`), or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gz",
            Compression::Bzip2 => "bz2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::DovecotLz4 => "lz4",
        }
    }
}

/// Recognise a compressed stream by its first bytes (give at least 15).
pub fn detect(prefix: &[u8]) -> Compression {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if prefix.starts_with(b"BZh") && prefix.get(3).is_some_and(|b| (b'1'..=b'9').contains(b))
    {
        Compression::Bzip2
    } else if prefix.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
        Compression::Xz
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if prefix.starts_with(LZ4_MAGIC) {
        Compression::DovecotLz4
    } else {
        Compression::None
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Copy `input` to `out`, decompressing it if it starts with a known
/// magic. Returns the format found and the number of bytes written.
pub fn decompress_to<R: Read, W: Write + ?Sized>(
    input: R,
    out: &mut W,
) -> io::Result<(Compression, u64)> {
    let mut input = input;
    let mut prefix = Vec::with_capacity(64);
    (&mut input).take(64).read_to_end(&mut prefix)?;
    let kind = detect(&prefix);
    let mut src = BufReader::with_capacity(64 * 1024, io::Cursor::new(prefix.clone()).chain(input));
    let mut counter = Counter { inner: out, n: 0 };
    match kind {
        Compression::None => {
            io::copy(&mut src, &mut counter)?;
        }
        Compression::Gzip => {
            io::copy(&mut flate2::bufread::MultiGzDecoder::new(src), &mut counter)?;
        }
        Compression::Bzip2 => {
            io::copy(&mut bzip2::bufread::MultiBzDecoder::new(src), &mut counter)?;
        }
        Compression::Xz => {
            check_xz_dict(&prefix)?;
            lzma_rs::xz_decompress(&mut src, &mut counter).map_err(|e| bad(format!("xz: {e}")))?;
        }
        Compression::Zstd => {
            let mut d =
                ruzstd::decoding::StreamingDecoder::new_with_max_window_size(src, MAX_ZSTD_WINDOW)
                    .map_err(|e| bad(format!("zstd: {e}")))?;
            io::copy(&mut d, &mut counter)?;
        }
        Compression::DovecotLz4 => lz4_decode(&mut src, &mut counter)?,
    }
    counter.flush()?;
    Ok((kind, counter.n))
}

struct Counter<'a, W: Write + ?Sized> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write + ?Sized> Write for Counter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Refuse xz streams whose first LZMA2 dictionary exceeds [`MAX_XZ_DICT`]
/// (lzma-rs grows its dictionary up to that size).
fn check_xz_dict(prefix: &[u8]) -> io::Result<()> {
    // Stream header is 12 bytes; the block header follows: size byte,
    // flags, optional sizes (varints), then filter flags.
    let mut p = 12usize;
    let size_byte = *prefix.get(p).ok_or_else(|| bad("xz: truncated header"))?;
    if size_byte == 0 {
        return Ok(()); // index follows directly: empty stream
    }
    let flags = *prefix
        .get(p + 1)
        .ok_or_else(|| bad("xz: truncated header"))?;
    p += 2;
    let varint = |p: &mut usize| -> io::Result<u64> {
        let mut v = 0u64;
        for i in 0..9 {
            let b = *prefix
                .get(*p)
                .ok_or_else(|| bad("xz: truncated block header"))?;
            *p += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("xz: bad varint"))
    };
    if flags & 0x40 != 0 {
        varint(&mut p)?;
    }
    if flags & 0x80 != 0 {
        varint(&mut p)?;
    }
    let filters = usize::from(flags & 0x03) + 1;
    for _ in 0..filters {
        let id = varint(&mut p)?;
        let props_len = usize::try_from(varint(&mut p)?).map_err(|_| bad("xz: bad filter"))?;
        if id == 0x21 {
            let b = *prefix.get(p).ok_or_else(|| bad("xz: truncated filter"))?;
            if b > 40 {
                return Err(bad("xz: invalid dictionary size"));
            }
            let dict = if b == 40 {
                u64::from(u32::MAX)
            } else {
                (2 | u64::from(b & 1)) << (b / 2 + 11)
            };
            if dict > MAX_XZ_DICT {
                return Err(bad(format!(
                    "xz: dictionary of {dict} bytes exceeds the limit of {MAX_XZ_DICT}"
                )));
            }
        }
        p += props_len;
    }
    Ok(())
}

fn lz4_decode<R: BufRead + ?Sized, W: Write + ?Sized>(r: &mut R, out: &mut W) -> io::Result<()> {
    let mut magic = [0u8; 15];
    let mut max = [0u8; 4];
    r.read_exact(&mut magic)
        .map_err(|_| bad("lz4: truncated header"))?;
    r.read_exact(&mut max)
        .map_err(|_| bad("lz4: truncated header"))?;
    if &magic != LZ4_MAGIC {
        return Err(bad("lz4: bad magic"));
    }
    let max = u32::from_be_bytes(max);
    if max == 0 || max > MAX_LZ4_CHUNK {
        return Err(bad(format!(
            "lz4: chunk size {max} outside 1..={MAX_LZ4_CHUNK}"
        )));
    }
    let max = max as usize;
    // LZ4's worst-case expansion bound for a chunk of `max` bytes.
    let max_compressed = max + max / 255 + 16;
    let mut comp = Vec::new();
    let mut plain = vec![0u8; max];
    loop {
        let mut len = [0u8; 4];
        match r.read(&mut len[..1])? {
            0 => return Ok(()),
            _ => r
                .read_exact(&mut len[1..])
                .map_err(|_| bad("lz4: truncated chunk length"))?,
        }
        let clen = u32::from_be_bytes(len) as usize;
        if clen == 0 || clen > max_compressed {
            return Err(bad(format!(
                "lz4: compressed chunk of {clen} bytes is out of range"
            )));
        }
        comp.resize(clen, 0);
        r.read_exact(&mut comp)
            .map_err(|_| bad("lz4: truncated chunk"))?;
        let n = lz4_flex::block::decompress_into(&comp, &mut plain)
            .map_err(|e| bad(format!("lz4: {e}")))?;
        #[allow(clippy::expect_used)]
        let plain = plain
            .get(..n)
            .expect("lz4_flex decompresses into at most the output buffer's length");
        out.write_all(plain)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_passes_through() {
        let mut out = Vec::new();
        let (k, n) = decompress_to(&b"Subject: x\n\nhello\n"[..], &mut out).unwrap();
        assert_eq!(k, Compression::None);
        assert_eq!(n, 18);
        assert_eq!(out, b"Subject: x\n\nhello\n");
        let mut out = Vec::new();
        assert_eq!(
            decompress_to(&b""[..], &mut out).unwrap(),
            (Compression::None, 0)
        );
    }

    #[test]
    fn dovecot_lz4_framing_round_trips() {
        let text = b"Subject: lz4\n\n".repeat(1000);
        let mut file = LZ4_MAGIC.to_vec();
        file.extend_from_slice(&65536u32.to_be_bytes());
        for chunk in text.chunks(65536) {
            let c = lz4_flex::block::compress(chunk);
            file.extend_from_slice(&(c.len() as u32).to_be_bytes());
            file.extend_from_slice(&c);
        }
        let mut out = Vec::new();
        let (k, _) = decompress_to(&file[..], &mut out).unwrap();
        assert_eq!(k, Compression::DovecotLz4);
        assert_eq!(out, text);
        // A hostile chunk size is refused before allocating.
        let mut evil = LZ4_MAGIC.to_vec();
        evil.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(decompress_to(&evil[..], &mut Vec::new()).is_err());
    }
}
