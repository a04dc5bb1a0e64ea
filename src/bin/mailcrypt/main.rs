//! `mailcrypt`: decrypt, encrypt and inspect Dovecot mail-crypt files.

mod json;
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
use mailcrypt::{DecryptError, DecryptOptions, Decryptor, Encryptor, Target};

use json::Json;
use mailcrypt::store::AtomicFile;

/// Read and write Dovecot mail-crypt encrypted mail, without OpenSSL.
#[derive(Parser)]
#[command(name = "mailcrypt", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Decrypt one container (any Dovecot build, format v1 or v2).
    Decrypt(DecryptArgs),
    /// Encrypt for a chosen Dovecot build.
    Encrypt(EncryptArgs),
    /// Show what a container's header says (and which key opens it, with -k).
    Inspect(InspectArgs),
    /// Print a key's id under every convention Dovecot builds use.
    Keyid(KeyidArgs),
    /// Report every mail of Maildir trees: plain or encrypted, key ids and
    /// their convention, which key and which Dovecot builds can read it.
    Scan(store_cmd::ScanArgs),
    /// Rewrite only the recipient key id of mails so that build --target
    /// reads them (dry run unless --apply).
    Repair(store_cmd::RepairArgs),
    /// Re-encrypt every mail to a new key.
    Rekey(store_cmd::RekeyArgs),
    /// Write a plaintext copy of a store (or decrypt it in place).
    DecryptStore(store_cmd::DecryptStoreArgs),
    /// Generate, convert and identify keys (PEM, Dovecot key strings, JWK).
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
            File::open(p).with_context(|| format!("opening {}", p.display()))?,
        ))),
    }
}

/// Copy everything to `out`; decryption errors keep their message.
fn pump(mut src: impl Read, out: &mut dyn Write) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow!(DecryptError::from_io(e))),
        };
        out.write_all(&buf[..n])?;
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
                AtomicFile::create(p).with_context(|| format!("creating {}", p.display()))?,
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
/// `raw`. Decryption errors keep their own message.
fn output(src: impl Read, out: &mut dyn Write, raw: bool) -> Result<()> {
    if raw {
        return pump(src, out);
    }
    match mailcrypt::compress::decompress_to(src, out) {
        Ok(_) => Ok(()),
        Err(e) if e.get_ref().is_some_and(|i| i.is::<DecryptError>()) => {
            Err(anyhow!(DecryptError::from_io(e)))
        }
        Err(e) => Err(anyhow!(e)
            .context("decompressing the decrypted mail (use --raw to keep the compressed bytes)")),
    }
}

fn decrypt(a: DecryptArgs) -> Result<ExitCode> {
    let ring = load_ring(&a.keys)?;
    let opts = DecryptOptions::default()
        .require_integrity(a.require_integrity)
        .allow_ofb_cfb(a.allow_ofb_cfb);
    let mut sink = Sink::open(&a.output)?;
    let stdin = a.input.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if a.verified && !stdin {
        let path = a.input.clone().unwrap_or_default();
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let dec = Decryptor::verified_with_options(BufReader::new(file), &ring, &opts)?
            .use_source_buffer();
        warn_unauthenticated(dec.info(), &a.input);
        output(dec, sink.writer(), a.raw)?;
    } else if a.verified {
        let dec = Decryptor::verified_buffered_with_options(
            io::stdin().lock(),
            &ring,
            a.max_buffer,
            &opts,
        )?;
        warn_unauthenticated(dec.info(), &a.input);
        output(dec, sink.writer(), a.raw)?;
    } else {
        let dec = Decryptor::buf_read_with_options(open_input(&a.input)?, &ring, &opts)?;
        warn_unauthenticated(dec.info(), &a.input);
        output(dec, sink.writer(), a.raw)?;
    }
    sink.commit()?;
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
    let mut input = open_input(&a.input)?;
    let mut sink = Sink::open(&a.output)?;
    {
        let mut w = enc.wrap_output(sink.writer())?;
        io::copy(&mut input, &mut w)?;
        w.finish()?;
    }
    sink.commit()?;
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
            Ok((text, js)) => {
                if a.json {
                    println!("{}", js.render());
                } else {
                    print!("{text}");
                }
            }
            Err(e) => {
                failed = true;
                if a.json {
                    println!(
                        "{}",
                        Json::Obj(vec![
                            ("file", Json::str(path.display().to_string())),
                            ("error", Json::str(format!("{e:#}")))
                        ])
                        .render()
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

fn inspect_one(path: &Path, ring: &KeyRing, with_keys: bool) -> Result<(String, Json)> {
    use std::fmt::Write as _;
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut t = String::new();
    let mut fields: Vec<(&'static str, Json)> = vec![
        ("file", Json::str(path.display().to_string())),
        ("size", Json::Num(size)),
    ];
    let _ = writeln!(t, "{}:", path.display());
    if size == 0 {
        let _ = writeln!(
            t,
            "  empty file (Dovecot's encrypted form of an empty mail)"
        );
        fields.push(("format", Json::str("empty")));
        return Ok((t, Json::Obj(fields)));
    }
    let mut f = BufReader::new(File::open(path)?);
    let header = Header::read(&mut f)?;
    let hlen = header.header_len();
    let _ = writeln!(
        t,
        "  format: v{}\n  header length: {hlen}\n  body length: {}",
        header.version(),
        size.saturating_sub(hlen as u64)
    );
    fields.push(("format", Json::str(format!("v{}", header.version()))));
    fields.push(("header_len", Json::Num(hlen as u64)));
    match &header {
        Header::V1(h) => {
            let _ = writeln!(
                t,
                "  cipher: aes-256-ctr (zero IV)\n  integrity: none\n  ephemeral key: {} bytes\n  key id (v1): {}",
                h.ephemeral_key.len(),
                hex(&h.key_id)
            );
            fields.push(("cipher", Json::str("aes-256-ctr")));
            fields.push(("integrity", Json::str("none")));
            fields.push((
                "recipients",
                Json::Arr(vec![Json::Obj(vec![
                    ("type", Json::str("ec")),
                    ("key_id", Json::str(hex(&h.key_id))),
                    ("ephemeral_key_len", Json::Num(h.ephemeral_key.len() as u64)),
                ])]),
            ));
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
            fields.push(("flags", Json::Num(u64::from(h.flags))));
            fields.push(("integrity", Json::str(integ)));
            fields.push(("cipher", Json::str(h.cipher.name())));
            fields.push(("mac", Json::str(h.hash.name())));
            fields.push(("rounds", Json::Num(u64::from(h.rounds))));
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
                rs.push(Json::Obj(vec![
                    ("type", Json::str(ty)),
                    ("key_id", Json::str(r.key_id.to_hex())),
                    ("ephemeral_key_len", Json::Num(r.ephemeral_key.len() as u64)),
                    ("encrypted_key_len", Json::Num(r.encrypted_key.len() as u64)),
                ]));
            }
            fields.push(("recipients", Json::Arr(rs)));
            let _ = writeln!(t, "  key check: {} bytes", h.key_check.len());
        }
        _ => bail!("unknown header version"),
    }
    if with_keys {
        let file = File::open(path)?;
        match Decryptor::new(BufReader::new(file), ring) {
            Ok(dec) => {
                if let Some(m) = &dec.info().matched {
                    let _ = writeln!(
                        t,
                        "  opened by: {} (id {} matched as {})",
                        m.key_label, m.key_id, m.convention
                    );
                    fields.push((
                        "match",
                        Json::Obj(vec![
                            ("key", Json::str(m.key_label.clone())),
                            ("key_id", Json::str(m.key_id.to_hex())),
                            ("convention", Json::str(id_form_name(m.convention))),
                        ]),
                    ));
                }
            }
            Err(e) => {
                let _ = writeln!(t, "  opened by: none ({e})");
                fields.push(("match", Json::Null));
                fields.push(("match_error", Json::str(e.to_string())));
            }
        }
    }
    Ok((t, Json::Obj(fields)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn keyid(a: KeyidArgs) -> Result<ExitCode> {
    let data = zeroize::Zeroizing::new(
        std::fs::read(&a.keyfile).with_context(|| format!("reading {}", a.keyfile.display()))?,
    );
    let pw = read_password(&a.password_file)?;
    let public = match PrivateKey::from_bytes(&data, pw.as_deref().map(|v| v.as_slice())) {
        Ok(k) => k.public_key().clone(),
        Err(mailcrypt::KeyError::NotPrivate) => PublicKey::from_bytes(&data)?,
        Err(e) => match PublicKey::from_bytes(&data) {
            Ok(p) => p,
            Err(_) => bail!(e),
        },
    };
    let ids = public.ids();
    if a.json {
        let mut fields = vec![
            ("file", Json::str(a.keyfile.display().to_string())),
            ("type", Json::str(public.key_type().to_string())),
        ];
        if let Some(f) = public.source_point_form() {
            fields.push((
                "point_form",
                Json::str(match f {
                    PointForm::Compressed => "compressed",
                    PointForm::Uncompressed => "uncompressed",
                }),
            ));
        }
        fields.push((
            "ids",
            Json::Obj(
                ids.iter()
                    .map(|(c, id)| (c.name(), Json::str(id.to_hex())))
                    .collect(),
            ),
        ));
        println!("{}", Json::Obj(fields).render());
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
