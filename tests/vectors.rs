//! Every container in vectors/ decrypts to the exact expected bytes, in
//! streaming mode, verified mode (seekable) and verified mode (buffered),
//! reading in odd-sized pieces.

mod common;

use std::io::{Cursor, Read};

use common::{all_cases, ring, sha256_hex};
use mailcrypt::Decryptor;

fn read_in_pieces(mut r: impl Read, piece: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn every_vector_decrypts_exactly_in_every_mode() {
    let cases = all_cases();
    assert!(cases.len() > 100, "only {} vectors found", cases.len());
    for c in &cases {
        let data = std::fs::read(&c.file).unwrap();
        let expected = match &c.plaintext {
            Some(p) => std::fs::read(p).unwrap(),
            None => Vec::new(),
        };
        assert_eq!(
            sha256_hex(&expected),
            c.sha256,
            "plaintext file of {} does not match its manifest hash",
            c.file.display()
        );
        let ring = ring(&c.keys);
        let ctx = c.file.display();
        let opts = mailcrypt::DecryptOptions::default().allow_ofb_cfb(c.ofb_cfb);

        let streamed = read_in_pieces(
            Decryptor::open(&data[..], &ring, &opts).unwrap_or_else(|e| panic!("{ctx}: {e}")),
            4096,
        )
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(streamed, expected, "{ctx}: streaming");

        let verified = read_in_pieces(
            Decryptor::open_seekable(
                Cursor::new(&data),
                &ring,
                &opts.clone().verification(mailcrypt::Verification::Verified),
            )
            .unwrap_or_else(|e| panic!("{ctx}: {e}")),
            777,
        )
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(verified, expected, "{ctx}: verified");

        let buffered = read_in_pieces(
            Decryptor::open(
                &data[..],
                &ring,
                &opts
                    .clone()
                    .verification(mailcrypt::Verification::Verified)
                    .buffer_limit(1 << 30),
            )
            .unwrap(),
            1,
        )
        .unwrap();
        assert_eq!(buffered, expected, "{ctx}: verified-buffered");
    }
}

#[test]
fn sample_v2_reads_with_growing_buffer() {
    // test-stream.c test_read_increment: 500, 501, ... byte reads.
    let data = std::fs::read("vectors/dovecot/sample-v2.bin").unwrap();
    let ring = ring(&["vectors/dovecot/sample-v2.key.pem".into()]);
    let mut d = Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default()).unwrap();
    let mut total = 0;
    let mut size = 500;
    loop {
        let mut buf = vec![0u8; size];
        let n = d.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
        size += 1;
    }
    assert_eq!(total, 13534);
}

#[test]
fn both_key_id_conventions_open_with_the_same_pem_key() {
    use mailcrypt::keys::IdConvention;
    let ring = ring(&["vectors/dovecot/sample-v2.key.pem".into()]);
    let unpatched = std::fs::read(
        "vectors/dovecot/generated-2.3.21.1/gen23-openssl3-v2-aead-to-pem-pubkey.bin",
    )
    .unwrap();
    let patched = std::fs::read("vectors/dovecot/sample-v2.bin").unwrap();
    let d = Decryptor::open(&unpatched[..], &ring, &mailcrypt::DecryptOptions::default()).unwrap();
    assert_eq!(
        d.info().matched.as_ref().unwrap().convention,
        IdConvention::SpkiUncompressed
    );
    let d = Decryptor::open(&patched[..], &ring, &mailcrypt::DecryptOptions::default()).unwrap();
    assert_eq!(
        d.info().matched.as_ref().unwrap().convention,
        IdConvention::SpkiCompressed
    );
    let v1 = std::fs::read("vectors/dovecot/generated-2.3.21.1/gen23-v1-p256.bin").unwrap();
    let d = Decryptor::open(&v1[..], &ring, &mailcrypt::DecryptOptions::default()).unwrap();
    assert_eq!(
        d.info().matched.as_ref().unwrap().convention,
        IdConvention::V1
    );
}

#[test]
fn oracle_vectors_cover_every_build_and_id_convention() {
    use mailcrypt::keys::IdConvention;
    let rows = common::read_tsv(&common::root().join("vectors/oracle/manifest.tsv"));
    let mut seen = std::collections::BTreeSet::new();
    for r in &rows {
        let path = common::root().join("vectors/oracle").join(&r["file"]);
        let data = std::fs::read(&path).unwrap();
        if data.is_empty() {
            continue;
        }
        let ring = ring(&[common::root()
            .join("vectors/oracle")
            .join(&r["key_dir"])
            .join("private.pem")]);
        let d = Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default()).unwrap();
        let conv = d.info().matched.as_ref().unwrap().convention;
        // The manifest's key_id_form column comes from the oracle's own
        // stdlib parser (dcrypt-header.py), independent of mailcrypt.
        let expected = match r["key_id_form"].as_str() {
            "spki_compressed" => IdConvention::SpkiCompressed,
            "spki_uncompressed" => IdConvention::SpkiUncompressed,
            "old_hex_compressed" => IdConvention::V1,
            "spki" => IdConvention::Spki,
            other => panic!("{}: unknown key_id_form {other}", path.display()),
        };
        assert_eq!(conv, expected, "{}", path.display());
        seen.insert((r["env"].clone(), conv.name()));
    }
    for env in ["new", "old", "upstream", "v24"] {
        assert!(
            seen.iter().any(|(e, _)| e == env),
            "no vectors from env {env}"
        );
    }
    assert!(seen.contains(&("upstream".to_string(), "spki-uncompressed")));
    assert!(seen.contains(&("new".to_string(), "spki-compressed")));
}
