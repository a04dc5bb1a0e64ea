//! Dovecot's compression framing inside decrypted mail
//! (`compress::detect` / `compress::decompress_to`: gzip, bzip2, xz, zstd,
//! Dovecot-LZ4, or none). Never panics; the format reported is the one
//! `detect` sees in the first bytes; the byte count returned is what was
//! written; a reader that hands out a few bytes at a time gives the same
//! output (or also fails). Output is capped at `OUT_CAP` per input by a
//! sink that errors past it, so decompression bombs cost bounded time;
//! memory is bounded by the decoders' window caps (`MAX_XZ_DICT`,
//! `MAX_ZSTD_WINDOW`, `MAX_LZ4_CHUNK`) and checked by `-rss_limit_mb`.
#![no_main]

use std::io::{self, Read, Write};

use libfuzzer_sys::fuzz_target;
use mailcrypt::compress::{decompress_to, detect};

const OUT_CAP: u64 = 4 << 20;

/// Counts and hashes (FNV-1a) what it is given; fails past `OUT_CAP`.
#[derive(Default)]
struct Sink {
    n: u64,
    hash: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.n + buf.len() as u64 > OUT_CAP {
            return Err(io::Error::other("output cap"));
        }
        if self.n == 0 {
            self.hash = 0xcbf2_9ce4_8422_2325;
        }
        for &b in buf {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that hands out at most `step` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(buf.len()).min(self.step);
        let (head, rest) = self.data.split_at(n);
        buf.get_mut(..n).unwrap_or_default().copy_from_slice(head);
        self.data = rest;
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut whole = Sink::default();
    let r1 = decompress_to(data, &mut whole);
    if let Ok((kind, n)) = &r1 {
        assert_eq!(*kind, detect(data), "reported format differs from detect()");
        assert_eq!(*n, whole.n, "returned count differs from bytes written");
    }
    let step = 1 + data.len() % 11;
    let mut pieces = Sink::default();
    let r2 = decompress_to(Trickle { data, step }, &mut pieces);
    match (&r1, &r2) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "short reads changed the result");
            assert_eq!(whole.hash, pieces.hash, "short reads changed the output");
        }
        (Err(_), Err(_)) => {}
        // A decoder may stop at a different point when its input arrives
        // in pieces only when the output cap was reached.
        _ => assert!(
            whole.n >= OUT_CAP - 64 * 1024 || pieces.n >= OUT_CAP - 64 * 1024,
            "whole input: {r1:?}, short reads: {r2:?}"
        ),
    }
});
