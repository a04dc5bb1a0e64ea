//! [`Decryptor`]: open a container with a [`KeyRing`] and read plaintext.

use std::io::{self, BufRead, Read, Seek, SeekFrom};

use zeroize::Zeroizing;

use crate::container::{
    CipherAlg, FLAG_AEAD, FLAG_HMAC, FLAG_NONE, FLAG_SAME_CALG, Header, HeaderV2, Integrity, MAGIC,
    RecipientType,
};
use crate::error::{DecryptError, FormatError};
use crate::keys::{IdConvention, KeyId, KeyRing, MatchedKey};
use crate::primitives::hash::Hash;
use crate::stream::BodyReader;
use crate::stream::cipher::{BodyCipher, CipherSetupError, Direction, TAG_LEN};
use crate::wrap;

/// Which key opened a file and how its id matched.
#[derive(Debug, Clone)]
pub struct KeyMatch {
    /// Index of the recipient entry in the header (0 for v1).
    pub recipient: usize,
    /// The id found in the header.
    pub key_id: KeyId,
    /// The convention under which the key's id equals it.
    pub convention: IdConvention,
    /// Label of the key in the key ring.
    pub key_label: String,
}

/// What a container is, as far as its header tells.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    /// The parsed header; `None` for a 0-byte file (Dovecot's empty mail).
    pub header: Option<Header>,
    /// Offset of the first body byte.
    pub header_len: usize,
    /// The key that opened it (set by [`Decryptor`]).
    pub matched: Option<KeyMatch>,
}

impl ContainerInfo {
    /// Whether the body carries an AEAD tag or HMAC.
    pub fn is_authenticated(&self) -> bool {
        match &self.header {
            None => true,
            Some(Header::V1(_)) => false,
            Some(Header::V2(h)) => h.integrity() != Integrity::None,
        }
    }
}

/// Options for [`Decryptor`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DecryptOptions {
    /// Refuse files without integrity protection (v1, v2 with flag NONE).
    pub require_integrity: bool,
    /// Read OFB, CFB and CTR bodies (HMAC mode: AES-128/192/256-OFB/CFB,
    /// Camellia, ARIA and SM4 in OFB/CFB/CTR; off by default). The header
    /// is not authenticated and the OIDs of e.g. aes-256-cbc and
    /// aes-256-ofb, sm4-cbc and sm4-ofb, aria-128-cbc and aria-128-cfb
    /// differ in one bit, so with these modes enabled a one-bit change to an
    /// HMAC-mode file passes the HMAC and decrypts to garbage. Enable only
    /// for stores that really use them (Dovecot 2.3 and 2.4 can write them).
    pub allow_ofb_cfb: bool,
}

impl DecryptOptions {
    /// Refuse (or accept) files without integrity protection.
    ///
    /// ```
    /// let opts = mailcrypt::DecryptOptions::default().require_integrity(true);
    /// assert!(opts.require_integrity);
    /// ```
    pub fn require_integrity(mut self, yes: bool) -> Self {
        self.require_integrity = yes;
        self
    }

    /// Accept (or refuse) AES-256-OFB/CFB bodies; see
    /// [`DecryptOptions::allow_ofb_cfb`].
    ///
    /// ```
    /// let opts = mailcrypt::DecryptOptions::default().allow_ofb_cfb(true);
    /// assert!(opts.allow_ofb_cfb);
    /// ```
    pub fn allow_ofb_cfb(mut self, yes: bool) -> Self {
        self.allow_ofb_cfb = yes;
        self
    }
}

enum Body<R> {
    Empty,
    Stream(Box<BodyReader<R>>),
}

/// Reads a mail-crypt container and yields its plaintext through
/// [`std::io::Read`], in bounded memory (64 KiB chunks).
///
/// Two modes:
///
/// * **streaming** ([`Decryptor::new`]): plaintext flows as it is decrypted,
///   as Dovecot does, and is released **unverified** — possibly all of it
///   (the fast paths release everything but the trailer they hold back).
///   The tag or HMAC is checked when the end of the input is reached; if it
///   fails, that `read` returns an error (never `Ok(0)`), so a caller that
///   reads to the end and checks the result never takes tampered data as
///   complete. Use verified mode to release nothing of a tampered file.
/// * **verified** ([`Decryptor::new_verified`] for seekable input,
///   [`Decryptor::new_verified_buffered`] otherwise): the whole body is
///   authenticated before the constructor returns, so no byte of a
///   tampered file is ever released.
///
/// ```
/// use std::io::Read;
/// use mailcrypt::{Decryptor, keys::{KeyRing, PrivateKey}};
/// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
/// let mut ring = KeyRing::new();
/// ring.add(PrivateKey::from_bytes(&key, None).unwrap());
/// let file = std::fs::File::open("vectors/dovecot/sample-v2.bin").unwrap();
/// let mut dec = Decryptor::new_verified(file, &ring).unwrap();
/// let mut plain = Vec::new();
/// dec.read_to_end(&mut plain).unwrap();
/// assert_eq!(plain.len(), 13534);
/// ```
pub struct Decryptor<R> {
    info: ContainerInfo,
    body: Body<R>,
    // Kept only until verified mode has run its authentication pass.
    session: Option<Session>,
}

impl<R: Read> Decryptor<R> {
    /// Open `reader` in streaming mode.
    pub fn new(reader: R, keys: &KeyRing) -> Result<Self, DecryptError> {
        Self::with_options(reader, keys, &DecryptOptions::default())
    }

    /// Open `reader` in streaming mode with options.
    pub fn with_options(
        mut reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        let Some(prefix) = read_prefix(&mut reader)? else {
            return Ok(Decryptor {
                info: ContainerInfo {
                    header: None,
                    header_len: 0,
                    matched: None,
                },
                body: Body::Empty,
                session: None,
            });
        };
        let mut chained = prefix.chain(reader);
        let header = Header::read_io(&mut chained).map_err(|e| match e {
            crate::container::ReadHeaderError::Format(f) => DecryptError::Format(f),
            crate::container::ReadHeaderError::Io(i) => DecryptError::Io(i),
        })?;
        let (_, reader) = chained.into_inner();
        let (session, info) = open(header, keys, opts)?;
        let cipher = session.cipher(Direction::Decrypt)?;
        Ok(Decryptor {
            info,
            body: Body::Stream(Box::new(BodyReader::new(
                reader,
                cipher,
                session.trailer_len(),
            ))),
            session: Some(session),
        })
    }

    /// What the header says and which key matched.
    pub fn info(&self) -> &ContainerInfo {
        &self.info
    }

    /// Give back the inner reader (positioned wherever decryption got to).
    pub fn into_inner(self) -> Option<R> {
        match self.body {
            Body::Empty => None,
            Body::Stream(b) => Some((*b).into_inner()),
        }
    }
}

impl<R: BufRead> Decryptor<R> {
    /// [`Decryptor::new`] for a buffered source (a `&[u8]`, a
    /// `BufReader`, a `Cursor`): the same streaming semantics, but stream
    /// ciphers (GCM, ChaCha20-Poly1305, CTR/OFB/CFB) decrypt straight out of
    /// the source's buffer into the caller's, saving the copy of every
    /// byte into the adapter's own buffer that a plain `Read` source needs
    /// (a quarter of the decryption time for AES-256-GCM; see
    /// docs/performance.md).
    ///
    /// ```
    /// use std::io::Read;
    /// use mailcrypt::{Decryptor, keys::{KeyRing, PrivateKey}};
    /// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
    /// let mut ring = KeyRing::new();
    /// ring.add(PrivateKey::from_bytes(&key, None).unwrap());
    /// let file = std::fs::read("vectors/dovecot/sample-v2.bin").unwrap();
    /// let mut dec = Decryptor::new_buf_read(&file[..], &ring).unwrap();
    /// let mut plain = Vec::new();
    /// dec.read_to_end(&mut plain).unwrap();
    /// assert_eq!(plain.len(), 13534);
    /// ```
    pub fn new_buf_read(reader: R, keys: &KeyRing) -> Result<Self, DecryptError> {
        Self::buf_read_with_options(reader, keys, &DecryptOptions::default())
    }

    /// [`Decryptor::new_buf_read`] with options.
    pub fn buf_read_with_options(
        reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        Ok(Self::with_options(reader, keys, opts)?.use_source_buffer())
    }

    /// From now on, decrypt straight out of the source's buffer (what
    /// [`Decryptor::new_buf_read`] does from the start); for a decryptor
    /// made by another constructor over a buffered source, e.g.
    /// [`Decryptor::new_verified`] over a `BufReader<File>`. Nothing
    /// changes but the copy saved.
    ///
    /// ```
    /// use std::io::{BufReader, Read};
    /// use mailcrypt::{Decryptor, keys::{KeyRing, PrivateKey}};
    /// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
    /// let mut ring = KeyRing::new();
    /// ring.add(PrivateKey::from_bytes(&key, None).unwrap());
    /// let file = std::fs::File::open("vectors/dovecot/sample-v2.bin").unwrap();
    /// let mut dec = Decryptor::new_verified(BufReader::new(file), &ring)
    ///     .unwrap()
    ///     .use_source_buffer();
    /// let mut plain = Vec::new();
    /// dec.read_to_end(&mut plain).unwrap();
    /// assert_eq!(plain.len(), 13534);
    /// ```
    pub fn use_source_buffer(mut self) -> Self {
        if let Body::Stream(b) = &mut self.body {
            b.enable_buf_read();
        }
        self
    }
}

impl<R: Read + Seek> Decryptor<R> {
    /// Open seekable input in verified mode: authenticate the whole body
    /// first, then rewind and decrypt. CBC bodies (HMAC and NONE mode) are
    /// also decrypted once in that first pass, because their length and
    /// padding are only checked by decryption; so every error a later
    /// `read` could report (short of an I/O error of the input) is
    /// reported here, before any plaintext is released. Files without
    /// integrity (v1, NONE) pass through unless
    /// [`DecryptOptions::require_integrity`] is set.
    pub fn new_verified(reader: R, keys: &KeyRing) -> Result<Self, DecryptError> {
        Self::verified_with_options(reader, keys, &DecryptOptions::default())
    }

    /// [`Decryptor::new_verified`] with options.
    pub fn verified_with_options(
        mut reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        let start = reader.stream_position()?;
        let mut dec = Self::with_options(reader, keys, opts)?;
        let session = dec.session.take();
        let (Body::Stream(body), Some(session)) = (&mut dec.body, session) else {
            return Ok(dec);
        };
        let body_start = start
            .checked_add(dec.info.header_len as u64)
            .ok_or_else(|| io::Error::other("input position overflows"))?;
        let cipher = session.cipher(Direction::Decrypt)?;
        let inner = body.get_mut();
        if cipher.is_block_mode() {
            // CBC (HMAC or NONE): the MAC does not cover the body length
            // or the padding, which only decryption reveals. Run the
            // whole reader once, discarding its output, so that every
            // error it can raise is raised here and not after bytes were
            // released.
            let mut probe = BodyReader::new(&mut *inner, cipher, session.trailer_len());
            io::copy(&mut probe, &mut io::sink()).map_err(DecryptError::from_io)?;
            inner.seek(SeekFrom::Start(body_start))?;
        } else if dec.info.is_authenticated() {
            BodyReader::authenticate_all(inner, cipher, session.trailer_len())?;
            inner.seek(SeekFrom::Start(body_start))?;
        }
        Ok(dec)
    }
}

impl Decryptor<io::Cursor<Vec<u8>>> {
    /// Verified mode for input that cannot seek: buffer the whole container
    /// (at most `limit` bytes, else [`DecryptError::BufferLimit`]), then
    /// authenticate and decrypt from memory.
    pub fn new_verified_buffered<R: Read>(
        reader: R,
        keys: &KeyRing,
        limit: u64,
    ) -> Result<Self, DecryptError> {
        Self::verified_buffered_with_options(reader, keys, limit, &DecryptOptions::default())
    }

    /// [`Decryptor::new_verified_buffered`] with options.
    pub fn verified_buffered_with_options<R: Read>(
        reader: R,
        keys: &KeyRing,
        limit: u64,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        let mut data = Vec::new();
        reader
            .take(limit.saturating_add(1))
            .read_to_end(&mut data)?;
        if data.len() as u64 > limit {
            return Err(DecryptError::BufferLimit { limit });
        }
        // Already in memory: decrypt from there without another copy.
        Ok(Self::verified_with_options(io::Cursor::new(data), keys, opts)?.use_source_buffer())
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            Body::Empty => Ok(0),
            Body::Stream(b) => b.read(buf),
        }
    }
}

/// Plaintext straight from the adapter's buffer (no copy into the
/// caller's), with the same guarantees as `read`.
impl<R: Read> BufRead for Decryptor<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match &mut self.body {
            Body::Empty => Ok(&[]),
            Body::Stream(b) => b.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        if let Body::Stream(b) = &mut self.body {
            b.consume(n);
        }
    }
}

/// Read up to 10 bytes to tell an empty file (Dovecot's empty mail) from a
/// container; returns the bytes read so they can be chained back.
fn read_prefix<R: Read>(r: &mut R) -> Result<Option<io::Cursor<Vec<u8>>>, DecryptError> {
    let mut first = [0u8; 1];
    loop {
        match r.read(&mut first) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                crate::io_count::check(n, first.len())?;
                return Ok(Some(io::Cursor::new(first.to_vec())));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The unwrapped session key and what is needed to run the body cipher.
pub(crate) enum Session {
    V1 {
        seed: Zeroizing<Vec<u8>>,
    },
    V2 {
        alg: CipherAlg,
        integrity: Integrity,
        hash: Hash,
        key_len: usize,
        iv_len: usize,
        blob: Zeroizing<Vec<u8>>,
    },
}

impl Session {
    pub(crate) fn trailer_len(&self) -> usize {
        match self {
            Session::V1 { .. } => 0,
            Session::V2 {
                integrity: Integrity::Aead,
                ..
            } => TAG_LEN,
            Session::V2 {
                integrity: Integrity::Hmac,
                hash,
                ..
            } => hash.output_len(),
            Session::V2 { .. } => 0,
        }
    }

    pub(crate) fn cipher(&self, dir: Direction) -> Result<BodyCipher, DecryptError> {
        match self {
            Session::V1 { seed } => {
                BodyCipher::v1(seed, dir).map_err(|e| setup_err(&CipherAlg::Aes256Gcm, e))
            }
            Session::V2 {
                alg,
                integrity,
                hash,
                key_len,
                iv_len,
                blob,
            } => {
                let (key, rest) = blob.split_at((*key_len).min(blob.len()));
                let (iv, extra) = rest.split_at((*iv_len).min(rest.len()));
                let (aad, hmac) =
                    match integrity {
                        Integrity::Aead => (Some(extra), None),
                        Integrity::Hmac => (
                            None,
                            Some(hash.hmac(extra).ok_or_else(|| {
                                DecryptError::UnsupportedHash(format!("{hash:?}"))
                            })?),
                        ),
                        Integrity::None => (None, None),
                    };
                BodyCipher::v2(alg, key, iv, aad, hmac, dir).map_err(|e| setup_err(alg, e))
            }
        }
    }
}

fn setup_err(alg: &CipherAlg, e: CipherSetupError) -> DecryptError {
    match e {
        CipherSetupError::Unsupported => DecryptError::UnsupportedCipher(alg.name()),
        CipherSetupError::BadKey => {
            DecryptError::Unsupported(format!("bad key/IV length for {alg}"))
        }
    }
}

/// Match a key and unwrap the session key.
pub(crate) fn open(
    header: Header,
    keys: &KeyRing,
    opts: &DecryptOptions,
) -> Result<(Session, ContainerInfo), DecryptError> {
    let header_len = header.header_len();
    match &header {
        Header::V1(h) => {
            if opts.require_integrity {
                return Err(DecryptError::NoIntegrity("container version 1"));
            }
            let id = KeyId::from_slice(&h.key_id).ok_or_else(|| {
                FormatError::malformed(
                    "v1 key id",
                    format!("{} bytes, expected 32", h.key_id.len()),
                )
            })?;
            let m = keys
                .find_with(&id, IdConvention::names_v1_recipient)
                .ok_or_else(|| {
                    DecryptError::NoMatchingKey(Box::new(keys.search_report(vec![id])))
                })?;
            let seed = wrap::unwrap_v1(h, &m)?;
            let info = info_for(header.clone(), header_len, 0, &m);
            Ok((Session::V1 { seed }, info))
        }
        Header::V2(h) => {
            let (session, idx, m) = open_v2(h, keys, opts)?;
            let info = info_for(header.clone(), header_len, idx, &m);
            Ok((session, info))
        }
    }
}

fn info_for(header: Header, header_len: usize, idx: usize, m: &MatchedKey) -> ContainerInfo {
    ContainerInfo {
        header: Some(header),
        header_len,
        matched: Some(KeyMatch {
            recipient: idx,
            key_id: m.id,
            convention: m.convention,
            key_label: m.label.clone(),
        }),
    }
}

fn open_v2(
    h: &HeaderV2,
    keys: &KeyRing,
    opts: &DecryptOptions,
) -> Result<(Session, usize, MatchedKey), DecryptError> {
    let known = FLAG_HMAC | FLAG_AEAD | FLAG_NONE | FLAG_SAME_CALG;
    if h.flags & !known != 0 {
        // Dovecot ignores unknown bits, but none of its writers sets any;
        // refusing them keeps every header bit meaningful.
        return Err(DecryptError::Unsupported(format!(
            "unknown flag bits {:#x}",
            h.flags & !known
        )));
    }
    if (h.flags & (FLAG_HMAC | FLAG_AEAD | FLAG_NONE)).count_ones() > 1 {
        return Err(DecryptError::Unsupported(format!(
            "contradictory integrity flags {:#x}",
            h.flags
        )));
    }
    let integrity = h.integrity();
    if opts.require_integrity && integrity == Integrity::None {
        return Err(DecryptError::NoIntegrity("flag NONE"));
    }
    let (key_len, iv_len) = h
        .cipher
        .key_iv_len()
        .ok_or_else(|| DecryptError::UnsupportedCipher(h.cipher.name()))?;
    match (integrity, h.cipher.is_aead()) {
        (Integrity::Aead, true) | (Integrity::Hmac | Integrity::None, false) => {}
        (Integrity::Aead, false) => {
            return Err(DecryptError::Unsupported(format!(
                "AEAD flag with the non-AEAD cipher {}",
                h.cipher
            )));
        }
        (_, true) => {
            return Err(DecryptError::Unsupported(format!(
                "AEAD cipher {} without the AEAD flag",
                h.cipher
            )));
        }
    }
    if h.cipher.is_hmac_stream_mode() && !opts.allow_ofb_cfb {
        return Err(DecryptError::Unsupported(format!(
            "{} bodies are refused by default: the header is not authenticated and a one-bit change turns a CBC body into an OFB/CFB/CTR one with the same key (e.g. aes-256-cbc into aes-256-ofb); enable them explicitly (DecryptOptions::allow_ofb_cfb, CLI --allow-ofb-cfb) for stores written with them",
            h.cipher
        )));
    }
    let hash =
        Hash::from_alg(&h.hash).ok_or_else(|| DecryptError::UnsupportedHash(h.hash.name()))?;
    let extra = if integrity == Integrity::None { 0 } else { 16 };
    let blob_len = key_len + iv_len + extra;

    let mut found = None;
    for (i, r) in h.recipients.iter().enumerate() {
        if let Some(m) = keys.find_with(&r.key_id, |c| r.key_type.accepts(c)) {
            found = Some((i, r, m));
            break;
        }
    }
    let Some((idx, r, m)) = found else {
        if let [r] = h.recipients.as_slice()
            && !matches!(
                r.key_type,
                RecipientType::Rsa | RecipientType::Ec | RecipientType::MlKem
            )
        {
            return Err(DecryptError::UnsupportedKeyType(r.key_type.to_byte()));
        }
        let wanted = h.recipients.iter().map(|r| r.key_id).collect();
        return Err(DecryptError::NoMatchingKey(Box::new(
            keys.search_report(wanted),
        )));
    };
    let blob: Zeroizing<Vec<u8>> = wrap::unwrap_v2(h, r, &m, blob_len)?;
    let session = Session::V2 {
        alg: h.cipher.clone(),
        integrity,
        hash,
        key_len,
        iv_len,
        blob,
    };
    Ok((session, idx, m))
}

/// Check whether `data` starts like a container (the magic Dovecot itself
/// uses to tell encrypted mail from plain mail).
pub fn is_encrypted(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}
