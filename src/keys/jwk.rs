//! JSON Web Keys (RFC 7517/7518) for EC P-256/P-384/P-521 and RSA keys,
//! read and written the way Dovecot's lib-dcrypt does.
//!
//! * Input: one JSON object. `kty` (`EC` or `RSA`) is required; EC needs
//!   `crv`, `x`, `y` (and `d` for a private key); RSA needs `n`, `e` (and
//!   `d` for a private key; `p` and `q` are optional, together, and derived
//!   from `n e d` when missing, as Dovecot 2.4 does; `dp dq qi` are
//!   optional, together, and must agree with the key; loading a public
//!   key ignores `d` and the CRT members, as Dovecot does). `kid` and `use` are
//!   kept as [`JwkMeta`]; other members (`alg`, `key_ops`, …) are ignored.
//!   Values are base64url; padding is tolerated. Inputs above
//!   [`MAX_JWK_LEN`] bytes or nested deeper than 32 levels are refused.
//! * Output: members in Dovecot's order, `kty, crv, x, y, [use], [kid],
//!   [d]` for EC and `kty, n, e, [use], [kid], d, p, q, dp, dq, qi` for RSA,
//!   base64url without padding, no whitespace. EC coordinates and scalars
//!   are written at the full field width RFC 7518 requires (Dovecot writes
//!   the minimal big-endian length, which differs only when the value has a
//!   leading zero byte; both read either).
//!
//! OKP keys (Ed25519, X25519, …) are not supported by mailcrypt.
//!
//! Why a small JSON reader and writer here rather than `serde_json`: the
//! library parses untrusted JWKs with limits `serde_json` does not enforce
//! (duplicate members refused rather than the last one winning; depth and
//! length caps; key material in zeroizing buffers), and writes one
//! flat object whose only free-form string is `kid`. That is less code
//! than the serde and serde_json dependency it would add to every
//! embedding program; the CLI, which needs general JSON output, uses
//! `serde_json` (feature `cli`).

use base64ct::{Base64UrlUnpadded, Encoding};
use zeroize::Zeroizing;

use super::load::{ec_private_from_scalar, ec_public_from_sec1};
use super::{
    Curve, KeyType, PointForm, PrivateKey, PrivateKind, PublicKey, PublicKind, strip_leading_zeros,
};
use crate::error::KeyError;

pub use crate::limits::MAX_JWK_LEN;

const MAX_DEPTH: usize = 32;

/// The JWK `use` member.
///
/// ```
/// use mailcrypt::keys::{JwkUse, PublicKey};
/// let json = std::fs::read_to_string("vectors/dovecot/jwk-ec-p256.in.json")?;
/// let (_, meta) = PublicKey::from_jwk_with_meta(&json)?;
/// assert_eq!(meta.usage, Some(JwkUse::Sig));
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwkUse {
    /// `"enc"`
    Enc,
    /// `"sig"`
    Sig,
}

impl JwkUse {
    /// The member value.
    ///
    /// ```
    /// assert_eq!(mailcrypt::keys::JwkUse::Enc.as_str(), "enc");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            JwkUse::Enc => "enc",
            JwkUse::Sig => "sig",
        }
    }
}

/// The JWK members that are not key material: `kid` (Dovecot keeps it as
/// the key's opaque id string; it is not the SHA-256 key id) and `use`.
///
/// ```
/// use mailcrypt::keys::{JwkMeta, JwkUse, PrivateKey};
/// let json = std::fs::read_to_string("vectors/dovecot/jwk-ec-p256.in.json")?;
/// let (key, meta) = PrivateKey::from_jwk_with_meta(&json)?;
/// assert_eq!(meta, JwkMeta { kid: Some("123".into()), usage: Some(JwkUse::Sig) });
/// assert_eq!(key.to_jwk(&meta)?.as_str(), json.trim_end());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkMeta {
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `use`, if present and `enc` or `sig` (Dovecot ignores other values).
    pub usage: Option<JwkUse>,
}

fn jwk_err(msg: impl std::fmt::Display) -> KeyError {
    KeyError::Invalid(format!("JWK: {msg}"))
}

// ------------------------------------------------------------ JSON reader

enum Value {
    Str(Zeroizing<String>),
    Other,
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

/// Why every range from a parser position is in bounds.
const PARSER_POS: &str = "the parser only steps past bytes it has peeked, so pos <= b.len()";

impl Parser<'_> {
    /// The input from `pos` on.
    #[allow(clippy::expect_used)]
    fn rest(&self) -> &[u8] {
        self.b.get(self.pos..).expect(PARSER_POS)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn err(&self, what: &str) -> KeyError {
        jwk_err(format!("invalid JSON at byte {}: {what}", self.pos))
    }

    fn expect(&mut self, c: u8) -> Result<(), KeyError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", char::from(c))))
        }
    }

    fn hex4(&mut self) -> Result<u32, KeyError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self
                .peek()
                .ok_or_else(|| self.err("truncated \\u escape"))?;
            let d = char::from(c)
                .to_digit(16)
                .ok_or_else(|| self.err("bad \\u escape"))?;
            v = v << 4 | d;
            self.pos += 1;
        }
        Ok(v)
    }

    /// Length of the raw (still escaped) string starting at `pos`: an
    /// upper bound of its decoded length, so the output buffer never
    /// reallocates (which would leave copies of a secret behind).
    fn raw_len(&self) -> usize {
        let rest = self.rest();
        let mut i = 0;
        while let Some(c) = rest.get(i) {
            match c {
                b'"' => return i,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        rest.len()
    }

    fn string(&mut self) -> Result<Zeroizing<String>, KeyError> {
        self.expect(b'"')?;
        let mut out = Zeroizing::new(Vec::with_capacity(self.raw_len()));
        loop {
            let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi) {
                                if self.peek() != Some(b'\\') {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.pos += 1;
                                if self.peek() != Some(b'u') {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.pos += 1;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("bad surrogate pair"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).ok_or_else(|| self.err("bad code point"))?
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("control character in string")),
                c => out.push(c),
            }
        }
        let s = std::str::from_utf8(&out).map_err(|_| self.err("string is not UTF-8"))?;
        Ok(Zeroizing::new(s.to_owned()))
    }

    /// Skip any value (used for members mailcrypt does not read).
    fn skip_value(&mut self, depth: usize) -> Result<(), KeyError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                #[allow(clippy::expect_used)]
                let text = self.b.get(start..self.pos).expect(PARSER_POS);
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(drop)
                    .ok_or_else(|| self.err("bad number"))
            }
            _ => Err(self.err("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), KeyError> {
        if self.b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("bad literal"))
        }
    }
}

/// The top-level members of a JSON object; string values kept, others
/// marked. Duplicate member names are refused (they make the key
/// ambiguous).
struct Members(Vec<(String, Value)>);

impl Members {
    fn parse(data: &[u8]) -> Result<Members, KeyError> {
        if data.len() > MAX_JWK_LEN {
            return Err(jwk_err(format!("longer than {MAX_JWK_LEN} bytes")));
        }
        let mut p = Parser { b: data, pos: 0 };
        p.expect(b'{')?;
        let mut members: Vec<(String, Value)> = Vec::new();
        p.ws();
        if p.peek() == Some(b'}') {
            p.pos += 1;
        } else {
            loop {
                let name = p.string()?;
                p.expect(b':')?;
                p.ws();
                let value = if p.peek() == Some(b'"') {
                    Value::Str(p.string()?)
                } else {
                    p.skip_value(1)?;
                    Value::Other
                };
                if members.iter().any(|(n, _)| n.as_str() == name.as_str()) {
                    return Err(jwk_err(format!("duplicate member \"{}\"", name.as_str())));
                }
                members.push((name.as_str().to_owned(), value));
                p.ws();
                match p.peek() {
                    Some(b',') => p.pos += 1,
                    Some(b'}') => {
                        p.pos += 1;
                        break;
                    }
                    _ => return Err(p.err("expected ',' or '}'")),
                }
            }
        }
        p.ws();
        if p.pos != data.len() {
            return Err(p.err("trailing data after the object"));
        }
        Ok(Members(members))
    }

    /// A string member (`None` if absent or not a string, as Dovecot).
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|(n, v)| match v {
            Value::Str(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }

    fn require(&self, name: &str) -> Result<&str, KeyError> {
        self.get(name)
            .ok_or_else(|| jwk_err(format!("Missing {name} parameter")))
    }

    fn meta(&self) -> JwkMeta {
        JwkMeta {
            kid: self.get("kid").map(str::to_owned),
            usage: match self.get("use") {
                Some("enc") => Some(JwkUse::Enc),
                Some("sig") => Some(JwkUse::Sig),
                _ => None,
            },
        }
    }
}

/// base64url, padding tolerated.
fn b64(s: &str, name: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let s = s.trim_end_matches('=');
    Base64UrlUnpadded::decode_vec(s)
        .map(Zeroizing::new)
        .map_err(|_| jwk_err(format!("{name} is not base64url")))
}

// ----------------------------------------------------------------- loading

enum Loaded {
    Private(PrivateKey),
    Public(PublicKey),
}

fn curve_of(crv: &str) -> Result<Curve, KeyError> {
    match crv {
        "P-256" => Ok(Curve::P256),
        "P-384" => Ok(Curve::P384),
        "P-521" => Ok(Curve::P521),
        other => Err(KeyError::Unsupported(format!(
            "JWK: Unsupported curve: {other}"
        ))),
    }
}

fn load(data: &[u8], want_private: bool) -> Result<(Loaded, JwkMeta), KeyError> {
    let m = Members::parse(data)?;
    let kty = m.require("kty")?;
    let key = match kty {
        "EC" => load_ec(&m, want_private)?,
        "RSA" => load_rsa(&m, want_private)?,
        "OKP" => {
            return Err(KeyError::Unsupported(
                "JWK key type OKP (Ed25519, Ed448, X25519, X448)".into(),
            ));
        }
        other => {
            return Err(KeyError::Unsupported(format!(
                "Unsupported JWK key type \"{other}\""
            )));
        }
    };
    Ok((key, m.meta()))
}

fn load_ec(m: &Members, want_private: bool) -> Result<Loaded, KeyError> {
    let crv = m.require("crv")?;
    let x = b64(m.require("x")?, "x")?;
    let y = b64(m.require("y")?, "y")?;
    let curve = curve_of(crv)?;
    let n = curve.field_len();
    let (x, y) = (strip_leading_zeros(&x), strip_leading_zeros(&y));
    if x.len() > n || y.len() > n {
        return Err(jwk_err("point is not on curve (coordinate too long)"));
    }
    let mut point = vec![0u8; 1 + 2 * n];
    if let Some(p) = point.first_mut() {
        *p = 4;
    }
    if let Some(dst) = point.get_mut(1 + n - x.len()..1 + n) {
        dst.copy_from_slice(x);
    }
    if let Some(dst) = point.get_mut(1 + 2 * n - y.len()..) {
        dst.copy_from_slice(y);
    }
    let public = ec_public_from_sec1(curve, &point)
        .map_err(|_| jwk_err("point is not on curve"))?
        .with_source_point_form(PointForm::Compressed);
    // As Dovecot: loading as public ignores `d` altogether.
    let d = match m.get("d") {
        _ if !want_private => return Ok(Loaded::Public(public)),
        None => return Err(KeyError::NotPrivate),
        Some(d) => b64(d, "d")?,
    };
    let key = ec_private_from_scalar(curve, &d, Some(PointForm::Compressed))
        .map_err(|_| jwk_err("invalid private key d"))?;
    #[allow(clippy::expect_used)]
    let ours = key
        .public_key()
        .sec1_point(PointForm::Uncompressed)
        .expect("an EC public key has a SEC1 point");
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        ours.as_slice(),
        point.as_slice(),
    )) {
        return Err(jwk_err("Private key did not match with public key"));
    }
    Ok(Loaded::Private(key))
}

fn load_rsa(m: &Members, want_private: bool) -> Result<Loaded, KeyError> {
    use rsa::BoxedUint;
    let n_raw = b64(m.require("n")?, "n")?;
    let e_raw = b64(m.require("e")?, "e")?;
    let n = strip_leading_zeros(&n_raw);
    let e = strip_leading_zeros(&e_raw);
    // Checked before any arithmetic: the rsa crate's prime recovery and
    // validation assume sane sizes.
    if !(128..=1024).contains(&n.len()) {
        return Err(KeyError::Unsupported(format!(
            "JWK: RSA modulus of {} bits (1024 to 8192 supported)",
            n.len() * 8
        )));
    }
    if e.is_empty() || e.len() > 8 {
        return Err(jwk_err("RSA exponent e out of range"));
    }
    let bits = u32::try_from(n.len() * 8).unwrap_or(u32::MAX);
    let bits_e = u32::try_from(e.len() * 8).unwrap_or(u32::MAX);
    let n_u = BoxedUint::from_be_slice(n, bits).map_err(jwk_err)?;
    let e_u = BoxedUint::from_be_slice(e, bits_e).map_err(jwk_err)?;
    // As Dovecot: loading as public ignores `d` and the CRT members.
    let d_text = match m.get("d") {
        _ if !want_private => {
            let k = rsa::PublicKey::new(n_u, e_u)
                .map_err(|err| jwk_err(format!("invalid RSA public key: {err}")))?;
            return Ok(Loaded::Public(PublicKey {
                kind: PublicKind::Rsa(Box::new(k)),
                source_form: None,
            }));
        }
        None => return Err(KeyError::NotPrivate),
        Some(d) => d,
    };
    let d_raw = b64(d_text, "d")?;
    let d = strip_leading_zeros(&d_raw);
    if d.is_empty() || d.len() > n.len() {
        return Err(jwk_err("RSA private exponent d out of range"));
    }
    let num = |s: &[u8]| BoxedUint::from_be_slice(strip_leading_zeros(s), bits).map_err(jwk_err);
    let d_u = Zeroizing::new(num(d)?);
    let primes = match (m.get("p"), m.get("q")) {
        (Some(p), Some(q)) => {
            let (p, q) = (b64(p, "p")?, b64(q, "q")?);
            if strip_leading_zeros(&p).is_empty() || strip_leading_zeros(&q).is_empty() {
                return Err(jwk_err("Cannot derive rsa primes (zero prime)"));
            }
            vec![num(&p)?, num(&q)?]
        }
        (None, None) => Vec::new(),
        _ => return Err(jwk_err("p and q have to be both present")),
    };
    let recovered = primes.is_empty();
    let mut key =
        rsa::PrivateKey::from_components(n_u.clone(), e_u.clone(), (*d_u).clone(), primes)
            .map_err(|err| jwk_err(format!("Cannot derive rsa primes: {err}")))?;
    if recovered {
        // Dovecot's recovered factors come out larger first; keep that
        // order so re-stored JWKs match its output.
        use rsa::traits::PrivateKeyParts;
        let ps: Zeroizing<Vec<BoxedUint>> =
            Zeroizing::new(key.primes().iter().map(|p| p.as_ref().clone()).collect());
        if let [p, q] = ps.as_slice()
            && p < q
        {
            key = rsa::PrivateKey::from_components(
                n_u,
                e_u,
                (*d_u).clone(),
                vec![q.clone(), p.clone()],
            )
            .map_err(|err| jwk_err(format!("Cannot derive rsa primes: {err}")))?;
        }
    }
    let key = PrivateKey::new(PrivateKind::Rsa(Box::new(key)), None);
    match (m.get("dp"), m.get("dq"), m.get("qi")) {
        (None, None, None) => {}
        (Some(dp), Some(dq), Some(qi)) => {
            let parts = rsa_parts(&key)?;
            let mut ok = subtle::Choice::from(1u8);
            for (given, ours) in [(dp, &parts.dp), (dq, &parts.dq), (qi, &parts.qi)] {
                let g = b64(given, "CRT parameter")?;
                ok &= subtle::ConstantTimeEq::ct_eq(
                    strip_leading_zeros(&g),
                    strip_leading_zeros(ours),
                );
            }
            if !bool::from(ok) {
                return Err(jwk_err(
                    "dp, dq or qi does not belong to the key (inconsistent CRT parameters)",
                ));
            }
        }
        _ => return Err(jwk_err("dp, dq, and qi must be present together")),
    }
    Ok(Loaded::Private(key))
}

struct RsaParts {
    n: Vec<u8>,
    e: Vec<u8>,
    d: Zeroizing<Vec<u8>>,
    p: Zeroizing<Vec<u8>>,
    q: Zeroizing<Vec<u8>>,
    dp: Zeroizing<Vec<u8>>,
    dq: Zeroizing<Vec<u8>>,
    qi: Zeroizing<Vec<u8>>,
}

/// Every RSA component as minimal big-endian bytes, via PKCS#1.
fn rsa_parts(key: &PrivateKey) -> Result<RsaParts, KeyError> {
    use der::Decode;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let PrivateKind::Rsa(k) = &key.kind else {
        return Err(KeyError::Unsupported("not an RSA key".into()));
    };
    let doc = k
        .to_pkcs1_der()
        .map_err(|e| jwk_err(format!("RSA encoding: {e}")))?;
    let r = rsa::pkcs1::RsaPrivateKeyRef::from_der(doc.as_bytes())
        .map_err(|e| jwk_err(format!("RSA encoding: {e}")))?;
    let z = |u: rsa::pkcs1::UintRef<'_>| Zeroizing::new(strip_leading_zeros(u.as_bytes()).to_vec());
    Ok(RsaParts {
        n: strip_leading_zeros(r.modulus.as_bytes()).to_vec(),
        e: strip_leading_zeros(r.public_exponent.as_bytes()).to_vec(),
        d: z(r.private_exponent),
        p: z(r.prime1),
        q: z(r.prime2),
        dp: z(r.exponent1),
        dq: z(r.exponent2),
        qi: z(r.coefficient),
    })
}

pub(crate) fn private_from_jwk(data: &[u8]) -> Result<(PrivateKey, JwkMeta), KeyError> {
    match load(data, true)? {
        (Loaded::Private(k), meta) => Ok((k, meta)),
        (Loaded::Public(_), _) => Err(KeyError::NotPrivate),
    }
}

pub(crate) fn public_from_jwk(data: &[u8]) -> Result<(PublicKey, JwkMeta), KeyError> {
    match load(data, false)? {
        (Loaded::Public(k), meta) => Ok((k, meta)),
        (Loaded::Private(k), meta) => Ok((k.public_key().clone(), meta)),
    }
}

// ----------------------------------------------------------------- writing

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn member(out: &mut String, name: &str, value: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    push_json_str(out, name);
    out.push(':');
    push_json_str(out, value);
}

/// Base64url of `bytes` into a zeroizing string.
fn b64_secret(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(Base64UrlUnpadded::encode_string(bytes))
}

fn meta_members(out: &mut String, meta: &JwkMeta) {
    if let Some(u) = meta.usage {
        member(out, "use", u.as_str());
    }
    if let Some(kid) = &meta.kid {
        member(out, "kid", kid);
    }
}

fn write(
    public: &PublicKey,
    private: Option<&PrivateKey>,
    meta: &JwkMeta,
) -> Result<Zeroizing<String>, KeyError> {
    // Large enough for an RSA-8192 private JWK, so the buffer holding key
    // material never reallocates.
    let mut out = Zeroizing::new(String::with_capacity(16 * 1024));
    out.push('{');
    match public.key_type() {
        KeyType::Ec(curve) => {
            let point = public
                .sec1_point(PointForm::Uncompressed)
                .ok_or_else(|| jwk_err("no EC point"))?;
            let n = curve.field_len();
            #[allow(clippy::expect_used)]
            let (x, y) = point
                .get(1..)
                .and_then(|xy| xy.split_at_checked(n))
                .expect("an uncompressed SEC1 point is 0x04 || x || y, field_len bytes each");
            member(&mut out, "kty", "EC");
            member(&mut out, "crv", &curve.to_string());
            member(&mut out, "x", &b64_secret(x));
            member(&mut out, "y", &b64_secret(y));
            meta_members(&mut out, meta);
            if let Some(k) = private {
                let d: Zeroizing<Vec<u8>> = match &k.kind {
                    PrivateKind::P256(s) => Zeroizing::new(s.to_bytes().to_vec()),
                    PrivateKind::P384(s) => Zeroizing::new(s.to_bytes().to_vec()),
                    PrivateKind::P521(s) => Zeroizing::new(s.to_bytes().to_vec()),
                    _ => return Err(jwk_err("key kinds disagree")),
                };
                member(&mut out, "d", &b64_secret(&d));
            }
        }
        KeyType::MlKem(_) => {
            return Err(KeyError::Unsupported(format!(
                "JWK export of {} keys (no JWK form is standardised)",
                public.key_type()
            )));
        }
        KeyType::X25519 | KeyType::X448 => {
            return Err(KeyError::Unsupported(format!(
                "JWK export of {} keys (Dovecot writes no OKP JWK)",
                public.key_type()
            )));
        }
        KeyType::Rsa(_) => {
            member(&mut out, "kty", "RSA");
            match private {
                None => {
                    use rsa::traits::PublicKeyParts;
                    let PublicKind::Rsa(k) = &public.kind else {
                        return Err(jwk_err("key kinds disagree"));
                    };
                    member(&mut out, "n", &b64_secret(&k.n_bytes()));
                    member(&mut out, "e", &b64_secret(&k.e_bytes()));
                    meta_members(&mut out, meta);
                }
                Some(k) => {
                    let p = rsa_parts(k)?;
                    member(&mut out, "n", &b64_secret(&p.n));
                    member(&mut out, "e", &b64_secret(&p.e));
                    meta_members(&mut out, meta);
                    member(&mut out, "d", &b64_secret(&p.d));
                    member(&mut out, "p", &b64_secret(&p.p));
                    member(&mut out, "q", &b64_secret(&p.q));
                    member(&mut out, "dp", &b64_secret(&p.dp));
                    member(&mut out, "dq", &b64_secret(&p.dq));
                    member(&mut out, "qi", &b64_secret(&p.qi));
                }
            }
        }
    }
    out.push('}');
    Ok(out)
}

pub(crate) fn private_to_jwk(
    key: &PrivateKey,
    meta: &JwkMeta,
) -> Result<Zeroizing<String>, KeyError> {
    write(key.public_key(), Some(key), meta)
}

pub(crate) fn public_to_jwk(key: &PublicKey, meta: &JwkMeta) -> Result<String, KeyError> {
    write(key, None, meta).map(|s| s.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_members() {
        let m = Members::parse(
            br#" { "a" : "x\"\u00e9\ud83d\ude00", "b": [1, {"c": null}], "n": -1.5e3 } "#,
        )
        .unwrap();
        assert_eq!(m.get("a"), Some("x\"é😀"));
        assert_eq!(m.get("b"), None);
        assert_eq!(m.get("n"), None);
        assert!(Members::parse(b"{}").unwrap().0.is_empty());
    }

    #[test]
    fn json_rejects() {
        for bad in [
            &b"{"[..],
            b"{\"a\":}",
            b"{\"a\":\"x\",}",
            b"{\"a\":\"x\"} x",
            b"{\"a\":\"x\",\"a\":\"y\"}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\x01\"}",
            b"[]",
            b"{\"a\":tru}",
        ] {
            assert!(
                Members::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(Members::parse(deep.as_bytes()).is_err());
        let big = vec![b' '; MAX_JWK_LEN + 1];
        assert!(Members::parse(&big).is_err());
    }

    #[test]
    fn base64_padding_tolerated() {
        assert_eq!(b64("AQAB", "e").unwrap().as_slice(), &[1, 0, 1]);
        assert_eq!(b64("AQ==", "e").unwrap().as_slice(), &[1]);
        assert!(b64("A!", "e").is_err());
    }

    #[test]
    fn json_string_escaping() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }
}
