//! Whole-store commands: `scan`, `repair`, `rekey`, `decrypt-store`. They
//! parse arguments, call `mailcrypt::store`, and render its events as text
//! or JSON with a progress display on a terminal; all the work (walking
//! Maildir/sdbox/mdbox trees, verifying, atomic rewrites, logs) is the
//! library's.
//!
//! Exit status: 0 when every mail is fine, 1 when some mail failed (or,
//! for `scan`, fails verification, is malformed, or no given key opens
//! it), 2 for usage and I/O errors.

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde_json::{Map, Value, json};

use mailcrypt::Target;
use mailcrypt::container::{Header, Integrity};
use mailcrypt::keys::{KeyRing, PublicKey};
use mailcrypt::store::{
    self, Change, ChangeLog, DecryptStoreEvent, DecryptStoreOptions, Destination, FileReport,
    MailOutcome, MailRef, MailReport, RekeyEvent, RekeyOptions, RepairEvent, RepairOptions,
    ScanEvent, ScanOptions, Shape, StoreKeys, UndoEvent, Verdict, VerifyOutcome,
};

use crate::{KeyArgs, load_key_files, parse_target, read_password};

#[derive(Args)]
#[command(
    after_help = "Exit status: 0 every mail fine; 1 some mail fails --verify, is malformed, sits in an unparsable dbox file, or no given key opens it; 2 usage or I/O error.\n\nExample:\n  mailcrypt scan -k /etc/dovecot/mail-crypt.pem /var/vmail/example.org/alice/Maildir\n  mailcrypt scan --json --verify --attributes ~alice/dovecot-attributes --password-file pw ~alice/sdbox"
)]
pub struct ScanArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Machine-readable output: one JSON object per mail (and per file
    /// that could not be processed), then a summary object.
    #[arg(long)]
    json: bool,
    /// Decrypt every mail fully and check its tag (otherwise headers only).
    #[arg(long)]
    verify: bool,
    /// Parallel jobs (default: number of CPUs).
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Store trees: Maildir, sdbox or mdbox (an alternate storage root is
    /// another DIR), or single files.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  mailcrypt repair --target dovecot-2.3 -k /etc/dovecot/mail-crypt.pem --log repair.log /var/vmail   # dry run\n  mailcrypt repair --target dovecot-2.3 -k /etc/dovecot/mail-crypt.pem --log repair.log --apply /var/vmail\n  mailcrypt repair --undo repair.log -k /etc/dovecot/mail-crypt.pem --apply"
)]
pub struct RepairArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Build to make the store readable for.
    #[arg(long, value_parser = parse_target, required_unless_present = "undo")]
    target: Option<Target>,
    /// Write the changes (default: dry run, only report).
    #[arg(long)]
    apply: bool,
    /// Append every change to this log (one line per change, fsynced; see
    /// docs/migration.md for its format). Needed to re-encrypt v1 mails.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Revert the changes recorded in this log.
    #[arg(long, value_name = "LOG")]
    undo: Option<PathBuf>,
    /// Parallel jobs.
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Store trees (Maildir, sdbox, mdbox).
    dirs: Vec<PathBuf>,
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  mailcrypt rekey --to new-public.pem -k old-private.pem -k new-private.pem --log rekey.log /var/vmail/example.org/alice/Maildir"
)]
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
    /// Maildir trees (sdbox/mdbox are refused: see `repair` and `decrypt-store`).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  mailcrypt decrypt-store -k /etc/dovecot/mail-crypt.pem /var/vmail/example.org/alice/mdbox /srv/rescue/alice-Maildir"
)]
pub struct DecryptStoreArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Keep Dovecot's compression layer as it is (default: decompress).
    #[arg(long)]
    raw: bool,
    /// Replace every encrypted mail in SRC by its plaintext (no DST;
    /// Maildir only).
    #[arg(long)]
    in_place: bool,
    /// Parallel jobs.
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Source store (Maildir, sdbox or mdbox).
    src: PathBuf,
    /// Destination (must not exist, or be empty). A dbox source becomes a
    /// Maildir++ tree.
    dst: Option<PathBuf>,
}

fn load_store_keys(args: &KeyArgs) -> Result<StoreKeys> {
    let ring: KeyRing = load_key_files(args)?;
    let keys = StoreKeys::new(ring);
    let Some(path) = &args.attributes else {
        return Ok(keys);
    };
    let pw = read_password(&args.password_file)?;
    let keys = keys.with_attributes(path, pw.as_deref().map(|v| v.as_slice()))?;
    if let Some(report) = keys.load_report() {
        for (attr, e) in &report.failed {
            eprintln!("mailcrypt: warning: {}: {attr}: {e}", path.display());
        }
    }
    Ok(keys)
}

fn jobs(j: Option<usize>) -> usize {
    j.unwrap_or(0)
}

/// A spinner counting items on a terminal; nothing otherwise.
fn progress(what: &str) -> indicatif::ProgressBar {
    if io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new_spinner();
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{prefix} {spinner} {pos} {per_sec} {elapsed}")
        {
            pb.set_style(style);
        }
        pb.set_prefix(what.to_string());
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        pb
    } else {
        indicatif::ProgressBar::hidden()
    }
}

fn code(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn yes_no(v: &Verdict) -> &'static str {
    match v.readable() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn mail_json(m: &MailRef) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("file".into(), json!(m.path.display().to_string()));
    if m.shape != Shape::Maildir {
        o.insert("shape".into(), json!(m.shape.name()));
        o.insert("offset".into(), json!(m.offset));
        o.insert("size".into(), json!(m.len));
        o.insert("mailbox".into(), json!(m.mailbox));
        // No dbox metadata: guid and received are null.
        let meta = m.dbox.as_ref();
        o.insert("guid".into(), json!(meta.and_then(|d| d.guid.as_ref())));
        o.insert("received".into(), json!(meta.and_then(|d| d.received)));
    }
    o
}

fn mail_label(m: &MailRef) -> String {
    match (&m.shape, &m.mailbox) {
        (Shape::Maildir, _) => m.display(),
        (s, Some(b)) => format!("{} ({} {b})", m.display(), s.name()),
        (s, None) => format!("{} ({})", m.display(), s.name()),
    }
}

/// One mail as (text line, JSON object).
fn render_mail(r: &MailReport) -> (String, Value) {
    let mut o = mail_json(&r.mail);
    let mut t = String::new();
    let class = match &r.outcome {
        MailOutcome::Empty => {
            t.push_str("empty (0 bytes: an encrypted empty mail, or an empty file)");
            "empty"
        }
        MailOutcome::Plain => {
            t.push_str("plain (not encrypted)");
            "plain"
        }
        MailOutcome::Malformed(e) => {
            t.push_str(&format!("malformed container: {e}"));
            o.insert("error".into(), json!(e.to_string()));
            "malformed"
        }
        MailOutcome::Error(e) => {
            t.push_str(&format!("error: {e}"));
            o.insert("error".into(), json!(e.to_string()));
            "error"
        }
        MailOutcome::Encrypted(m) => {
            match &m.header {
                Header::V1(_) => {
                    t.push_str("encrypted v1 aes-256-ctr (no integrity)");
                    o.insert("format".into(), json!("v1"));
                }
                Header::V2(h) => {
                    let integ = match h.integrity() {
                        Integrity::Aead => "aead",
                        Integrity::Hmac => "hmac",
                        _ => "none",
                    };
                    let ids: Vec<String> = h.recipients.iter().map(|r| r.key_id.to_hex()).collect();
                    t.push_str(&format!(
                        "encrypted v2 {}/{} {integ}, recipient ids {}",
                        h.cipher,
                        h.hash,
                        ids.join(",")
                    ));
                    o.insert("format".into(), json!("v2"));
                    o.insert("cipher".into(), json!(h.cipher.name()));
                    o.insert("mac".into(), json!(h.hash.name()));
                    o.insert("integrity".into(), json!(integ));
                    o.insert("recipient_ids".into(), json!(ids));
                }
                _ => {}
            }
            match &m.matched {
                Some((_, k)) => {
                    t.push_str(&format!(", key {} ({})", k.label, k.convention));
                    o.insert("key".into(), json!(k.label));
                    o.insert("convention".into(), json!(k.convention.name()));
                    let parts: Vec<String> = r
                        .readable_by
                        .iter()
                        .map(|(tg, v)| format!("{tg}={}", yes_no(v)))
                        .collect();
                    t.push_str(&format!("; readable by {}", parts.join(" ")));
                    let mut rb = Map::new();
                    let mut why = Map::new();
                    for (tg, v) in &r.readable_by {
                        rb.insert(tg.name().into(), json!(yes_no(v)));
                        if let Verdict::NotReadable(reason) = v {
                            why.insert(tg.name().into(), json!(reason.to_string()));
                        }
                    }
                    if let Some((tg, Verdict::NotReadable(reason))) = r
                        .readable_by
                        .iter()
                        .find(|(_, v)| matches!(v, Verdict::NotReadable(_)))
                    {
                        t.push_str(&format!(" ({tg}: {reason})"));
                    }
                    o.insert("readable_by".into(), Value::Object(rb));
                    if !why.is_empty() {
                        o.insert("not_readable_because".into(), Value::Object(why));
                    }
                }
                None => {
                    t.push_str(", no matching key");
                    o.insert("key".into(), Value::Null);
                }
            }
            "encrypted"
        }
        _ => "unknown",
    };
    match &r.verify {
        Some(VerifyOutcome::Authenticated) => {
            t.push_str("; verify: ok");
            o.insert("verify".into(), json!("ok"));
        }
        Some(VerifyOutcome::Unauthenticated) => {
            t.push_str("; verify: decrypted (no integrity to check)");
            o.insert("verify".into(), json!("decrypted (no integrity to check)"));
        }
        Some(VerifyOutcome::Failed(e)) => {
            t.push_str(&format!("; verify FAILED: {e}"));
            o.insert("verify".into(), json!(format!("failed: {e}")));
        }
        _ => {}
    }
    // `class` second, as before.
    let mut obj = Map::new();
    if let Some(f) = o.remove("file") {
        obj.insert("file".into(), f);
    }
    obj.insert("class".into(), json!(class));
    obj.extend(o);
    (
        format!("{}: {t}\n", mail_label(&r.mail)),
        Value::Object(obj),
    )
}

fn render_file(f: &FileReport) -> Option<(String, Value)> {
    Some(match f {
        FileReport::Index(_) => return None,
        FileReport::Unparsed(p, shape, e) => (
            format!("{}: unparsed {} file: {e}\n", p.display(), shape.name()),
            json!({"file": p.display().to_string(), "class": "unparsed", "shape": shape.name(), "error": e.to_string()}),
        ),
        FileReport::Unsupported(p, why) => (
            format!("{}: not processed: {why}\n", p.display()),
            json!({"file": p.display().to_string(), "class": "unsupported", "error": why.to_string()}),
        ),
        FileReport::Error(e) => (
            format!("error: {e}\n"),
            json!({"class": "error", "error": e.to_string()}),
        ),
        _ => return None,
    })
}

pub fn scan(a: ScanArgs) -> Result<ExitCode> {
    let keys = load_store_keys(&a.keys)?;
    let keys_given = !keys.is_empty();
    let pb = progress("scan");
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut write_err: Option<io::Error> = None;
    let opts = ScanOptions::new().verify(a.verify).jobs(jobs(a.jobs));
    let summary = store::scan(&a.dirs, &keys, &opts, |e| {
        pb.inc(1);
        let rendered = match &e {
            ScanEvent::Mail(r) => Some(render_mail(r)),
            ScanEvent::File(f) => render_file(f),
            _ => None,
        };
        if let Some((text, value)) = rendered {
            let r = if a.json {
                writeln!(out, "{value}")
            } else {
                out.write_all(text.as_bytes())
            };
            if let Err(e) = r {
                write_err.get_or_insert(e);
            }
        }
    })?;
    pb.finish_and_clear();
    if let Some(e) = write_err {
        return Err(anyhow!(e).context("writing the report"));
    }
    let mut counts: Vec<(String, u64)> = Vec::new();
    for (k, v) in [
        ("class empty", summary.empty),
        ("class plain", summary.plain),
        ("class encrypted", summary.encrypted),
        ("class malformed", summary.malformed),
    ] {
        if v > 0 {
            counts.push((k.into(), v));
        }
    }
    for (c, n) in &summary.by_convention {
        counts.push((format!("key id {c}"), *n));
    }
    for (t, c) in &summary.by_target {
        for (label, n) in [
            ("readable", c.readable),
            ("NOT readable", c.not_readable),
            ("unknown (no matching key given)", c.unknown),
        ] {
            if n > 0 {
                counts.push((format!("{t}: {label}"), n));
            }
        }
    }
    let failures = [
        ("verify failed", summary.verify_failed),
        ("no given key opens it", summary.no_key),
        ("malformed", summary.malformed),
        ("unparsed dbox files", summary.unparsed_files),
        ("unsupported files", summary.unsupported_files),
        ("errors", summary.errors),
    ];
    let clean = summary.is_clean(keys_given);
    if a.json {
        let rejections: Vec<Value> = summary
            .stored_key_rejections
            .iter()
            .map(|(attr, t, r)| json!({"attribute": attr, "build": t.name(), "reason": r.to_string()}))
            .collect();
        let s = json!({"summary": {
            "mails": summary.mails,
            "mail_files": summary.mail_files,
            "by_shape": summary.by_shape,
            "counts": counts.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "failures": failures.iter().map(|(k, v)| (k.replace(' ', "_"), json!(v))).collect::<Map<_, _>>(),
            "verified": summary.verified,
            "ok": clean,
            "stored_key_rejections": rejections,
            "index_files": summary.index_files,
            "index_files_with_plaintext_headers": summary.index_file_examples.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        }});
        writeln!(out, "{s}")?;
    } else {
        if summary.mails == summary.mail_files {
            writeln!(out, "\nsummary: {} mail files", summary.mails)?;
        } else {
            writeln!(
                out,
                "\nsummary: {} mails in {} mail files",
                summary.mails, summary.mail_files
            )?;
        }
        for (k, v) in &summary.by_shape {
            if summary.by_shape.len() > 1 || *k != "maildir" {
                writeln!(out, "  layout {k}: {v} mails")?;
            }
        }
        for (k, v) in &counts {
            writeln!(out, "  {k}: {v}")?;
        }
        if summary.verified > 0 {
            writeln!(out, "  verified: {}", summary.verified)?;
        }
        for (k, v) in failures {
            if v > 0 {
                writeln!(out, "  FAILED: {k}: {v}")?;
            }
        }
        // One line per stored key and reason, naming every build that
        // rejects it for that reason.
        let mut grouped: Vec<(&str, String, Vec<String>)> = Vec::new();
        for (attr, t, r) in &summary.stored_key_rejections {
            let reason = r.to_string();
            match grouped
                .iter_mut()
                .find(|(a, why, _)| *a == attr.as_str() && *why == reason)
            {
                Some((_, _, builds)) => builds.push(t.to_string()),
                None => grouped.push((attr, reason, vec![t.to_string()])),
            }
        }
        for (attr, reason, builds) in grouped {
            writeln!(
                out,
                "  stored key {attr}: rejected by {}: {reason}",
                builds.join(", ")
            )?;
        }
        if summary.index_files > 0 {
            writeln!(
                out,
                "  note: {} Dovecot index/cache files exist; dovecot.index.cache holds plaintext headers (Subject, From, To, MIME structure) of encrypted mails — mail-crypt does not encrypt them:",
                summary.index_files
            )?;
            for p in &summary.index_file_examples {
                writeln!(out, "    {}", p.display())?;
            }
            if summary.index_files > summary.index_file_examples.len() as u64 {
                writeln!(
                    out,
                    "    … and {} more",
                    summary.index_files - summary.index_file_examples.len() as u64
                )?;
            }
        }
        if summary.mails == 0 && summary.unparsed_files + summary.unsupported_files == 0 {
            writeln!(
                out,
                "  note: no mail found (looked for Maildir cur/new/tmp, sdbox dbox-Mails/u.N and mdbox storage/m.N)"
            )?;
        }
    }
    out.flush()?;
    Ok(code(clean))
}

fn open_log(p: &Option<PathBuf>) -> Result<Option<ChangeLog>> {
    p.as_ref()
        .map(|p| ChangeLog::open(p).with_context(|| format!("opening log {}", p.display())))
        .transpose()
}

pub fn repair(a: RepairArgs) -> Result<ExitCode> {
    let keys = load_store_keys(&a.keys)?;
    if keys.ring().is_empty() {
        return Err(anyhow!(
            "repair needs the private key(s) (-k or --attributes) to verify every rewritten file"
        ));
    }
    let log = open_log(&a.log)?;
    if let Some(undo) = &a.undo {
        let pb = progress("undo");
        let s = store::undo(undo, &keys, a.apply, log.as_ref(), |e| {
            pb.inc(1);
            pb.suspend(|| match e {
                UndoEvent::Reverted {
                    record,
                    path,
                    applied,
                } => println!(
                    "{}: {} {}",
                    path.display(),
                    if applied {
                        "restored:"
                    } else {
                        "would restore:"
                    },
                    record.to_line()
                ),
                UndoEvent::Failed { what, error } => println!("{what}: NOT undone: {error}"),
                _ => {}
            })
        })
        .with_context(|| format!("undoing {}", undo.display()))?;
        pb.finish_and_clear();
        println!(
            "undo {}: {} files, {} already undone, {} failed",
            if a.apply {
                "applied"
            } else {
                "dry run (use --apply to write)"
            },
            s.reverted,
            s.already,
            s.failed
        );
        return Ok(code(s.failed == 0));
    }
    let target = a.target.context("--target is required")?;
    if a.dirs.is_empty() {
        return Err(anyhow!("no directory given"));
    }
    let opts = RepairOptions::new(target)
        .apply(a.apply)
        .log(log.as_ref())
        .jobs(jobs(a.jobs));
    let pb = progress(if a.apply {
        "repair"
    } else {
        "repair (dry run)"
    });
    let s = store::repair(&a.dirs, &keys, &opts, |e| {
        pb.inc(1);
        pb.suspend(|| match e {
            RepairEvent::Mail {
                mail,
                change,
                applied,
            } => match change {
                Change::KeyId {
                    old,
                    old_convention,
                    new,
                    new_convention,
                    ..
                } => println!(
                    "{}: {}key id {old} ({old_convention}) -> {new} ({new_convention})",
                    mail_label(&mail),
                    if applied { "" } else { "would rewrite " }
                ),
                Change::ReencryptedV1 { id, convention } => println!(
                    "{}: {} v1 -> v2 under folder key {id} ({convention})",
                    mail_label(&mail),
                    if applied {
                        "re-encrypted"
                    } else {
                        "would re-encrypt"
                    }
                ),
                _ => {}
            },
            RepairEvent::Attribute {
                path,
                attribute,
                old,
                new,
                applied,
            } => println!(
                "{}: {attribute}: {}stored key id field {old} -> {new}",
                path.display(),
                if applied { "" } else { "would rewrite " }
            ),
            RepairEvent::Failed { what, error } => println!("{what}: NOT repaired: {error}"),
            _ => {}
        })
    })?;
    pb.finish_and_clear();
    let mut extra = String::new();
    if s.reencrypted > 0 {
        extra.push_str(&format!(
            ", {} v1 mails {}",
            s.reencrypted,
            if a.apply {
                "re-encrypted"
            } else {
                "to re-encrypt"
            }
        ));
    }
    if s.attributes > 0 {
        extra.push_str(&format!(
            ", {} stored keys {}",
            s.attributes,
            if a.apply { "fixed" } else { "to fix" }
        ));
    }
    let files = if s.mails == s.mail_files {
        format!("{} mail files", s.mails)
    } else {
        format!("{} mails in {} mail files", s.mails, s.mail_files)
    };
    println!(
        "repair {}: {files}, {} {}{extra}, {} failed",
        if a.apply {
            "applied"
        } else {
            "dry run (use --apply to write)"
        },
        s.rewritten,
        if a.apply { "rewritten" } else { "to rewrite" },
        s.failed
    );
    Ok(code(s.failed == 0))
}

pub fn rekey(a: RekeyArgs) -> Result<ExitCode> {
    let keys = load_store_keys(&a.keys)?;
    let to = PublicKey::from_bytes(
        &fs::read(&a.to).with_context(|| format!("reading {}", a.to.display()))?,
    )
    .with_context(|| format!("loading {}", a.to.display()))?;
    let log = open_log(&a.log)?;
    let mut opts = RekeyOptions::new(to, a.target);
    opts.cipher = a.cipher.clone();
    opts.dry_run = a.dry_run;
    opts.log = log.as_ref();
    opts.jobs = jobs(a.jobs);
    let pb = progress(if a.dry_run {
        "rekey (dry run)"
    } else {
        "rekey"
    });
    let s = store::rekey(&a.dirs, &keys, &opts, |e| {
        pb.inc(1);
        pb.suspend(|| match e {
            RekeyEvent::Mail {
                path,
                old,
                new,
                applied,
            } => println!(
                "{}: {} from {old} to {new}",
                path.display(),
                if applied {
                    "re-encrypted"
                } else {
                    "would re-encrypt"
                }
            ),
            RekeyEvent::Failed { what, error } => println!("{what}: NOT rekeyed: {error}"),
            _ => {}
        })
    })?;
    pb.finish_and_clear();
    println!(
        "rekey {}: {} mail files, {} {}, {} failed; new files verified {}",
        if a.dry_run { "dry run" } else { "applied" },
        s.mails,
        s.rekeyed,
        if a.dry_run {
            "to re-encrypt"
        } else {
            "re-encrypted"
        },
        s.failed,
        if s.full_verify {
            "by full decryption with the new private key"
        } else {
            "by re-reading their bytes (give the new private key with -k for a full check)"
        }
    );
    Ok(code(s.failed == 0))
}

pub fn decrypt_store(a: DecryptStoreArgs) -> Result<ExitCode> {
    let keys = load_store_keys(&a.keys)?;
    let destination = match (&a.dst, a.in_place) {
        (Some(_), true) => return Err(anyhow!("give either DST or --in-place, not both")),
        (None, false) => {
            return Err(anyhow!(
                "give DST, or --in-place to replace the mails in SRC"
            ));
        }
        (Some(d), false) => Destination::Copy(d.clone()),
        (None, true) => Destination::InPlace,
    };
    let opts = DecryptStoreOptions::new(destination)
        .raw(a.raw)
        .jobs(jobs(a.jobs));
    let pb = progress("decrypt-store");
    let s = store::decrypt_store(&a.src, &keys, &opts, |e| {
        pb.inc(1);
        if let DecryptStoreEvent::Failed { what, error } = e {
            pb.suspend(|| println!("{what}: {error}"));
        }
    })?;
    pb.finish_and_clear();
    println!(
        "decrypt-store: {} mail files, {} failed, {} plaintext bytes written",
        s.mails, s.failed, s.bytes
    );
    if s.dbox_mails > 0 {
        println!(
            "note: {} mails came from dbox files and were written as a Maildir++ tree; their flags and keywords live in Dovecot's index, which mailcrypt does not read: see docs/migration.md (\"dbox stores\") to bring them back with doveadm",
            s.dbox_mails
        );
    }
    if s.without_mailbox > 0 {
        println!(
            "note: {} mdbox mails had no mailbox name (no B metadata) and went to .mailcrypt-no-mailbox",
            s.without_mailbox
        );
    }
    if s.index_files > 0 {
        println!(
            "note: {} Dovecot index/cache files hold plaintext headers of these mails; they were {}",
            s.index_files,
            if a.in_place {
                "left as they are"
            } else if s.dbox_mails > 0 {
                "not copied"
            } else {
                "copied as they are"
            }
        );
    }
    Ok(code(s.failed == 0))
}
