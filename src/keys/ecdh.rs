//! ECDH on the NIST curves: the raw x-coordinate, left-padded to the field
//! size, exactly as OpenSSL's `EVP_PKEY_derive` returns it. X25519/X448:
//! the raw 32/56-byte RFC 7748 output (an all-zero result, from a
//! small-order peer key, is refused as OpenSSL does).

use zeroize::Zeroizing;

use super::{Curve, KeyType, PointForm, PrivateKey, PrivateKind, PublicKey, PublicKind};
use crate::error::KeyError;

/// Shared secret between our private key and a peer point in any SEC1 form.
pub(crate) fn shared_secret(key: &PrivateKey, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    fn derive<C>(
        sk: &elliptic_curve::SecretKey<C>,
        peer: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError>
    where
        C: elliptic_curve::CurveArithmetic,
        elliptic_curve::AffinePoint<C>:
            elliptic_curve::sec1::FromSec1Point<C> + elliptic_curve::sec1::ToSec1Point<C>,
        elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
    {
        let pk = elliptic_curve::PublicKey::<C>::from_sec1_bytes(peer)
            .map_err(|_| invalid("the ephemeral key is not a valid point on the key's curve"))?;
        let ss = elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
        Ok(Zeroizing::new(ss.raw_secret_bytes().to_vec()))
    }
    match &key.kind {
        PrivateKind::P256(k) => derive(k, peer),
        PrivateKind::P384(k) => derive(k, peer),
        PrivateKind::P521(k) => derive(k, peer),
        PrivateKind::X25519(k) => {
            let peer = <[u8; 32]>::try_from(peer)
                .map_err(|_| invalid("the ephemeral key is not a raw 32-byte X25519 key"))?;
            let ss = Zeroizing::new(x25519_dalek::x25519(**k, peer));
            nonzero(ss.to_vec())
        }
        PrivateKind::X448(k) => {
            let peer = <[u8; 56]>::try_from(peer)
                .map_err(|_| invalid("the ephemeral key is not a raw 56-byte X448 key"))?;
            let ss = Zeroizing::new(
                x448::x448(**k, peer)
                    .ok_or_else(|| invalid("the ephemeral X448 key has small order"))?,
            );
            nonzero(ss.to_vec())
        }
        PrivateKind::Rsa(_) | PrivateKind::MlKem { .. } => Err(KeyError::Unsupported(format!(
            "ECDH with a {} key",
            key.key_type()
        ))),
    }
}

fn invalid(what: &str) -> KeyError {
    KeyError::Invalid(what.to_string())
}

fn nonzero(ss: Vec<u8>) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let ss = Zeroizing::new(ss);
    let mut acc = 0u8;
    for b in ss.iter() {
        acc |= b;
    }
    if acc == 0 {
        return Err(invalid(
            "the shared secret is all zero (small-order peer key)",
        ));
    }
    Ok(ss)
}

/// X25519 public key of raw private bytes.
pub(crate) fn x25519_public(k: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*k, x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// X448 public key of raw private bytes.
pub(crate) fn x448_public(k: &[u8; 56]) -> [u8; 56] {
    x448::x448_unchecked(*k, x448::X448_BASEPOINT_BYTES)
}

/// Make a fresh ephemeral key on the recipient's curve; return its public
/// point in `form` and the shared secret.
pub(crate) fn ephemeral_agree(
    recipient: &PublicKey,
    form: PointForm,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), KeyError> {
    let curve = match recipient.key_type() {
        KeyType::Ec(c) => c,
        KeyType::X25519 | KeyType::X448 => {
            let eph = if recipient.key_type() == KeyType::X448 {
                PrivateKey::generate_x448()
            } else {
                PrivateKey::generate_x25519()
            }?;
            #[allow(clippy::expect_used)]
            let point = eph
                .public_key()
                .raw_public_key()
                .expect("a generated X25519/X448 key has a raw public key")
                .to_vec();
            #[allow(clippy::expect_used)]
            let peer = recipient
                .raw_public_key()
                .expect("an X25519/X448 public key has raw bytes");
            let secret = shared_secret(&eph, peer)?;
            return Ok((point, secret));
        }
        other => return Err(KeyError::Unsupported(format!("ECDH with a {other} key"))),
    };
    let eph = PrivateKey::generate_ec(curve)?;
    #[allow(clippy::expect_used)]
    let point = eph
        .public_key()
        .sec1_point(form)
        .expect("a generated EC key has a SEC1 point");
    #[allow(clippy::expect_used)]
    let peer = recipient
        .sec1_point(PointForm::Uncompressed)
        .expect("a NIST-curve public key has a SEC1 point");
    let secret = shared_secret(&eph, &peer)?;
    debug_assert_eq!(secret.len(), curve_len(&recipient.kind));
    Ok((point, secret))
}

fn curve_len(k: &PublicKind) -> usize {
    match k {
        PublicKind::P256(_) => Curve::P256.field_len(),
        PublicKind::P384(_) => Curve::P384.field_len(),
        PublicKind::P521(_) => Curve::P521.field_len(),
        PublicKind::Rsa(_) => 0,
        PublicKind::X25519(_) => 32,
        PublicKind::X448(_) => 56,
        PublicKind::MlKem(..) => 0,
    }
}
