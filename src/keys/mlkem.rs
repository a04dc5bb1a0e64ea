//! ML-KEM (FIPS 203) keys as Dovecot's main branch uses them: the
//! encapsulation key in an SPKI (OIDs 2.16.840.1.101.3.4.4.1/2/3, no
//! parameters), the *expanded* decapsulation key (1632/2400/3168 bytes) in
//! `2:` key strings, the KEM ciphertext as a container recipient's
//! "ephemeral key". The lattice arithmetic is RustCrypto's `ml-kem`.
//!
//! Every secret (expanded key, seed, shared secret, encapsulation
//! randomness) lives in a zeroizing buffer; `ml-kem`'s own key objects are
//! built on demand and wipe themselves on drop (its `zeroize` feature).

#![allow(deprecated)] // ml-kem marks the expanded-key encoding deprecated; Dovecot stores it.

use std::fmt;

use der::asn1::ObjectIdentifier;
use ml_kem::{B32, Decapsulate, ExpandedKeyEncoding, KeyExport, Seed};
use zeroize::Zeroizing;

use crate::error::KeyError;

/// id-alg-ml-kem-512 (FIPS 203 / RFC 9935).
pub(crate) const OID_ML_KEM_512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.1");
/// id-alg-ml-kem-768.
pub(crate) const OID_ML_KEM_768: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.2");
/// id-alg-ml-kem-1024.
pub(crate) const OID_ML_KEM_1024: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.3");

/// Length of the FIPS 203 seed `d ‖ z` that OpenSSL keeps in PKCS#8 files.
pub(crate) const SEED_LEN: usize = 64;
/// Length of the ML-KEM shared secret.
#[cfg(test)]
pub(crate) const SHARED_SECRET_LEN: usize = 32;

/// An ML-KEM parameter set (FIPS 203). Only Dovecot's unreleased main
/// branch reads ML-KEM keys.
///
/// ```
/// use mailcrypt::keys::MlKemParams;
/// let p = MlKemParams::MlKem768;
/// assert_eq!(p.to_string(), "ML-KEM-768");
/// assert_eq!(p.oid().to_string(), "2.16.840.1.101.3.4.4.2");
/// assert_eq!((p.encapsulation_key_len(), p.decapsulation_key_len(), p.ciphertext_len()),
///            (1184, 2400, 1088));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MlKemParams {
    /// ML-KEM-512 (category 1).
    MlKem512,
    /// ML-KEM-768 (category 3).
    MlKem768,
    /// ML-KEM-1024 (category 5).
    MlKem1024,
}

impl MlKemParams {
    /// Every parameter set.
    pub const ALL: [MlKemParams; 3] = [
        MlKemParams::MlKem512,
        MlKemParams::MlKem768,
        MlKemParams::MlKem1024,
    ];

    /// The algorithm OID (SPKI, PKCS#8, Dovecot `2:` strings).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            MlKemParams::MlKem512 => OID_ML_KEM_512,
            MlKemParams::MlKem768 => OID_ML_KEM_768,
            MlKemParams::MlKem1024 => OID_ML_KEM_1024,
        }
    }

    /// Parameter set of an OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<MlKemParams> {
        Self::ALL.into_iter().find(|p| p.oid() == *oid)
    }

    /// OpenSSL's name (`ML-KEM-512`, …), as Dovecot's settings use it.
    pub fn name(self) -> &'static str {
        match self {
            MlKemParams::MlKem512 => "ML-KEM-512",
            MlKemParams::MlKem768 => "ML-KEM-768",
            MlKemParams::MlKem1024 => "ML-KEM-1024",
        }
    }

    /// Parse `ML-KEM-768`, `mlkem768`, `ml-kem-768` (any case).
    pub fn from_name(s: &str) -> Option<MlKemParams> {
        let n: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match n.as_str() {
            "mlkem512" => Some(MlKemParams::MlKem512),
            "mlkem768" => Some(MlKemParams::MlKem768),
            "mlkem1024" => Some(MlKemParams::MlKem1024),
            _ => None,
        }
    }

    fn k(self) -> usize {
        match self {
            MlKemParams::MlKem512 => 2,
            MlKemParams::MlKem768 => 3,
            MlKemParams::MlKem1024 => 4,
        }
    }

    /// Encapsulation (public) key length: 800, 1184 or 1568 bytes.
    pub fn encapsulation_key_len(self) -> usize {
        384 * self.k() + 32
    }

    /// Expanded decapsulation key length: 1632, 2400 or 3168 bytes.
    pub fn decapsulation_key_len(self) -> usize {
        768 * self.k() + 96
    }

    /// Ciphertext length: 768, 1088 or 1568 bytes.
    pub fn ciphertext_len(self) -> usize {
        match self {
            MlKemParams::MlKem512 => 768,
            MlKemParams::MlKem768 => 1088,
            MlKemParams::MlKem1024 => 1568,
        }
    }

    /// Offset of the encapsulation key inside the expanded key.
    fn ek_offset(self) -> usize {
        384 * self.k()
    }
}

impl fmt::Display for MlKemParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn invalid(msg: impl Into<String>) -> KeyError {
    KeyError::Invalid(msg.into())
}

/// Run `$body` with `$t` bound to the `ml-kem` parameter type of `$p`.
macro_rules! with_params {
    ($p:expr, $t:ident => $body:expr) => {
        match $p {
            MlKemParams::MlKem512 => {
                type $t = ml_kem::MlKem512;
                $body
            }
            MlKemParams::MlKem768 => {
                type $t = ml_kem::MlKem768;
                $body
            }
            MlKemParams::MlKem1024 => {
                type $t = ml_kem::MlKem1024;
                $body
            }
        }
    };
}

/// Check an encapsulation key (FIPS 203 §7.2 type and modulus checks).
pub(crate) fn check_public(p: MlKemParams, ek: &[u8]) -> Result<(), KeyError> {
    let bad = || {
        invalid(format!(
            "{p} public key must be {} bytes with coefficients below q",
            p.encapsulation_key_len()
        ))
    };
    with_params!(p, P => {
        let arr = <&ml_kem::Key<ml_kem::EncapsulationKey<P>>>::try_from(ek).map_err(|_| bad())?;
        ml_kem::EncapsulationKey::<P>::new(arr).map(|_| ()).map_err(|_| bad())
    })
}

/// Check an expanded decapsulation key (FIPS 203 §7.3: length, embedded
/// encapsulation key, its hash) and return the encapsulation key it holds.
pub(crate) fn check_expanded(p: MlKemParams, dk: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bad = || {
        invalid(format!(
            "{p} private key must be the {}-byte expanded FIPS 203 decapsulation key",
            p.decapsulation_key_len()
        ))
    };
    with_params!(p, P => {
        let arr = <&ml_kem::ExpandedDecapsulationKey<P>>::try_from(dk).map_err(|_| bad())?;
        let key = ml_kem::DecapsulationKey::<P>::from_expanded(arr).map_err(|_| bad())?;
        Ok(key.encapsulation_key().to_bytes().to_vec())
    })
}

/// Expand a 64-byte seed `d ‖ z` (FIPS 203 `ML-KEM.KeyGen_internal`).
pub(crate) fn expand_seed(p: MlKemParams, seed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let seed =
        Zeroizing::new(Seed::try_from(seed).map_err(|_| invalid("ML-KEM seed is not 64 bytes"))?);
    with_params!(p, P => {
        let key = ml_kem::DecapsulationKey::<P>::from_seed(*seed);
        let expanded = Zeroizing::new(key.to_expanded_bytes());
        Ok(Zeroizing::new(expanded.to_vec()))
    })
}

/// Encapsulate to `ek`: (ciphertext, 32-byte shared secret).
pub(crate) fn encapsulate(
    p: MlKemParams,
    ek: &[u8],
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), KeyError> {
    let mut m = Zeroizing::new(B32::default());
    getrandom::fill(m.as_mut_slice()).map_err(KeyError::random)?;
    with_params!(p, P => {
        let arr = <&ml_kem::Key<ml_kem::EncapsulationKey<P>>>::try_from(ek)
            .map_err(|_| KeyError::Invalid(format!("{p} public key is not {} bytes", p.encapsulation_key_len())))?;
        let key = ml_kem::EncapsulationKey::<P>::new(arr)
            .map_err(|_| KeyError::Invalid(format!("invalid {p} public key")))?;
        let (ct, ss) = key.encapsulate_deterministic(&m);
        let ss = Zeroizing::new(ss);
        Ok((ct.to_vec(), Zeroizing::new(ss.to_vec())))
    })
}

/// Decapsulate `ct` with the expanded key `dk`. A ciphertext of the wrong
/// length is an error; a corrupted one of the right length yields the
/// implicit-rejection secret (FIPS 203), which then fails the key wrap.
pub(crate) fn decapsulate(
    p: MlKemParams,
    dk: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    with_params!(p, P => {
        let ct = <&ml_kem::Ciphertext<P>>::try_from(ct).map_err(|_| {
            KeyError::Invalid(format!(
                "the KEM ciphertext is {} bytes, {p} needs {}",
                ct.len(),
                p.ciphertext_len()
            ))
        })?;
        let arr = <&ml_kem::ExpandedDecapsulationKey<P>>::try_from(dk)
            .map_err(|_| KeyError::Invalid(format!("{p} private key has the wrong length")))?;
        let key = ml_kem::DecapsulationKey::<P>::from_expanded(arr)
            .map_err(|_| KeyError::Invalid(format!("invalid {p} private key")))?;
        let ss = Zeroizing::new(key.decapsulate(ct));
        Ok(Zeroizing::new(ss.to_vec()))
    })
}

/// The encapsulation key embedded in an expanded decapsulation key.
pub(crate) fn public_of_expanded(p: MlKemParams, dk: &[u8]) -> Option<&[u8]> {
    dk.get(p.ek_offset()..p.ek_offset() + p.encapsulation_key_len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_fips_203() {
        for p in MlKemParams::ALL {
            let seed = [7u8; SEED_LEN];
            let dk = expand_seed(p, &seed).unwrap();
            assert_eq!(dk.len(), p.decapsulation_key_len());
            let ek = check_expanded(p, &dk).unwrap();
            assert_eq!(ek.len(), p.encapsulation_key_len());
            assert_eq!(public_of_expanded(p, &dk), Some(&ek[..]));
            check_public(p, &ek).unwrap();
            let (ct, ss) = encapsulate(p, &ek).unwrap();
            assert_eq!(ct.len(), p.ciphertext_len());
            assert_eq!(ss.len(), SHARED_SECRET_LEN);
            assert_eq!(decapsulate(p, &dk, &ct).unwrap(), ss);
            // Implicit rejection: a flipped bit gives another secret.
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_ne!(decapsulate(p, &dk, &bad).unwrap(), ss);
            assert!(decapsulate(p, &dk, &ct[1..]).is_err());
        }
    }

    #[test]
    fn rejects_bad_keys() {
        let p = MlKemParams::MlKem512;
        let dk = expand_seed(p, &[1u8; SEED_LEN]).unwrap();
        // Hash of the embedded public key no longer matches.
        let mut bad = dk.to_vec();
        bad[p.ek_offset() + 5] ^= 1;
        assert!(check_expanded(p, &bad).is_err());
        assert!(check_expanded(p, &dk[1..]).is_err());
        // Coefficient 0xfff ≥ q fails the modulus check.
        let mut ek = check_expanded(p, &dk).unwrap();
        ek[0] = 0xff;
        ek[1] |= 0x0f;
        assert!(check_public(p, &ek).is_err());
        assert!(check_public(p, &[0u8; 10]).is_err());
        assert!(expand_seed(p, &[0u8; 63]).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(
            MlKemParams::from_name("mlkem512"),
            Some(MlKemParams::MlKem512)
        );
        assert_eq!(
            MlKemParams::from_name("ML-KEM-1024"),
            Some(MlKemParams::MlKem1024)
        );
        assert_eq!(
            MlKemParams::from_name("ml_kem_768"),
            Some(MlKemParams::MlKem768)
        );
        assert_eq!(MlKemParams::from_name("kyber"), None);
        for p in MlKemParams::ALL {
            assert_eq!(MlKemParams::from_oid(&p.oid()), Some(p));
        }
    }
}
