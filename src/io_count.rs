//! The byte counts that `Read::read` and `Write::write` return, checked
//! against the buffer they were given. Both traits promise
//! `n <= buf.len()` but cannot enforce it, and the library takes any
//! reader or writer: a broken implementation gets an I/O error that says
//! so, never a panic and never a silently shorter slice.

use std::io;

/// `n`, the count a read into or a write from a buffer of `len` bytes
/// returned, if it is at most `len`.
pub(crate) fn check(n: usize, len: usize) -> io::Result<usize> {
    if n <= len {
        Ok(n)
    } else {
        Err(overrun(n, len))
    }
}

/// The first `n` bytes of `buf`, `n` being the count a read into (or a
/// write from) `buf` returned.
pub(crate) fn head(buf: &[u8], n: usize) -> io::Result<&[u8]> {
    let len = buf.len();
    buf.get(..n).ok_or_else(|| overrun(n, len))
}

/// What is left of `buf` after a read filled its first `n` bytes.
pub(crate) fn rest_mut(buf: &mut [u8], n: usize) -> io::Result<&mut [u8]> {
    let len = buf.len();
    buf.get_mut(n..).ok_or_else(|| overrun(n, len))
}

fn overrun(n: usize, len: usize) -> io::Error {
    io::Error::other(format!(
        "a reader or writer reported {n} bytes for a {len}-byte buffer \
         (it breaks the Read/Write contract)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_the_buffer_pass() {
        assert_eq!(check(3, 3).unwrap(), 3);
        assert_eq!(head(b"abcd", 2).unwrap(), b"ab");
        assert_eq!(head(b"abcd", 0).unwrap(), b"");
        let mut buf = *b"abcd";
        assert_eq!(rest_mut(&mut buf, 1).unwrap(), b"bcd");
        assert_eq!(rest_mut(&mut buf, 4).unwrap(), b"");
    }

    #[test]
    fn a_count_past_the_buffer_is_an_error_naming_the_breach() {
        let e = check(5, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert!(e.to_string().contains("5 bytes for a 4-byte buffer"), "{e}");
        assert!(head(b"abcd", 5).is_err());
        assert!(rest_mut(&mut [0u8; 4], 5).is_err());
    }
}
