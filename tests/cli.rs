//! The `mailcrypt` binary: decrypt/inspect/keyid/encrypt on the vectors.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{all_cases, root, sha256_hex};

fn mc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailcrypt"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_decrypts_every_vector_in_both_modes() {
    let tmp = std::env::temp_dir().join(format!("mailcrypt-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (i, c) in all_cases().iter().enumerate() {
        let mut base = vec!["decrypt"];
        if c.ofb_cfb {
            base.push("--allow-ofb-cfb");
        }
        for k in &c.keys {
            base.push("-k");
            base.push(s(k));
        }
        // streaming to stdout
        let mut a = base.clone();
        a.push(s(&c.file));
        let out = mc(&a);
        assert!(
            out.status.success(),
            "{}: {}",
            c.file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256_hex(&out.stdout), c.sha256, "{}", c.file.display());
        // verified to a file
        let dest = tmp.join(format!("out{i}"));
        let mut a = base.clone();
        a.extend(["--verified", "-o", s(&dest), s(&c.file)]);
        let out = mc(&a);
        assert!(
            out.status.success(),
            "{}: {}",
            c.file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256_hex(&std::fs::read(&dest).unwrap()), c.sha256);
    }
    // Nothing but the outputs is left (no temp files).
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("out"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn cli_stdin_stdout_and_verified_stdin() {
    let v = root().join("vectors/dovecot");
    for verified in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcrypt"));
        cmd.args(["decrypt", "-k", s(&v.join("sample-v2.key.pem"))]);
        if verified {
            cmd.arg("--verified");
        }
        cmd.arg("-");
        cmd.stdin(std::fs::File::open(v.join("sample-v2.bin")).unwrap());
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            sha256_hex(&out.stdout),
            std::fs::read_to_string(v.join("sample-v2.plaintext.sha256"))
                .unwrap()
                .trim()
        );
    }
}

#[test]
fn cli_failure_leaves_no_output_file_and_keeps_an_existing_one() {
    let tmp = std::env::temp_dir().join(format!("mailcrypt-fail-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let key = root().join("vectors/dovecot/sample-v2.key.pem");
    for f in [
        "tag-flipped.bin",
        "body-flipped.bin",
        "wrong-key-id.bin",
        "truncated-body.bin",
    ] {
        let input = root().join("vectors/testkit").join(f);
        for verified in [false, true] {
            let dest = tmp.join("new.eml");
            let mut a = vec!["decrypt", "-k", s(&key), "-o", s(&dest)];
            if verified {
                a.push("--verified");
            }
            a.push(s(&input));
            let out = mc(&a);
            assert!(!out.status.success(), "{f}");
            assert!(!dest.exists(), "{f}: output left behind");
            // An existing file is not replaced.
            let keep = tmp.join("keep.eml");
            std::fs::write(&keep, b"original").unwrap();
            let mut a = vec!["decrypt", "-k", s(&key), "-o", s(&keep)];
            if verified {
                a.push("--verified");
            }
            a.push(s(&input));
            assert!(!mc(&a).status.success());
            assert_eq!(std::fs::read(&keep).unwrap(), b"original");
        }
    }
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn cli_verified_stdout_prints_nothing_for_a_tampered_file() {
    let key = root().join("vectors/dovecot/sample-v2.key.pem");
    let tmp = std::env::temp_dir().join(format!("mailcrypt-big-{}.bin", std::process::id()));
    let mut d = std::fs::read(root().join("vectors/dovecot/sample-v2.bin")).unwrap();
    let n = d.len();
    d[n - 1] ^= 1;
    std::fs::write(&tmp, &d).unwrap();
    let out = mc(&["decrypt", "--verified", "-k", s(&key), s(&tmp)]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication failed"));
    // Streaming mode releases data as Dovecot does, but still fails.
    let out = mc(&["decrypt", "-k", s(&key), s(&tmp)]);
    assert!(!out.status.success());
    std::fs::remove_file(&tmp).unwrap();
}

#[test]
fn cli_wrong_key_lists_ids() {
    let out = mc(&[
        "decrypt",
        "-k",
        "vectors/dovecot/sample-v1.key.pem",
        "vectors/dovecot/sample-v2.bin",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd"),
        "{err}"
    );
    assert!(
        err.contains("7c9a1039ea2e4fed73e81dd3ffc3fa22ea4a28352939adde7bf8ea858b00fa4f"),
        "{err}"
    );
}

#[test]
fn cli_inspect_shows_which_convention_matched() {
    let out = mc(&[
        "inspect",
        "--json",
        "-k",
        "vectors/dovecot/sample-v2.key.pem",
        "vectors/dovecot/generated-2.3.21.1/gen23-openssl3-v2-aead-to-pem-pubkey.bin",
        "vectors/dovecot/sample-v2.bin",
        "vectors/dovecot/generated-2.3.21.1/gen23-v1-p256.bin",
        "vectors/dovecot/generated-2.3.21.1/gen23-v2-aead-p256-empty.bin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines[0].contains("\"convention\":\"spki-uncompressed\""),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(
        "\"key_id\":\"4b6063148a36bffe22c4855207efbd74b474ed5aabd7a5f199b5ef4a873f0078\""
    ));
    assert!(
        lines[1].contains("\"convention\":\"spki-compressed\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("\"cipher\":\"aes-256-gcm\",\"mac\":\"sha256\",\"rounds\":2048"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("\"format\":\"v1\"") && lines[2].contains("\"convention\":\"v1\""),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("\"format\":\"empty\""), "{}", lines[3]);
    let out = mc(&["inspect", "vectors/dovecot/sample-v2.bin"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("key id ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd")
    );
    assert!(text.contains("header length: 223"));
}

#[test]
fn cli_keyid_prints_every_convention() {
    // Values: vectors/dovecot/README.md section 4.
    let out = mc(&["keyid", "--json", "vectors/dovecot/sample-v1.key.pem"]);
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.contains("\"spki-compressed\":\"7deb76a34cbf6a4e7743589dd732e37f49edbc2160793f486669ff7534e2060a\""), "{t}");
    assert!(t.contains(
        "\"spki-uncompressed\":\"82f8a6287a287e4fe23b467a5b8bc953d963ea2914f9752d5e642697004beec8\""
    ));
    assert!(
        t.contains("\"v1\":\"7c9a1039ea2e4fed73e81dd3ffc3fa22ea4a28352939adde7bf8ea858b00fa4f\"")
    );
    let out = mc(&["keyid", "vectors/dovecot/rsa1024-public.pem"]);
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(
        t.contains("spki")
            && t.contains("b0f4caf440889ab56ea992954db511fa71b940528625e4b3726fb5144a1cd100"),
        "{t}"
    );
    let out = mc(&["keyid", "vectors/dovecot/sample-v2.pub.pem"]);
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.contains("4b6063148a36bffe22c4855207efbd74b474ed5aabd7a5f199b5ef4a873f0078"));
}

#[test]
fn cli_encrypt_then_decrypt_for_every_target() {
    let tmp = std::env::temp_dir().join(format!("mailcrypt-enc-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let plain = root().join("vectors/dovecot/sample-v1.plaintext");
    for (target, cipher, form, expect_id) in [
        (
            "dovecot-2.3",
            "aes-256-gcm-sha256",
            None,
            "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd",
        ),
        (
            "dovecot-2.3",
            "aes-256-cbc-sha256",
            None,
            "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd",
        ),
        (
            "dovecot-2.3-openssl3-unpatched",
            "aes-256-gcm-sha256",
            None,
            "4b6063148a36bffe22c4855207efbd74b474ed5aabd7a5f199b5ef4a873f0078",
        ),
        (
            "dovecot-2.4",
            "chacha20-poly1305-sha256",
            None,
            "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd",
        ),
        (
            "dovecot-2.3",
            "aes-256-gcm-sha256",
            Some("uncompressed"),
            "4b6063148a36bffe22c4855207efbd74b474ed5aabd7a5f199b5ef4a873f0078",
        ),
    ] {
        let dest = tmp.join("c.bin");
        let mut a = vec![
            "encrypt",
            "-r",
            "vectors/dovecot/sample-v2.pub.pem",
            "--target",
            target,
            "--cipher",
            cipher,
            "-o",
            s(&dest),
        ];
        if let Some(f) = form {
            a.extend(["--key-id-form", f]);
        }
        a.push(s(&plain));
        let out = mc(&a);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let insp = String::from_utf8(mc(&["inspect", s(&dest)]).stdout).unwrap();
        assert!(insp.contains(expect_id), "{target}: {insp}");
        let out = mc(&[
            "decrypt",
            "--verified",
            "-k",
            "vectors/dovecot/sample-v2.key.pem",
            s(&dest),
        ]);
        assert!(out.status.success());
        assert_eq!(out.stdout, std::fs::read(&plain).unwrap());
    }
    // v1
    let dest = tmp.join("v1.bin");
    assert!(
        mc(&[
            "encrypt",
            "-r",
            "vectors/dovecot/sample-v2.pub.pem",
            "--format",
            "v1",
            "-o",
            s(&dest),
            s(&plain)
        ])
        .status
        .success()
    );
    let out = mc(&[
        "decrypt",
        "-k",
        "vectors/dovecot/sample-v2.key.pem",
        s(&dest),
    ]);
    assert_eq!(out.stdout, std::fs::read(&plain).unwrap());
    // chacha for 2.3 is refused and leaves nothing behind.
    let dest = tmp.join("no.bin");
    let out = mc(&[
        "encrypt",
        "-r",
        "vectors/dovecot/sample-v2.pub.pem",
        "--cipher",
        "chacha20-poly1305-sha256",
        "-o",
        s(&dest),
        s(&plain),
    ]);
    assert!(!out.status.success());
    assert!(!dest.exists());
    // empty input gives an empty file
    let empty = tmp.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let dest = tmp.join("empty.bin");
    assert!(
        mc(&[
            "encrypt",
            "-r",
            "vectors/dovecot/sample-v2.pub.pem",
            "-o",
            s(&dest),
            s(&empty)
        ])
        .status
        .success()
    );
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), 0);
    std::fs::remove_dir_all(&tmp).unwrap();
}

// ------------------------------------------ errors name their file, once

fn stderr_of(out: &Output) -> String {
    assert!(!out.status.success(), "the command should fail");
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn cli_errors_name_the_file_once() {
    let tmp = std::env::temp_dir().join(format!("mailcrypt-cli-names-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let key = "vectors/dovecot/sample-v2.key.pem";
    let dir = s(&tmp);

    // A directory given as the input: the path and the cause, once each.
    let err = stderr_of(&mc(&["decrypt", "-k", key, dir]));
    assert_eq!(err.matches(dir).count(), 1, "{err}");
    assert_eq!(err.matches("Is a directory").count(), 1, "{err}");
    assert!(!err.contains("I/O error"), "{err}");
    assert!(err.starts_with(&format!("mailcrypt: {dir}: ")), "{err}");

    // A missing input.
    let missing = tmp.join("no-such-mail");
    let err = stderr_of(&mc(&["decrypt", "-k", key, s(&missing)]));
    assert_eq!(err.matches(s(&missing)).count(), 1, "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");

    // A tampered input: the decryption error names the input.
    let mut bad = std::fs::read(root().join("vectors/dovecot/sample-v2.bin")).unwrap();
    *bad.last_mut().unwrap() ^= 1;
    let bad_path = tmp.join("tampered.bin");
    std::fs::write(&bad_path, &bad).unwrap();
    let err = stderr_of(&mc(&[
        "decrypt",
        "-k",
        key,
        "-o",
        s(&tmp.join("out")),
        s(&bad_path),
    ]));
    assert_eq!(err.matches(s(&bad_path)).count(), 1, "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains(s(&tmp.join("out"))), "{err}");

    // An output that cannot be created names the output, not the input.
    let unwritable = tmp.join("no-such-dir").join("out.eml");
    let err = stderr_of(&mc(&[
        "decrypt",
        "-k",
        key,
        "-o",
        s(&unwritable),
        "vectors/dovecot/sample-v2.bin",
    ]));
    assert_eq!(err.matches(s(&unwritable)).count(), 1, "{err}");
    assert!(!err.contains("sample-v2.bin"), "{err}");

    // keyid and inspect on a file that is no key / no container.
    let junk = tmp.join("junk.txt");
    std::fs::write(&junk, "not a key\n").unwrap();
    let err = stderr_of(&mc(&["keyid", s(&junk)]));
    assert_eq!(err.matches(s(&junk)).count(), 1, "{err}");
    let out = mc(&["inspect", s(&missing)]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(!out.status.success());
    assert_eq!(text.matches(s(&missing)).count(), 1, "{text}");

    // Encrypt: a missing recipient key and a missing input.
    let err = stderr_of(&mc(&["encrypt", "-r", s(&missing), key]));
    assert_eq!(err.matches(s(&missing)).count(), 1, "{err}");
    let err = stderr_of(&mc(&["encrypt", "-r", key, s(&missing)]));
    assert_eq!(err.matches(s(&missing)).count(), 1, "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn every_commands_help_ends_with_a_worked_example() {
    let commands: [&[&str]; 13] = [
        &[],
        &["decrypt"],
        &["encrypt"],
        &["inspect"],
        &["keyid"],
        &["scan"],
        &["repair"],
        &["rekey"],
        &["decrypt-store"],
        &["key"],
        &["key", "generate"],
        &["key", "convert"],
        &["key", "id"],
    ];
    for cmd in commands {
        for flag in ["--help", "-h"] {
            let mut args = cmd.to_vec();
            args.push(flag);
            let out = mc(&args);
            assert!(out.status.success(), "{args:?}");
            let text = String::from_utf8(out.stdout).unwrap();
            let (_, examples) = text
                .rsplit_once("\nExamples:\n")
                .unwrap_or_else(|| panic!("{args:?}: no Examples section:\n{text}"));
            // The section is the last one, and shows this command.
            let shown = format!("  mailcrypt {}", cmd.join(" "));
            let lines: Vec<&str> = examples.lines().collect();
            assert!(
                lines.iter().any(|l| l.starts_with(shown.trim_end())),
                "{args:?}: no example of `{shown}`:\n{examples}"
            );
            assert!(
                lines.iter().all(|l| l.starts_with("  ")
                    || l.starts_with("Run `mailcrypt")
                    || l.is_empty()),
                "{args:?}: something follows the examples:\n{examples}"
            );
        }
    }
}
