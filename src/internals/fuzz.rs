//! Not part of the stable API (see [`crate::internals`]): entry points
//! for the `body` and `decrypt_cached` fuzz targets, which drive the body
//! ciphers and the body/trailer path without the per-input key derivation
//! (ECDH, PBKDF2) that holds the `decrypt` target to a few hundred
//! executions per second.

use std::io::{self, Read, Write};

use crate::container::{CipherAlg, Header};
use crate::decryptor::DecryptOptions;
use crate::decryptor::{Session, open};
use crate::error::DecryptError;
use crate::keys::KeyRing;
use crate::primitives::hash::Hash;
use crate::stream::cipher::{BodyCipher, Direction};
use crate::stream::{BodyReader, BodyWriter};

/// One body cipher as the readers and writers run it.
pub struct Body(BodyCipher);

impl Body {
    /// `alg` with `key` and `iv`; `aad` for AEAD ciphers, or an HMAC-SHA-256
    /// key (HMAC mode, over the ciphertext). `allow_kernel: false` keeps
    /// the portable path even where a kernel would run. `None` when the
    /// cipher refuses the key or IV.
    pub fn new(
        alg: &CipherAlg,
        key: &[u8],
        iv: &[u8],
        aad: Option<&[u8]>,
        hmac_sha256_key: Option<&[u8]>,
        encrypt: bool,
        allow_kernel: bool,
    ) -> Option<Body> {
        let hmac = match hmac_sha256_key {
            Some(k) => Some(Hash::Sha256.hmac(k)?),
            None => None,
        };
        let dir = if encrypt {
            Direction::Encrypt
        } else {
            Direction::Decrypt
        };
        BodyCipher::v2_with(alg, key, iv, aad, hmac, dir, allow_kernel)
            .ok()
            .map(Body)
    }

    /// Whether an x86-64 kernel runs this body.
    pub fn uses_kernel(&self) -> bool {
        self.0.uses_kernel()
    }

    /// Encrypt or decrypt in place; `false` on an error.
    pub fn update(&mut self, data: &mut [u8]) -> bool {
        self.0.update(data).is_ok()
    }

    /// Encrypt or decrypt `src` into `dst` (equal lengths); `false` on an
    /// error.
    pub fn update_to(&mut self, src: &[u8], dst: &mut [u8]) -> bool {
        self.0.update_to(src, dst).is_ok()
    }

    /// Feed ciphertext to the integrity check only; `false` on an error.
    pub fn authenticate(&mut self, ciphertext: &[u8]) -> bool {
        self.0.authenticate(ciphertext).is_ok()
    }

    /// The tag or HMAC over what was processed; `None` after a kernel
    /// failure.
    pub fn trailer(self) -> Option<Vec<u8>> {
        self.0.trailer().ok().map(|t| t.to_vec())
    }

    /// Compare the trailer with `expected` in constant time.
    pub fn verify(self, expected: &[u8]) -> bool {
        self.0.verify(expected)
    }
}

/// A container whose header was parsed and whose session key was
/// unwrapped once: every call runs only the body, the trailer check and
/// what follows.
pub struct CachedSession {
    session: Session,
    header: Vec<u8>,
}

impl CachedSession {
    /// Parse the header of `container` and unwrap its session key with
    /// `keys`.
    pub fn open(
        container: &[u8],
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<CachedSession, DecryptError> {
        let (header, len) = Header::parse(container)?;
        let (session, _) = open(header, keys, opts)?;
        #[allow(clippy::expect_used)]
        let header = container
            .get(..len)
            .expect("Header::parse returns the length of a header inside its input");
        Ok(CachedSession {
            session,
            header: header.to_vec(),
        })
    }

    /// Decrypt `body` (what follows the header: ciphertext and trailer) in
    /// streaming mode, reading `piece` bytes at a time. The bytes released
    /// before an error come back with it.
    pub fn decrypt(&self, body: &[u8], piece: usize) -> (Result<(), DecryptError>, Vec<u8>) {
        let cipher = match self.session.cipher(Direction::Decrypt) {
            Ok(c) => c,
            Err(e) => return (Err(e), Vec::new()),
        };
        let mut r = BodyReader::new(body, cipher, self.session.trailer_len());
        let mut out = Vec::new();
        // A buffer longer than the whole body reads exactly as a longer
        // one would (a read returns at most what is there): no need to
        // zero 64 KiB for a 100-byte body.
        let mut buf = vec![0u8; piece.clamp(1, body.len() + 1)];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (Ok(()), out),
                Ok(n) => match crate::io_count::head(&buf, n) {
                    Ok(read) => out.extend_from_slice(read),
                    Err(e) => return (Err(DecryptError::from_io(e)), out),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(DecryptError::from_io(e)), out),
            }
        }
    }

    /// The verified-mode authentication pass over `body` alone.
    pub fn authenticate(&self, body: &[u8]) -> Result<(), DecryptError> {
        let cipher = self.session.cipher(Direction::Decrypt)?;
        let mut src = body;
        BodyReader::authenticate_all(&mut src, cipher, self.session.trailer_len())
    }

    /// Encrypt `plain` with the same session key and IV (as a writer
    /// would, trailer included) and return the body; `None` if the
    /// session's cipher cannot encrypt. Only for fuzzing: a real writer
    /// never reuses a session key.
    pub fn encrypt(&self, plain: &[u8], piece: usize) -> Option<Vec<u8>> {
        let cipher = self.session.cipher(Direction::Encrypt).ok()?;
        let mut w = BodyWriter::new(Vec::new(), Vec::new(), cipher);
        for chunk in plain.chunks(piece.max(1)) {
            w.write_all(chunk).ok()?;
        }
        w.finish().ok()
    }

    /// Whether the body ends in an AEAD tag or HMAC.
    pub fn authenticated(&self) -> bool {
        self.session.trailer_len() > 0
    }

    /// The header bytes (for building whole containers).
    pub fn header(&self) -> &[u8] {
        &self.header
    }
}
