//! [`Encryptor`]: write containers that a chosen Dovecot build reads.

use std::fmt;
use std::io::{self, Write};

use zeroize::Zeroizing;

use crate::container::{
    CipherAlg, FLAG_AEAD, FLAG_HMAC, FLAG_SAME_CALG, HashAlg, Header, HeaderV1, HeaderV2, Recipient,
};
use crate::error::EncryptError;
use crate::keys::{IdConvention, KeyId, KeyType, PointForm, PublicKey};
use crate::primitives::hash::Hash;
use crate::stream::BodyWriter;
use crate::stream::cipher::{BodyCipher, Direction};
use crate::wrap;

/// The Dovecot build the output is meant for. It decides the key id
/// convention and which ciphers are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Target {
    /// Dovecot 2.3 on OpenSSL 1.1, or a distribution-patched 2.3 on
    /// OpenSSL 3 (Debian, Ubuntu, Fedora, RHEL): compressed-point key ids.
    #[default]
    Dovecot23,
    /// Upstream Dovecot 2.3 built against OpenSSL 3 without the
    /// distribution patch (Alpine-based images such as mailcow's): the key
    /// id hashes the point form of the PEM file the server loaded, i.e. the
    /// form the recipient key was given in here (uncompressed for keys made
    /// by `openssl ecparam -genkey`).
    Dovecot23OpenSsl3Unpatched,
    /// Dovecot 2.4: compressed-point ids; also reads ChaCha20-Poly1305.
    Dovecot24,
    /// Dovecot's unreleased main branch (built against OpenSSL 3.5 or
    /// later): everything 2.4 reads, plus ML-KEM-512/768/1024 recipients
    /// (key type 4). No released Dovecot reads ML-KEM, so ML-KEM
    /// recipients need this target explicitly.
    ///
    /// ```
    /// use mailcrypt::Target;
    /// use mailcrypt::keys::{KeyType, MlKemParams};
    /// assert_eq!(Target::from_name("dovecot-main"), Some(Target::DovecotMain));
    /// assert!(Target::DovecotMain.reads_key_type(KeyType::MlKem(MlKemParams::MlKem1024)));
    /// assert!(!Target::Dovecot24.reads_key_type(KeyType::MlKem(MlKemParams::MlKem512)));
    /// ```
    DovecotMain,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [
        Target::Dovecot23,
        Target::Dovecot23OpenSsl3Unpatched,
        Target::Dovecot24,
        Target::DovecotMain,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Dovecot23 => "dovecot-2.3",
            Target::Dovecot23OpenSsl3Unpatched => "dovecot-2.3-openssl3-unpatched",
            Target::Dovecot24 => "dovecot-2.4",
            Target::DovecotMain => "dovecot-main",
        }
    }

    /// Parse a command-line name.
    pub fn from_name(s: &str) -> Option<Target> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The id convention this build looks for, for `key`.
    pub fn id_convention(self, key: &PublicKey) -> IdConvention {
        match key.key_type() {
            KeyType::Rsa(_) | KeyType::X25519 | KeyType::X448 | KeyType::MlKem(_) => {
                IdConvention::Spki
            }
            _ => match self {
                Target::Dovecot23 | Target::Dovecot24 | Target::DovecotMain => {
                    IdConvention::SpkiCompressed
                }
                Target::Dovecot23OpenSsl3Unpatched => match key.source_point_form() {
                    Some(PointForm::Compressed) => IdConvention::SpkiCompressed,
                    _ => IdConvention::SpkiUncompressed,
                },
            },
        }
    }

    /// Whether this build can use recipient keys of type `key_type`:
    /// X25519 and X448 only from Dovecot 2.4 (the 2.3 builds abort with a
    /// panic when they load such a key), ML-KEM only in Dovecot main
    /// (2.4.1 aborts loading ML-KEM keys, 2.3 cannot load them).
    ///
    /// ```
    /// use mailcrypt::Target;
    /// use mailcrypt::keys::KeyType;
    /// assert!(Target::Dovecot24.reads_key_type(KeyType::X25519));
    /// assert!(!Target::Dovecot23.reads_key_type(KeyType::X448));
    /// ```
    pub fn reads_key_type(self, key_type: KeyType) -> bool {
        match key_type {
            KeyType::MlKem(_) => self == Target::DovecotMain,
            KeyType::X25519 | KeyType::X448 => {
                matches!(self, Target::Dovecot24 | Target::DovecotMain)
            }
            _ => true,
        }
    }

    /// Whether this build can read bodies encrypted with `cipher`.
    pub fn reads_cipher(self, cipher: &CipherAlg) -> bool {
        // Dovecot main reads every cipher 2.4 reads.
        if self == Target::DovecotMain {
            return Target::Dovecot24.reads_cipher(cipher);
        }
        match cipher {
            // 2.3 has no OID for ChaCha20-Poly1305. Every other known
            // cipher (AES/Camellia/ARIA/SM4 OFB/CFB/CTR/CBC, ARIA-GCM,
            // 3DES-CBC) was written and read back by Dovecot 2.3.13
            // (OpenSSL 1.1) and 2.3.19.1 (OpenSSL 3.0) as well as 2.4.1.
            CipherAlg::ChaCha20Poly1305 => self == Target::Dovecot24,
            CipherAlg::Unknown(_) => false,
            _ => true,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Container format version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// Builder for encrypted containers, in the style of the `age` crate.
///
/// ```
/// use std::io::{Read, Write};
/// use mailcrypt::{Decryptor, Encryptor, Target, keys::{KeyRing, PrivateKey}};
/// let key = PrivateKey::generate_ec(mailcrypt::keys::Curve::P256).unwrap();
/// let enc = Encryptor::new(vec![key.public_key().clone()]).target(Target::Dovecot23);
/// let mut w = enc.wrap_output(Vec::new()).unwrap();
/// w.write_all(b"Subject: hi\n\nhello\n").unwrap();
/// let file = w.finish().unwrap();
/// let mut ring = KeyRing::new();
/// ring.add(key);
/// let mut out = Vec::new();
/// Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default()).unwrap().read_to_end(&mut out).unwrap();
/// assert_eq!(out, b"Subject: hi\n\nhello\n");
/// ```
#[derive(Debug, Clone)]
pub struct Encryptor {
    recipients: Vec<PublicKey>,
    cipher: CipherAlg,
    hash: HashAlg,
    target: Target,
    id_form: Option<PointForm>,
    version: Version,
    multiple: bool,
    rounds: u32,
    same_calg: bool,
}

impl Encryptor {
    /// Encrypt to `recipients` (one, unless
    /// [`Encryptor::allow_multiple_recipients`] is set) with Dovecot's
    /// default `aes-256-gcm-sha256` for [`Target::Dovecot23`].
    pub fn new(recipients: Vec<PublicKey>) -> Self {
        Encryptor {
            recipients,
            cipher: CipherAlg::Aes256Gcm,
            hash: HashAlg::Sha256,
            target: Target::Dovecot23,
            id_form: None,
            version: Version::V2,
            multiple: false,
            rounds: 2048,
            same_calg: false,
        }
    }

    /// Choose the build to write for.
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Choose cipher and hash by Dovecot's `crypt_write_algorithm` name,
    /// e.g. `aes-256-gcm-sha256`, `aes-256-cbc-sha256`,
    /// `chacha20-poly1305-sha256`. The name is split at its last `-`, as
    /// Dovecot does. AEAD ciphers get the AEAD flag, others HMAC.
    pub fn algorithm(mut self, name: &str) -> Result<Self, EncryptError> {
        let (c, h) = name.rsplit_once('-').ok_or_else(|| {
            EncryptError::Unsupported(format!("algorithm \"{name}\" is not <cipher>-<hash>"))
        })?;
        self.cipher = CipherAlg::from_name(c)
            .filter(|c| c.key_iv_len().is_some())
            .ok_or_else(|| EncryptError::Unsupported(format!("cipher \"{c}\"")))?;
        self.hash = HashAlg::from_name(h)
            // MD5: read only. Dovecot accepts it, but there is no reason
            // to write new files with it.
            .filter(|h| *h != HashAlg::Md5)
            .ok_or_else(|| EncryptError::Unsupported(format!("hash \"{h}\"")))?;
        Ok(self)
    }

    /// Override the key id point form (EC recipients only).
    pub fn key_id_form(mut self, form: PointForm) -> Self {
        self.id_form = Some(form);
        self
    }

    /// Write format version 1 (legacy: EC only, AES-256-CTR, **no
    /// integrity protection**). For producing test vectors; never use it
    /// for real mail.
    pub fn legacy_v1(mut self) -> Self {
        self.version = Version::V1;
        self
    }

    /// Allow more than one recipient. No Dovecot build reads such files
    /// (measured with 2.3.13, 2.3.19.1 patched and unpatched, and 2.4.1:
    /// "truncate header length" with the first recipient's key, "no private
    /// key available" with the others); only mailcrypt reads them.
    pub fn allow_multiple_recipients(mut self) -> Self {
        self.multiple = true;
        self
    }

    /// Wrap the session key with the body cipher itself instead of
    /// AES-256-CBC (header flag 0x10, `SAME_CALG`; with an AEAD cipher the
    /// 16-byte tag follows the wrapped key). Dovecot 2.4 reads it, but no
    /// Dovecot configuration writes it: only for API users who need it.
    /// Needs [`Target::Dovecot24`] (or [`Target::DovecotMain`]) and EC,
    /// X25519, X448 or ML-KEM recipients.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use mailcrypt::{Decryptor, Encryptor, Target, keys::{KeyRing, PrivateKey}};
    /// let key = PrivateKey::generate_x25519()?;
    /// let enc = Encryptor::new(vec![key.public_key().clone()])
    ///     .target(Target::Dovecot24)
    ///     .same_calg();
    /// let mut w = enc.wrap_output(Vec::new())?;
    /// w.write_all(b"hello")?;
    /// let file = w.finish()?;
    /// let mut ring = KeyRing::new();
    /// ring.add(key);
    /// let mut out = Vec::new();
    /// Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())?.read_to_end(&mut out)?;
    /// assert_eq!(out, b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn same_calg(mut self) -> Self {
        self.same_calg = true;
        self
    }

    fn recipient_id(&self, key: &PublicKey) -> KeyId {
        let conv = match (self.id_form, key.key_type()) {
            (Some(PointForm::Compressed), KeyType::Ec(_)) => IdConvention::SpkiCompressed,
            (Some(PointForm::Uncompressed), KeyType::Ec(_)) => IdConvention::SpkiUncompressed,
            _ => self.target.id_convention(key),
        };
        key.id(conv).unwrap_or_else(|| key.canonical_id())
    }

    /// Build the header and the body cipher (exposed for tests and tools
    /// that rewrite headers).
    fn prepare(&self) -> Result<(Vec<u8>, BodyCipher), EncryptError> {
        if self.recipients.is_empty() {
            return Err(EncryptError::NoRecipients);
        }
        if self.recipients.len() > 1 && !self.multiple {
            return Err(EncryptError::Unsupported(
                "more than one recipient: Dovecot reads only single-recipient files (use allow_multiple_recipients / --multiple-recipients)".into(),
            ));
        }
        if let Some(k) = self
            .recipients
            .iter()
            .find(|k| !self.target.reads_key_type(k.key_type()))
        {
            return Err(EncryptError::Unsupported(
                if matches!(k.key_type(), KeyType::MlKem(_)) {
                    format!(
                        "{} recipient for {}: no released Dovecot reads ML-KEM keys, only the unreleased main branch; use --target dovecot-main",
                        k.key_type(),
                        self.target
                    )
                } else {
                    format!(
                        "{} recipient for {}: only Dovecot 2.4 reads X25519/X448 keys (the 2.3 builds crash loading them); use --target dovecot-2.4",
                        k.key_type(),
                        self.target
                    )
                },
            ));
        }
        match self.version {
            Version::V1 => self.prepare_v1(),
            Version::V2 => self.prepare_v2(),
        }
    }

    fn prepare_v1(&self) -> Result<(Vec<u8>, BodyCipher), EncryptError> {
        let [key] = self.recipients.as_slice() else {
            return Err(EncryptError::Unsupported(
                "version 1 has exactly one recipient".into(),
            ));
        };
        if !matches!(key.key_type(), KeyType::Ec(_)) {
            return Err(EncryptError::Unsupported(
                "version 1 needs an EC recipient".into(),
            ));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        random(seed.as_mut_slice())?;
        let (eph, enc) = wrap::wrap_v1(key, &seed, PointForm::Uncompressed)?;
        let id = key
            .id(IdConvention::V1)
            .ok_or_else(|| EncryptError::Unsupported("no v1 id".into()))?;
        let header = Header::V1(HeaderV1 {
            ephemeral_key: eph,
            key_id: id.as_bytes().to_vec(),
            seed_hash: Hash::Sha256.digest(&[seed.as_slice()]),
            encrypted_seed: enc,
            trailing: Vec::new(),
        });
        let bytes = header
            .to_bytes()
            .map_err(|e| EncryptError::Unsupported(e.to_string()))?;
        let cipher = BodyCipher::v1(seed.as_slice(), Direction::Encrypt)
            .map_err(|_| EncryptError::Unsupported("AES-256-CTR".into()))?;
        Ok((bytes, cipher))
    }

    fn prepare_v2(&self) -> Result<(Vec<u8>, BodyCipher), EncryptError> {
        if !self.target.reads_cipher(&self.cipher) {
            return Err(EncryptError::Unsupported(format!(
                "{} cannot read {} (Dovecot 2.3 has no OID mapping for it; use --target dovecot-2.4)",
                self.target, self.cipher
            )));
        }
        let (kl, il) = self
            .cipher
            .key_iv_len()
            .ok_or_else(|| EncryptError::Unsupported(self.cipher.name()))?;
        let hash = Hash::from_alg(&self.hash)
            .ok_or_else(|| EncryptError::Unsupported(self.hash.name()))?;
        let aead = self.cipher.is_aead();
        let mut flags = if aead { FLAG_AEAD } else { FLAG_HMAC };
        if self.same_calg {
            if !matches!(self.target, Target::Dovecot24 | Target::DovecotMain) {
                return Err(EncryptError::Unsupported(format!(
                    "SAME_CALG (flag 0x10) for {}: only Dovecot 2.4 reads it",
                    self.target
                )));
            }
            if self
                .recipients
                .iter()
                .any(|k| matches!(k.key_type(), KeyType::Rsa(_)))
            {
                return Err(EncryptError::Unsupported(
                    "SAME_CALG (flag 0x10) with an RSA recipient (RSA-OAEP has no key-encryption cipher)".into(),
                ));
            }
            flags |= FLAG_SAME_CALG;
        }
        let mut blob = Zeroizing::new(vec![0u8; kl + il + 16]);
        random(&mut blob)?;
        let mut recipients = Vec::with_capacity(self.recipients.len());
        for key in &self.recipients {
            let w = wrap::wrap_v2(
                key,
                &blob,
                hash,
                self.rounds,
                PointForm::Uncompressed,
                self.same_calg.then_some(&self.cipher),
            )?;
            recipients.push(Recipient {
                key_type: w.key_type,
                key_id: self.recipient_id(key),
                ephemeral_key: w.ephemeral_key,
                encrypted_key: w.encrypted_key,
            });
        }
        let header = Header::V2(HeaderV2 {
            flags,
            cipher: self.cipher.clone(),
            hash: self.hash.clone(),
            rounds: self.rounds,
            recipients,
            key_check: hash.key_check(&blob),
        });
        let bytes = header
            .to_bytes()
            .map_err(|e| EncryptError::Unsupported(e.to_string()))?;
        let (key, rest) = blob.split_at(kl);
        let (iv, extra) = rest.split_at(il);
        let (aad, hmac) = if aead {
            (Some(extra), None)
        } else {
            (
                None,
                Some(
                    hash.hmac(extra)
                        .ok_or_else(|| EncryptError::Unsupported("HMAC".into()))?,
                ),
            )
        };
        let cipher = BodyCipher::v2(&self.cipher, key, iv, aad, hmac, Direction::Encrypt)
            .map_err(|_| EncryptError::Unsupported(self.cipher.name()))?;
        Ok((bytes, cipher))
    }

    /// Wrap `output`: plaintext written to the returned writer comes out
    /// encrypted. Call [`StreamWriter::finish`] at the end.
    pub fn wrap_output<W: Write>(&self, output: W) -> Result<StreamWriter<W>, EncryptError> {
        let (header, cipher) = self.prepare()?;
        Ok(StreamWriter {
            inner: BodyWriter::new(output, header, cipher),
        })
    }
}

#[cfg(feature = "async")]
impl Encryptor {
    /// [`Encryptor::wrap_output`] for an async output (feature `async`):
    /// plaintext written to the returned [`futures_io::AsyncWrite`] comes
    /// out encrypted. Finish with
    /// [`AsyncStreamWriter::finish`](crate::AsyncStreamWriter::finish) or
    /// `close()`.
    pub fn wrap_async_output<W: futures_io::AsyncWrite + Unpin>(
        &self,
        output: W,
    ) -> Result<crate::AsyncStreamWriter<W>, EncryptError> {
        let (header, cipher) = self.prepare()?;
        Ok(crate::AsyncStreamWriter::new(output, header, cipher))
    }
}

fn random(buf: &mut [u8]) -> Result<(), EncryptError> {
    getrandom::fill(buf).map_err(|e| EncryptError::Random(e.to_string()))
}

/// Encrypting writer from [`Encryptor::wrap_output`].
///
/// Memory stays bounded (64 KiB) whatever the size. Nothing is written
/// until the first plaintext byte, so empty input gives a 0-byte file, as
/// Dovecot writes it. The AEAD tag or HMAC is written by
/// [`StreamWriter::finish`]; dropping the writer without it leaves output
/// that fails authentication.
pub struct StreamWriter<W: Write> {
    inner: BodyWriter<W>,
}

impl<W: Write> StreamWriter<W> {
    /// Finish the body, write the trailer, flush, and return the output.
    pub fn finish(self) -> io::Result<W> {
        self.inner.finish()
    }
}

impl<W: Write> Write for StreamWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
