//! Shared helpers for the integration tests: manifest reading and key rings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mailcrypt::DecryptError;
use mailcrypt::FormatError;
use mailcrypt::keys::{KeyRing, PrivateKey};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Rows of a TSV file with a header line, as (column name → value) maps.
pub fn read_tsv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header line")
        .split('\t')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('\t').map(str::to_string))
                .collect()
        })
        .collect()
}

pub fn ring(paths: &[PathBuf]) -> KeyRing {
    let mut ring = KeyRing::new();
    for p in paths {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        ring.add_labeled(
            p.display().to_string(),
            PrivateKey::from_bytes(&data, None).unwrap(),
        );
    }
    ring
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One container with the key that opens it and the exact plaintext.
#[derive(Debug, Clone)]
pub struct Case {
    /// Needs `DecryptOptions::allow_ofb_cfb` (AES-256-OFB/CFB bodies).
    pub ofb_cfb: bool,
    pub file: PathBuf,
    pub keys: Vec<PathBuf>,
    pub plaintext: Option<PathBuf>,
    pub sha256: String,
}

/// Every manifest entry under vectors/: the Dovecot samples and the
/// containers written by the four real builds.
pub fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let dv = root().join("vectors/dovecot");
    for r in read_tsv(&dv.join("manifest.tsv")) {
        cases.push(Case {
            ofb_cfb: false,
            file: dv.join(&r["file"]),
            keys: r["keys"].split(',').map(|k| dv.join(k)).collect(),
            plaintext: (r["plaintext"] != "-").then(|| dv.join(&r["plaintext"])),
            sha256: r["plaintext_sha256"].clone(),
        });
    }
    let ov = root().join("vectors/oracle");
    assert!(
        ov.join("manifest.tsv").exists(),
        "vectors/oracle/manifest.tsv is missing"
    );
    for r in read_tsv(&ov.join("manifest.tsv")) {
        cases.push(Case {
            ofb_cfb: false,
            file: ov.join(&r["file"]),
            keys: vec![ov.join(&r["key_dir"]).join("private.pem")],
            plaintext: Some(ov.join(&r["plaintext"])),
            sha256: r["plaintext_sha256"].clone(),
        });
    }
    // Every other cipher/hash pair written by Dovecot 2.4.1 (OFB/CFB/CTR
    // need the opt-in; it changes nothing for the CBC and GCM ones).
    let cv = root().join("vectors/ciphers");
    for r in read_tsv(&cv.join("manifest.tsv")) {
        cases.push(Case {
            ofb_cfb: true,
            file: cv.join(&r["file"]),
            keys: vec![cv.join(&r["key_dir"]).join("private.pem")],
            plaintext: Some(cv.join(&r["plaintext"])),
            sha256: r["plaintext_sha256"].clone(),
        });
    }
    // X25519/X448 containers written by Dovecot 2.4.1.
    let xv = root().join("vectors/x25519");
    assert!(
        xv.join("manifest.tsv").exists(),
        "vectors/x25519/manifest.tsv is missing"
    );
    for r in read_tsv(&xv.join("manifest.tsv")) {
        cases.push(Case {
            ofb_cfb: false,
            file: xv.join(&r["file"]),
            keys: vec![xv.join(&r["key_dir"]).join("private.pem")],
            plaintext: Some(xv.join(&r["plaintext"])),
            sha256: r["plaintext_sha256"].clone(),
        });
    }
    // ML-KEM containers written by mailcrypt itself with fixed keys
    // (round-trip vectors: no released Dovecot writes ML-KEM).
    let mv = root().join("vectors/mlkem");
    assert!(
        mv.join("manifest.tsv").exists(),
        "vectors/mlkem/manifest.tsv is missing"
    );
    for r in read_tsv(&mv.join("manifest.tsv")) {
        cases.push(Case {
            ofb_cfb: false,
            file: mv.join(&r["file"]),
            keys: vec![mv.join(&r["key_dir"]).join("private.pem")],
            plaintext: Some(mv.join(&r["plaintext"])),
            sha256: r["plaintext_sha256"].clone(),
        });
    }
    cases
}

/// The name of an error variant, as written in vectors/testkit/manifest.tsv.
pub fn kind(e: &DecryptError) -> &'static str {
    match e {
        DecryptError::Format(f) => match f {
            FormatError::NotEncrypted => "NotEncrypted",
            FormatError::UnsupportedVersion(_) => "UnsupportedVersion",
            FormatError::Truncated { .. } => "Truncated",
            FormatError::HeaderTooLarge { .. } => "HeaderTooLarge",
            FormatError::Malformed { .. } => "Malformed",
            FormatError::TooManyRecipients { .. } => "TooManyRecipients",
            _ => "Format?",
        },
        DecryptError::NoMatchingKey(_) => "NoMatchingKey",
        DecryptError::UnsupportedCipher(_) => "UnsupportedCipher",
        DecryptError::UnsupportedHash(_) => "UnsupportedHash",
        DecryptError::UnsupportedKeyType(_) => "UnsupportedKeyType",
        DecryptError::Unsupported(_) => "Unsupported",
        DecryptError::Unwrap { .. } => "Unwrap",
        DecryptError::KeyCheck => "KeyCheck",
        DecryptError::Authentication { .. } => "Authentication",
        DecryptError::TruncatedBody(_) => "TruncatedBody",
        DecryptError::BadPadding => "BadPadding",
        DecryptError::BufferLimit { .. } => "BufferLimit",
        DecryptError::NoIntegrity(_) => "NoIntegrity",
        DecryptError::Key(_) => "Key",
        DecryptError::Io(_) => "Io",
        _ => "Other",
    }
}
