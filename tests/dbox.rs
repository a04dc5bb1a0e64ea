//! Store operations on the sdbox/mdbox and per-user stores written by the
//! four real Dovecot builds (`vectors/dbox/`, `vectors/userkeys/`), through
//! the library API. Expected values come from the vectors' manifests: the
//! plaintexts' SHA-256, the key-id form each build wrote, whether each
//! real build read each mail back (`doveadm fetch`), and the key ids the
//! oracle computed for the global key.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use common::{read_tsv, root, sha256_hex};
use mailcrypt::Target;
use mailcrypt::container::Header;
use mailcrypt::keys::{KeyId, KeyRing, PrivateKey};
use mailcrypt::store::{
    self, ChangeLog, DecryptStoreEvent, DecryptStoreOptions, Destination, FileReport, MailOutcome,
    RepairEvent, RepairOptions, ScanEvent, ScanOptions, StoreKeys, VerifyOutcome,
};

fn dbox() -> PathBuf {
    root().join("vectors/dbox")
}

fn manifest() -> Vec<HashMap<String, String>> {
    read_tsv(&dbox().join("manifest.tsv"))
}

fn global_keys() -> StoreKeys {
    let mut ring = KeyRing::new();
    let pem = fs::read(root().join("vectors/stores/keys/p256/private.pem")).unwrap();
    ring.add(PrivateKey::from_bytes(&pem, None).unwrap());
    StoreKeys::new(ring)
}

fn user_keys(dir: &Path) -> StoreKeys {
    let pw = fs::read(dir.join("password")).unwrap();
    StoreKeys::new(KeyRing::new())
        .with_attributes(dir.join("dovecot-attributes"), Some(&pw))
        .unwrap()
}

fn keys_for(store: &str, dir: &Path) -> StoreKeys {
    if dir.join("dovecot-attributes").exists() {
        user_keys(dir)
    } else {
        assert!(!store.starts_with("userkey"));
        global_keys()
    }
}

fn stores() -> BTreeMap<String, (String, Vec<HashMap<String, String>>)> {
    let mut m: BTreeMap<String, (String, Vec<_>)> = BTreeMap::new();
    for r in manifest() {
        let e = m
            .entry(r["store"].clone())
            .or_insert_with(|| (r["layout"].clone(), Vec::new()));
        e.1.push(r);
    }
    assert!(m.len() >= 11, "{:?}", m.keys());
    m
}

fn id(hex: &str) -> KeyId {
    KeyId::from_hex(hex).unwrap()
}

fn p256_ids() -> (KeyId, KeyId) {
    let j = fs::read_to_string(root().join("vectors/stores/keys/p256/keyids.json")).unwrap();
    let field = |k: &str| {
        let i = j.find(&format!("\"{k}\"")).unwrap();
        let rest = &j[i + k.len() + 2..];
        let q = rest.find('"').unwrap();
        rest[q + 1..q + 65].to_string()
    };
    (
        id(&field("spki_compressed")),
        id(&field("spki_uncompressed")),
    )
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mailcrypt-dbox-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                m.insert(
                    e.path().strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(e.path()).unwrap(),
                );
            }
        }
    }
    m
}

/// The manifest's read_<build> columns, as the verdict of the build family.
fn measured(row: &HashMap<String, String>, t: Target) -> bool {
    let yes = |b: &str| row[&format!("read_{b}")] == "yes";
    match t {
        Target::Dovecot23 => {
            assert_eq!(yes("new"), yes("old"), "{row:?}");
            yes("new")
        }
        Target::Dovecot23OpenSsl3Unpatched => yes("upstream"),
        _ => yes("v24"),
    }
}

#[test]
fn every_mail_is_found_verified_and_judged_like_the_real_builds() {
    for (store, (layout, rows)) in stores() {
        let dir = dbox().join(&store);
        let keys = keys_for(&store, &dir);
        let mut seen = Vec::new();
        let summary = store::scan(
            &[dir.join(&layout)],
            &keys,
            &ScanOptions::new().verify(true),
            |e| match e {
                ScanEvent::Mail(r) => seen.push(r),
                ScanEvent::File(FileReport::Index(_)) => {}
                other => panic!("{store}: {other:?}"),
            },
        )
        .unwrap();
        assert!(summary.is_clean(true), "{store}: {summary:?}");
        assert_eq!(seen.len(), rows.len(), "{store}");
        assert_eq!(summary.mails, rows.len() as u64);
        for row in &rows {
            let file = dir.join(&row["dbox_file"]);
            let off: u64 = row["container_offset"].parse().unwrap();
            let r = seen
                .iter()
                .find(|r| r.mail.path == file && r.mail.offset == off)
                .unwrap_or_else(|| panic!("{store}: {} @{off} not reported", row["dbox_file"]));
            assert_eq!(r.mail.len.to_string(), row["container_size"], "{store}");
            let meta = r.mail.dbox.as_ref().unwrap();
            assert_eq!(meta.guid.as_deref(), Some(row["guid"].as_str()));
            assert_eq!(r.mail.mailbox.as_deref(), Some(row["mailbox"].as_str()));
            if row["encrypted"] != "yes" {
                assert!(matches!(r.outcome, MailOutcome::Plain), "{store} {row:?}");
                continue;
            }
            let m = r.encrypted().unwrap();
            let (_, k) = m.matched.as_ref().unwrap();
            assert_eq!(k.id, id(&row["key_id"]));
            assert_eq!(k.convention.name(), row["key_id_form"].replace('_', "-"));
            assert!(matches!(r.verify, Some(VerifyOutcome::Authenticated)));
            for (t, v) in &r.readable_by {
                assert_eq!(
                    v.readable(),
                    Some(measured(row, *t)),
                    "{store} {} uid {}: {t} {v:?}",
                    row["mailbox"],
                    row["uid"]
                );
            }
        }
    }
}

#[test]
fn decrypt_store_writes_every_plaintext_as_maildirpp() {
    for (store, (layout, rows)) in stores() {
        let dir = dbox().join(&store);
        let keys = keys_for(&store, &dir);
        let out = tmp(&format!("export-{store}"));
        let dst = out.join("Maildir");
        let mut written = Vec::new();
        let s = store::decrypt_store(
            &dir.join(&layout),
            &keys,
            &DecryptStoreOptions::new(Destination::Copy(dst.clone()))
                .raw(true)
                .jobs(2),
            |e| match e {
                DecryptStoreEvent::Mail { to, bytes, .. } => written.push((to, bytes)),
                other => panic!("{store}: {other:?}"),
            },
        )
        .unwrap();
        assert_eq!((s.mails, s.failed), (rows.len() as u64, 0), "{store}");
        // Every mailbox's plaintexts, as the manifest says, by folder.
        let mut want: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for r in &rows {
            let folder = if r["mailbox"] == "INBOX" {
                dst.clone()
            } else {
                dst.join(format!(".{}", r["mailbox"].replace('/', ".")))
            };
            want.entry(folder.join("cur"))
                .or_default()
                .push(r["plaintext_sha256"].clone());
        }
        let mut got: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for (to, bytes) in &written {
            let data = fs::read(to).unwrap();
            assert_eq!(data.len() as u64, *bytes);
            let name = to.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.contains(&format!(",S={bytes},")), "{name}");
            assert!(name.ends_with(":2,"), "{name}");
            got.entry(to.parent().unwrap().to_path_buf())
                .or_default()
                .push(sha256_hex(&data));
        }
        for v in want.values_mut().chain(got.values_mut()) {
            v.sort();
        }
        assert_eq!(got, want, "{store}");
        for folder in want.keys() {
            let f = folder.parent().unwrap();
            assert!(f.join("new").is_dir() && f.join("tmp").is_dir());
            assert_eq!(f != dst, f.join("maildirfolder").exists());
        }
        fs::remove_dir_all(&out).unwrap();
    }
}

/// Byte ranges where two versions of a file differ.
fn diff_ranges(a: &[u8], b: &[u8]) -> Vec<usize> {
    assert_eq!(a.len(), b.len());
    (0..a.len()).filter(|&i| a[i] != b[i]).collect()
}

#[test]
fn mixed_dbox_stores_are_repaired_for_every_target_and_undone() {
    let (compressed, uncompressed) = p256_ids();
    for store in ["mixed-sdbox", "mixed-mdbox"] {
        let (layout, rows) = stores().remove(store).unwrap();
        for (target, want) in [
            (Target::Dovecot23, compressed),
            (Target::Dovecot23OpenSsl3Unpatched, uncompressed),
            (Target::Dovecot24, compressed),
        ] {
            let work = tmp(&format!("repair-{store}-{}", target.name()));
            let tree = work.join(&layout);
            copy_tree(&dbox().join(store).join(&layout), &tree);
            let before = snapshot(&tree);
            let keys = global_keys();
            let log_path = work.join("repair.log");
            let log = ChangeLog::open(&log_path).unwrap();
            let mut events = Vec::new();
            let s = store::repair(
                &[&tree],
                &keys,
                &RepairOptions::new(target)
                    .apply(true)
                    .log(Some(&log))
                    .jobs(2),
                |e| events.push(e),
            )
            .unwrap();
            let to_fix: Vec<_> = rows
                .iter()
                .filter(|r| r["encrypted"] == "yes" && id(&r["key_id"]) != want)
                .collect();
            assert!(!to_fix.is_empty());
            assert_eq!(s.failed, 0, "{events:?}");
            assert_eq!(s.rewritten, to_fix.len() as u64, "{store} {target}");
            let after = snapshot(&tree);
            assert_eq!(
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>()
            );
            for (rel, old) in &before {
                let new = &after[rel];
                let changed = diff_ranges(old, new);
                // Only the 32 id bytes of the mails with the other id form.
                let allowed: Vec<(usize, usize)> = to_fix
                    .iter()
                    .filter(|r| Path::new(&r["dbox_file"]) == Path::new(&layout).join(rel))
                    .map(|r| {
                        let off: usize = r["container_offset"].parse().unwrap();
                        (off + 50, off + 82)
                    })
                    .collect();
                for i in &changed {
                    assert!(
                        allowed.iter().any(|(a, b)| (a..b).contains(&i)),
                        "{store} {target} {}: byte {i} changed",
                        rel.display()
                    );
                }
                for (a, _) in &allowed {
                    assert_eq!(&new[*a..*a + 32], want.as_bytes());
                }
            }
            // Every mail now carries the target's id and still decrypts.
            let mut ids = Vec::new();
            store::scan(&[&tree], &keys, &ScanOptions::new().verify(true), |e| {
                if let ScanEvent::Mail(r) = e
                    && let Some(m) = r.encrypted()
                {
                    assert!(matches!(r.verify, Some(VerifyOutcome::Authenticated)));
                    let Header::V2(h) = &m.header else { panic!() };
                    ids.push(h.recipients[0].key_id);
                }
            })
            .unwrap();
            assert!(ids.iter().all(|i| *i == want), "{store} {target}");
            // Undo restores every byte.
            let u = store::undo(&log_path, &keys, true, None, |_| {}).unwrap();
            assert_eq!((u.reverted, u.failed), (to_fix.len() as u64, 0));
            assert_eq!(snapshot(&tree), before, "{store} {target}: undo");
            fs::remove_dir_all(&work).unwrap();
        }
    }
}

/// `(attribute name, value)` pairs of an attribute file.
fn attributes(path: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(path).unwrap();
    let l: Vec<&str> = text.lines().collect();
    l.chunks(2)
        .map(|c| (c[0].to_string(), c[1].to_string()))
        .collect()
}

#[test]
fn per_user_stores_are_repaired_for_every_target_and_undone() {
    for (src, tree_name) in [
        (dbox().join("userkey-sdbox-upstream"), "sdbox"),
        (root().join("vectors/userkeys/upstream"), "Maildir"),
        (root().join("vectors/userkeys/old-v1"), "Maildir"),
    ] {
        for target in [
            Target::Dovecot23,
            Target::Dovecot23OpenSsl3Unpatched,
            Target::Dovecot24,
        ] {
            let work = tmp(&format!(
                "user-{}-{}",
                src.file_name().unwrap().to_string_lossy(),
                target.name()
            ));
            copy_tree(&src, &work);
            let tree = work.join(tree_name);
            let attrs_before = fs::read(work.join("dovecot-attributes")).unwrap();
            let before = snapshot(&tree);
            let keys = user_keys(&work);
            // Before: no build reads any mail (measured: vectors' READMEs).
            let mut verdicts = Vec::new();
            let s = store::scan(&[&tree], &keys, &ScanOptions::new(), |e| {
                if let ScanEvent::Mail(r) = e {
                    verdicts.extend(r.readable_by.iter().map(|(_, v)| v.readable()));
                }
            })
            .unwrap();
            assert!(s.mails >= 3);
            assert!(verdicts.iter().all(|v| *v == Some(false)), "{verdicts:?}");
            let log_path = work.join("repair.log");
            let log = ChangeLog::open(&log_path).unwrap();
            let mut events = Vec::new();
            let r = store::repair(
                &[&tree],
                &keys,
                &RepairOptions::new(target).apply(true).log(Some(&log)),
                |e| events.push(e),
            )
            .unwrap();
            assert_eq!(r.failed, 0, "{events:?}");
            // Attribute file: only the id field of rejected private keys,
            // set to the attribute name's id.
            let after_attrs = attributes(&work.join("dovecot-attributes"));
            for ((n0, v0), (n1, v1)) in attributes_from(&attrs_before).iter().zip(&after_attrs) {
                assert_eq!(n0, n1);
                if v0 != v1 {
                    let name_id = n0.rsplit('/').next().unwrap();
                    assert!(n0.contains("/privkeys/"));
                    assert_eq!(&v1[v1.len() - 64..], name_id);
                    assert_eq!(v0[..v0.len() - 64], v1[..v1.len() - 64]);
                }
            }
            // Every mail decrypts to its plaintext and carries the
            // attribute name's id; every build now reads it.
            let fresh = user_keys(&work);
            let plains: Vec<String> = (1..=3)
                .map(|n| sha256_hex(&fs::read(work.join(format!("plain/{n}.eml"))).unwrap()))
                .collect();
            let mut got = Vec::new();
            let out = work.join("plain-out");
            store::decrypt_store(
                &tree,
                &fresh,
                &DecryptStoreOptions::new(Destination::Copy(out.clone())).raw(true),
                |e| match e {
                    DecryptStoreEvent::Mail { to, .. } => {
                        got.push(sha256_hex(&fs::read(to).unwrap()))
                    }
                    other => panic!("{other:?}"),
                },
            )
            .unwrap();
            got.sort();
            let mut want = plains.clone();
            want.sort();
            assert_eq!(got, want);
            let mut verdicts = Vec::new();
            store::scan(&[&tree], &fresh, &ScanOptions::new(), |e| {
                if let ScanEvent::Mail(r) = e {
                    let Header::V2(h) = &r.encrypted().unwrap().header else {
                        panic!("still v1")
                    };
                    let name_ok = after_attrs.iter().any(|(n, _)| {
                        n.contains("/privkeys/") && n.ends_with(&h.recipients[0].key_id.to_hex())
                    });
                    assert!(name_ok);
                    verdicts.extend(r.readable_by.iter().map(|(_, v)| v.readable()));
                }
            })
            .unwrap();
            assert!(verdicts.iter().all(|v| *v == Some(true)), "{verdicts:?}");
            assert!(
                events
                    .iter()
                    .all(|e| !matches!(e, RepairEvent::Failed { .. })),
                "{events:?}"
            );
            // Undo restores the attribute file and every mail byte for byte.
            let u = store::undo(&log_path, &fresh, true, None, |_| {}).unwrap();
            assert_eq!(u.failed, 0);
            assert_eq!(
                fs::read(work.join("dovecot-attributes")).unwrap(),
                attrs_before
            );
            assert_eq!(snapshot(&tree), before);
            fs::remove_dir_all(&work).unwrap();
        }
    }
}

fn attributes_from(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let l: Vec<&str> = text.lines().collect();
    l.chunks(2)
        .map(|c| (c[0].to_string(), c[1].to_string()))
        .collect()
}

#[test]
fn files_that_are_no_known_layout_are_reported_never_skipped() {
    let work = tmp("unknown");
    // An mbox file, a container outside any mail directory, a truncated
    // m-file and a dbox file outside storage/.
    fs::write(
        work.join("mbox"),
        b"From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nx\n",
    )
    .unwrap();
    let m1 = dbox().join("mdbox-new/mdbox/storage/m.1");
    let data = fs::read(&m1).unwrap();
    fs::create_dir_all(work.join("storage")).unwrap();
    fs::write(work.join("storage/m.7"), &data[..data.len() - 5]).unwrap();
    fs::write(work.join("stray-dbox"), &data).unwrap();
    fs::write(work.join("stray.bin"), &data[46..100]).unwrap();
    let mut files = Vec::new();
    let s = store::scan(&[&work], &global_keys(), &ScanOptions::new(), |e| {
        if let ScanEvent::File(f) = e {
            files.push(f)
        }
    })
    .unwrap();
    assert_eq!(s.mails, 0);
    assert_eq!(s.unparsed_files, 1, "{files:?}");
    assert_eq!(s.unsupported_files, 3, "{files:?}");
    assert!(!s.is_clean(true) && !s.is_clean(false));
    fs::remove_dir_all(&work).unwrap();
}

#[test]
fn rekey_refuses_dbox_before_changing_anything() {
    let work = tmp("rekey");
    copy_tree(&dbox().join("mixed-mdbox/mdbox"), &work.join("mdbox"));
    let before = snapshot(&work);
    let to = mailcrypt::keys::PublicKey::from_bytes(
        &fs::read(root().join("vectors/oracle/keys/p384/public.pem")).unwrap(),
    )
    .unwrap();
    let e = store::rekey(
        &[work.join("mdbox")],
        &global_keys(),
        &store::RekeyOptions::new(to, Target::Dovecot23),
        |_| panic!("no event expected"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("decrypt-store"), "{e}");
    assert_eq!(snapshot(&work), before);
    fs::remove_dir_all(&work).unwrap();
}
