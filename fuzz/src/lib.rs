//! Shared fixtures for the fuzz targets: a fixed key ring built from the
//! keys shipped in `vectors/`, their public halves, and helpers that run a
//! [`Decryptor`] the way an application would.

use std::io::{Cursor, Read};
use std::sync::OnceLock;

use mailcrypt::keys::{KeyRing, PrivateKey, PublicKey};
use mailcrypt::{DecryptError, DecryptOptions, Decryptor};

/// Every private key the decryption targets know, with the file it came
/// from (paths relative to the repository root).
pub const KEY_FILES: [(&str, &[u8]); 8] = [
    (
        "vectors/dovecot/sample-v2.key.pem",
        include_bytes!("../../vectors/dovecot/sample-v2.key.pem"),
    ),
    (
        "vectors/dovecot/sample-v1.key.pem",
        include_bytes!("../../vectors/dovecot/sample-v1.key.pem"),
    ),
    (
        "vectors/dovecot/rsa1024-private-pkcs8.pem",
        include_bytes!("../../vectors/dovecot/rsa1024-private-pkcs8.pem"),
    ),
    (
        "vectors/oracle/keys/p256/private.pem",
        include_bytes!("../../vectors/oracle/keys/p256/private.pem"),
    ),
    (
        "vectors/oracle/keys/p256c/private.pem",
        include_bytes!("../../vectors/oracle/keys/p256c/private.pem"),
    ),
    (
        "vectors/oracle/keys/p384/private.pem",
        include_bytes!("../../vectors/oracle/keys/p384/private.pem"),
    ),
    (
        "vectors/oracle/keys/p521/private.pem",
        include_bytes!("../../vectors/oracle/keys/p521/private.pem"),
    ),
    (
        "vectors/oracle/keys/rsa2048/private.pem",
        include_bytes!("../../vectors/oracle/keys/rsa2048/private.pem"),
    ),
];

/// X25519 and X448 keys (Dovecot 2.4) and the ML-KEM keys (mailcrypt's own
/// extension, `vectors/mlkem`): in the decryption ring, so that the seeds
/// encrypted to them reach decapsulation and unwrap, and among the
/// `roundtrip` target's recipients, so that it encapsulates to them (only
/// for the targets that read them; it checks that the others refuse).
pub const EXTRA_RING_FILES: [(&str, &[u8]); 5] = [
    (
        "vectors/x25519/keys/x25519/private.pem",
        include_bytes!("../../vectors/x25519/keys/x25519/private.pem"),
    ),
    (
        "vectors/x25519/keys/x448/private.pem",
        include_bytes!("../../vectors/x25519/keys/x448/private.pem"),
    ),
    (
        "vectors/mlkem/keys/mlkem512/private.pem",
        include_bytes!("../../vectors/mlkem/keys/mlkem512/private.pem"),
    ),
    (
        "vectors/mlkem/keys/mlkem768/private.pem",
        include_bytes!("../../vectors/mlkem/keys/mlkem768/private.pem"),
    ),
    (
        "vectors/mlkem/keys/mlkem1024/private.pem",
        include_bytes!("../../vectors/mlkem/keys/mlkem1024/private.pem"),
    ),
];

/// Passwords used by the password-protected key vectors.
pub const PASSWORDS: [&[u8]; 2] = [b"This Is Sparta", b"Tr0ub4dor&3-mailcrypt"];

fn load(pem: &[u8]) -> PrivateKey {
    match PrivateKey::from_bytes(pem, None) {
        Ok(k) => k,
        Err(e) => panic!("fixture key does not load: {e}"),
    }
}

/// The fixed key ring (every key in [`KEY_FILES`] and [`EXTRA_RING_FILES`]).
pub fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let mut ring = KeyRing::new();
        for (name, pem) in KEY_FILES.into_iter().chain(EXTRA_RING_FILES) {
            ring.add_labeled(name, load(pem));
        }
        ring
    })
}

/// The public halves of [`KEY_FILES`] and then [`EXTRA_RING_FILES`], in
/// that order.
pub fn public_keys() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        KEY_FILES
            .iter()
            .chain(EXTRA_RING_FILES.iter())
            .map(|(_, pem)| load(pem).public_key().clone())
            .collect()
    })
}

/// What reading a container produced.
pub struct Outcome {
    /// The plaintext, or the error that ended decryption.
    pub result: Result<Vec<u8>, DecryptError>,
    /// Bytes handed to the caller before the result was known.
    pub released: usize,
    /// Whether the header promises integrity (AEAD tag or HMAC); `None`
    /// when the constructor failed.
    pub authenticated: Option<bool>,
}

/// Read `dec` to the end in pieces of `piece` bytes, as an application
/// would, counting what was released.
pub fn drain<R: Read>(dec: &mut Decryptor<R>, piece: usize) -> (Result<(), DecryptError>, Vec<u8>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece.max(1)];
    loop {
        match dec.read(&mut buf) {
            Ok(0) => return (Ok(()), out),
            Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(DecryptError::from_io(e)), out),
        }
    }
}

/// The options every target decrypts with: defaults, plus the opt-in
/// OFB/CFB/CTR bodies so that their code is fuzzed too.
pub fn options() -> DecryptOptions {
    DecryptOptions::default().allow_ofb_cfb(true)
}

/// Streaming mode over a plain `&[u8]` reader.
pub fn streaming(data: &[u8], ring: &KeyRing, piece: usize) -> Outcome {
    outcome(Decryptor::open(data, ring, &options()), piece)
}

/// Streaming mode through `Decryptor::use_source_buffer` (decrypting
/// from the source's buffer) over a `BufReader` of capacity `cap`, so the
/// source's buffer ends at every offset relative to the trailer.
pub fn streaming_buf_read(data: &[u8], ring: &KeyRing, piece: usize, cap: usize) -> Outcome {
    let src = std::io::BufReader::with_capacity(cap.max(1), data);
    outcome(
        Decryptor::open(src, ring, &options()).map(Decryptor::use_source_buffer),
        piece,
    )
}

/// Drain a decryptor just opened (or the error opening it) into an
/// [`Outcome`].
fn outcome<R: Read>(opened: Result<Decryptor<R>, DecryptError>, piece: usize) -> Outcome {
    match opened {
        Err(e) => Outcome {
            result: Err(e),
            released: 0,
            authenticated: None,
        },
        Ok(mut d) => {
            let authenticated = Some(d.info().is_authenticated());
            let (r, out) = drain(&mut d, piece);
            Outcome {
                released: out.len(),
                result: r.map(|()| out),
                authenticated,
            }
        }
    }
}

/// Verified mode over a seekable reader.
pub fn verified(data: &[u8], ring: &KeyRing, piece: usize) -> Outcome {
    outcome(
        Decryptor::open_seekable(
            Cursor::new(data),
            ring,
            &options()
                .clone()
                .verification(mailcrypt::Verification::Verified),
        ),
        piece,
    )
}

/// Verified mode over a non-seekable reader, buffered in memory.
pub fn verified_buffered(data: &[u8], ring: &KeyRing, piece: usize, limit: u64) -> Outcome {
    outcome(
        Decryptor::open(
            data,
            ring,
            &options()
                .clone()
                .verification(mailcrypt::Verification::Verified)
                .buffer_limit(limit),
        ),
        piece,
    )
}

/// The checks every decryption target makes on one input:
///
/// * nothing panics (libFuzzer reports that);
/// * verified mode never fails after its constructor returned: no byte of
///   a file that later errors is released;
/// * streaming and verified mode agree: both succeed with the same bytes,
///   or both fail;
/// * error messages format (Display and Debug) without panicking.
pub fn check_decrypt(data: &[u8], ring: &KeyRing, piece: usize, buffered: bool) {
    let s = streaming(data, ring, piece);
    let v = verified(data, ring, piece);
    if let Err(e) = &v.result {
        assert!(
            v.authenticated.is_none(),
            "verified mode failed after the constructor returned ({} bytes released): {e}",
            v.released
        );
    }
    match (&s.result, &v.result) {
        (Ok(a), Ok(b)) => assert!(a == b, "streaming and verified output differ"),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("streaming succeeded, verified failed: {e}"),
        (Err(e), Ok(_)) => panic!("verified succeeded, streaming failed: {e}"),
    }
    if let Err(e) = &s.result {
        let _ = format!("{e} {e:?}");
    }
    // Reading from the source's buffer changes nothing but the copies.
    let cap = [1, 15, 16, 17, 333, 8192][data.len() % 6];
    let f = streaming_buf_read(data, ring, piece, cap);
    assert!(
        f.result.as_ref().ok() == s.result.as_ref().ok(),
        "new_buf_read (capacity {cap}) and new disagree"
    );
    if buffered {
        let limit = data.len() as u64;
        let b = verified_buffered(data, ring, piece, limit);
        if let Err(e) = &b.result {
            assert!(
                b.authenticated.is_none(),
                "buffered verified mode failed after the constructor returned: {e}"
            );
        }
        assert_eq!(
            b.result.as_ref().ok(),
            v.result.as_ref().ok(),
            "buffered and seekable verified mode disagree"
        );
        // One byte under the size must be refused with BufferLimit, never
        // truncated silently.
        if !data.is_empty() {
            let short = verified_buffered(data, ring, piece, limit - 1);
            assert!(
                matches!(short.result, Err(DecryptError::BufferLimit { .. })),
                "a buffer limit below the input size was not enforced"
            );
        }
    }
}
