//! Container header parsing: `Header::parse` never panics, anything that
//! parses serialises back byte for byte, and reading from a stream that
//! delivers a few bytes at a time gives the same header (or the same
//! error) and consumes exactly the header.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use mailcrypt::container::Header;

/// A reader that hands out at most `step` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    pos: usize,
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len()).min(self.step);
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(rest.get(..n).unwrap_or_default());
        self.pos += n;
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = mailcrypt::is_encrypted(data);
    let parsed = Header::parse(data);
    let step = 1 + data.len() % 7;
    let mut trickle = Trickle { data, pos: 0, step };
    let streamed = Header::read(&mut trickle);
    match (&parsed, &streamed) {
        (Ok((h, len)), Ok(h2)) => {
            assert_eq!(h, h2, "slice and stream parsing disagree");
            assert_eq!(
                trickle.pos, *len,
                "the stream reader consumed more than the header"
            );
            assert_eq!(h.header_len(), *len);
            let bytes = match h.to_bytes() {
                Ok(b) => b,
                Err(e) => panic!("a parsed header does not serialise: {e}"),
            };
            assert!(
                data.get(..*len) == Some(bytes.as_slice()),
                "header round trip is not byte-identical"
            );
            let (again, len2) = match Header::parse(&bytes) {
                Ok(x) => x,
                Err(e) => panic!("a serialised header does not parse: {e}"),
            };
            assert_eq!(&again, h);
            assert_eq!(len2, *len);
            // Everything the inspect command prints must format.
            let _ = format!("{h:?} {}", h.version());
            if let Header::V2(v2) = h {
                let _ = format!(
                    "{} {} {:?} {}",
                    v2.cipher,
                    v2.hash,
                    v2.integrity(),
                    v2.same_calg()
                );
            }
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "slice and stream parsing give different errors");
            let _ = format!("{a} {a:?}");
        }
        (Ok(_), Err(e)) => panic!("only the stream reader failed: {e}"),
        (Err(e), Ok(_)) => panic!("only the slice parser failed: {e}"),
    }
});
