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
                    let mut d = Decryptor::new_verified(std::io::Cursor::new(&data), ring)
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
    let mut rng = Lcg(seed);
    let mut kills = 0;
    for _ in 0..10 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailcrypt"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 400));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        check(dir, expect, ring, &seen);
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
    check(dir, expect, ring, &seen);
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
