//! Whole-store commands: `scan`, `repair`, `rekey`, `decrypt-store`.
//!
//! Every write goes through `mailcrypt::store::replace_file` (temp file in
//! the same directory, fsync, verify, rename, mode/owner/mtime kept) or,
//! for a new tree, an atomic create; a file that cannot be verified is
//! never touched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use rayon::prelude::*;

use mailcrypt::container::{Header, Integrity};
use mailcrypt::keys::{IdConvention, KeyId, KeyRing, PublicKey};
use mailcrypt::store::{self, MailStatus, inspect_mail, readable_by, replace_file};
use mailcrypt::{Decryptor, Encryptor, Target};

use crate::json::Json;
use crate::{KeyArgs, load_ring, parse_target};

#[derive(Args)]
pub struct ScanArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Machine-readable output: one JSON object per mail, then a summary object.
    #[arg(long)]
    json: bool,
    /// Decrypt every mail fully and check its tag (otherwise headers only).
    #[arg(long)]
    verify: bool,
    /// Parallel jobs (default: number of CPUs).
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Maildir trees (or single files).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

#[derive(Args)]
pub struct RepairArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Build to make the store readable for.
    #[arg(long, value_parser = parse_target, required_unless_present = "undo")]
    target: Option<Target>,
    /// Write the changes (default: dry run, only report).
    #[arg(long)]
    apply: bool,
    /// Append every change to this log (one TSV line per file, fsynced).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Revert the changes recorded in this log.
    #[arg(long, value_name = "LOG")]
    undo: Option<PathBuf>,
    /// Parallel jobs.
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Maildir trees.
    dirs: Vec<PathBuf>,
}

#[derive(Args)]
pub struct RekeyArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// New recipient public key.
    #[arg(long = "to", value_name = "PUBKEY")]
    to: PathBuf,
    /// Build that will read the store.
    #[arg(long, value_parser = parse_target, default_value = "dovecot-2.3")]
    target: Target,
    /// Cipher for the new containers (Dovecot `crypt_write_algorithm` name).
    #[arg(
        long = "cipher",
        value_name = "ALGO",
        default_value = "aes-256-gcm-sha256"
    )]
    cipher: String,
    /// Report what would change without writing.
    #[arg(long)]
    dry_run: bool,
    /// Append every change to this log.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Parallel jobs.
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Maildir trees.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

#[derive(Args)]
pub struct DecryptStoreArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Keep Dovecot's compression layer as it is (default: decompress).
    #[arg(long)]
    raw: bool,
    /// Replace every encrypted mail in SRC by its plaintext (no DST).
    #[arg(long)]
    in_place: bool,
    /// Parallel jobs.
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Source Maildir tree.
    src: PathBuf,
    /// Destination (must not exist, or be empty).
    dst: Option<PathBuf>,
}

fn pool(jobs: Option<usize>) -> Result<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(j) = jobs {
        b = b.num_threads(j.max(1));
    }
    Ok(b.build()?)
}

fn progress(n: usize, what: &str) -> indicatif::ProgressBar {
    if io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(n as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_prefix(what.to_string());
        pb
    } else {
        indicatif::ProgressBar::hidden()
    }
}

fn server_targets() -> [Target; 3] {
    [
        Target::Dovecot23,
        Target::Dovecot23OpenSsl3Unpatched,
        Target::Dovecot24,
    ]
}

// Verification reads each mail once in streaming mode to the end: the
// final read fails if the tag or HMAC does not match, and nothing read is
// kept, so verified mode's separate authentication pass would only read and
// hash the body twice.
fn verify_full(path: &Path, ring: &KeyRing) -> std::result::Result<(), String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let mut d = Decryptor::new_buf_read(BufReader::new(f), ring).map_err(|e| e.to_string())?;
    if !d.info().is_authenticated() {
        return Err(
            "the file has no integrity protection (v1 or flag NONE) and cannot be verified".into(),
        );
    }
    io::copy(&mut d, &mut io::sink())
        .map_err(|e| mailcrypt::DecryptError::from_io(e).to_string())?;
    Ok(())
}

/// One scanned mail.
struct ScanRow {
    text: String,
    json: Json,
    class: &'static str,
    convention: Option<IdConvention>,
    readable: Vec<(Target, Option<bool>)>,
    failed: bool,
}

pub fn scan(a: ScanArgs) -> Result<std::process::ExitCode> {
    let ring = load_ring(&a.keys)?;
    let walk = store::walk(&a.dirs)?;
    let pb = progress(walk.mails.len(), "scan");
    let rows: Vec<ScanRow> = pool(a.jobs)?.install(|| {
        walk.mails
            .par_iter()
            .map(|p| {
                let r = scan_one(p, &ring, a.verify);
                pb.inc(1);
                r
            })
            .collect()
    });
    pb.finish_and_clear();
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    let mut failed = false;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for r in &rows {
        *counts.entry(format!("class {}", r.class)).or_default() += 1;
        if let Some(c) = r.convention {
            *counts.entry(format!("key id {}", c.name())).or_default() += 1;
        }
        for (t, ok) in &r.readable {
            let v = match ok {
                Some(true) => "readable",
                Some(false) => "NOT readable",
                None => "unknown (no matching key given)",
            };
            *counts.entry(format!("{t}: {v}")).or_default() += 1;
        }
        failed |= r.failed;
        if a.json {
            writeln!(out, "{}", r.json.render())?;
        } else {
            write!(out, "{}", r.text)?;
        }
    }
    if a.json {
        let summary = Json::Obj(vec![
            ("mails", Json::Num(walk.mails.len() as u64)),
            (
                "counts",
                Json::Arr(
                    counts
                        .iter()
                        .map(|(k, v)| Json::Arr(vec![Json::str(k.clone()), Json::Num(*v)]))
                        .collect(),
                ),
            ),
            (
                "index_files_with_plaintext_headers",
                Json::Arr(
                    walk.index_files
                        .iter()
                        .map(|p| Json::str(p.display().to_string()))
                        .collect(),
                ),
            ),
        ]);
        writeln!(out, "{}", Json::Obj(vec![("summary", summary)]).render())?;
    } else {
        writeln!(out, "\nsummary: {} mail files", walk.mails.len())?;
        for (k, v) in &counts {
            writeln!(out, "  {k}: {v}")?;
        }
        if !walk.index_files.is_empty() {
            writeln!(
                out,
                "  note: {} Dovecot index/cache files exist; dovecot.index.cache holds plaintext headers (Subject, From, To, MIME structure) of encrypted mails — mail-crypt does not encrypt them:",
                walk.index_files.len()
            )?;
            for p in &walk.index_files {
                writeln!(out, "    {}", p.display())?;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

fn scan_one(path: &Path, ring: &KeyRing, verify: bool) -> ScanRow {
    let name = path.display().to_string();
    let mut fields = vec![("file", Json::str(name.clone()))];
    let mut readable = Vec::new();
    let mut convention = None;
    let mut failed = false;
    let status = match inspect_mail(path, ring) {
        Ok(s) => s,
        Err(e) => {
            fields.push(("class", Json::str("error")));
            fields.push(("error", Json::str(e.to_string())));
            return ScanRow {
                text: format!("{name}: error: {e}\n"),
                json: Json::Obj(fields),
                class: "error",
                convention,
                readable,
                failed: true,
            };
        }
    };
    let (class, mut text) = match &status {
        MailStatus::Empty => (
            "empty",
            "empty (0 bytes: an encrypted empty mail, or an empty file)".to_string(),
        ),
        MailStatus::Plain => ("plain", "plain (not encrypted)".to_string()),
        MailStatus::Malformed(e) => {
            failed = true;
            ("malformed", format!("malformed container: {e}"))
        }
        MailStatus::Encrypted(m) => {
            let mut t = String::new();
            match &m.header {
                Header::V1(_) => {
                    t.push_str("encrypted v1 aes-256-ctr (no integrity)");
                    fields.push(("format", Json::str("v1")));
                }
                Header::V2(h) => {
                    let integ = match h.integrity() {
                        Integrity::Aead => "aead",
                        Integrity::Hmac => "hmac",
                        _ => "none",
                    };
                    t.push_str(&format!("encrypted v2 {}/{} {integ}", h.cipher, h.hash));
                    fields.push(("format", Json::str("v2")));
                    fields.push(("cipher", Json::str(h.cipher.name())));
                    fields.push(("mac", Json::str(h.hash.name())));
                    fields.push(("integrity", Json::str(integ)));
                    let ids: Vec<Json> = h
                        .recipients
                        .iter()
                        .map(|r| Json::str(r.key_id.to_hex()))
                        .collect();
                    t.push_str(&format!(
                        ", recipient ids {}",
                        h.recipients
                            .iter()
                            .map(|r| r.key_id.to_hex())
                            .collect::<Vec<_>>()
                            .join(",")
                    ));
                    fields.push(("recipient_ids", Json::Arr(ids)));
                }
                _ => {}
            }
            match &m.matched {
                Some((_, k)) => {
                    convention = Some(k.convention);
                    t.push_str(&format!(", key {} ({})", k.label, k.convention));
                    fields.push(("key", Json::str(k.label.clone())));
                    fields.push(("convention", Json::str(k.convention.name())));
                    // Dovecot configured with this key file, per build.
                    let server = k.key.public_key().clone().with_source_point_form(
                        k.key
                            .source_point_form()
                            .unwrap_or(mailcrypt::keys::PointForm::Uncompressed),
                    );
                    let mut parts = Vec::new();
                    let mut js = Vec::new();
                    for tg in server_targets() {
                        let ok = readable_by(&m.header, &server, tg);
                        readable.push((tg, Some(ok)));
                        parts.push(format!("{tg}={}", if ok { "yes" } else { "no" }));
                        js.push((
                            tg.name(),
                            Json::Str(if ok { "yes".into() } else { "no".into() }),
                        ));
                    }
                    t.push_str(&format!("; readable by {}", parts.join(" ")));
                    fields.push(("readable_by", Json::Obj(js)));
                }
                None => {
                    t.push_str(", no matching key");
                    for tg in server_targets() {
                        readable.push((tg, None));
                    }
                    fields.push(("key", Json::Null));
                }
            }
            if verify {
                match verify_or_unauth(path, ring) {
                    Ok(msg) => {
                        t.push_str(&format!("; verify: {msg}"));
                        fields.push(("verify", Json::str(msg)));
                    }
                    Err(e) => {
                        failed = true;
                        t.push_str(&format!("; verify FAILED: {e}"));
                        fields.push(("verify", Json::str(format!("failed: {e}"))));
                    }
                }
            }
            ("encrypted", t)
        }
        _ => ("unknown", "unknown".into()),
    };
    fields.insert(1, ("class", Json::str(class)));
    text = format!("{name}: {text}\n");
    ScanRow {
        text,
        json: Json::Obj(fields),
        class,
        convention,
        readable,
        failed,
    }
}

fn verify_or_unauth(path: &Path, ring: &KeyRing) -> std::result::Result<String, String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let mut d = Decryptor::new_buf_read(BufReader::new(f), ring).map_err(|e| e.to_string())?;
    let auth = d.info().is_authenticated();
    io::copy(&mut d, &mut io::sink())
        .map_err(|e| mailcrypt::DecryptError::from_io(e).to_string())?;
    Ok(if auth {
        "ok".into()
    } else {
        "decrypted (no integrity to check)".into()
    })
}

struct Log(Option<Mutex<File>>);

impl Log {
    fn open(path: &Option<PathBuf>) -> Result<Log> {
        Ok(Log(match path {
            Some(p) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening log {}", p.display()))?,
            )),
            None => None,
        }))
    }

    fn record(&self, line: &str) -> io::Result<()> {
        if let Some(m) = &self.0 {
            let mut f = m
                .lock()
                .map_err(|_| io::Error::other("log lock poisoned"))?;
            f.write_all(line.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_data()?;
        }
        Ok(())
    }
}

/// Rewrite recipient `index`'s id in `path` from `old` to `new` and
/// verify the result with a full tag check before it replaces the file.
fn rewrite_id(path: &Path, index: usize, old: KeyId, new: KeyId, ring: &KeyRing) -> Result<()> {
    let data_header = {
        let mut f = BufReader::new(File::open(path)?);
        Header::read(&mut f)?
    };
    let Header::V2(h) = &data_header else {
        bail!("not a v2 container")
    };
    let off = h.key_id_offset(index).context("no such recipient")?;
    if h.recipients.get(index).map(|r| r.key_id) != Some(old) {
        bail!("the key id changed since the scan");
    }
    replace_file(
        path,
        |out| {
            let mut src = File::open(path)?;
            let mut head = vec![0u8; off + 32];
            src.read_exact(&mut head)?;
            head.get_mut(off..off + 32)
                .unwrap_or_default()
                .copy_from_slice(new.as_bytes());
            out.write_all(&head)?;
            io::copy(&mut src, out)?;
            Ok(())
        },
        |tmp| verify_full(tmp, ring),
    )?;
    Ok(())
}

/// Run `one` over every mail in parallel with a progress bar; print the
/// lines it returns and give back (changed, failed) counts.
fn for_each_mail(
    mails: &[PathBuf],
    jobs: Option<usize>,
    label: &str,
    verb: &str,
    one: impl Fn(&Path) -> Result<Option<String>> + Sync,
) -> Result<(u64, u64)> {
    let pb = progress(mails.len(), label);
    let changed = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let lines: Vec<String> = pool(jobs)?.install(|| {
        mails
            .par_iter()
            .filter_map(|p| {
                let r = one(p);
                pb.inc(1);
                match r {
                    Ok(Some(msg)) => {
                        changed.fetch_add(1, Ordering::Relaxed);
                        Some(msg)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        Some(format!("{}: NOT {verb}: {e:#}", p.display()))
                    }
                }
            })
            .collect()
    });
    pb.finish_and_clear();
    for l in &lines {
        println!("{l}");
    }
    Ok((changed.into_inner(), failed.into_inner()))
}

pub fn repair(a: RepairArgs) -> Result<std::process::ExitCode> {
    let ring = load_ring(&a.keys)?;
    if ring.is_empty() {
        bail!("repair needs the private key(s) (-k) to verify every rewritten file");
    }
    if let Some(undo) = &a.undo {
        return repair_undo(undo, &ring, a.apply, &Log::open(&a.log)?);
    }
    let target = a.target.context("--target is required")?;
    if a.dirs.is_empty() {
        bail!("no directory given");
    }
    let walk = store::walk(&a.dirs)?;
    let log = Log::open(&a.log)?;
    let label = if a.apply {
        "repair"
    } else {
        "repair (dry run)"
    };
    let (c, f) = for_each_mail(&walk.mails, a.jobs, label, "repaired", |p| {
        repair_one(p, &ring, target, a.apply, &log)
    })?;
    println!(
        "repair {}: {} mail files, {c} {}, {f} failed",
        if a.apply {
            "applied"
        } else {
            "dry run (use --apply to write)"
        },
        walk.mails.len(),
        if a.apply { "rewritten" } else { "to rewrite" }
    );
    Ok(if f > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

fn repair_one(
    path: &Path,
    ring: &KeyRing,
    target: Target,
    apply: bool,
    log: &Log,
) -> Result<Option<String>> {
    let MailStatus::Encrypted(m) = inspect_mail(path, ring)? else {
        return Ok(None);
    };
    let Header::V2(h) = &m.header else {
        return Ok(None);
    };
    let Some((idx, k)) = &m.matched else {
        return Ok(None);
    };
    let public = k.key.public_key().clone().with_source_point_form(
        k.key
            .source_point_form()
            .unwrap_or(mailcrypt::keys::PointForm::Uncompressed),
    );
    let want_conv = target.id_convention(&public);
    let Some(want) = public.id(want_conv) else {
        return Ok(None);
    };
    if want == k.id {
        return Ok(None);
    }
    if h.integrity() == Integrity::None {
        bail!("flag NONE: no integrity protection, the rewrite could not be verified");
    }
    // Absolute path, so `--undo` works from any directory.
    let abs = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let line = format!("{}\t{idx}\t{}\t{}", abs.display(), k.id, want);
    if !apply {
        return Ok(Some(format!(
            "{}: would rewrite key id {} ({}) -> {} ({want_conv})",
            path.display(),
            k.id,
            k.convention,
            want
        )));
    }
    rewrite_id(path, *idx, k.id, want, ring)?;
    log.record(&line)?;
    Ok(Some(format!(
        "{}: key id {} ({}) -> {} ({want_conv})",
        path.display(),
        k.id,
        k.convention,
        want
    )))
}

/// Find a mail again after Dovecot may have renamed it: a Maildir name
/// keeps its base (before `:2,`) when flags change and moves from `new/`
/// to `cur/`.
fn locate_maildir_file(path: &Path) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let name = path.file_name()?.to_str()?;
    let base = name.split(':').next()?;
    let dir = path.parent()?;
    let folder = dir.parent()?;
    for sub in [dir.to_path_buf(), folder.join("cur"), folder.join("new")] {
        let Ok(entries) = fs::read_dir(&sub) else {
            continue;
        };
        for e in entries.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.split(':').next() == Some(base) {
                return Some(e.path());
            }
        }
    }
    None
}

fn repair_undo(
    log_path: &Path,
    ring: &KeyRing,
    apply: bool,
    log: &Log,
) -> Result<std::process::ExitCode> {
    let text =
        fs::read_to_string(log_path).with_context(|| format!("reading {}", log_path.display()))?;
    let mut failed = 0;
    let mut done = 0;
    for line in text.lines().rev().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [path, idx, old, new] = f.as_slice() else {
            bail!("malformed log line: {line}");
        };
        let (Some(old), Some(new), Ok(idx)) = (
            KeyId::from_hex(old),
            KeyId::from_hex(new),
            idx.parse::<usize>(),
        ) else {
            bail!("malformed log line: {line}");
        };
        let Some(found) = locate_maildir_file(Path::new(path)) else {
            failed += 1;
            println!("{path}: NOT undone: the file no longer exists (expunged?)");
            continue;
        };
        let path = found.as_path();
        let current = match inspect_mail(path, ring) {
            Ok(MailStatus::Encrypted(m)) => match &m.header {
                Header::V2(h) => h.recipients.get(idx).map(|r| r.key_id),
                _ => None,
            },
            _ => None,
        };
        if current == Some(old) {
            continue; // already undone
        }
        if current != Some(new) {
            failed += 1;
            println!(
                "{}: NOT undone: the key id is neither the logged old nor new id",
                path.display()
            );
            continue;
        }
        if !apply {
            println!("{}: would restore key id {old}", path.display());
            done += 1;
            continue;
        }
        match rewrite_id(path, idx, new, old, ring) {
            Ok(()) => {
                log.record(&format!("{}\t{idx}\t{new}\t{old}", path.display()))?;
                println!("{}: key id restored to {old}", path.display());
                done += 1;
            }
            Err(e) => {
                failed += 1;
                println!("{}: NOT undone: {e:#}", path.display());
            }
        }
    }
    println!(
        "undo {}: {done} files, {failed} failed",
        if apply {
            "applied"
        } else {
            "dry run (use --apply to write)"
        }
    );
    Ok(if failed > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

pub fn rekey(a: RekeyArgs) -> Result<std::process::ExitCode> {
    let ring = load_ring(&a.keys)?;
    if ring.is_empty() {
        bail!("rekey needs the old private key(s) (-k)");
    }
    let to = PublicKey::from_bytes(
        &fs::read(&a.to).with_context(|| format!("reading {}", a.to.display()))?,
    )
    .with_context(|| format!("loading {}", a.to.display()))?;
    let enc = Encryptor::new(vec![to.clone()])
        .target(a.target)
        .algorithm(&a.cipher)?;
    let new_id = to
        .id(a.target.id_convention(&to))
        .unwrap_or_else(|| to.canonical_id());
    let full_verify = ring.find(&new_id).is_some();
    let walk = store::walk(&a.dirs)?;
    let log = Log::open(&a.log)?;
    let label = if a.dry_run {
        "rekey (dry run)"
    } else {
        "rekey"
    };
    let (c, f) = for_each_mail(&walk.mails, a.jobs, label, "rekeyed", |p| {
        rekey_one(p, &ring, &enc, new_id, a.dry_run, full_verify, &log)
    })?;
    println!(
        "rekey {}: {} mail files, {c} {}, {f} failed; new files verified {}",
        if a.dry_run { "dry run" } else { "applied" },
        walk.mails.len(),
        if a.dry_run {
            "to re-encrypt"
        } else {
            "re-encrypted"
        },
        if full_verify {
            "by full decryption with the new private key"
        } else {
            "by re-reading their bytes (give the new private key with -k for a full check)"
        }
    );
    Ok(if f > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hasher: sha2::Sha256,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn rekey_one(
    path: &Path,
    ring: &KeyRing,
    enc: &Encryptor,
    new_id: KeyId,
    dry_run: bool,
    full_verify: bool,
    log: &Log,
) -> Result<Option<String>> {
    let MailStatus::Encrypted(m) = inspect_mail(path, ring)? else {
        return Ok(None);
    };
    if let Header::V2(h) = &m.header
        && h.recipients.len() == 1
        && h.recipients.first().map(|r| r.key_id) == Some(new_id)
    {
        return Ok(None); // already rekeyed: resumable
    }
    let Some((_, k)) = &m.matched else {
        bail!("no given key opens it")
    };
    if dry_run {
        return Ok(Some(format!(
            "{}: would re-encrypt from {} to {new_id}",
            path.display(),
            k.id
        )));
    }
    let plain_hash = Mutex::new([0u8; 32]);
    let file_hash = Mutex::new([0u8; 32]);
    replace_file(
        path,
        |out| {
            use sha2::Digest;
            let src = BufReader::new(File::open(path)?);
            let mut dec = Decryptor::new_verified(src, ring)
                .map_err(|e| io::Error::other(e.to_string()))?
                .use_source_buffer();
            let mut hw = HashingWriter {
                inner: out,
                hasher: sha2::Sha256::new(),
            };
            let mut w = enc
                .wrap_output(&mut hw)
                .map_err(|e| io::Error::other(e.to_string()))?;
            let mut ph = sha2::Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = dec.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                ph.update(buf.get(..n).unwrap_or_default());
                w.write_all(buf.get(..n).unwrap_or_default())?;
            }
            w.finish()?;
            *plain_hash.lock().map_err(|_| io::Error::other("lock"))? = ph.finalize().into();
            *file_hash.lock().map_err(|_| io::Error::other("lock"))? = hw.hasher.finalize().into();
            Ok(())
        },
        |tmp| {
            if full_verify {
                let f = File::open(tmp).map_err(|e| e.to_string())?;
                let mut d = Decryptor::new_verified(BufReader::new(f), ring)
                    .map_err(|e| e.to_string())?
                    .use_source_buffer();
                let mut h = HashingWriter {
                    inner: &mut io::sink(),
                    hasher: <sha2::Sha256 as sha2::Digest>::new(),
                };
                io::copy(&mut d, &mut h).map_err(|e| e.to_string())?;
                let got: [u8; 32] = sha2::Digest::finalize(h.hasher).into();
                if got != *plain_hash.lock().map_err(|_| "lock")? {
                    return Err("re-encrypted file decrypts to different bytes".into());
                }
            } else {
                let data = fs::read(tmp).map_err(|e| e.to_string())?;
                if sha256(&data) != *file_hash.lock().map_err(|_| "lock")? {
                    return Err("re-encrypted file reads back different bytes".into());
                }
            }
            Ok(())
        },
    )?;
    log.record(&format!("{}\trekey\t{}\t{new_id}", path.display(), k.id))?;
    Ok(Some(format!(
        "{}: re-encrypted from {} to {new_id}",
        path.display(),
        k.id
    )))
}

pub fn decrypt_store(a: DecryptStoreArgs) -> Result<std::process::ExitCode> {
    let ring = load_ring(&a.keys)?;
    match (&a.dst, a.in_place) {
        (Some(_), true) => bail!("give either DST or --in-place, not both"),
        (None, false) => bail!("give DST, or --in-place to replace the mails in SRC"),
        _ => {}
    }
    if let Some(dst) = &a.dst
        && dst.exists()
        && fs::read_dir(dst)?.next().is_some()
    {
        bail!("{} exists and is not empty", dst.display());
    }
    let walk = store::walk(&[&a.src])?;
    if let Some(dst) = &a.dst {
        // The copy belongs to whoever owns the source (the mail user when
        // run as root), and keeps every folder, empty `cur/`/`tmp/` too.
        mirror_dirs(&a.src, dst)?;
    }
    let pb = progress(walk.mails.len(), "decrypt-store");
    let failed = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let errors: Vec<String> = pool(a.jobs)?.install(|| {
        walk.mails
            .par_iter()
            .filter_map(|p| {
                let r = decrypt_store_one(p, &a, &ring);
                pb.inc(1);
                match r {
                    Ok(n) => {
                        bytes.fetch_add(n, Ordering::Relaxed);
                        None
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        Some(format!("{}: {e:#}", p.display()))
                    }
                }
            })
            .collect()
    });
    pb.finish_and_clear();
    if let Some(dst) = &a.dst {
        // Control and index files are copied as they are: Dovecot takes
        // sizes from the Maildir file names (plaintext sizes) and its cache
        // holds only plaintext-derived data, so they stay valid, and the
        // mailbox GUIDs, UIDs and flags survive.
        for p in walk.other_files.iter().chain(&walk.index_files) {
            let rel = p.strip_prefix(&a.src).unwrap_or(p);
            let to = dst.join(rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::copy(p, &to).with_context(|| format!("copying {}", p.display()))?;
            copy_owner(p, &to)?;
        }
    }
    for e in &errors {
        println!("{e}");
    }
    let f = failed.into_inner();
    println!(
        "decrypt-store: {} mail files, {} failed, {} plaintext bytes written",
        walk.mails.len(),
        f,
        bytes.into_inner()
    );
    if !walk.index_files.is_empty() {
        println!(
            "note: {} Dovecot index/cache files hold plaintext headers of these mails; they were {}",
            walk.index_files.len(),
            if a.in_place {
                "left as they are"
            } else {
                "copied as they are"
            }
        );
    }
    Ok(if f > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Decrypt (and, unless `raw`, decompress) a mail into `out` in one
/// streaming pass. Every caller writes into a temporary file that is only
/// kept when this returns `Ok`, and the final read fails on a bad tag or
/// HMAC, so nothing unauthenticated is kept. When decompression fails
/// first (tampered data fed to it), the mail is authenticated separately
/// so that the error names the real cause.
fn write_plain(path: &Path, ring: &KeyRing, raw: bool, out: &mut dyn Write) -> io::Result<u64> {
    let f = BufReader::new(File::open(path)?);
    let dec = Decryptor::new_buf_read(f, ring).map_err(|e| io::Error::other(e.to_string()))?;
    if raw {
        let mut d = dec;
        return io::copy(&mut d, out);
    }
    match mailcrypt::compress::decompress_to(dec, out) {
        Ok((_, n)) => Ok(n),
        Err(e) => {
            let f = BufReader::new(File::open(path)?);
            match Decryptor::new_verified(f, ring) {
                Err(auth) => Err(io::Error::other(auth.to_string())),
                Ok(_) => Err(e),
            }
        }
    }
}

/// Create every directory of `src` under `dst` with the same mode and
/// owner.
fn mirror_dirs(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rel = dir.strip_prefix(src).unwrap_or(Path::new(""));
        let to = dst.join(rel);
        fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        let meta = fs::metadata(&dir)?;
        fs::set_permissions(
            &to,
            fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
        )?;
        copy_owner(&dir, &to)?;
        for e in fs::read_dir(&dir)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(())
}

fn copy_owner(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (m, t) = (fs::metadata(from)?, fs::metadata(to)?);
    if (m.uid(), m.gid()) != (t.uid(), t.gid()) {
        std::os::unix::fs::chown(to, Some(m.uid()), Some(m.gid()))
            .with_context(|| format!("chown {}", to.display()))?;
    }
    Ok(())
}

fn decrypt_store_one(path: &Path, a: &DecryptStoreArgs, ring: &KeyRing) -> Result<u64> {
    let status = inspect_mail(path, ring)?;
    let encrypted = matches!(status, MailStatus::Encrypted(_));
    if let MailStatus::Malformed(e) = &status {
        bail!("malformed container: {e}");
    }
    if a.in_place {
        if !encrypted {
            return Ok(0);
        }
        let n = AtomicU64::new(0);
        replace_file(
            path,
            |out| {
                let k = write_plain(path, ring, a.raw, out)?;
                n.store(k, Ordering::Relaxed);
                Ok(())
            },
            // The source was authenticated before a byte was written; check
            // that everything reached the disk.
            |tmp| match fs::metadata(tmp) {
                Ok(m) if m.len() == n.load(Ordering::Relaxed) => Ok(()),
                Ok(m) => Err(format!(
                    "wrote {} bytes, expected {}",
                    m.len(),
                    n.load(Ordering::Relaxed)
                )),
                Err(e) => Err(e.to_string()),
            },
        )?;
        return Ok(n.into_inner());
    }
    let dst = a.dst.as_ref().context("no destination")?;
    let rel = path.strip_prefix(&a.src).unwrap_or(path);
    let to = dst.join(rel);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let meta = fs::metadata(path)?;
    let mut out = crate::atomic::AtomicFile::create(&to)?;
    {
        use std::os::unix::fs::MetadataExt;
        out.set_mode_owner(meta.mode(), meta.uid(), meta.gid())?;
    }
    let n = if encrypted {
        write_plain(path, ring, a.raw, &mut out)?
    } else {
        let mut f = File::open(path)?;
        io::copy(&mut f, &mut out)?
    };
    out.set_modified(meta.modified()?)?;
    out.commit()?;
    Ok(n)
}
