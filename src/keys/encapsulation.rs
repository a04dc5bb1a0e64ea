//! The one way into a key's secret operations for a recipient: make a
//! shared secret for a public key ([`PublicKey::encapsulate`]), recover it
//! with the private key ([`PrivateKey::decapsulate`]), or, for RSA, encrypt
//! and decrypt a short message with RSA-OAEP. Container key wrapping
//! (`wrap`) and Dovecot key strings encrypted to a key both go through
//! here, so nothing outside `keys` matches on a key's kind and a new key
//! type is added in this module and its codecs only.

use zeroize::Zeroizing;

use super::{KeyType, PointForm, PrivateKey, PrivateKind, PublicKey, PublicKind, ecdh, mlkem};
use crate::error::KeyError;

/// How a key carries a secret to the holder of its private half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// ECDH on a NIST curve, X25519 or X448: the sender stores a fresh
    /// ephemeral public key.
    Ecdh,
    /// ML-KEM: the sender stores the KEM ciphertext.
    MlKem,
    /// RSA-OAEP with SHA-1 and MGF1-SHA-1: the sender encrypts the message
    /// itself.
    RsaOaep,
}

/// A fresh shared secret for a public key and the bytes its holder needs
/// to recover it.
pub(crate) struct Encapsulated {
    /// What the sender stores: the ephemeral public key (ECDH) or the KEM
    /// ciphertext (ML-KEM).
    pub(crate) stored: Vec<u8>,
    /// The shared secret: the raw ECDH output or the 32-byte KEM secret.
    pub(crate) secret: Zeroizing<Vec<u8>>,
}

/// The error for an operation of one scheme asked of a key of another;
/// callers check [`PublicKey::scheme`]/[`PrivateKey::scheme`] first, so
/// this names the mismatch rather than hiding it.
fn wrong_scheme(key_type: KeyType, asked: &str) -> KeyError {
    KeyError::Unsupported(format!("{asked} with a {key_type} key"))
}

impl PublicKey {
    /// How this key carries a secret.
    pub(crate) fn scheme(&self) -> Scheme {
        match &self.kind {
            PublicKind::P256(_)
            | PublicKind::P384(_)
            | PublicKind::P521(_)
            | PublicKind::X25519(_)
            | PublicKind::X448(_) => Scheme::Ecdh,
            PublicKind::MlKem(..) => Scheme::MlKem,
            PublicKind::Rsa(_) => Scheme::RsaOaep,
        }
    }

    /// ECDH with a fresh ephemeral key (its public point written in
    /// `ephemeral_form`; X25519/X448 have one form) or ML-KEM
    /// encapsulation. An RSA key is refused: it has no agreement.
    pub(crate) fn encapsulate(&self, ephemeral_form: PointForm) -> Result<Encapsulated, KeyError> {
        match &self.kind {
            PublicKind::MlKem(params, ek) => {
                let (stored, secret) = mlkem::encapsulate(*params, ek)?;
                Ok(Encapsulated { stored, secret })
            }
            PublicKind::Rsa(_) => Err(wrong_scheme(self.key_type(), "key agreement")),
            PublicKind::P256(_)
            | PublicKind::P384(_)
            | PublicKind::P521(_)
            | PublicKind::X25519(_)
            | PublicKind::X448(_) => {
                let (stored, secret) = ecdh::ephemeral_agree(self, ephemeral_form)?;
                Ok(Encapsulated { stored, secret })
            }
        }
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1) encryption of `msg`, as Dovecot wraps
    /// session keys and key secrets for RSA keys.
    pub(crate) fn oaep_encrypt(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.kind {
            PublicKind::Rsa(k) => k
                .oaep_encrypt::<sha1::Sha1>(msg)
                .map_err(|e| KeyError::Invalid(format!("RSA-OAEP encryption failed: {e}"))),
            _ => Err(wrong_scheme(self.key_type(), "RSA-OAEP")),
        }
    }
}

impl PrivateKey {
    /// How this key carries a secret.
    pub(crate) fn scheme(&self) -> Scheme {
        match &self.kind {
            PrivateKind::P256(_)
            | PrivateKind::P384(_)
            | PrivateKind::P521(_)
            | PrivateKind::X25519(_)
            | PrivateKind::X448(_) => Scheme::Ecdh,
            PrivateKind::MlKem { .. } => Scheme::MlKem,
            PrivateKind::Rsa(_) => Scheme::RsaOaep,
        }
    }

    /// Recover the shared secret from what the sender stored: ECDH with the
    /// ephemeral public key (any SEC1 form on the NIST curves) or ML-KEM
    /// decapsulation of the ciphertext. A corrupted KEM ciphertext of the
    /// right length yields FIPS 203's implicit-rejection secret, which the
    /// caller's key check then refuses.
    pub(crate) fn decapsulate(&self, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match &self.kind {
            PrivateKind::MlKem {
                params, expanded, ..
            } => mlkem::decapsulate(*params, expanded, stored),
            PrivateKind::Rsa(_) => Err(wrong_scheme(self.key_type(), "key agreement")),
            PrivateKind::P256(_)
            | PrivateKind::P384(_)
            | PrivateKind::P521(_)
            | PrivateKind::X25519(_)
            | PrivateKind::X448(_) => ecdh::shared_secret(self, stored),
        }
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1) decryption. The failure says nothing
    /// about why (wrong key or corrupt data), as RSA-OAEP must not.
    pub(crate) fn oaep_decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match &self.kind {
            PrivateKind::Rsa(k) => k
                .oaep_decrypt::<sha1::Sha1>(ciphertext)
                .map(Zeroizing::new)
                .map_err(|_| {
                    KeyError::Invalid(
                        "RSA-OAEP decryption failed (wrong key or corrupt data)".into(),
                    )
                }),
            _ => Err(wrong_scheme(self.key_type(), "RSA-OAEP")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Curve, MlKemParams};

    fn round_trip(key: &PrivateKey, form: PointForm) {
        let public = key.public_key();
        assert_ne!(public.scheme(), Scheme::RsaOaep);
        assert_eq!(public.scheme(), key.scheme());
        let enc = public.encapsulate(form).expect("encapsulate");
        let secret = key.decapsulate(&enc.stored).expect("decapsulate");
        assert_eq!(*secret, *enc.secret);
        // A second encapsulation is fresh.
        let again = public.encapsulate(form).expect("encapsulate");
        assert_ne!(again.stored, enc.stored);
        assert_ne!(*again.secret, *enc.secret);
    }

    #[test]
    fn agreement_round_trips_for_every_agreement_key_type() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let key = PrivateKey::generate_ec(curve).unwrap();
            round_trip(&key, PointForm::Compressed);
            round_trip(&key, PointForm::Uncompressed);
        }
        round_trip(
            &PrivateKey::generate_x25519().unwrap(),
            PointForm::Compressed,
        );
        round_trip(&PrivateKey::generate_x448().unwrap(), PointForm::Compressed);
        for p in [
            MlKemParams::MlKem512,
            MlKemParams::MlKem768,
            MlKemParams::MlKem1024,
        ] {
            round_trip(
                &PrivateKey::generate_ml_kem(p).unwrap(),
                PointForm::Compressed,
            );
        }
    }

    #[test]
    fn ephemeral_point_has_the_requested_form() {
        let key = PrivateKey::generate_ec(Curve::P256).unwrap();
        let c = key.public_key().encapsulate(PointForm::Compressed).unwrap();
        let u = key
            .public_key()
            .encapsulate(PointForm::Uncompressed)
            .unwrap();
        assert_eq!(c.stored.len(), 33);
        assert_eq!(u.stored.len(), 65);
        assert_eq!(u.stored[0], 4);
    }

    #[test]
    fn wrong_key_gives_another_secret_or_an_error() {
        let a = PrivateKey::generate_ec(Curve::P256).unwrap();
        let b = PrivateKey::generate_ec(Curve::P256).unwrap();
        let enc = a.public_key().encapsulate(PointForm::Compressed).unwrap();
        assert_ne!(*b.decapsulate(&enc.stored).unwrap(), *enc.secret);
        // A P-256 point is not a P-384 point.
        let c = PrivateKey::generate_ec(Curve::P384).unwrap();
        assert!(matches!(
            c.decapsulate(&enc.stored),
            Err(KeyError::Invalid(_))
        ));
    }

    #[test]
    fn rsa_uses_oaep_and_refuses_agreement() {
        // A fixture instead of generate_rsa: a 2048-bit generation takes
        // seconds in a debug build.
        let pem = include_bytes!("../../vectors/dovecot/rsa1024-private-pkcs8.pem");
        let key = PrivateKey::from_bytes(pem, None).unwrap();
        let public = key.public_key();
        assert_eq!(public.scheme(), Scheme::RsaOaep);
        assert_eq!(key.scheme(), Scheme::RsaOaep);
        assert!(matches!(
            public.encapsulate(PointForm::Compressed),
            Err(KeyError::Unsupported(_))
        ));
        assert!(matches!(
            key.decapsulate(&[4; 65]),
            Err(KeyError::Unsupported(_))
        ));
        let ct = public.oaep_encrypt(b"session key").unwrap();
        assert_eq!(&**key.oaep_decrypt(&ct).unwrap(), b"session key");
        let mut bad = ct.clone();
        bad[10] ^= 1;
        assert!(matches!(key.oaep_decrypt(&bad), Err(KeyError::Invalid(_))));
    }

    #[test]
    fn agreement_keys_refuse_oaep() {
        let key = PrivateKey::generate_x25519().unwrap();
        assert!(matches!(
            key.public_key().oaep_encrypt(b"x"),
            Err(KeyError::Unsupported(_))
        ));
        assert!(matches!(
            key.oaep_decrypt(b"x"),
            Err(KeyError::Unsupported(_))
        ));
    }
}
