//! Store commands (`scan`, `repair`, `rekey`, `decrypt-store`) on a mixed
//! Maildir built from files that real Dovecot builds wrote for one P-256
//! key: the unpatched upstream 2.3 build (uncompressed-point ids) and
//! Debian 12's patched build (compressed ids), plus v1 files, plain mails
//! and Dovecot index files. No single build reads the whole store.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{read_tsv, root, sha256_hex};

fn mc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailcrypt"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Store {
    dir: PathBuf,
    /// Maildir path → SHA-256 of the plaintext.
    expect: BTreeMap<PathBuf, String>,
    key: PathBuf,
}

/// Build the mixed store in a fresh temporary directory.
fn mixed_store(tag: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("mailcrypt-store-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let ov = root().join("vectors/oracle");
    let mut expect = BTreeMap::new();
    let mut n = 0;
    for r in read_tsv(&ov.join("manifest.tsv")) {
        if r["key_dir"] != "keys/p256"
            || !matches!(r["env"].as_str(), "upstream" | "new")
            || r["ciphertext_size"] == "0"
        {
            continue;
        }
        n += 1;
        let sub = if n % 3 == 0 {
            ".Sub/cur"
        } else if n % 3 == 1 {
            "cur"
        } else {
            "new"
        };
        let size = fs::metadata(ov.join(&r["plaintext"])).unwrap().len();
        let name = format!("17000000{n:02}.M{n}P1.host,S={size},W={size}:2,S");
        let path = dir.join("Maildir").join(sub).join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::copy(ov.join(&r["file"]), &path).unwrap();
        expect.insert(path, r["plaintext_sha256"].clone());
    }
    for (i, body) in [
        "Subject: plain one\n\nhi\n",
        "Subject: plain two\n\nthere\n",
    ]
    .iter()
    .enumerate()
    {
        let path = dir.join(format!(
            "Maildir/cur/18000000{i}.M{i}P2.host,S={}:2,",
            body.len()
        ));
        fs::write(&path, body).unwrap();
        expect.insert(path, sha256_hex(body.as_bytes()));
    }
    fs::write(dir.join("Maildir/dovecot.index.cache"), b"cache").unwrap();
    fs::write(dir.join("Maildir/dovecot-uidlist"), b"3 V1 N1\n").unwrap();
    assert!(expect.len() > 20);
    Store {
        dir,
        expect,
        key: ov.join("keys/p256/private.pem"),
    }
}

fn check_plaintexts(st: &Store, key: &Path) {
    for (path, sha) in &st.expect {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let plain = if data.starts_with(b"CRYPTED") {
            let o = mc(&["decrypt", "--verified", "-k", s(key), s(path)]);
            assert!(
                o.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            o.stdout
        } else {
            data
        };
        assert_eq!(&sha256_hex(&plain), sha, "{}", path.display());
    }
}

fn snapshot(st: &Store) -> BTreeMap<PathBuf, String> {
    st.expect
        .keys()
        .map(|p| (p.clone(), sha256_hex(&fs::read(p).unwrap())))
        .collect()
}

#[test]
fn scan_reports_conventions_builds_and_index_files() {
    let st = mixed_store("scan");
    let maildir = st.dir.join("Maildir");
    let out = ok(&mc(&["scan", "-k", s(&st.key), s(&maildir)]));
    assert!(
        out.contains("spki-uncompressed")
            && out.contains("spki-compressed")
            && out.contains("(v1)"),
        "{out}"
    );
    assert!(out.contains("plain (not encrypted)"));
    assert!(out.contains("dovecot.index.cache"), "{out}");
    // Neither family reads everything: that is the point of the store.
    assert!(out.contains("dovecot-2.3: NOT readable"), "{out}");
    assert!(
        out.contains("dovecot-2.3-openssl3-unpatched: NOT readable"),
        "{out}"
    );
    let json = ok(&mc(&[
        "scan",
        "--json",
        "--verify",
        "-j",
        "2",
        "-k",
        s(&st.key),
        s(&maildir),
    ]));
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), st.expect.len() + 1);
    assert!(lines.last().unwrap().starts_with("{\"summary\""));
    assert!(json.contains("\"verify\":\"ok\""));
    // Without keys, nothing is claimed about readability.
    let out = ok(&mc(&["scan", s(&maildir)]));
    assert!(out.contains("no matching key"));
    fs::remove_dir_all(&st.dir).unwrap();
}

#[test]
fn repair_is_a_dry_run_until_apply_and_undo_restores_every_byte() {
    let st = mixed_store("repair");
    let maildir = st.dir.join("Maildir");
    let before = snapshot(&st);
    let out = ok(&mc(&[
        "repair",
        "--target",
        "dovecot-2.3",
        "-k",
        s(&st.key),
        s(&maildir),
    ]));
    assert!(out.contains("would rewrite"), "{out}");
    assert_eq!(snapshot(&st), before, "dry run changed files");
    let log = st.dir.join("repair.log");
    let out = ok(&mc(&[
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "--log",
        s(&log),
        "-k",
        s(&st.key),
        s(&maildir),
    ]));
    let rewritten = out.lines().filter(|l| l.contains(" -> ")).count();
    assert!(rewritten >= 8, "{out}");
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), rewritten);
    // Every mail still decrypts to its plaintext; sizes and names unchanged.
    check_plaintexts(&st, &st.key);
    for p in st.expect.keys() {
        assert_eq!(
            fs::metadata(p).unwrap().len() as usize,
            fs::read(p).unwrap().len()
        );
    }
    // Now one build family reads every v2 mail: scan says so.
    let out = ok(&mc(&["scan", "-k", s(&st.key), s(&maildir)]));
    assert!(!out.contains("dovecot-2.3: NOT readable"), "{out}");
    assert!(!out.contains("spki-uncompressed"), "{out}");
    // Running again changes nothing (resumable).
    let out = ok(&mc(&[
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "-k",
        s(&st.key),
        s(&maildir),
    ]));
    assert!(out.contains("0 rewritten"), "{out}");
    // Undo from the log gives back the original bytes exactly.
    ok(&mc(&[
        "repair",
        "--undo",
        s(&log),
        "--apply",
        "-k",
        s(&st.key),
    ]));
    assert_eq!(snapshot(&st), before);
    // And the unpatched target turns compressed ids into uncompressed ones.
    ok(&mc(&[
        "repair",
        "--target",
        "dovecot-2.3-openssl3-unpatched",
        "--apply",
        "-k",
        s(&st.key),
        s(&maildir),
    ]));
    let out = ok(&mc(&["scan", "-k", s(&st.key), s(&maildir)]));
    assert!(
        !out.contains("dovecot-2.3-openssl3-unpatched: NOT readable"),
        "{out}"
    );
    check_plaintexts(&st, &st.key);
    fs::remove_dir_all(&st.dir).unwrap();
}

#[test]
fn repair_refuses_without_keys_and_never_touches_unverifiable_files() {
    let st = mixed_store("refuse");
    let maildir = st.dir.join("Maildir");
    assert!(
        !mc(&["repair", "--target", "dovecot-2.3", "--apply", s(&maildir)])
            .status
            .success()
    );
    // Corrupt one upstream file's tag: repair must leave it alone.
    let victim = st
        .expect
        .keys()
        .find(|p| {
            let o = mc(&["inspect", "--json", "-k", s(&st.key), s(p)]);
            String::from_utf8_lossy(&o.stdout).contains("spki-uncompressed")
        })
        .unwrap()
        .clone();
    let mut data = fs::read(&victim).unwrap();
    let n = data.len();
    data[n - 1] ^= 1;
    fs::write(&victim, &data).unwrap();
    let o = mc(&[
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "-k",
        s(&st.key),
        s(&maildir),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("NOT repaired"));
    assert_eq!(fs::read(&victim).unwrap(), data);
    let leftovers: Vec<_> = walk_all(&maildir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".mailcrypt-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    fs::remove_dir_all(&st.dir).unwrap();
}

fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn rekey_keeps_names_mtimes_and_content() {
    let st = mixed_store("rekey");
    let maildir = st.dir.join("Maildir");
    let new_key = root().join("vectors/oracle/keys/p384");
    let mtimes: BTreeMap<_, _> = st
        .expect
        .keys()
        .map(|p| (p.clone(), fs::metadata(p).unwrap().modified().unwrap()))
        .collect();
    let out = ok(&mc(&[
        "rekey",
        "--to",
        s(&new_key.join("public.pem")),
        "-k",
        s(&st.key),
        "-k",
        s(&new_key.join("private.pem")),
        s(&maildir),
    ]));
    assert!(out.contains("verified by full decryption"), "{out}");
    check_plaintexts(&st, &new_key.join("private.pem"));
    for (p, t) in &mtimes {
        assert_eq!(
            &fs::metadata(p).unwrap().modified().unwrap(),
            t,
            "{}",
            p.display()
        );
    }
    // The old key opens nothing any more; plain mails stayed plain. A
    // scan with a key that opens none of the encrypted mails exits 1 and
    // counts them (issue 14: a cron job must be able to trust it).
    let o = mc(&["scan", "-k", s(&st.key), s(&maildir)]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED: no given key opens it:"), "{out}");
    assert!(!out.contains("(spki-"), "{out}");
    // Resumable: a second run has nothing to do.
    let out = ok(&mc(&[
        "rekey",
        "--to",
        s(&new_key.join("public.pem")),
        "-k",
        s(&st.key),
        s(&maildir),
    ]));
    assert!(out.contains(" 0 re-encrypted"), "{out}");
    fs::remove_dir_all(&st.dir).unwrap();
}

#[test]
fn decrypt_store_copies_and_in_place() {
    let st = mixed_store("dstore");
    let maildir = st.dir.join("Maildir");
    let dst = st.dir.join("plain");
    ok(&mc(&[
        "decrypt-store",
        "-k",
        s(&st.key),
        s(&maildir),
        s(&dst),
    ]));
    for (p, sha) in &st.expect {
        let rel = p.strip_prefix(&maildir).unwrap();
        let got = fs::read(dst.join(rel)).unwrap();
        assert_eq!(&sha256_hex(&got), sha, "{}", rel.display());
        assert_eq!(
            fs::metadata(dst.join(rel)).unwrap().modified().unwrap(),
            fs::metadata(p).unwrap().modified().unwrap()
        );
    }
    assert!(dst.join("dovecot-uidlist").exists());
    // Every folder exists in the copy, empty ones included.
    fs::create_dir_all(maildir.join("tmp")).unwrap();
    assert!(dst.join("cur").is_dir() && dst.join(".Sub/cur").is_dir());
    assert_eq!(fs::read(dst.join("dovecot.index.cache")).unwrap(), b"cache");
    // A non-empty destination is refused.
    assert!(
        !mc(&["decrypt-store", "-k", s(&st.key), s(&maildir), s(&dst)])
            .status
            .success()
    );
    // In place.
    ok(&mc(&[
        "decrypt-store",
        "--in-place",
        "-k",
        s(&st.key),
        s(&maildir),
    ]));
    for (p, sha) in &st.expect {
        assert_eq!(&sha256_hex(&fs::read(p).unwrap()), sha, "{}", p.display());
    }
    fs::remove_dir_all(&st.dir).unwrap();
}

/// Mails the real builds wrote with the compression plugin in front of
/// mail_crypt (vectors/stores/compressed/<build>): the CLI decrypts and
/// decompresses each to its exact plaintext; `--raw` gives the payload.
#[test]
fn compressed_mails_from_real_builds_decompress() {
    let base = root().join("vectors/stores");
    let key = base.join("keys/p256/private.pem");
    let mut methods = std::collections::BTreeSet::new();
    for env in ["new", "old", "v24"] {
        let dir = base.join("compressed").join(env);
        for r in read_tsv(&dir.join("manifest.tsv")) {
            let file = dir.join("Maildir").join(&r["maildir_file"]);
            let raw = ok_bytes(&mc_bytes(&["decrypt", "--raw", "-k", s(&key), s(&file)]));
            assert_eq!(
                raw.len().to_string(),
                r["payload_size"],
                "{}",
                file.display()
            );
            let out = mc_bytes(&["decrypt", "-k", s(&key), s(&file)]);
            if r["compression"] == "deflate" {
                // Raw deflate has no magic: neither Dovecot nor mailcrypt
                // can tell it from plaintext, so it comes out as stored.
                assert_eq!(ok_bytes(&out), raw);
                continue;
            }
            assert_eq!(
                sha256_hex(&ok_bytes(&out)),
                r["plaintext_sha256"],
                "{} ({})",
                file.display(),
                r["compression"]
            );
            methods.insert(r["compression"].clone());
        }
    }
    for m in ["none", "gz", "bz2", "xz", "lz4", "zstd"] {
        assert!(methods.contains(m), "no {m} sample: {methods:?}");
    }
    // decrypt-store decompresses too.
    let dir = base.join("compressed/v24");
    let dst = std::env::temp_dir().join(format!("mailcrypt-cstore-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dst);
    let o = mc(&[
        "decrypt-store",
        "-k",
        s(&key),
        s(&dir.join("Maildir")),
        s(&dst),
    ]);
    ok(&o);
    for r in read_tsv(&dir.join("manifest.tsv")) {
        if r["compression"] != "deflate" {
            assert_eq!(
                sha256_hex(&fs::read(dst.join(&r["maildir_file"])).unwrap()),
                r["plaintext_sha256"]
            );
        }
    }
    fs::remove_dir_all(&dst).unwrap();
}

fn mc_bytes(args: &[&str]) -> Output {
    mc(args)
}

fn ok_bytes(o: &Output) -> Vec<u8> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout.clone()
}

/// The mixed store two real builds wrote under one key
/// (vectors/stores/mixed): after `repair --target dovecot-2.3 --apply`
/// every encrypted mail carries the compressed-point id and decrypts to
/// its plaintext. (That the real builds then read it is checked by the
/// interop harness.)
#[test]
fn real_mixed_store_is_repaired() {
    let base = root().join("vectors/stores");
    let key = base.join("keys/p256/private.pem");
    let tmp = std::env::temp_dir().join(format!("mailcrypt-mixed-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    copy_tree(&base.join("mixed/Maildir"), &tmp);
    let rows = read_tsv(&base.join("mixed/manifest.tsv"));
    let out = ok(&mc(&["scan", "-k", s(&key), s(&tmp)]));
    assert!(
        out.contains("dovecot-2.3: NOT readable: 3")
            && out.contains("dovecot-2.3-openssl3-unpatched: NOT readable: 3"),
        "{out}"
    );
    ok(&mc(&[
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "-k",
        s(&key),
        s(&tmp),
    ]));
    let out = ok(&mc(&["scan", "-k", s(&key), s(&tmp)]));
    assert!(
        out.contains("dovecot-2.3: readable: 6") && !out.contains("dovecot-2.3: NOT"),
        "{out}"
    );
    for r in &rows {
        let f = tmp.join(&r["maildir_file"]);
        let plain = if r["encrypted"] == "yes" {
            ok_bytes(&mc(&["decrypt", "-k", s(&key), s(&f)]))
        } else {
            fs::read(&f).unwrap()
        };
        assert_eq!(sha256_hex(&plain), r["plaintext_sha256"], "{}", f.display());
    }
    fs::remove_dir_all(&tmp).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Tampered mails (a flipped tag byte, a flipped body byte of a compressed
/// mail a real build wrote): `scan --verify` and `decrypt-store` read each
/// mail once in streaming mode, so this pins down that nothing of a
/// tampered mail is kept — no output file, no temporary left, the original
/// untouched in place — that the error names the failed authentication
/// (not the decompressor, which sees the tampered data first), and that
/// every other mail still comes out exact.
#[test]
fn tampered_mails_are_reported_and_never_written() {
    let base = root().join("vectors/stores");
    let key = base.join("keys/p256/private.pem");
    let src = base.join("compressed/v24");
    let dir = std::env::temp_dir().join(format!("mailcrypt-tamper-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let maildir = dir.join("Maildir");
    copy_tree(&src.join("Maildir"), &maildir);
    let rows: Vec<_> = read_tsv(&src.join("manifest.tsv"))
        .into_iter()
        .filter(|r| r["compression"] != "deflate")
        .collect();
    let compressed = rows
        .iter()
        .find(|r| r["compression"] == "gz")
        .expect("a gz sample");
    let other = rows
        .iter()
        .find(|r| r["maildir_file"] != compressed["maildir_file"])
        .expect("a second sample");
    let mut bad = Vec::new();
    for (r, at) in [(compressed, 0.5f64), (other, 1.0)] {
        let p = maildir.join(&r["maildir_file"]);
        let mut data = fs::read(&p).unwrap();
        let i = ((data.len() - 1) as f64 * at) as usize;
        data[i] ^= 0x20;
        fs::write(&p, &data).unwrap();
        bad.push((r["maildir_file"].clone(), data));
    }
    let names = |o: &Output| {
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };

    let o = mc(&["scan", "--verify", "-k", s(&key), s(&maildir)]);
    let out = names(&o);
    for (f, _) in &bad {
        let line = out
            .lines()
            .find(|l| l.contains(f.as_str()))
            .unwrap_or_else(|| panic!("{f} not in {out}"));
        assert!(line.contains("authentication failed"), "{line}");
    }

    let dst = dir.join("plain");
    let o = mc(&["decrypt-store", "-k", s(&key), s(&maildir), s(&dst)]);
    assert!(!o.status.success(), "{}", names(&o));
    let out = names(&o);
    for (f, _) in &bad {
        assert!(!dst.join(f).exists(), "{f} was written");
        let line = out
            .lines()
            .find(|l| l.contains(f.as_str()))
            .unwrap_or_else(|| panic!("{f} not in {out}"));
        assert!(line.contains("authentication failed"), "{line}");
    }
    for r in &rows {
        if !bad.iter().any(|(f, _)| f == &r["maildir_file"]) {
            let got = fs::read(dst.join(&r["maildir_file"])).unwrap();
            assert_eq!(sha256_hex(&got), r["plaintext_sha256"]);
        }
    }

    let o = mc(&["decrypt-store", "--in-place", "-k", s(&key), s(&maildir)]);
    assert!(!o.status.success(), "{}", names(&o));
    for (f, data) in &bad {
        assert_eq!(
            &fs::read(maildir.join(f)).unwrap(),
            data,
            "{f} changed in place"
        );
    }
    for p in walk_all(&dir) {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !mailcrypt::store::is_own_temp(&n),
            "temporary left: {}",
            p.display()
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn per_user_store_of_the_unpatched_build_is_judged_and_repaired_through_the_cli() {
    let src = root().join("vectors/userkeys/upstream");
    let work = std::env::temp_dir().join(format!("mailcrypt-cli-user-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    copy_tree(&src, &work);
    let attrs = work.join("dovecot-attributes");
    let pw = work.join("password");
    let maildir = work.join("Maildir");
    let keys = ["--attributes", s(&attrs), "--password-file", s(&pw)];
    let mut args = vec!["scan"];
    args.extend(keys);
    args.push(s(&maildir));
    let out = ok(&mc(&args));
    // Every build rejects both stored private keys, for the same reason:
    // one line per key naming all three build families.
    let rejected: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  stored key ") && l.contains("Incorrect key hash"))
        .collect();
    assert_eq!(rejected.len(), 2, "{out}");
    for l in &rejected {
        assert!(
            l.contains("rejected by dovecot-2.3, dovecot-2.3-openssl3-unpatched, dovecot-2.4"),
            "{l}"
        );
    }
    assert!(out.contains("dovecot-2.3: NOT readable: 3"), "{out}");
    let log = work.join("repair.log");
    let mut args = vec![
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "--log",
        s(&log),
    ];
    args.extend(keys);
    args.push(s(&maildir));
    let out = ok(&mc(&args));
    assert!(out.contains("2 stored keys fixed, 0 failed"), "{out}");
    let mut args = vec!["scan", "--verify"];
    args.extend(keys);
    args.push(s(&maildir));
    let out = ok(&mc(&args));
    for t in [
        "dovecot-2.3",
        "dovecot-2.3-openssl3-unpatched",
        "dovecot-2.4",
    ] {
        assert!(out.contains(&format!("{t}: readable: 3")), "{out}");
    }
    assert!(!out.contains("  stored key "), "{out}");
    fs::remove_dir_all(&work).unwrap();
}
