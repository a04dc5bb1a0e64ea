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

/// How much plaintext a [`Decryptor`] releases before the body is
/// authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Verification {
    /// Plaintext flows as it is decrypted, as Dovecot does, and is
    /// released **unverified**, possibly all of it (the fast paths release
    /// everything but the trailer they hold back). The tag or HMAC is
    /// checked when the end of the input is reached; if it fails, that
    /// `read` returns an error (never `Ok(0)`), so a caller that reads to
    /// the end and checks the result never takes tampered data as complete.
    #[default]
    Streaming,
    /// The whole body is authenticated before the constructor returns, so
    /// no byte of a tampered file is ever released. Seekable input
    /// ([`Decryptor::open_seekable`]) is read twice; other input
    /// ([`Decryptor::open`]) is buffered, at most
    /// [`DecryptOptions::buffer_limit`] bytes. CBC bodies (HMAC and NONE
    /// mode) are also decrypted once before the constructor returns,
    /// because their length and padding are only checked by decryption; so
    /// every error a later `read` could report (short of an I/O error of
    /// the input) is reported by the constructor. Files without integrity
    /// (v1, NONE) pass through unless [`DecryptOptions::require_integrity`]
    /// is set.
    Verified,
}

/// Options for [`Decryptor`] and [`crate::AsyncDecryptor`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecryptOptions {
    /// Streaming or verified ([`Verification`]; streaming by default).
    pub verification: Verification,
    /// Verified mode over input that cannot seek buffers the whole
    /// container: at most this many bytes, else
    /// [`DecryptError::BufferLimit`] (default
    /// [`limits::DEFAULT_VERIFY_BUFFER`](crate::limits::DEFAULT_VERIFY_BUFFER)).
    pub buffer_limit: u64,
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

impl Default for DecryptOptions {
    fn default() -> Self {
        DecryptOptions {
            verification: Verification::Streaming,
            buffer_limit: crate::limits::DEFAULT_VERIFY_BUFFER,
            require_integrity: false,
            allow_ofb_cfb: false,
        }
    }
}

impl DecryptOptions {
    /// The defaults with [`Verification::Verified`].
    ///
    /// ```
    /// use mailcrypt::{DecryptOptions, Verification};
    /// assert_eq!(DecryptOptions::verified().verification, Verification::Verified);
    /// ```
    pub fn verified() -> Self {
        DecryptOptions::default().verification(Verification::Verified)
    }

    /// Streaming (the default) or verified; see [`Verification`].
    ///
    /// ```
    /// use mailcrypt::{DecryptOptions, Verification};
    /// let opts = DecryptOptions::default().verification(Verification::Verified);
    /// assert_eq!(opts.verification, Verification::Verified);
    /// ```
    pub fn verification(mut self, v: Verification) -> Self {
        self.verification = v;
        self
    }

    /// The most verified mode buffers from input that cannot seek.
    ///
    /// ```
    /// let opts = mailcrypt::DecryptOptions::default().buffer_limit(1 << 20);
    /// assert_eq!(opts.buffer_limit, 1 << 20);
    /// ```
    pub fn buffer_limit(mut self, bytes: u64) -> Self {
        self.buffer_limit = bytes;
        self
    }

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
    /// Verified by buffering: the container in memory, authenticated, and
    /// the source it was read from (at its end), for `into_inner`.
    Memory(Box<BodyReader<io::Cursor<Vec<u8>>>>, R),
}

/// Reads a mail-crypt container and yields its plaintext through
/// [`std::io::Read`] (and [`std::io::BufRead`]), in bounded memory (64 KiB
/// chunks).
///
/// One way to build it: [`Decryptor::open`] with a [`KeyRing`] and
/// [`DecryptOptions`], whose [`Verification`] chooses between
/// **streaming** (plaintext released unverified as it is decrypted, as
/// Dovecot does; the tag is checked at the end) and **verified** (nothing
/// released before the whole body is authenticated).
/// [`Decryptor::open_seekable`] is the same for input that can seek, where
/// verified mode reads the input twice instead of buffering it.
/// [`Decryptor::use_source_buffer`] saves a copy for buffered sources.
///
/// ```
/// use std::io::Read;
/// use mailcrypt::{DecryptOptions, Decryptor, Verification, keys::{KeyRing, PrivateKey}};
/// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
/// let mut ring = KeyRing::new();
/// ring.add(PrivateKey::from_bytes(&key, None).unwrap());
/// let file = std::fs::File::open("vectors/dovecot/sample-v2.bin").unwrap();
/// let opts = DecryptOptions::default().verification(Verification::Verified);
/// let mut dec = Decryptor::open_seekable(file, &ring, &opts).unwrap();
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
    /// Open `reader` with `keys`: read the header, find the key, unwrap the
    /// session key, and (in verified mode) buffer and authenticate the
    /// whole container, at most `opts.buffer_limit` bytes. For input that
    /// can seek, [`Decryptor::open_seekable`] verifies without buffering.
    ///
    /// ```
    /// use std::io::Read;
    /// use mailcrypt::{DecryptOptions, Decryptor, keys::{KeyRing, PrivateKey}};
    /// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
    /// let mut ring = KeyRing::new();
    /// ring.add(PrivateKey::from_bytes(&key, None).unwrap());
    /// let file = std::fs::File::open("vectors/dovecot/sample-v2.bin").unwrap();
    /// let mut dec = Decryptor::open(file, &ring, &DecryptOptions::default()).unwrap();
    /// let mut plain = Vec::new();
    /// dec.read_to_end(&mut plain).unwrap();
    /// assert_eq!(plain.len(), 13534);
    /// ```
    pub fn open(reader: R, keys: &KeyRing, opts: &DecryptOptions) -> Result<Self, DecryptError> {
        match opts.verification {
            Verification::Streaming => Self::open_streaming(reader, keys, opts),
            Verification::Verified => Self::open_buffered(reader, keys, opts),
        }
    }

    fn open_streaming(
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

    fn open_buffered(
        mut reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        let limit = opts.buffer_limit;
        let mut data = Vec::new();
        (&mut reader)
            .take(limit.saturating_add(1))
            .read_to_end(&mut data)?;
        if data.len() as u64 > limit {
            return Err(DecryptError::BufferLimit { limit });
        }
        let memory = Decryptor::open_seekable(io::Cursor::new(data), keys, opts)?;
        let body = match memory.body {
            Body::Empty => Body::Empty,
            // Already in memory: decrypt from there without another copy.
            Body::Stream(mut b) | Body::Memory(mut b, _) => {
                b.enable_buf_read();
                Body::Memory(b, reader)
            }
        };
        Ok(Decryptor {
            info: memory.info,
            body,
            session: None,
        })
    }

    /// What the header says and which key matched.
    pub fn info(&self) -> &ContainerInfo {
        &self.info
    }

    /// Give back the inner reader (positioned wherever decryption got to;
    /// at its end after verified mode buffered it). `None` for an empty
    /// file.
    pub fn into_inner(self) -> Option<R> {
        match self.body {
            Body::Empty => None,
            Body::Stream(b) => Some((*b).into_inner()),
            Body::Memory(_, r) => Some(r),
        }
    }
}

impl<R: BufRead> Decryptor<R> {
    /// From now on, decrypt straight out of the source's buffer (a `&[u8]`,
    /// a `BufReader`, a `Cursor`): the same semantics, but stream ciphers
    /// (GCM, ChaCha20-Poly1305, CTR/OFB/CFB) decrypt straight out of the
    /// source's buffer into the caller's, saving the copy of every byte
    /// into the adapter's own buffer that a plain `Read` source needs (a
    /// quarter of the decryption time for AES-256-GCM; see
    /// docs/performance.md). Verified mode over input that cannot seek
    /// already decrypts from its own buffer.
    ///
    /// ```
    /// use std::io::Read;
    /// use mailcrypt::{DecryptOptions, Decryptor, keys::{KeyRing, PrivateKey}};
    /// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
    /// let mut ring = KeyRing::new();
    /// ring.add(PrivateKey::from_bytes(&key, None).unwrap());
    /// let file = std::fs::read("vectors/dovecot/sample-v2.bin").unwrap();
    /// let mut dec = Decryptor::open(&file[..], &ring, &DecryptOptions::default())
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
    /// [`Decryptor::open`] for input that can seek: in verified mode,
    /// authenticate the whole body first, then rewind and decrypt, instead
    /// of buffering the container.
    ///
    /// ```
    /// use std::io::{BufReader, Read};
    /// use mailcrypt::{DecryptOptions, Decryptor, Verification, keys::{KeyRing, PrivateKey}};
    /// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
    /// let mut ring = KeyRing::new();
    /// ring.add(PrivateKey::from_bytes(&key, None).unwrap());
    /// let file = std::fs::File::open("vectors/dovecot/sample-v2.bin").unwrap();
    /// let opts = DecryptOptions::default().verification(Verification::Verified);
    /// let mut dec = Decryptor::open_seekable(BufReader::new(file), &ring, &opts)
    ///     .unwrap()
    ///     .use_source_buffer();
    /// let mut plain = Vec::new();
    /// dec.read_to_end(&mut plain).unwrap();
    /// assert_eq!(plain.len(), 13534);
    /// ```
    pub fn open_seekable(
        mut reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        if opts.verification == Verification::Streaming {
            return Self::open_streaming(reader, keys, opts);
        }
        let start = reader.stream_position()?;
        let mut dec = Self::open_streaming(reader, keys, opts)?;
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

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            Body::Empty => Ok(0),
            Body::Stream(b) => b.read(buf),
            Body::Memory(b, _) => b.read(buf),
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
            Body::Memory(b, _) => b.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        match &mut self.body {
            Body::Empty => {}
            Body::Stream(b) => b.consume(n),
            Body::Memory(b, _) => b.consume(n),
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
                BodyCipher::v1(seed, dir).map_err(|e| setup_err("aes-256-ctr (version 1 body)", e))
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
                BodyCipher::v2(alg, key, iv, aad, hmac, dir).map_err(|e| setup_err(&alg.name(), e))
            }
        }
    }
}

fn setup_err(cipher: &str, e: CipherSetupError) -> DecryptError {
    match e {
        CipherSetupError::Unsupported => DecryptError::UnsupportedCipher(cipher.to_string()),
        CipherSetupError::BadKey => {
            DecryptError::Unsupported(format!("bad key/IV length for {cipher}"))
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
