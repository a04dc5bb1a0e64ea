//! Hex, the way Dovecot writes ids and key material: the one hex codec of
//! the crate (and the CLI), over `base16ct`, which runs in constant time
//! and so serves for secrets too.

use zeroize::Zeroizing;

/// Encode bytes as lower-case hex.
pub(crate) fn encode(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// Encode bytes as upper-case hex (Dovecot's v1 ids hash this form).
pub(crate) fn encode_upper(bytes: &[u8]) -> String {
    base16ct::upper::encode_string(bytes)
}

/// Decode hex (either case). `None` on odd length or a non-hex character.
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    base16ct::mixed::decode_vec(s).ok()
}

/// Decode secret hex (either case) into a zeroizing buffer. `None` on odd
/// length or a non-hex character.
pub(crate) fn decode_secret(hex: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Zeroizing::new(vec![0u8; hex.len() / 2]);
    base16ct::mixed::decode(hex, &mut out).ok()?;
    Some(out)
}

/// Append the lower-case hex of secret bytes to `out`, with no copy left
/// behind.
pub(crate) fn push_secret(out: &mut String, bytes: &[u8]) {
    let mut buf = Zeroizing::new(vec![0u8; bytes.len() * 2]);
    #[allow(clippy::expect_used)]
    let hex = base16ct::lower::encode_str(bytes, &mut buf)
        .expect("the buffer holds exactly two digits per byte");
    out.push_str(hex);
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let v = [0u8, 1, 0xab, 0xff];
        assert_eq!(super::encode(&v), "0001abff");
        assert_eq!(super::encode_upper(&v), "0001ABFF");
        assert_eq!(super::decode("0001ABff"), Some(v.to_vec()));
        assert_eq!(super::decode("abc"), None);
        assert_eq!(super::decode("zz"), None);
        assert_eq!(
            super::decode_secret(b"0001ABff").unwrap().as_slice(),
            &v[..]
        );
        assert!(super::decode_secret(b"abc").is_none());
        assert!(super::decode_secret(b"zz").is_none());
        let mut s = String::from("x:");
        super::push_secret(&mut s, &v);
        assert_eq!(s, "x:0001abff");
    }
}
