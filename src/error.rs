//! Error types, one enum per direction (as the `age` crate does).
//!
//! * [`FormatError`]: the bytes of a container header are not what the format allows.
//! * [`KeyError`]: a key could not be loaded, parsed or converted.
//! * [`DecryptError`]: a container could not be decrypted (wraps the two above).
//! * [`EncryptError`]: a container could not be written.
//!
//! Every message says what was wrong and, where it matters, what was tried.

use std::fmt;
use std::io;

use crate::key_id::{IdConvention, KeyId};

/// A container header does not follow the mail-crypt format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input does not start with `CRYPTED\x03\x07`.
    #[error(
        "not a mail-crypt container: the input does not start with the CRYPTED\\x03\\x07 magic"
    )]
    NotEncrypted,
    /// The version byte after the magic is neither 1 nor 2.
    #[error("unsupported container version {0} (only 1 and 2 exist)")]
    UnsupportedVersion(u8),
    /// The input ended inside the header.
    #[error("truncated header: the input ended while reading {what} (needed {needed} more bytes)")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// The declared header length is larger than the cap.
    #[error("header length {len} exceeds the limit of {max} bytes")]
    HeaderTooLarge {
        /// Declared length.
        len: u64,
        /// The cap ([`crate::container::MAX_HEADER_LEN`]).
        max: usize,
    },
    /// A field is malformed or lengths disagree.
    #[error("malformed header: {field}: {reason}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// More recipients than the cap.
    #[error("header lists {count} recipients, more than the limit of {max}")]
    TooManyRecipients {
        /// Declared count.
        count: usize,
        /// The cap ([`crate::container::MAX_RECIPIENTS`]).
        max: usize,
    },
}

impl FormatError {
    pub(crate) fn malformed(field: &'static str, reason: impl Into<String>) -> Self {
        FormatError::Malformed {
            field,
            reason: reason.into(),
        }
    }
}

/// A key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is in no key form mailcrypt knows.
    #[error("unrecognised key format: {0}")]
    UnknownFormat(String),
    /// The key is of a type or curve mailcrypt does not support.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The key is encrypted and no password was given.
    #[error("the key is encrypted with a password, but no password was given")]
    PasswordRequired,
    /// The password did not decrypt the key.
    #[error("wrong password (or corrupt encrypted key): {0}")]
    WrongPassword(String),
    /// The bytes are not a valid key of the declared kind.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// A public key was given where a private key is needed.
    #[error("the key is a public key; a private key is needed here")]
    NotPrivate,
    /// The key id stored with the key does not match the key.
    #[error("key id mismatch: stored {stored}, computed {computed}")]
    IdMismatch {
        /// The id stored in the key string.
        stored: String,
        /// The ids computed from the key.
        computed: String,
    },
    /// The key is encrypted to another key (a Dovecot key string with
    /// encryption type 1) and that private key was not given.
    #[error(
        "the key is encrypted with the key {key_id}; that private key is needed to decrypt it (no private key available)"
    )]
    DecryptionKeyRequired {
        /// The id of the encrypting key, as stored in the key string.
        key_id: KeyId,
    },
    /// The OS random generator failed (generating a key, an ephemeral key,
    /// a salt or a KEM message).
    #[error("the OS random generator failed: {0}")]
    Random(String),
    /// Reading a key file failed. Displayed as the I/O error itself, as
    /// [`DecryptError::Io`].
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Displays an error and its `source()` chain as "a: b: c", for the
/// messages that carry another error's whole story in one string (store
/// reports). The error enums here display their own failure and leave the
/// cause to `source()` (e.g. [`DecryptError::Unwrap`]), so nothing is
/// printed twice.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl KeyError {
    pub(crate) fn random(e: getrandom::Error) -> KeyError {
        KeyError::Random(e.to_string())
    }
}

/// Which key was looked for and which keys were available, for
/// [`DecryptError::NoMatchingKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySearch {
    /// The recipient ids in the container header.
    pub wanted: Vec<KeyId>,
    /// For every key in the ring: a label and its ids under every convention.
    pub tried: Vec<(String, Vec<(IdConvention, KeyId)>)>,
}

impl fmt::Display for KeySearch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the file is encrypted for key id")?;
        if self.wanted.len() > 1 {
            write!(f, "s")?;
        }
        for (i, w) in self.wanted.iter().enumerate() {
            write!(f, "{}{}", if i == 0 { " " } else { ", " }, w)?;
        }
        if self.tried.is_empty() {
            return write!(f, "; no private key was given");
        }
        write!(f, "; tried")?;
        for (i, (label, ids)) in self.tried.iter().enumerate() {
            write!(f, "{} {label} (", if i == 0 { "" } else { ";" })?;
            for (j, (conv, id)) in ids.iter().enumerate() {
                write!(f, "{}{conv} {id}", if j == 0 { "" } else { ", " })?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

/// Why the key that matched a recipient could not unwrap the session key,
/// for [`DecryptError::Unwrap`]. (A wrong session key, bad padding or a
/// failed key-check hash are one error, [`DecryptError::KeyCheck`], on
/// purpose.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnwrapError {
    /// The header's PBKDF2 round count is 0 or above
    /// [`crate::limits::MAX_ROUNDS`].
    #[error("PBKDF2 rounds {rounds} outside 1..={max}")]
    Rounds {
        /// The header's round count.
        rounds: u32,
        /// The cap ([`crate::limits::MAX_ROUNDS`]).
        max: u32,
    },
    /// The recipient entry's type does not fit the key (e.g. an RSA entry
    /// whose id matches an EC key).
    #[error("recipient type {recipient_type:#04x} does not fit a {key_type} key")]
    KeyTypeMismatch {
        /// The recipient type byte in the header.
        recipient_type: u8,
        /// The key's type, as [`crate::keys::KeyType`] displays it.
        key_type: String,
    },
    /// A version 1 container names a key that is not EC, X25519 or X448.
    #[error("version 1 containers need an EC, X25519 or X448 key, not {key_type}")]
    V1NeedsEc {
        /// The key's type, as [`crate::keys::KeyType`] displays it.
        key_type: String,
    },
    /// A version 1 header field does not have the length version 1 fixes.
    #[error("v1 {field} is {len} bytes, must be 32")]
    V1FieldLength {
        /// The field.
        field: &'static str,
        /// Its length in the header.
        len: usize,
    },
    /// The key's secret operation failed: ECDH with an ephemeral key that
    /// is not on the key's curve, RSA-OAEP decryption, or an ML-KEM
    /// ciphertext of the wrong length.
    #[error("the key's secret operation failed")]
    Key(#[source] KeyError),
}

/// A container could not be decrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The header is malformed.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// No key in the key ring matches a recipient of the file.
    #[error("no private key available: {0}")]
    NoMatchingKey(Box<KeySearch>),
    /// The header names a cipher mailcrypt does not implement.
    #[error("unsupported body cipher {0}")]
    UnsupportedCipher(String),
    /// The header names a hash mailcrypt does not implement.
    #[error("unsupported MAC/hash algorithm {0}")]
    UnsupportedHash(String),
    /// The recipient key type byte is unknown.
    #[error("unsupported recipient key type {0:#04x}")]
    UnsupportedKeyType(u8),
    /// The header combines options that cannot be decrypted together.
    #[error("unsupported combination: {0}")]
    Unsupported(String),
    /// The matching key failed to unwrap the session key. The reason is
    /// the `source()`, so that it is printed once in an error chain.
    #[error("session key unwrap failed with key {key_id}")]
    Unwrap {
        /// The id of the key that was used.
        key_id: KeyId,
        /// What failed.
        #[source]
        reason: UnwrapError,
    },
    /// The session key unwrapped with the matching key is malformed (bad
    /// CBC padding, wrong length, failed SAME_CALG tag) or does not match
    /// the header's key-check hash. One error for all of these on purpose:
    /// telling them apart would be a padding oracle on the wrapped key.
    #[error(
        "key check failed: the session key unwrapped with this key is malformed or does not match the header's key-check hash (wrong key, or corrupt header or wrapped key)"
    )]
    KeyCheck,
    /// The body's authentication tag or HMAC did not verify.
    #[error(
        "authentication failed: the {what} does not match (the file is corrupt or was tampered with)"
    )]
    Authentication {
        /// `"AEAD tag"` or `"HMAC"`.
        what: &'static str,
    },
    /// The body ended too early.
    #[error("truncated body: {0}")]
    TruncatedBody(String),
    /// CBC padding is invalid.
    #[error("invalid padding at the end of the body")]
    BadPadding,
    /// The body is longer than its cipher allows (AES-GCM: 2^36 − 32
    /// bytes, ChaCha20-Poly1305: 2^38 − 128 bytes); no real writer
    /// produces such a file.
    #[error("the body is longer than its cipher allows ({limit} bytes)")]
    BodyTooLong {
        /// The cipher's limit in bytes.
        limit: u64,
    },
    /// Verified mode over a non-seekable input needs more memory than allowed.
    #[error(
        "verified mode needs to buffer the ciphertext, which exceeds the limit of {limit} bytes"
    )]
    BufferLimit {
        /// The cap given by the caller.
        limit: u64,
    },
    /// The caller asked for integrity and the file has none.
    #[error("the file has no integrity protection ({0}) and integrity was required")]
    NoIntegrity(&'static str),
    /// A key error while looking up or using a key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Reading the input failed. Displayed as the I/O error itself (which
    /// is also the `source()` chain), so that a caller adding the file name
    /// prints the cause once.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl DecryptError {
    /// Turn an `io::Error` produced by [`crate::Decryptor`]'s `Read` impl back
    /// into the `DecryptError` it carries, if any.
    pub fn from_io(err: io::Error) -> DecryptError {
        if err.get_ref().is_some_and(|e| e.is::<DecryptError>()) {
            match err.into_inner().map(|e| e.downcast::<DecryptError>()) {
                Some(Ok(e)) => *e,
                Some(Err(e)) => DecryptError::Io(io::Error::other(e)),
                None => DecryptError::Io(io::Error::other("unknown error")),
            }
        } else {
            DecryptError::Io(err)
        }
    }

    pub(crate) fn into_io(self) -> io::Error {
        match self {
            DecryptError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

impl From<KeyError> for EncryptError {
    fn from(e: KeyError) -> EncryptError {
        match e {
            KeyError::Random(reason) => EncryptError::Random(reason),
            other => EncryptError::Key(other),
        }
    }
}

/// A container could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// No recipient was given.
    #[error("no recipient given")]
    NoRecipients,
    /// The requested options cannot be written for the chosen target.
    #[error("unsupported for this target: {0}")]
    Unsupported(String),
    /// A recipient key could not be used (an invalid public key, or a
    /// key type that cannot be written for the target).
    #[error(transparent)]
    Key(KeyError),
    /// The OS random generator failed (a [`KeyError::Random`] from key
    /// code arrives here too, so that there is one variant for it).
    #[error("the OS random generator failed: {0}")]
    Random(String),
    /// Writing failed. Displayed as the I/O error itself (which is also
    /// the `source()` chain), as [`DecryptError::Io`].
    #[error(transparent)]
    Io(#[from] io::Error),
}
