//! The hash named in a header, as a primitive: digest, PBKDF2, HMAC and
//! Dovecot's 2048-step key-check chain.

use hmac::{KeyInit, Mac};
use sha2::Digest;
use zeroize::Zeroizing;

pub(crate) use crate::container::alg::Hash;

/// Run `$body` with `$d` bound to the hash's RustCrypto type: the one
/// place a [`Hash`] becomes a type.
macro_rules! with_digest {
    ($hash:expr, $d:ident => $body:expr) => {
        match $hash {
            Hash::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            Hash::Sha224 => {
                type $d = sha2::Sha224;
                $body
            }
            Hash::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            Hash::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            Hash::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
            Hash::Md5 => {
                type $d = md5::Md5;
                $body
            }
        }
    };
}

impl Hash {
    /// Hash of the concatenation of `parts`.
    pub(crate) fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        with_digest!(self, D => {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        })
    }

    /// PBKDF2-HMAC-<self>. SHA-256 tries the SHA-NI chain first.
    pub(crate) fn pbkdf2(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        if self == Hash::Sha256
            && super::sha256_chain::pbkdf2_hmac_sha256(password, salt, rounds, out)
        {
            return;
        }
        with_digest!(self, D => pbkdf2::pbkdf2_hmac::<D>(password, salt, rounds, out))
    }

    /// Dovecot's key check: `h = H(blob)`, then 2048 times
    /// `h = H(h ‖ BE32(i))` for i = 1..=2048. SHA-256 tries the SHA-NI
    /// chain first.
    pub(crate) fn key_check(self, blob: &[u8]) -> Vec<u8> {
        if self == Hash::Sha256
            && let Some(h) = super::sha256_chain::key_check_sha256(blob)
        {
            return h.to_vec();
        }
        with_digest!(self, D => {
            let mut h = D::digest(blob);
            for i in 1u32..=2048 {
                let mut d = D::new();
                d.update(h);
                d.update(i.to_be_bytes());
                h = d.finalize();
            }
            h.to_vec()
        })
    }

    /// A keyed HMAC. HMAC takes keys of any length, so this only fails if
    /// the crate's contract changes.
    pub(crate) fn hmac(self, key: &[u8]) -> Option<HmacState> {
        Some(match self {
            Hash::Sha1 => HmacState::Sha1(KeyInit::new_from_slice(key).ok()?),
            Hash::Sha224 => HmacState::Sha224(KeyInit::new_from_slice(key).ok()?),
            Hash::Sha256 => HmacState::Sha256(KeyInit::new_from_slice(key).ok()?),
            Hash::Sha384 => HmacState::Sha384(KeyInit::new_from_slice(key).ok()?),
            Hash::Sha512 => HmacState::Sha512(KeyInit::new_from_slice(key).ok()?),
            Hash::Md5 => HmacState::Md5(KeyInit::new_from_slice(key).ok()?),
        })
    }
}

/// A running HMAC over the body ciphertext.
pub(crate) enum HmacState {
    Sha1(hmac::Hmac<sha1::Sha1>),
    Sha224(hmac::Hmac<sha2::Sha224>),
    Sha256(hmac::Hmac<sha2::Sha256>),
    Sha384(hmac::Hmac<sha2::Sha384>),
    Sha512(hmac::Hmac<sha2::Sha512>),
    Md5(hmac::Hmac<md5::Md5>),
}

impl HmacState {
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            HmacState::Sha1(m) => m.update(data),
            HmacState::Sha224(m) => m.update(data),
            HmacState::Sha256(m) => m.update(data),
            HmacState::Sha384(m) => m.update(data),
            HmacState::Sha512(m) => m.update(data),
            HmacState::Md5(m) => m.update(data),
        }
    }

    pub(crate) fn finalize(self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            HmacState::Sha1(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha224(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha256(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha384(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha512(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Md5(m) => m.finalize().into_bytes().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_3() {
        // From vectors/dovecot/hmac-sha256.vector (RFC 4231 test case 3).
        let key = [0xaa; 20];
        let data = [0xdd; 50];
        let mut m = Hash::Sha256.hmac(&key).unwrap();
        m.update(&data);
        assert_eq!(
            crate::hex::encode(&m.finalize()),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        );
    }

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64).
        let mut out = [0u8; 64];
        Hash::Sha256.pbkdf2(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            crate::hex::encode(&out[..16]),
            "55ac046e56e3089fec1691c22544b605"
        );
    }
}
