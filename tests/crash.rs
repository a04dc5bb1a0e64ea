//! Crash safety: `kill -9` at random moments during `repair --apply` and
//! `rekey` over a store of 1500 mails. After every kill, every mail must
//! still exist under its name and decrypt — with a tag check — to its
//! exact plaintext (either the old file or the new one); the only debris
//! allowed are mailcrypt's own temporary files, which the walk ignores.
//! Finally an uninterrupted run completes the job.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mailcrypt::keys::{KeyRing, PointForm, PrivateKey, PublicKey};
use mailcrypt::store;
use mailcrypt::{Decryptor, Encryptor};

const N: usize = 2000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn key(name: &str) -> PathBuf {
    root()
        .join("vectors/oracle/keys")
        .join(name)
        .join("private.pem")
}

fn load(p: &Path) -> PrivateKey {
    PrivateKey::from_bytes(&fs::read(p).unwrap(), None).unwrap()
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn make_store(tag: &str) -> (PathBuf, BTreeMap<PathBuf, Vec<u8>>) {
    let dir = std::env::temp_dir().join(format!("mailcrypt-crash-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("cur")).unwrap();
    let pk = PublicKey::from_bytes(
        &fs::read(root().join("vectors/oracle/keys/p256/public.pem")).unwrap(),
    )
    .unwrap();
    // Written as the unpatched build writes them: uncompressed-point ids.
    let enc = Encryptor::new(vec![pk]).key_id_form(PointForm::Uncompressed);
    let mut rng = Lcg(42);
    let mut expect = BTreeMap::new();
    for i in 0..N {
        let len = 50 + (rng.next() % 3000) as usize;
        let body: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        let path = dir.join(format!("cur/17{i:08}.M{i}P7.host,S={len},W={len}:2,S"));
        let mut w = enc.wrap_output(Vec::new()).unwrap();
        w.write_all(&body).unwrap();
        fs::write(&path, w.finish().unwrap()).unwrap();
        expect.insert(path, body);
    }
    (dir, expect)
}

/// Content hashes already proven to decrypt to the right plaintext, so a
/// check after a kill only decrypts files that changed since.
type Seen = std::sync::Mutex<std::collections::HashSet<(PathBuf, [u8; 32])>>;

fn sha(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn check(dir: &Path, expect: &BTreeMap<PathBuf, Vec<u8>>, ring: &KeyRing, seen: &Seen) {
    let walk = store::walk(&[dir]).unwrap();
    let names: Vec<&PathBuf> = walk.mails.iter().collect();
    let want: Vec<&PathBuf> = expect.keys().collect();
    assert_eq!(names, want, "the set of mail files changed");
    for e in fs::read_dir(dir.join("cur")).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(
            expect.contains_key(&dir.join("cur").join(&n)) || store::is_own_temp(&n),
            "stray file {n}"
        );
    }
    let paths: Vec<_> = expect.iter().collect();
    std::thread::scope(|s| {
        for part in paths.chunks(paths.len() / 2 + 1) {
            s.spawn(move || {
                for (p, body) in part {
                    let data = fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    let key = ((*p).clone(), sha(&data));
                    if seen.lock().unwrap().contains(&key) {
                        continue;
                    }
                    let mut d = Decryptor::open_seekable(
                        std::io::Cursor::new(&data),
                        ring,
                        &mailcrypt::DecryptOptions::verified(),
                    )
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    let mut out = Vec::new();
                    d.read_to_end(&mut out).unwrap();
                    assert_eq!(&out, *body, "{}", p.display());
                    seen.lock().unwrap().insert(key);
                }
            });
        }
    });
}

fn run_with_kills(
    args: &[String],
    dir: &Path,
    expect: &BTreeMap<PathBuf, Vec<u8>>,
    ring: &KeyRing,
    seed: u64,
) {
    let seen = Seen::default();
    kill_loop(args, seed, &[(20, 400); 10], || {
        check(dir, expect, ring, &seen)
    });
}

/// Run the CLI with `args` once per `(min_ms, spread_ms)` of `schedule`,
/// killing it with SIGKILL after a random delay in `[min_ms, min_ms +
/// spread_ms)`, calling `check` after every run; then once to the end.
fn kill_loop(args: &[String], seed: u64, schedule: &[(u64, u64)], mut check: impl FnMut()) {
    let mut rng = Lcg(seed);
    let mut kills = 0;
    for &(min_ms, spread_ms) in schedule {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailcrypt"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(min_ms + rng.next() % spread_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        check();
    }
    assert!(
        kills > 0,
        "no run was interrupted: the store is too small to test anything"
    );
    let status = Command::new(env!("CARGO_BIN_EXE_mailcrypt"))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    check();
}

#[test]
fn kill_9_during_repair_and_rekey_loses_nothing() {
    let (dir, expect) = make_store("rk");
    let mut ring = KeyRing::new();
    ring.add(load(&key("p256")));
    let d = dir.to_str().unwrap().to_string();
    let k = key("p256").to_str().unwrap().to_string();
    let repair: Vec<String> = [
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "-j",
        "2",
        "-k",
        &k,
        &d,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_with_kills(&repair, &dir, &expect, &ring, 7);
    // Every id is now the compressed one.
    for p in expect.keys() {
        let m = store::inspect_mail(p, &ring).unwrap();
        let store::MailStatus::Encrypted(m) = m else {
            panic!()
        };
        assert_eq!(
            m.matched.unwrap().1.convention,
            mailcrypt::keys::IdConvention::SpkiCompressed
        );
    }
    // rekey to P-384: after each kill a mail opens with the old or the new key.
    ring.add(load(&key("p384")));
    let to = root()
        .join("vectors/oracle/keys/p384/public.pem")
        .to_str()
        .unwrap()
        .to_string();
    let k2 = key("p384").to_str().unwrap().to_string();
    let rekey: Vec<String> = ["rekey", "--to", &to, "-j", "2", "-k", &k, "-k", &k2, &d]
        .iter()
        .map(|s| s.to_string())
        .collect();
    run_with_kills(&rekey, &dir, &expect, &ring, 11);
    let mut only_new = KeyRing::new();
    only_new.add(load(&key("p384")));
    check(&dir, &expect, &only_new, &Seen::default());
    fs::remove_dir_all(&dir).unwrap();
}

/// An mdbox store: `files` m-files of 5 mails each, ids as the unpatched
/// build writes them, in Dovecot's dbox framing.
fn make_mdbox(tag: &str, files: usize) -> (PathBuf, BTreeMap<PathBuf, Vec<Vec<u8>>>) {
    let dir = std::env::temp_dir().join(format!("mailcrypt-crash-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("storage")).unwrap();
    let pk = PublicKey::from_bytes(
        &fs::read(root().join("vectors/oracle/keys/p256/public.pem")).unwrap(),
    )
    .unwrap();
    let enc = Encryptor::new(vec![pk]).key_id_form(PointForm::Uncompressed);
    let mut rng = Lcg(5);
    let mut expect = BTreeMap::new();
    for f in 1..=files {
        let mut file = b"2 M1e C6b146f20\n".to_vec();
        let mut bodies = Vec::new();
        for i in 0..5 {
            let len = 50 + (rng.next() % 3000) as usize;
            let body: Vec<u8> = (0..len).map(|j| b'a' + ((f + i + j) % 26) as u8).collect();
            let mut w = enc.wrap_output(Vec::new()).unwrap();
            w.write_all(&body).unwrap();
            let c = w.finish().unwrap();
            file.extend_from_slice(format!("\x01\x02N          {:016X}\n", c.len()).as_bytes());
            file.extend_from_slice(&c);
            file.extend_from_slice(
                format!("\n\x01\x03\nZ{len:x}\nR6b146f20\nGguid{f}x{i}\nBINBOX\n\n").as_bytes(),
            );
            bodies.push(body);
        }
        let path = dir.join(format!("storage/m.{f}"));
        fs::write(&path, file).unwrap();
        expect.insert(path, bodies);
    }
    (dir, expect)
}

fn check_mdbox(dir: &Path, expect: &BTreeMap<PathBuf, Vec<Vec<u8>>>, ring: &KeyRing) {
    for e in fs::read_dir(dir.join("storage")).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            expect.contains_key(&p) || store::is_own_temp(&n),
            "stray file {n}"
        );
    }
    for (p, bodies) in expect {
        let mails = store::MailRef::dbox_mails(p, store::Shape::Mdbox)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(mails.len(), bodies.len(), "{}", p.display());
        for (m, body) in mails.iter().zip(bodies) {
            let mut d = Decryptor::open_seekable(
                m.open().unwrap(),
                ring,
                &mailcrypt::DecryptOptions::verified(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", m.display()));
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(&out, body, "{}", m.display());
        }
    }
}

#[test]
fn kill_9_during_an_mdbox_repair_loses_nothing() {
    let (dir, expect) = make_mdbox("mdbox", 300);
    let mut ring = KeyRing::new();
    ring.add(load(&key("p256")));
    let args: Vec<String> = [
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "-j",
        "2",
        "-k",
        key("p256").to_str().unwrap(),
        dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    kill_loop(&args, 13, &[(20, 400); 10], || {
        check_mdbox(&dir, &expect, &ring)
    });
    for p in expect.keys() {
        for m in store::MailRef::dbox_mails(p, store::Shape::Mdbox).unwrap() {
            let mut r = m.open().unwrap();
            let store::MailStatus::Encrypted(e) = store::inspect_reader(&mut r, &ring).unwrap()
            else {
                panic!()
            };
            assert_eq!(
                e.matched.unwrap().1.convention,
                mailcrypt::keys::IdConvention::SpkiCompressed
            );
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// A per-user store written by the unpatched build (its attribute file
/// rejected by every build) with 800 more mails for its folder key under
/// the uncompressed id.
fn make_user_store() -> (PathBuf, BTreeMap<PathBuf, Vec<u8>>, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("mailcrypt-crash-user-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let src = root().join("vectors/userkeys/upstream");
    fs::create_dir_all(dir.join("Maildir/cur")).unwrap();
    fs::copy(
        src.join("dovecot-attributes"),
        dir.join("dovecot-attributes"),
    )
    .unwrap();
    let password = fs::read(src.join("password")).unwrap();
    let attrs = mailcrypt::keys::AttributeFile::read(dir.join("dovecot-attributes")).unwrap();
    let folder = attrs
        .iter()
        .find(|(k, _)| k.contains("/crypt/pubkeys/") && !k.contains("/pvt/server/"))
        .map(|(_, v)| PublicKey::from_dovecot_str(v).unwrap())
        .unwrap();
    let enc = Encryptor::new(vec![folder]).key_id_form(PointForm::Uncompressed);
    let mut rng = Lcg(3);
    let mut expect = BTreeMap::new();
    for i in 0..800 {
        let len = 50 + (rng.next() % 2000) as usize;
        let body: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        let path = dir.join(format!(
            "Maildir/cur/18{i:08}.M{i}P9.host,S={len},W={len}:2,"
        ));
        let mut w = enc.wrap_output(Vec::new()).unwrap();
        w.write_all(&body).unwrap();
        fs::write(&path, w.finish().unwrap()).unwrap();
        expect.insert(path, body);
    }
    (dir, expect, password)
}

#[test]
fn kill_9_during_a_per_user_repair_keeps_the_attribute_file_and_every_mail() {
    let (dir, expect, password) = make_user_store();
    let attr = dir.join("dovecot-attributes");
    let original = fs::read(&attr).unwrap();
    fs::write(dir.join("password"), &password).unwrap();
    let args: Vec<String> = [
        "repair",
        "--target",
        "dovecot-2.3",
        "--apply",
        "-j",
        "2",
        "--attributes",
        attr.to_str().unwrap(),
        "--password-file",
        dir.join("password").to_str().unwrap(),
        dir.join("Maildir").to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (mut before_fix, mut after_fix) = (0, 0);
    let seen = Seen::default();
    // Short delays first (the attribute file is rewritten before any
    // mail), then longer ones through the mails.
    let mut schedule = vec![(1, 3); 4];
    schedule.extend([(5, 60); 16]);
    kill_loop(&args, 17, &schedule, || {
        for e in fs::read_dir(&dir).unwrap() {
            let n = e.unwrap().file_name().into_string().unwrap();
            assert!(
                ["dovecot-attributes", "password", "Maildir"].contains(&n.as_str())
                    || store::is_own_temp(&n),
                "stray file {n}"
            );
        }
        // The attribute file is the old one or the repaired one, whole,
        // and its keys open with the password.
        let now = fs::read(&attr).unwrap();
        if now == original {
            before_fix += 1;
        } else {
            after_fix += 1;
            assert_eq!(now.len(), original.len());
        }
        let keys = store::StoreKeys::new(KeyRing::new())
            .with_attributes(&attr, Some(&password))
            .unwrap();
        assert_eq!(keys.ring().len(), 2);
        check(&dir.join("Maildir"), &expect, keys.ring(), &seen);
    });
    assert!(before_fix > 0 && after_fix > 0, "{before_fix} {after_fix}");
    let keys = store::StoreKeys::new(KeyRing::new())
        .with_attributes(&attr, Some(&password))
        .unwrap();
    assert!(keys.user().unwrap().entries().all(|e| !e.rejected()));
    fs::remove_dir_all(&dir).unwrap();
}
