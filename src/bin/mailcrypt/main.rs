//! `mailcrypt`: decrypt, encrypt and inspect Dovecot mail-crypt files.

mod key_cmd;
mod store_cmd;

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use mailcrypt::container::{Header, Integrity};
use mailcrypt::keys::{
    AttributeFile, IdConvention, KeyRing, PointForm, PrivateKey, PublicKey, UserKeyStore,
};
use mailcrypt::{DecryptError, DecryptOptions, Decryptor, Encryptor, Target, Verification};

use mailcrypt::store::AtomicFile;
use serde_json::{Map, Value, json};

/// Read and write Dovecot mail-crypt encrypted mail, without OpenSSL.
#[derive(Parser)]
#[command(name = "mailcrypt", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

const EXAMPLES: &str = "\
Examples:
  mailcrypt decrypt -k private.pem -o mail.eml ~/Maildir/cur/1733400000.M1P2.mx:2,S
  mailcrypt scan -k private.pem /var/vmail/example.org/alice/Maildir
Run `mailcrypt <command> --help` for each command's options and examples.";

// The worked example at the end of every command's `--help` (clap prints
// `after_help` last), so an admin sees a complete command line.
#[derive(Subcommand)]
enum Cmd {
    /// Decrypt one container (any Dovecot build, format v1 or v2).
    #[command(after_help = "\
Examples:
  # Decrypt one mail (the tag is checked before the last bytes are written):
  mailcrypt decrypt -k /etc/dovecot/private.pem -o mail.eml ~/Maildir/cur/1733400000.M1P2.mx:2,S
  # Authenticate the whole file first, reading it from standard input:
  mailcrypt decrypt --verified -k private.pem < mail.bin > mail.eml")]
    Decrypt(DecryptArgs),
    /// Encrypt for a chosen Dovecot build.
    #[command(after_help = "\
Examples:
  # Encrypt a mail for Dovecot 2.4 with ChaCha20-Poly1305:
  mailcrypt encrypt -r /etc/dovecot/public.pem --target dovecot-2.4 \\
      --cipher chacha20-poly1305-sha256 -o mail.bin mail.eml")]
    Encrypt(EncryptArgs),
    /// Show what a container's header says (and which key opens it, with -k).
    #[command(after_help = "\
Examples:
  # Cipher, recipients and key ids of every mail in a folder, and the key that opens each:
  mailcrypt inspect -k /etc/dovecot/private.pem ~/Maildir/cur/*
  # The same as JSON lines:
  mailcrypt inspect --json ~/Maildir/cur/*")]
    Inspect(InspectArgs),
    /// Print a key's id under every convention Dovecot builds use.
    #[command(after_help = "\
Examples:
  # The ids a container header may carry for this key:
  mailcrypt keyid /etc/dovecot/public.pem")]
    Keyid(KeyidArgs),
    /// Report every mail of Maildir trees: plain or encrypted, key ids and
    /// their convention, which key and which Dovecot builds can read it.
    #[command(after_help = "\
Examples:
  # Which mails the key opens and which Dovecot builds read them, tags checked:
  mailcrypt scan -k /etc/dovecot/private.pem --verify /var/vmail/example.org/alice/Maildir")]
    Scan(store_cmd::ScanArgs),
    /// Rewrite only the recipient key id of mails so that build --target
    /// reads them (dry run unless --apply).
    #[command(after_help = "\
Examples:
  # See what would change, then change it, logging every file:
  mailcrypt repair -k private.pem --target dovecot-2.4 /var/vmail/example.org/alice/Maildir
  mailcrypt repair -k private.pem --target dovecot-2.4 --apply --log repair.log \\
      /var/vmail/example.org/alice/Maildir
  # Revert it:
  mailcrypt repair -k private.pem --undo repair.log --apply")]
    Repair(store_cmd::RepairArgs),
    /// Re-encrypt every mail to a new key.
    #[command(after_help = "\
Examples:
  # Re-encrypt a store from the old key to a new one, for Dovecot 2.4:
  mailcrypt rekey -k old-private.pem --to new-public.pem --target dovecot-2.4 \\
      --log rekey.log /var/vmail/example.org/alice/Maildir")]
    Rekey(store_cmd::RekeyArgs),
    /// Write a plaintext copy of a store (or decrypt it in place).
    #[command(after_help = "\
Examples:
  # A plaintext copy of a mailbox (the source stays as it is):
  mailcrypt decrypt-store -k private.pem /var/vmail/example.org/alice/Maildir /srv/export/alice
  # Decrypt a store in place (every file verified before it is replaced):
  mailcrypt decrypt-store -k private.pem --in-place /var/vmail/example.org/alice/Maildir")]
    DecryptStore(store_cmd::DecryptStoreArgs),
    /// Generate, convert and identify keys (PEM, Dovecot key strings, JWK).
    #[command(after_help = "\
Examples:
  mailcrypt key generate --curve p256 -o private.pem --public-out public.pem
  mailcrypt key convert --to dovecot private.pem")]
    Key(key_cmd::KeyCommand),
}

#[derive(Args)]
pub(crate) struct KeyArgs {
    /// Private key file (PEM PKCS#8, encrypted PKCS#8, SEC1, PKCS#1, a
    /// Dovecot key string, a JWK, or the base64 of one). May be given
    /// several times.
    #[arg(short = 'k', long = "key", value_name = "KEYFILE")]
    keys: Vec<PathBuf>,
    /// File holding the password of encrypted keys (one trailing newline
    /// is ignored).
    #[arg(long, value_name = "F")]
    password_file: Option<PathBuf>,
    /// A user's Dovecot mailbox attribute file (`mail_attribute_dict =
    /// file:…`): its mail-crypt user and folder keys are opened with
    /// --password-file (folder key → user key → password) and added.
    #[arg(long, value_name = "FILE")]
    attributes: Option<PathBuf>,
}

#[derive(Args)]
struct DecryptArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Authenticate the whole file before writing any plaintext.
    #[arg(long)]
    verified: bool,
    /// Refuse files that have no integrity protection (v1, flag NONE).
    #[arg(long)]
    require_integrity: bool,
    /// Accept OFB, CFB and CTR bodies (AES, Camellia, ARIA, SM4; refused by
    /// default: with them, a one-bit change to the unauthenticated cipher
    /// OID, e.g. aes-256-cbc → aes-256-ofb, can pass the HMAC).
    #[arg(long)]
    allow_ofb_cfb: bool,
    /// In --verified mode on non-seekable input (stdin), buffer at most
    /// this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    max_buffer: u64,
    /// Keep Dovecot's compression layer (zlib/mail_compress plugin) as it
    /// is; by default gzip, bzip2, xz, zstd and Dovecot-LZ4 are decompressed.
    #[arg(long)]
    raw: bool,
    /// Output file (default: standard output). Written atomically; left
    /// untouched on failure.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// Input container (default or `-`: standard input).
    input: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    V2,
    V1,
}

#[derive(Clone, Copy, ValueEnum)]
enum IdFormArg {
    Compressed,
    Uncompressed,
}

#[derive(Args)]
struct EncryptArgs {
    /// Recipient public key (SPKI PEM, or any private key form). Several
    /// need --multiple-recipients.
    #[arg(
        short = 'r',
        long = "recipient",
        value_name = "PUBFILE",
        required = true
    )]
    recipients: Vec<PathBuf>,
    /// The Dovecot build that will read the output.
    #[arg(long, default_value = "dovecot-2.3", value_parser = parse_target)]
    target: Target,
    /// Dovecot `crypt_write_algorithm` name: aes-256-gcm-sha256 (default),
    /// aes-256-cbc-sha256 (HMAC mode), chacha20-poly1305-sha256 (2.4), or
    /// another <cipher>-<hash> pair Dovecot accepts.
    #[arg(
        long = "cipher",
        value_name = "ALGO",
        default_value = "aes-256-gcm-sha256"
    )]
    cipher: String,
    /// Override the point form hashed into EC key ids.
    #[arg(long, value_enum)]
    key_id_form: Option<IdFormArg>,
    /// Container format (v1 is legacy: no integrity protection).
    #[arg(long, value_enum, default_value = "v2")]
    format: FormatArg,
    /// Allow several recipients (Dovecot itself cannot read such files).
    #[arg(long)]
    multiple_recipients: bool,
    /// Wrap the session key with the body cipher itself (header flag
    /// 0x10, SAME_CALG) instead of AES-256-CBC. Only Dovecot 2.4 reads it
    /// (--target dovecot-2.4), and no Dovecot configuration writes it.
    #[arg(long)]
    same_calg: bool,
    /// Output file (default: standard output). Written atomically.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// Plaintext input (default or `-`: standard input).
    input: Option<PathBuf>,
}

#[derive(Args)]
struct InspectArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Machine-readable output (one JSON object per file, one per line).
    #[arg(long)]
    json: bool,
    /// Container files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct KeyidArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// File holding the password of an encrypted private key.
    #[arg(long, value_name = "F")]
    password_file: Option<PathBuf>,
    /// Key file (public or private, any supported form).
    keyfile: PathBuf,
}

pub(crate) fn parse_target(s: &str) -> Result<Target, String> {
    Target::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Target::ALL.iter().map(|t| t.name()).collect();
        format!(
            "unknown target \"{s}\" (expected one of: {})",
            names.join(", ")
        )
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Decrypt(a) => decrypt(a),
        Cmd::Encrypt(a) => encrypt(a),
        Cmd::Inspect(a) => inspect(a),
        Cmd::Keyid(a) => keyid(a),
        Cmd::Scan(a) => store_cmd::scan(a),
        Cmd::Repair(a) => store_cmd::repair(a),
        Cmd::Rekey(a) => store_cmd::rekey(a),
        Cmd::DecryptStore(a) => store_cmd::decrypt_store(a),
        Cmd::Key(a) => key_cmd::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailcrypt: {e:#}");
            // 1 is "some mail failed"; an error that stops the command
            // (usage, I/O, keys) is 2, as for usage errors.
            ExitCode::from(2)
        }
    }
}

pub(crate) fn read_password(path: &Option<PathBuf>) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
    let Some(p) = path else { return Ok(None) };
    let mut pw = zeroize::Zeroizing::new(
        std::fs::read(p).with_context(|| format!("reading password file {}", p.display()))?,
    );
    if pw.last() == Some(&b'\n') {
        pw.pop();
        if pw.last() == Some(&b'\r') {
            pw.pop();
        }
    }
    Ok(Some(pw))
}

/// The private keys given with `-k` (encrypted ones under --password-file).
pub(crate) fn load_key_files(args: &KeyArgs) -> Result<KeyRing> {
    let pw = read_password(&args.password_file)?;
    let mut ring = KeyRing::new();
    for path in &args.keys {
        let data = zeroize::Zeroizing::new(
            std::fs::read(path).with_context(|| format!("reading key {}", path.display()))?,
        );
        let key = PrivateKey::from_bytes(&data, pw.as_deref().map(|v| v.as_slice()))
            .with_context(|| format!("loading private key {}", path.display()))?;
        ring.add_labeled(path.display().to_string(), key);
    }
    Ok(ring)
}

pub(crate) fn load_ring(args: &KeyArgs) -> Result<KeyRing> {
    let pw = read_password(&args.password_file)?;
    let mut ring = load_key_files(args)?;
    if let Some(path) = &args.attributes {
        let attrs = AttributeFile::read(path)
            .with_context(|| format!("reading attribute file {}", path.display()))?;
        let report = UserKeyStore::from_attributes(&attrs)
            .load_into(&mut ring, pw.as_deref().map(|v| v.as_slice()))
            .with_context(|| format!("loading keys from {}", path.display()))?;
        for (attr, e) in &report.failed {
            eprintln!("mailcrypt: warning: {}: {attr}: {e}", path.display());
        }
        for w in &report.warnings {
            eprintln!("mailcrypt: warning: {}: {w}", path.display());
        }
    }
    Ok(ring)
}

fn open_input(path: &Option<PathBuf>) -> Result<Box<dyn BufRead>> {
    match path {
        None => Ok(Box::new(io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(io::stdin().lock())),
        Some(p) => Ok(Box::new(BufReader::new(
            File::open(p).with_context(|| p.display().to_string())?,
        ))),
    }
}

/// How errors name the input: its path, or standard input.
fn input_name(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "standard input".into(),
    }
}

/// How errors name the output: its path, or standard output.
fn output_name(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "standard output".into(),
    }
}

/// A writer that remembers whether it failed, so that an error coming out
/// of a copy loop can be blamed on the right file.
struct Blame<'a> {
    inner: &'a mut dyn Write,
    failed: bool,
}

impl Write for Blame<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.failed |= r.is_err();
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.failed |= r.is_err();
        r
    }
}

/// Copy everything to `out`; decryption errors keep their message. Every
/// error names the file it concerns: `input` or `output`.
fn pump(mut src: impl Read, out: &mut dyn Write, input: &str, output: &str) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow!(DecryptError::from_io(e)).context(input.to_owned())),
        };
        out.write_all(&buf[..n])
            .with_context(|| output.to_owned())?;
    }
}

enum Sink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File(AtomicFile),
}

impl Sink {
    fn open(path: &Option<PathBuf>) -> Result<Sink> {
        match path {
            Some(p) if p.as_os_str() != "-" => Ok(Sink::File(
                AtomicFile::create(p).with_context(|| p.display().to_string())?,
            )),
            _ => Ok(Sink::Stdout(BufWriter::new(io::stdout().lock()))),
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::File(f) => f,
        }
    }

    fn commit(self) -> Result<()> {
        match self {
            Sink::Stdout(mut w) => Ok(w.flush()?),
            Sink::File(f) => Ok(f.commit()?),
        }
    }
}

fn warn_unauthenticated(info: &mailcrypt::ContainerInfo, what: &Option<PathBuf>) {
    if !info.is_authenticated() {
        let name = what
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "input".into());
        eprintln!(
            "mailcrypt: warning: {name} has no integrity protection (v1 or flag NONE): corruption cannot be detected"
        );
    }
}

/// Write the plaintext, decompressing Dovecot's compression layer unless
/// `raw`. Decryption errors keep their own message; every error names
/// `input` or `output`.
fn output(src: impl Read, out: &mut dyn Write, raw: bool, input: &str, output: &str) -> Result<()> {
    if raw {
        return pump(src, out, input, output);
    }
    let mut out = Blame {
        inner: out,
        failed: false,
    };
    match mailcrypt::compress::decompress_to(src, &mut out) {
        Ok(_) => Ok(()),
        Err(e) if out.failed => Err(anyhow!(e).context(output.to_owned())),
        Err(e) if e.get_ref().is_some_and(|i| i.is::<DecryptError>()) => {
            Err(anyhow!(DecryptError::from_io(e)).context(input.to_owned()))
        }
        Err(e) => Err(anyhow!(e).context(format!(
            "{input}: decompressing the decrypted mail (use --raw to keep the compressed bytes)"
        ))),
    }
}

fn decrypt(a: DecryptArgs) -> Result<ExitCode> {
    let ring = load_ring(&a.keys)?;
    let opts = DecryptOptions::default()
        .verification(if a.verified {
            Verification::Verified
        } else {
            Verification::Streaming
        })
        .buffer_limit(a.max_buffer)
        .require_integrity(a.require_integrity)
        .allow_ofb_cfb(a.allow_ofb_cfb);
    let (in_name, out_name) = (input_name(&a.input), output_name(&a.output));
    let mut sink = Sink::open(&a.output)?;
    match a.input.as_ref().filter(|p| p.as_os_str() != "-") {
        // A file can seek: verified mode reads it twice instead of
        // buffering it.
        Some(path) => {
            let file = File::open(path).with_context(|| in_name.clone())?;
            let dec = Decryptor::open_seekable(BufReader::new(file), &ring, &opts)
                .with_context(|| in_name.clone())?
                .use_source_buffer();
            warn_unauthenticated(dec.info(), &a.input);
            output(dec, sink.writer(), a.raw, &in_name, &out_name)?;
        }
        None => {
            let dec = Decryptor::open(io::stdin().lock(), &ring, &opts)
                .with_context(|| in_name.clone())?
                .use_source_buffer();
            warn_unauthenticated(dec.info(), &a.input);
            output(dec, sink.writer(), a.raw, &in_name, &out_name)?;
        }
    }
    sink.commit().with_context(|| out_name.clone())?;
    Ok(ExitCode::SUCCESS)
}

fn encrypt(a: EncryptArgs) -> Result<ExitCode> {
    let mut recipients = Vec::new();
    for p in &a.recipients {
        let data = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        recipients.push(
            PublicKey::from_bytes(&data)
                .with_context(|| format!("loading public key {}", p.display()))?,
        );
    }
    let mut enc = Encryptor::new(recipients)
        .target(a.target)
        .algorithm(&a.cipher)?;
    if let Some(f) = a.key_id_form {
        enc = enc.key_id_form(match f {
            IdFormArg::Compressed => PointForm::Compressed,
            IdFormArg::Uncompressed => PointForm::Uncompressed,
        });
    }
    if matches!(a.format, FormatArg::V1) {
        eprintln!(
            "mailcrypt: warning: format v1 has no integrity protection; use it only for test vectors"
        );
        enc = enc.legacy_v1();
    }
    if a.multiple_recipients {
        enc = enc.allow_multiple_recipients();
    }
    if a.same_calg {
        enc = enc.same_calg();
    }
    let (in_name, out_name) = (input_name(&a.input), output_name(&a.output));
    let input = open_input(&a.input)?;
    let mut sink = Sink::open(&a.output)?;
    {
        let mut w = enc.wrap_output(sink.writer())?;
        pump(input, &mut w, &in_name, &out_name)?;
        w.finish().with_context(|| out_name.clone())?;
    }
    sink.commit().with_context(|| out_name.clone())?;
    Ok(ExitCode::SUCCESS)
}

fn id_form_name(c: IdConvention) -> &'static str {
    c.name()
}

fn inspect(a: InspectArgs) -> Result<ExitCode> {
    let ring = load_ring(&a.keys)?;
    let mut failed = false;
    for path in &a.files {
        let with_keys = !a.keys.keys.is_empty() || a.keys.attributes.is_some();
        match inspect_one(path, &ring, with_keys) {
            Ok(items) => {
                for (text, js) in items {
                    if a.json {
                        println!("{js}");
                    } else {
                        print!("{text}");
                    }
                }
            }
            Err(e) => {
                failed = true;
                if a.json {
                    println!(
                        "{}",
                        json!({
                            "file": path.display().to_string(),
                            "error": format!("{e:#}"),
                        })
                    );
                } else {
                    println!("{}: error: {e:#}", path.display());
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One container file, or every container of a dbox file (sdbox `u.N`,
/// mdbox `m.N`: Dovecot's framing around mail-crypt containers).
fn inspect_one(path: &Path, ring: &KeyRing, with_keys: bool) -> Result<Vec<(String, Value)>> {
    let mut first = Vec::with_capacity(3);
    File::open(path)?.take(3).read_to_end(&mut first)?;
    if mailcrypt::store::dbox::looks_like_dbox(&first) {
        let shape = if path.parent().and_then(|d| d.file_name()) == Some("dbox-Mails".as_ref()) {
            mailcrypt::store::Shape::Sdbox
        } else {
            mailcrypt::store::Shape::Mdbox
        };
        return mailcrypt::store::MailRef::dbox_mails(path, shape)?
            .iter()
            .map(|m| inspect_container(path, Some(m.offset), m.len, || m.open(), ring, with_keys))
            .collect();
    }
    let size = std::fs::metadata(path)?.len();
    Ok(vec![inspect_container(
        path,
        None,
        size,
        || File::open(path).map(BufReader::new),
        ring,
        with_keys,
    )?])
}

fn inspect_container<R: BufRead>(
    path: &Path,
    offset: Option<u64>,
    size: u64,
    open: impl Fn() -> io::Result<R>,
    ring: &KeyRing,
    with_keys: bool,
) -> Result<(String, Value)> {
    use std::fmt::Write as _;
    // The caller prefixes every error with the file name.
    let mut t = String::new();
    // Key order is kept (serde_json's `preserve_order`): file first.
    let mut fields = Map::new();
    fields.insert("file".into(), json!(path.display().to_string()));
    if let Some(off) = offset {
        fields.insert("offset".into(), json!(off));
        let _ = writeln!(t, "{}@{off} (dbox):", path.display());
    } else {
        let _ = writeln!(t, "{}:", path.display());
    }
    fields.insert("size".into(), json!(size));
    if size == 0 {
        let _ = writeln!(
            t,
            "  empty file (Dovecot's encrypted form of an empty mail)"
        );
        fields.insert("format".into(), json!("empty"));
        return Ok((t, Value::Object(fields)));
    }
    let mut f = open()?;
    let header = Header::read(&mut f)?;
    let hlen = header.header_len();
    let _ = writeln!(
        t,
        "  format: v{}\n  header length: {hlen}\n  body length: {}",
        header.version(),
        size.saturating_sub(hlen as u64)
    );
    fields.insert("format".into(), json!(format!("v{}", header.version())));
    fields.insert("header_len".into(), json!(hlen as u64));
    match &header {
        Header::V1(h) => {
            let _ = writeln!(
                t,
                "  cipher: aes-256-ctr (zero IV)\n  integrity: none\n  ephemeral key: {} bytes\n  key id (v1): {}",
                h.ephemeral_key.len(),
                hex(&h.key_id)
            );
            fields.insert("cipher".into(), json!("aes-256-ctr"));
            fields.insert("integrity".into(), json!("none"));
            fields.insert(
                "recipients".into(),
                json!([{
                    "type": "ec",
                    "key_id": hex(&h.key_id),
                    "ephemeral_key_len": h.ephemeral_key.len(),
                }]),
            );
        }
        Header::V2(h) => {
            let integ = match h.integrity() {
                Integrity::Aead => "aead",
                Integrity::Hmac => "hmac",
                _ => "none",
            };
            let _ = writeln!(
                t,
                "  flags: {:#010x} (integrity: {integ}{})\n  cipher: {}\n  mac/hash: {}\n  rounds: {}",
                h.flags,
                if h.same_calg() { ", same-calg" } else { "" },
                h.cipher,
                h.hash,
                h.rounds
            );
            fields.insert("flags".into(), json!(u64::from(h.flags)));
            fields.insert("integrity".into(), json!(integ));
            fields.insert("cipher".into(), json!(h.cipher.name()));
            fields.insert("mac".into(), json!(h.hash.name()));
            fields.insert("rounds".into(), json!(u64::from(h.rounds)));
            let mut rs = Vec::new();
            for (i, r) in h.recipients.iter().enumerate() {
                let ty = match r.key_type.to_byte() {
                    1 => "rsa",
                    2 => "ec",
                    4 => "ml-kem",
                    _ => "unknown",
                };
                let _ = writeln!(
                    t,
                    "  recipient {i}: type {ty} ({:#04x}), key id {}, ephemeral key {} bytes, wrapped key {} bytes",
                    r.key_type.to_byte(),
                    r.key_id,
                    r.ephemeral_key.len(),
                    r.encrypted_key.len()
                );
                rs.push(json!({
                    "type": ty,
                    "key_id": r.key_id.to_hex(),
                    "ephemeral_key_len": r.ephemeral_key.len(),
                    "encrypted_key_len": r.encrypted_key.len(),
                }));
            }
            fields.insert("recipients".into(), Value::Array(rs));
            let _ = writeln!(t, "  key check: {} bytes", h.key_check.len());
        }
        _ => bail!("unknown header version"),
    }
    if with_keys {
        match Decryptor::open(open()?, ring, &mailcrypt::DecryptOptions::default()) {
            Ok(dec) => {
                if let Some(m) = &dec.info().matched {
                    let _ = writeln!(
                        t,
                        "  opened by: {} (id {} matched as {})",
                        m.key_label, m.key_id, m.convention
                    );
                    fields.insert(
                        "match".into(),
                        json!({
                            "key": m.key_label,
                            "key_id": m.key_id.to_hex(),
                            "convention": id_form_name(m.convention),
                        }),
                    );
                }
            }
            Err(e) => {
                // With its source() chain (e.g. why a session key unwrap failed).
                let e = format!("{:#}", anyhow!(e));
                let _ = writeln!(t, "  opened by: none ({e})");
                fields.insert("match".into(), Value::Null);
                fields.insert("match_error".into(), json!(e));
            }
        }
    }
    Ok((t, Value::Object(fields)))
}

fn hex(b: &[u8]) -> String {
    base16ct::lower::encode_string(b)
}

fn keyid(a: KeyidArgs) -> Result<ExitCode> {
    let name = a.keyfile.display().to_string();
    let data = zeroize::Zeroizing::new(std::fs::read(&a.keyfile).with_context(|| name.clone())?);
    let pw = read_password(&a.password_file)?;
    let public = match PrivateKey::from_bytes(&data, pw.as_deref().map(|v| v.as_slice())) {
        Ok(k) => k.public_key().clone(),
        Err(mailcrypt::KeyError::NotPrivate) => {
            PublicKey::from_bytes(&data).with_context(|| name.clone())?
        }
        Err(e) => match PublicKey::from_bytes(&data) {
            Ok(p) => p,
            Err(_) => return Err(anyhow!(e).context(name)),
        },
    };
    let ids = public.ids();
    if a.json {
        let mut fields = Map::new();
        fields.insert("file".into(), json!(a.keyfile.display().to_string()));
        fields.insert("type".into(), json!(public.key_type().to_string()));
        if let Some(f) = public.source_point_form() {
            let form = match f {
                PointForm::Compressed => "compressed",
                PointForm::Uncompressed => "uncompressed",
            };
            fields.insert("point_form".into(), json!(form));
        }
        let ids: Map<String, Value> = ids
            .iter()
            .map(|(c, id)| (c.name().to_owned(), json!(id.to_hex())))
            .collect();
        fields.insert("ids".into(), Value::Object(ids));
        println!("{}", Value::Object(fields));
    } else {
        println!("{}: {}", a.keyfile.display(), public.key_type());
        for (c, id) in &ids {
            let who = match c {
                IdConvention::SpkiCompressed => {
                    "v2 id, Dovecot 2.3 on OpenSSL 1.1 / Debian-patched 2.3 / 2.4"
                }
                IdConvention::SpkiUncompressed => {
                    "v2 id, unpatched Dovecot 2.3 on OpenSSL 3 (uncompressed-point PEM)"
                }
                IdConvention::V1 => "v1 containers and v1 key strings",
                _ => "v2 id, every build",
            };
            println!("  {:<18} {id}  ({who})", c.name());
        }
    }
    Ok(ExitCode::SUCCESS)
}
