//! The hash named in a header, as a primitive: digest, PBKDF2, HMAC and
//! Dovecot's 2048-step key-check chain.

use hmac::{KeyInit, Mac};
use sha2::Digest;
use zeroize::Zeroizing;

use crate::container::HashAlg;

/// A hash mailcrypt implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    /// Read only (see [`HashAlg::Md5`]).
    Md5,
}

impl Hash {
    pub(crate) fn from_alg(alg: &HashAlg) -> Option<Hash> {
        Some(match alg {
            HashAlg::Sha1 => Hash::Sha1,
            HashAlg::Sha224 => Hash::Sha224,
            HashAlg::Sha256 => Hash::Sha256,
            HashAlg::Sha384 => Hash::Sha384,
            HashAlg::Sha512 => Hash::Sha512,
            HashAlg::Md5 => Hash::Md5,
            HashAlg::Unknown(_) => return None,
        })
    }

    pub(crate) fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
            Hash::Md5 => 16,
        }
    }

    /// Hash of the concatenation of `parts`.
    pub(crate) fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Hash::Sha1 => run::<sha1::Sha1>(parts),
            Hash::Sha224 => run::<sha2::Sha224>(parts),
            Hash::Sha256 => run::<sha2::Sha256>(parts),
            Hash::Sha384 => run::<sha2::Sha384>(parts),
            Hash::Sha512 => run::<sha2::Sha512>(parts),
            Hash::Md5 => run::<md5::Md5>(parts),
        }
    }

    /// PBKDF2-HMAC-<self>.
    pub(crate) fn pbkdf2(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        match self {
            Hash::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, out),
            Hash::Sha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, salt, rounds, out),
            Hash::Sha256 => {
                if !super::sha256_chain::pbkdf2_hmac_sha256(password, salt, rounds, out) {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, out)
                }
            }
            Hash::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, rounds, out),
            Hash::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, out),
            Hash::Md5 => pbkdf2::pbkdf2_hmac::<md5::Md5>(password, salt, rounds, out),
        }
    }

    /// Dovecot's key check: `h = H(blob)`, then 2048 times
    /// `h = H(h ‖ BE32(i))` for i = 1..=2048.
    pub(crate) fn key_check(self, blob: &[u8]) -> Vec<u8> {
        fn run<D: Digest>(blob: &[u8]) -> Vec<u8> {
            let mut h = D::digest(blob);
            for i in 1u32..=2048 {
                let mut d = D::new();
                d.update(&h);
                d.update(i.to_be_bytes());
                h = d.finalize();
            }
            h.to_vec()
        }
        match self {
            Hash::Sha1 => run::<sha1::Sha1>(blob),
            Hash::Sha224 => run::<sha2::Sha224>(blob),
            Hash::Sha256 => match super::sha256_chain::key_check_sha256(blob) {
                Some(h) => h.to_vec(),
                None => run::<sha2::Sha256>(blob),
            },
            Hash::Sha384 => run::<sha2::Sha384>(blob),
            Hash::Sha512 => run::<sha2::Sha512>(blob),
            Hash::Md5 => run::<md5::Md5>(blob),
        }
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
