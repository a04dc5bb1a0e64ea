//! Every cap mailcrypt puts on its input, in one place: the lengths,
//! counts and work factors a hostile file could otherwise inflate. Each
//! is also available where it applies (e.g. `container::MAX_HEADER_LEN`),
//! as a re-export of the constant here.
//!
//! ```
//! use mailcrypt::limits;
//! assert_eq!(limits::MAX_HEADER_LEN, mailcrypt::container::MAX_HEADER_LEN);
//! assert!(limits::MAX_ROUNDS >= 2048); // what Dovecot writes
//! ```

// Verified decryption.

/// Default for [`DecryptOptions::buffer_limit`](crate::DecryptOptions::buffer_limit):
/// the most verified mode buffers from input that cannot seek (the CLI's
/// `--max-buffer` default too).
pub const DEFAULT_VERIFY_BUFFER: u64 = 256 * 1024 * 1024;

// Container headers.

/// Largest header mailcrypt accepts (Dovecot writes 220–700 bytes; RSA-4096
/// recipients need about 600).
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// Largest recipient count mailcrypt accepts (Dovecot writes 1).
pub const MAX_RECIPIENTS: usize = 64;

/// Largest single variable-length field (ephemeral key, wrapped key, hash).
pub const MAX_FIELD_LEN: usize = 16 * 1024;

/// Longest algorithm OID content in a v2 header: DER short-form lengths
/// only (Dovecot's reader mis-parses long forms; real OIDs are 5–11 bytes).
pub const MAX_OID_LEN: usize = 127;

// Session-key unwrap.

/// Largest PBKDF2 iteration count accepted from a header (Dovecot writes
/// 2048); a hostile header cannot make a reader spin for minutes.
pub const MAX_ROUNDS: u32 = 100_000;

// Key files.

/// Largest key file accepted (Dovecot 2.4.4 caps keys at 16 KiB; PEM of
/// RSA-16384 stays under that).
pub const MAX_KEY_FILE_LEN: usize = 64 * 1024;

/// Largest PBKDF2 iteration count accepted in an encrypted PKCS#8 key
/// (OpenSSL writes 2048; mailcrypt writes 600 000).
pub const MAX_PKCS8_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Largest scrypt memory cost (128 · N · r bytes) accepted in an encrypted
/// PKCS#8 key.
pub const MAX_PKCS8_SCRYPT_MEMORY: u64 = 64 << 20;

// Dovecot key strings.

/// Largest Dovecot key string accepted, in bytes (64 KiB). Dovecot 2.4.4
/// caps the decoded key buffer at 16 KiB; RSA-8192 in PKCS#1 hex needs
/// about 9.5 KiB, so nothing real comes close.
pub const MAX_KEY_STRING_LEN: usize = 64 * 1024;

// JSON Web Keys.

/// Largest JWK text accepted, in bytes (64 KiB; an RSA-8192 private JWK is
/// about 6 KiB).
pub const MAX_JWK_LEN: usize = 64 * 1024;

// Mailbox attribute files (per-user key stores).

/// Largest attribute file accepted, in bytes (16 MiB). A user with a few
/// hundred folders needs well under 1 MiB; the file may also hold other
/// attributes (IMAP METADATA, Sieve scripts), hence the margin.
pub const MAX_ATTRIBUTE_FILE_LEN: usize = 16 * 1024 * 1024;

/// Largest number of attributes accepted from one file (200 000).
pub const MAX_ATTRIBUTES: usize = 200_000;

/// Most mail-crypt private keys [`UserKeyStore::load_into`](crate::keys::UserKeyStore::load_into) opens from one
/// store (16 384: one user key and a folder key per mailbox). Each costs a
/// key agreement and a key derivation (about 1 ms, up to a few ms at
/// `MAX_ROUNDS` for a password-protected one), so the cap bounds the work
/// a hostile attribute file can ask for to seconds.
pub const MAX_STORE_PRIVATE_KEYS: usize = 16_384;

// Decompression (feature `compression`).

/// Largest xz dictionary accepted (xz -9 uses 64 MiB).
pub const MAX_XZ_DICT: u64 = 64 << 20;

/// Largest zstd window accepted.
pub const MAX_ZSTD_WINDOW: u64 = 64 << 20;

/// Largest uncompressed Dovecot-LZ4 chunk accepted (Dovecot writes 64 KiB).
pub const MAX_LZ4_CHUNK: u32 = 16 << 20;
