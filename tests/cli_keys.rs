//! The `mailcrypt key …` commands and `--attributes` on decrypt/inspect,
//! run as a user would run them. Expected bytes come from the vectors
//! (`vectors/dovecot/`, `vectors/userkeys/`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mailcrypt"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vpath(name: &str) -> PathBuf {
    root().join("vectors/dovecot").join(name)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mailcrypt-cli-keys-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(path: &Path, data: &[u8]) {
    std::fs::File::create(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

/// (store dir, maildir file, plaintext file) for every mail of every
/// user store (P-256, X25519 and X448 keys).
fn user_mails() -> Vec<(PathBuf, String, String)> {
    let top = root().join("vectors/userkeys");
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&top)
        .unwrap_or_else(|e| panic!("{}: {e}", top.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.tsv").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let m = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
        let mut lines = m.lines();
        let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
        let cf = head.iter().position(|h| *h == "maildir_file").unwrap();
        let cp = head.iter().position(|h| *h == "plaintext").unwrap();
        for l in lines.filter(|l| !l.is_empty()) {
            let f: Vec<&str> = l.split('\t').collect();
            out.push((dir.clone(), f[cf].to_string(), f[cp].to_string()));
        }
    }
    assert!(out.len() >= 21, "{} mails", out.len());
    out
}

#[test]
fn decrypt_with_attributes_and_password() {
    for (dir, file, plain) in user_mails() {
        let out = run(bin()
            .arg("decrypt")
            .arg("--attributes")
            .arg(dir.join("dovecot-attributes"))
            .arg("--password-file")
            .arg(dir.join("password"))
            .arg(dir.join("Maildir").join(&file)));
        let expected = std::fs::read(dir.join(&plain)).unwrap();
        assert_eq!(out.stdout, expected, "{}/{file}", dir.display());
    }
}

#[test]
fn decrypt_with_attributes_to_file_and_wrong_password() {
    let (dir, file, plain) = user_mails().into_iter().next().unwrap();
    let t = tmpdir("attr");
    let out_path = t.join("mail.eml");
    run(bin()
        .arg("decrypt")
        .arg("--attributes")
        .arg(dir.join("dovecot-attributes"))
        .arg("--password-file")
        .arg(dir.join("password"))
        .arg("-o")
        .arg(&out_path)
        .arg(dir.join("Maildir").join(&file)));
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        std::fs::read(dir.join(&plain)).unwrap()
    );

    let bad = t.join("bad-password");
    write(&bad, b"not the password\n");
    let out = bin()
        .arg("decrypt")
        .arg("--attributes")
        .arg(dir.join("dovecot-attributes"))
        .arg("--password-file")
        .arg(&bad)
        .arg(dir.join("Maildir").join(&file))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong password"), "{err}");
    let _ = std::fs::remove_dir_all(t);
}

#[test]
fn inspect_with_attributes_names_the_folder_key() {
    for (dir, file, _) in user_mails() {
        let out = run(bin()
            .arg("inspect")
            .arg("--attributes")
            .arg(dir.join("dovecot-attributes"))
            .arg("--password-file")
            .arg(dir.join("password"))
            .arg(dir.join("Maildir").join(&file)));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("opened by: folder key"),
            "{}: {text}",
            dir.display()
        );
    }
}

#[test]
fn key_id_matches_keyid() {
    for name in [
        "sample-v2.key.pem",
        "v2-ec-p256-private-unencrypted.dovecot",
        "v1-ec-p521-public-A.dovecot",
        "jwk-ec-p256.in.json",
    ] {
        let a = run(bin().arg("key").arg("id").arg(vpath(name)));
        let b = run(bin().arg("keyid").arg(vpath(name)));
        assert_eq!(a.stdout, b.stdout, "{name}");
    }
    let out = run(bin()
        .arg("key")
        .arg("id")
        .arg(vpath("v2-ec-p256-private-unencrypted.dovecot")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd"),
        "{text}"
    );
}

#[test]
fn convert_between_formats() {
    let t = tmpdir("convert");
    let pw = t.join("pw");
    write(&pw, b"This Is Sparta\n");
    // Dovecot (password) → Dovecot (clear): the vector's clear string.
    let out = run(bin()
        .args(["key", "convert"])
        .arg(vpath("v2-ec-p256-private-password.dovecot"))
        .args(["--to", "dovecot"])
        .arg("--password-file")
        .arg(&pw));
    let clear = std::fs::read_to_string(vpath("v2-ec-p256-private-unencrypted.dovecot")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), clear.trim_end());

    // PEM → Dovecot file (no trailing newline, mode 0600) → PEM.
    let dv = t.join("key.dovecot");
    run(bin()
        .args(["key", "convert"])
        .arg(vpath("sample-v2.key.pem"))
        .args(["--to", "dovecot", "-o"])
        .arg(&dv));
    assert_eq!(std::fs::read_to_string(&dv).unwrap(), clear.trim_end());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dv).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key file mode {mode:o}");
    }
    let out = run(bin()
        .args(["key", "convert"])
        .arg(&dv)
        .args(["--to", "pem"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(vpath("sample-v2.key.pem")).unwrap()
    );

    // Public half as a Dovecot string and as JWK.
    let out = run(bin()
        .args(["key", "convert", "--public"])
        .arg(vpath("sample-v2.key.pem"))
        .args(["--to", "dovecot"]));
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(s.starts_with("2:3039301306072a8648ce3d0201"), "{s}");
    assert!(
        s.ends_with(":ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd"),
        "{s}"
    );
    // JWK → JWK keeps kid/use: equals Dovecot's output for the vector.
    let out = run(bin()
        .args(["key", "convert"])
        .arg(vpath("jwk-rsa-2048.in.json"))
        .args(["--to", "jwk"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(vpath("jwk-rsa-2048.out.json"))
            .unwrap()
            .trim_end()
    );
    // JWK public → SPKI PEM as in the vectors.
    let out = run(bin()
        .args(["key", "convert"])
        .arg(vpath("jwk-ec-p256.in.json"))
        .args(["--to", "pem", "--public"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(vpath("jwk-ec-p256.public.pem")).unwrap()
    );
    // Key-encrypted Dovecot string: needs -k.
    let out = bin()
        .args(["key", "convert"])
        .arg(vpath("v2-ec-p256-private-ecdh.dovecot"))
        .args(["--to", "pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = run(bin()
        .args(["key", "convert"])
        .arg(vpath("v2-ec-p256-private-ecdh.dovecot"))
        .args(["--to", "dovecot", "-k"])
        .arg(vpath("sample-v2.key.pem")));
    assert_eq!(String::from_utf8_lossy(&out.stdout), clear.trim_end());
    // Re-protect with a new password, read back.
    let pw2 = t.join("pw2");
    write(&pw2, b"another");
    let locked = t.join("locked.dovecot");
    run(bin()
        .args(["key", "convert"])
        .arg(vpath("sample-v2.key.pem"))
        .args(["--to", "dovecot", "--out-password-file"])
        .arg(&pw2)
        .arg("-o")
        .arg(&locked));
    let out = run(bin()
        .args(["key", "convert"])
        .arg(&locked)
        .args(["--to", "dovecot", "--password-file"])
        .arg(&pw2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), clear.trim_end());
    // Stdin input.
    let mut child = bin()
        .args(["key", "convert", "-", "--to", "dovecot"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(vpath("sample-v2.key.pem")).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), clear.trim_end());
    let _ = std::fs::remove_dir_all(t);
}

#[test]
fn generate_every_curve_and_format() {
    let t = tmpdir("gen");
    let pw = t.join("pw");
    write(&pw, b"gen-password\n");
    for curve in [
        "p256",
        "prime256v1",
        "p384",
        "secp384r1",
        "p521",
        "secp521r1",
    ] {
        for format in ["pem", "dovecot", "jwk"] {
            let key = t.join(format!("{curve}.{format}"));
            let public = t.join(format!("{curve}.{format}.pub"));
            run(bin()
                .args([
                    "key", "generate", "--curve", curve, "--format", format, "-o",
                ])
                .arg(&key)
                .arg("--public-out")
                .arg(&public));
            // The private and the public file name the same key.
            let a = run(bin().args(["key", "id"]).arg(&key));
            let b = run(bin().args(["key", "id"]).arg(&public));
            let ids = |o: &Output| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .skip(1)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(&a), ids(&b), "{curve} {format}");
            if format == "dovecot" {
                let s = std::fs::read_to_string(&key).unwrap();
                assert!(s.starts_with("2:1."), "{s}");
                assert!(!s.ends_with('\n'));
            }
        }
        // With a password: Dovecot and PEM.
        for format in ["dovecot", "pem"] {
            let key = t.join(format!("{curve}-pw.{format}"));
            run(bin()
                .args(["key", "generate", "--curve", curve, "--format", format])
                .arg("--password-file")
                .arg(&pw)
                .arg("-o")
                .arg(&key));
            let no_pw = bin().args(["key", "id"]).arg(&key).output().unwrap();
            assert!(!no_pw.status.success(), "{curve} {format}");
            run(bin()
                .args(["key", "id", "--password-file"])
                .arg(&pw)
                .arg(&key));
        }
    }
    // JWK cannot be password-protected.
    let out = bin()
        .args([
            "key",
            "generate",
            "--curve",
            "p256",
            "--format",
            "jwk",
            "--password-file",
        ])
        .arg(&pw)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // RSA (slow in debug builds: one size).
    let key = t.join("rsa.dovecot");
    run(bin()
        .args([
            "key", "generate", "--curve", "rsa2048", "--format", "dovecot", "-o",
        ])
        .arg(&key));
    let s = std::fs::read_to_string(&key).unwrap();
    assert!(s.starts_with("2:1.2.840.113549.1.1.1:0:"), "{s}");
    let out = run(bin().args(["key", "id"]).arg(&key));
    assert!(String::from_utf8_lossy(&out.stdout).contains("RSA-2048"));
    // Unknown curve names are refused by the argument parser.
    let out = bin()
        .args(["key", "generate", "--curve", "secp256k1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(t);
}

#[test]
fn generated_keys_work_for_encrypt_and_decrypt() {
    let t = tmpdir("e2e");
    let pw = t.join("pw");
    write(&pw, b"pw");
    let key = t.join("k.dovecot");
    let public = t.join("k.pub");
    run(bin()
        .args(["key", "generate", "--curve", "p384", "--format", "dovecot"])
        .arg("--password-file")
        .arg(&pw)
        .arg("-o")
        .arg(&key)
        .arg("--public-out")
        .arg(&public));
    let plain = t.join("plain");
    write(&plain, b"Subject: hi\n\nbody\n");
    let enc = t.join("enc");
    run(bin()
        .arg("encrypt")
        .arg("-r")
        .arg(&public)
        .arg("-o")
        .arg(&enc)
        .arg(&plain));
    let out = run(bin()
        .arg("decrypt")
        .arg("-k")
        .arg(&key)
        .arg("--password-file")
        .arg(&pw)
        .arg(&enc));
    assert_eq!(out.stdout, b"Subject: hi\n\nbody\n");
    let _ = std::fs::remove_dir_all(t);
}

#[test]
fn ml_kem_keys_from_the_cli_encrypt_and_decrypt() {
    // key generate mlkem768 with a GCM-protected Dovecot string (Dovecot
    // main's AEAD key encryption), encrypt for dovecot-main, decrypt, and
    // key id / key convert on the result.
    let t = tmpdir("mlkem");
    let pw = t.join("pw");
    write(&pw, b"pw");
    let key = t.join("k.dovecot");
    let public = t.join("k.pub");
    run(bin()
        .args([
            "key", "generate", "--curve", "mlkem768", "--format", "dovecot",
        ])
        .args(["--key-cipher", "aes-256-gcm"])
        .arg("--password-file")
        .arg(&pw)
        .arg("-o")
        .arg(&key)
        .arg("--public-out")
        .arg(&public));
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(
        text.starts_with("2:2.16.840.1.101.3.4.4.2:2:aes-256-gcm:"),
        "{text}"
    );
    let plain = t.join("plain");
    write(&plain, b"Subject: pq\n\nbody\n");
    let enc = t.join("enc");
    // Released targets refuse ML-KEM recipients.
    let refused = bin()
        .arg("encrypt")
        .arg("-r")
        .arg(&public)
        .args(["--target", "dovecot-2.4", "-o"])
        .arg(&enc)
        .arg(&plain)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    run(bin()
        .arg("encrypt")
        .arg("-r")
        .arg(&public)
        .args(["--target", "dovecot-main", "-o"])
        .arg(&enc)
        .arg(&plain));
    let out = run(bin()
        .arg("decrypt")
        .arg("-k")
        .arg(&key)
        .arg("--password-file")
        .arg(&pw)
        .arg(&enc));
    assert_eq!(out.stdout, b"Subject: pq\n\nbody\n");
    // Convert to PEM and ask for the id: the same as in the string.
    let pem = t.join("k.pem");
    run(bin()
        .args(["key", "convert", "--to", "pem"])
        .arg("--password-file")
        .arg(&pw)
        .arg("-o")
        .arg(&pem)
        .arg(&key));
    let id = text.trim_end().rsplit(':').next().unwrap().to_string();
    let out = run(bin().args(["key", "id"]).arg(&pem));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
}

#[test]
fn generate_x25519_and_x448_in_every_format() {
    let t = tmpdir("gen-x");
    let pw = t.join("pw");
    write(&pw, b"gen-password\n");
    for (curve, oid, raw_len) in [("x25519", "1.3.101.110", 32), ("X448", "1.3.101.111", 56)] {
        // No JWK: Dovecot writes no OKP JWK and mailcrypt has no OKP JWK
        // export; refused with a message, nothing written.
        let jwk = t.join(format!("{curve}.jwk"));
        let out = bin()
            .args(["key", "generate", "--curve", curve, "--format", "jwk", "-o"])
            .arg(&jwk)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("JWK"));
        assert!(!jwk.exists());
        for format in ["pem", "dovecot"] {
            let key = t.join(format!("{curve}.{format}"));
            let public = t.join(format!("{curve}.{format}.pub"));
            run(bin()
                .args([
                    "key", "generate", "--curve", curve, "--format", format, "-o",
                ])
                .arg(&key)
                .arg("--public-out")
                .arg(&public));
            let a = run(bin().args(["key", "id", "--json"]).arg(&key));
            let b = run(bin().args(["key", "id", "--json"]).arg(&public));
            // Same type and ids (the JSON starts with the file name).
            let ids = |o: &Output| {
                let s = String::from_utf8_lossy(&o.stdout).into_owned();
                s[s.find("\"type\"").unwrap()..].to_string()
            };
            assert_eq!(ids(&a), ids(&b), "{curve} {format}");
            assert!(ids(&a).contains("\"spki\""), "{}", ids(&a));
            let text = std::fs::read_to_string(&key).unwrap();
            match format {
                // Dovecot 2.4's form: curve OID text and the raw private value.
                "dovecot" => {
                    let fields: Vec<&str> = text.split(':').collect();
                    assert_eq!(fields[..3], ["2", oid, "0"], "{text}");
                    assert_eq!(fields[3].len(), 2 * raw_len, "{text}");
                    assert!(!text.ends_with('\n'));
                }
                _ => assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}"),
            }
            // The key works end to end, for Dovecot 2.4 only.
            let plain = t.join("plain");
            write(&plain, b"Subject: x\n\nbody\n");
            let enc = t.join(format!("{curve}.{format}.enc"));
            let refused = bin()
                .args(["encrypt", "--target", "dovecot-2.3", "-r"])
                .arg(&public)
                .arg(&plain)
                .output()
                .unwrap();
            assert!(!refused.status.success(), "{curve} for 2.3");
            run(bin()
                .args(["encrypt", "--target", "dovecot-2.4", "-r"])
                .arg(&public)
                .arg("-o")
                .arg(&enc)
                .arg(&plain));
            let out = run(bin().arg("decrypt").arg("-k").arg(&key).arg(&enc));
            assert_eq!(out.stdout, b"Subject: x\n\nbody\n");
        }
        for format in ["dovecot", "pem"] {
            let key = t.join(format!("{curve}-pw.{format}"));
            run(bin()
                .args(["key", "generate", "--curve", curve, "--format", format])
                .arg("--password-file")
                .arg(&pw)
                .arg("-o")
                .arg(&key));
            let no_pw = bin().args(["key", "id"]).arg(&key).output().unwrap();
            assert!(!no_pw.status.success(), "{curve} {format}");
            run(bin()
                .args(["key", "id", "--password-file"])
                .arg(&pw)
                .arg(&key));
        }
    }
    let _ = std::fs::remove_dir_all(t);
}
