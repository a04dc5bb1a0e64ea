//! Decryption with the header unwrap cached: the headers of a fixed set of
//! real containers (AES-128/256-GCM, ChaCha20-Poly1305, AES-256-CBC +
//! HMAC, ARIA-GCM, DES-EDE3-CBC, AES-OFB, ARIA-CTR, v1 AES-CTR) are parsed
//! and their session keys unwrapped once per process, so each input runs
//! only the body, the trailer check and decompression (the `decrypt`
//! target pays ECDH and PBKDF2 on every input).
//!
//! Input: byte 0 picks the session, byte 1 the mode and read size, the
//! rest is the data.
//!
//! * Ciphertext mode: the data is the body (a copy of the session's header
//!   in front is skipped, so whole vector files seed it). Streaming and
//!   the verified-mode authentication pass must agree: for an
//!   authenticated session, a body that authenticates decrypts, and one
//!   that decrypts authenticates, with the same output either way.
//! * Plaintext mode: the data is encrypted with the session's cipher (as
//!   the writer does), must decrypt back to itself, and with one byte
//!   flipped must fail for an authenticated session.
//!
//! Whatever decrypts goes through `compress::decompress_to`, capped
//! (except bzip2 streams: see `decompress`).
#![no_main]

use std::io::{self, Write};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailcrypt::internals::fuzz::CachedSession;

const CONTAINERS: [&[u8]; 10] = [
    include_bytes!("../../vectors/ciphers/enc/v24/33b.aes-256-gcm-sha512.bin"),
    include_bytes!("../../vectors/ciphers/enc/v24/33b.chacha20-poly1305-sha512.bin"),
    include_bytes!("../../vectors/ciphers/enc/v24/33b.aes-256-cbc-sha384.bin"),
    include_bytes!("../../vectors/ciphers/enc/v24/33b.aes-128-gcm-sha256.bin"),
    include_bytes!("../../vectors/oracle/enc/upstream/p256/33b.v1.bin"),
    include_bytes!("../../vectors/x25519/enc/v24/x25519/33b.v2-hmac.bin"),
    include_bytes!("../../vectors/ciphers/enc/v24/33b.aria-256-gcm-sha256.bin"),
    include_bytes!("../../vectors/ciphers/enc/v24/33b.des-ede3-cbc-sha256.bin"),
    include_bytes!("../../vectors/ciphers/enc/v24/33b.aes-256-ofb-sha256.bin"),
    include_bytes!("../../vectors/ciphers/enc/v24/33b.aria-128-ctr-sha256.bin"),
];

const PIECES: [usize; 6] = [1, 13, 512, 4096, 65536, 70_000];

/// Decompressed output per input is capped (bombs cost bounded time):
/// lower than the `compress` target's 4 MiB, which covers the decoders
/// in depth; here a bomb would only slow the body paths down.
const OUT_CAP: u64 = 256 << 10;

fn sessions() -> &'static [CachedSession] {
    static S: OnceLock<Vec<CachedSession>> = OnceLock::new();
    S.get_or_init(|| {
        CONTAINERS
            .iter()
            .enumerate()
            .map(|(i, c)| {
                match CachedSession::open(c, mailcrypt_fuzz::ring(), &mailcrypt_fuzz::options()) {
                    Ok(s) => s,
                    Err(e) => panic!("fixture container {i} does not open: {e}"),
                }
            })
            .collect()
    })
}

/// Counts what it is given; fails past `OUT_CAP`.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        if self.0 > OUT_CAP {
            return Err(io::Error::other("output cap"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn decompress(plain: &[u8]) {
    // bzip2 sets up (and zeroes) up to 3.6 MB of state per stream: with
    // it, bzip2 took 90 % of this target's time (3.5k executions/s). The
    // `compress` target covers that decoder; here the other three run.
    if plain.starts_with(b"BZh") {
        return;
    }
    let mut src = plain;
    if let Err(e) = mailcrypt::compress::decompress_to(&mut src, &mut Sink(0)) {
        let _ = format!("{e} {e:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [pick, mode, rest @ ..] = data else {
        return;
    };
    let all = sessions();
    let s = &all[usize::from(*pick) % all.len()];
    // Tiny reads only on small inputs: 1-byte reads of a large body cost
    // milliseconds per input and add no coverage (the `decrypt` target
    // has them).
    let piece = PIECES[usize::from(mode >> 1) % PIECES.len()].max(rest.len() / 64);
    if mode & 1 == 0 {
        let body = rest.strip_prefix(s.header()).unwrap_or(rest);
        let (r, out) = s.decrypt(body, piece);
        if s.authenticated() {
            let a = s.authenticate(body);
            match (&r, &a) {
                (Ok(()), Ok(())) | (Err(_), Err(_)) => {}
                (Ok(()), Err(e)) => panic!("decrypts but does not authenticate: {e}"),
                (Err(e), Ok(())) => panic!("authenticates but does not decrypt: {e}"),
            }
        }
        match r {
            Ok(()) => decompress(&out),
            Err(e) => {
                let _ = format!("{e} {e:?}");
            }
        }
    } else {
        if rest.is_empty() {
            // The writer's empty mail is 0 bytes, not a body.
            return;
        }
        let Some(mut body) = s.encrypt(rest, piece) else {
            panic!("the session cipher does not encrypt");
        };
        let (r, out) = s.decrypt(&body, piece);
        if let Err(e) = r {
            panic!("own ciphertext does not decrypt: {e}");
        }
        assert!(out == rest, "round trip changed the data");
        decompress(&out);
        if s.authenticated() {
            let at = usize::from(*mode) * 7919 % body.len();
            body[at] ^= 0x20;
            assert!(
                s.authenticate(&body).is_err(),
                "tampered body authenticates"
            );
            assert!(s.decrypt(&body, piece).0.is_err(), "tampered body decrypts");
        }
    }
});
