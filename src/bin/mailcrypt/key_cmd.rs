//! `mailcrypt key …`: generate, convert and identify keys in the forms
//! Dovecot uses (PKCS#8/SPKI PEM, Dovecot `2:` key strings, JWK).

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use zeroize::Zeroizing;

use mailcrypt::KeyError;
use mailcrypt::keys::{
    Curve, DovecotKeyCipher, JwkMeta, JwkUse, MAX_KEY_FILE_LEN, MlKemParams, PointForm, PrivateKey,
    PublicKey,
};

use super::{IdFormArg, KeyidArgs, keyid, read_password};
use mailcrypt::store::AtomicFile;

/// Key management.
#[derive(Args)]
pub struct KeyCommand {
    #[command(subcommand)]
    cmd: KeyCmd,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Generate a new key pair (EC P-256/P-384/P-521, X25519, X448,
    /// ML-KEM-512/768/1024 or RSA).
    #[command(after_help = "\
Examples:
  # A P-256 key pair for mail_crypt_global_private_key / _public_key:
  mailcrypt key generate --curve p256 -o private.pem --public-out public.pem
  # A password-protected Dovecot key string:
  mailcrypt key generate --curve x25519 --format dovecot --password-file pw.txt -o user.key")]
    Generate(GenerateArgs),
    /// Convert a key between PEM, Dovecot key strings and JWK.
    #[command(after_help = "\
Examples:
  # A Dovecot key string (e.g. from a mailbox attribute) to PEM:
  mailcrypt key convert --to pem --password-file pw.txt -o private.pem user.key
  # The public half of a PEM key as a JWK:
  mailcrypt key convert --to jwk --public private.pem")]
    Convert(ConvertArgs),
    /// Print a key's id under every convention (same as `mailcrypt keyid`).
    #[command(after_help = "\
Examples:
  mailcrypt key id /etc/dovecot/public.pem")]
    Id(KeyidArgs),
}

/// Output format of a key.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    /// PKCS#8 PEM (private; encrypted PKCS#8 with a password) or SPKI PEM
    /// (public).
    Pem,
    /// Dovecot v2 key string (`2:…`), written without a trailing newline
    /// to files (Dovecot refuses key files that end in one).
    Dovecot,
    /// JSON Web Key (cannot be password-protected).
    Jwk,
}

#[derive(Clone, Copy, ValueEnum)]
enum UseArg {
    Enc,
    Sig,
}

/// What `key generate --curve` names.
#[derive(Clone, Copy, Debug)]
enum KeySpec {
    Ec(Curve),
    /// RFC 7748 X25519 (Dovecot 2.4+).
    X25519,
    /// RFC 7748 X448 (Dovecot 2.4+).
    X448,
    Rsa(usize),
    MlKem(MlKemParams),
}

fn parse_spec(s: &str) -> Result<KeySpec, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "p256" | "p-256" | "prime256v1" | "secp256r1" => KeySpec::Ec(Curve::P256),
        "p384" | "p-384" | "secp384r1" => KeySpec::Ec(Curve::P384),
        "p521" | "p-521" | "secp521r1" => KeySpec::Ec(Curve::P521),
        "x25519" => KeySpec::X25519,
        "x448" => KeySpec::X448,
        "rsa2048" => KeySpec::Rsa(2048),
        "rsa3072" => KeySpec::Rsa(3072),
        "rsa4096" => KeySpec::Rsa(4096),
        other => match MlKemParams::from_name(other) {
            Some(p) => KeySpec::MlKem(p),
            None => {
                return Err(format!(
                    "unknown curve \"{s}\" (expected p256, p384, p521, prime256v1, secp384r1, secp521r1, x25519, x448, mlkem512, mlkem768, mlkem1024, rsa2048, rsa3072 or rsa4096)"
                ));
            }
        },
    })
}

#[derive(Args)]
struct GenerateArgs {
    /// Key type: p256, p384, p521 (also prime256v1, secp384r1,
    /// secp521r1), x25519, x448 (Dovecot 2.4+: the 2.3 builds abort on
    /// such keys), mlkem512, mlkem768, mlkem1024 (Dovecot main only),
    /// rsa2048, rsa3072 or rsa4096.
    #[arg(long, value_name = "C", value_parser = parse_spec)]
    curve: KeySpec,
    /// Protect the private key with the password in this file (one
    /// trailing newline is ignored). Not possible with --format jwk.
    #[arg(long, value_name = "F")]
    password_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "pem")]
    format: OutFormat,
    /// Cipher protecting a password- or key-encrypted Dovecot string:
    /// aes-256-ctr (default, every Dovecot), aes-256-gcm or
    /// chacha20-poly1305 (tag appended, no AAD: Dovecot main only).
    #[arg(long, value_name = "CIPHER", value_parser = parse_key_cipher, default_value = "aes-256-ctr")]
    key_cipher: DovecotKeyCipher,
    /// EC point encoding in PEM output (OpenSSL's default: uncompressed).
    /// Unpatched Dovecot 2.3 on OpenSSL 3 derives key ids from the PEM's
    /// point form; with `compressed` it uses the ids every other build uses.
    #[arg(long, value_enum, default_value = "uncompressed")]
    point_form: IdFormArg,
    /// Write the private key to this file (created with mode 0600,
    /// atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// Also write the public key, in the same format, to this file.
    #[arg(long, value_name = "FILE")]
    public_out: Option<PathBuf>,
    /// `kid` member of JWK output.
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// `use` member of JWK output.
    #[arg(long = "use", value_enum, value_name = "USE")]
    usage: Option<UseArg>,
}

#[derive(Args)]
struct ConvertArgs {
    /// Key to convert: PEM, DER, Dovecot key string, JWK, or the base64 of
    /// one (`-`: standard input). Private or public.
    input: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    to: OutFormat,
    /// Cipher protecting a password- or key-encrypted Dovecot string:
    /// aes-256-ctr (default, every Dovecot), aes-256-gcm or
    /// chacha20-poly1305 (tag appended, no AAD: Dovecot main only).
    #[arg(long, value_name = "CIPHER", value_parser = parse_key_cipher, default_value = "aes-256-ctr")]
    key_cipher: DovecotKeyCipher,
    /// Password of the input key (encrypted PKCS#8, password-protected
    /// Dovecot string) and of --decryption-key.
    #[arg(long, value_name = "F")]
    password_file: Option<PathBuf>,
    /// Protect the output private key with the password in this file.
    /// Without it the output is not password-protected.
    #[arg(long, value_name = "F")]
    out_password_file: Option<PathBuf>,
    /// Private key that opens a key-encrypted Dovecot string (e.g. the
    /// user key for a folder key).
    #[arg(short = 'k', long = "decryption-key", value_name = "KEYFILE")]
    decryption_key: Option<PathBuf>,
    /// With --to dovecot: encrypt the output private key to this public
    /// key (encryption type 1, as mail-crypt stores a folder key under the
    /// user key).
    #[arg(long, value_name = "PUBFILE", conflicts_with_all = ["out_password_file", "public"])]
    encrypt_to: Option<PathBuf>,
    /// Write only the public half.
    #[arg(long)]
    public: bool,
    /// EC point encoding in PEM output (see `key generate --help`).
    #[arg(long, value_enum, default_value = "uncompressed")]
    point_form: IdFormArg,
    /// Output file (default: standard output). Private keys are created
    /// with mode 0600; written atomically.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// `kid` member of JWK output (default: the input JWK's).
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// `use` member of JWK output (default: the input JWK's).
    #[arg(long = "use", value_enum, value_name = "USE")]
    usage: Option<UseArg>,
}

pub fn run(k: KeyCommand) -> Result<ExitCode> {
    match k.cmd {
        KeyCmd::Generate(a) => generate(a),
        KeyCmd::Convert(a) => convert(a),
        KeyCmd::Id(a) => keyid(a),
    }
}

fn form(f: IdFormArg) -> PointForm {
    match f {
        IdFormArg::Compressed => PointForm::Compressed,
        IdFormArg::Uncompressed => PointForm::Uncompressed,
    }
}

fn meta(kid: Option<String>, usage: Option<UseArg>, base: JwkMeta) -> JwkMeta {
    JwkMeta {
        kid: kid.or(base.kid),
        usage: match usage {
            Some(UseArg::Enc) => Some(JwkUse::Enc),
            Some(UseArg::Sig) => Some(JwkUse::Sig),
            None => base.usage,
        },
    }
}

fn parse_key_cipher(s: &str) -> Result<DovecotKeyCipher, String> {
    DovecotKeyCipher::from_name(s).ok_or_else(|| {
        format!(
            "unknown key cipher \"{s}\" (expected aes-256-ctr, aes-256-gcm or chacha20-poly1305)"
        )
    })
}

fn private_text(
    key: &PrivateKey,
    fmt: OutFormat,
    pf: PointForm,
    password: Option<&[u8]>,
    jwk_meta: &JwkMeta,
    cipher: DovecotKeyCipher,
) -> Result<Zeroizing<String>> {
    Ok(match (fmt, password) {
        (OutFormat::Pem, None) => key.to_pem(pf)?,
        (OutFormat::Pem, Some(pw)) => key.to_encrypted_pem(pf, pw)?,
        (OutFormat::Dovecot, None) => {
            key.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)?
        }
        (OutFormat::Dovecot, Some(pw)) => {
            key.to_dovecot_string(mailcrypt::keys::DovecotProtection::password(pw).cipher(cipher))?
        }
        (OutFormat::Jwk, None) => key.to_jwk(jwk_meta)?,
        (OutFormat::Jwk, Some(_)) => {
            bail!("JWK output cannot be password-protected (Dovecot has no encrypted JWK)")
        }
    })
}

fn public_text(
    key: &PublicKey,
    fmt: OutFormat,
    pf: PointForm,
    jwk_meta: &JwkMeta,
) -> Result<String> {
    Ok(match fmt {
        OutFormat::Pem => key.to_pem(pf),
        OutFormat::Dovecot => key.to_dovecot_string(),
        OutFormat::Jwk => key.to_jwk(jwk_meta)?,
    })
}

fn generate(a: GenerateArgs) -> Result<ExitCode> {
    let pw = read_password(&a.password_file)?;
    if a.format == OutFormat::Jwk && pw.is_some() {
        bail!("JWK output cannot be password-protected (Dovecot has no encrypted JWK)");
    }
    let key = match a.curve {
        KeySpec::Ec(c) => PrivateKey::generate_ec(c)?,
        KeySpec::X25519 => PrivateKey::generate_x25519()?,
        KeySpec::X448 => PrivateKey::generate_x448()?,
        KeySpec::Rsa(bits) => PrivateKey::generate_rsa(bits)?,
        KeySpec::MlKem(p) => PrivateKey::generate_ml_kem(p)?,
    };
    let pf = form(a.point_form);
    let m = meta(a.kid, a.usage, JwkMeta::default());
    let text = private_text(
        &key,
        a.format,
        pf,
        pw.as_deref().map(|v| v.as_slice()),
        &m,
        a.key_cipher,
    )?;
    if let Some(p) = &a.public_out {
        let public = public_text(key.public_key(), a.format, pf, &m)?;
        write_output(Some(p), a.format, public.as_bytes(), false)?;
    }
    write_output(a.output.as_deref(), a.format, text.as_bytes(), true)?;
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    // Sized up front so the buffer holding a private key never reallocates.
    let mut data = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN + 1));
    let limit = MAX_KEY_FILE_LEN as u64 + 1;
    if path.as_os_str() == "-" {
        io::stdin().lock().take(limit).read_to_end(&mut data)?;
    } else {
        File::open(path)
            .with_context(|| format!("reading {}", path.display()))?
            .take(limit)
            .read_to_end(&mut data)
            .with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(data)
}

enum Input {
    Private(PrivateKey),
    Public(PublicKey),
}

fn load_input(a: &ConvertArgs, data: &[u8], pw: Option<&[u8]>) -> Result<Input> {
    let name = a.input.display();
    match PrivateKey::from_bytes(data, pw) {
        Ok(k) => Ok(Input::Private(k)),
        Err(KeyError::NotPrivate) => Ok(Input::Public(
            PublicKey::from_bytes(data).with_context(|| format!("loading {name}"))?,
        )),
        Err(KeyError::DecryptionKeyRequired { key_id }) => {
            let Some(dk_path) = &a.decryption_key else {
                bail!("{name} is encrypted with the key {key_id}; give that private key with -k");
            };
            let dk_data = read_input(dk_path)?;
            let dk = PrivateKey::from_bytes(&dk_data, pw)
                .with_context(|| format!("loading decryption key {}", dk_path.display()))?;
            let text = std::str::from_utf8(data)
                .map_err(|_| anyhow!("{name} is not a Dovecot key string"))?;
            Ok(Input::Private(
                PrivateKey::from_dovecot_str_with_key(text.trim(), &dk)
                    .with_context(|| format!("loading {name}"))?,
            ))
        }
        Err(e @ (KeyError::PasswordRequired | KeyError::WrongPassword(_))) if !a.public => {
            Err(anyhow!(e)).with_context(|| format!("loading {name}"))
        }
        Err(e) => match PublicKey::from_bytes(data) {
            Ok(p) if a.public => Ok(Input::Public(p)),
            _ => Err(anyhow!(e)).with_context(|| format!("loading {name}")),
        },
    }
}

fn convert(a: ConvertArgs) -> Result<ExitCode> {
    let pw = read_password(&a.password_file)?;
    let out_pw = read_password(&a.out_password_file)?;
    let data = read_input(&a.input)?;
    let input = load_input(&a, &data, pw.as_deref().map(|v| v.as_slice()))?;
    // Keep kid/use of a JWK input; any other input has none to keep.
    let data_meta = std::str::from_utf8(&data)
        .ok()
        .filter(|t| t.trim_start().starts_with('{'))
        .and_then(|t| PublicKey::from_jwk_with_meta(t).ok())
        .map_or_else(JwkMeta::default, |(_, m)| m);
    let m = meta(a.kid.clone(), a.usage, data_meta);
    let pf = form(a.point_form);
    if let Some(p) = &a.encrypt_to {
        if a.to != OutFormat::Dovecot {
            bail!("--encrypt-to needs --to dovecot");
        }
        let Input::Private(k) = &input else {
            bail!("the input is a public key; --encrypt-to does not apply");
        };
        let pdata = read_input(p)?;
        let target = PublicKey::from_bytes(&pdata)
            .with_context(|| format!("loading public key {}", p.display()))?;
        let text = Zeroizing::new(k.to_dovecot_string(
            mailcrypt::keys::DovecotProtection::key(&target).cipher(a.key_cipher),
        )?);
        write_output(a.output.as_deref(), a.to, text.as_bytes(), true)?;
        return Ok(ExitCode::SUCCESS);
    }
    match input {
        Input::Private(k) if !a.public => {
            if out_pw.is_none() {
                eprintln!(
                    "mailcrypt: note: the private key is written without password protection (use --out-password-file to add one)"
                );
            }
            let text = private_text(
                &k,
                a.to,
                pf,
                out_pw.as_deref().map(|v| v.as_slice()),
                &m,
                a.key_cipher,
            )?;
            write_output(a.output.as_deref(), a.to, text.as_bytes(), true)?;
        }
        Input::Private(k) => {
            let text = public_text(k.public_key(), a.to, pf, &m)?;
            write_output(a.output.as_deref(), a.to, text.as_bytes(), false)?;
        }
        Input::Public(p) => {
            if out_pw.is_some() {
                bail!("the input is a public key; --out-password-file does not apply");
            }
            let text = public_text(&p, a.to, pf, &m)?;
            write_output(a.output.as_deref(), a.to, text.as_bytes(), false)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Write a key to `path` or standard output. Dovecot strings and JWKs get
/// a trailing newline only on a terminal (Dovecot refuses key files with
/// one). Private keys go to files created with mode 0600.
fn write_output(path: Option<&Path>, fmt: OutFormat, text: &[u8], secret: bool) -> Result<()> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            if secret {
                write_secret_atomic(p, text)
            } else {
                let mut f =
                    AtomicFile::create(p).with_context(|| format!("creating {}", p.display()))?;
                f.write_all(text)?;
                f.commit()
                    .with_context(|| format!("writing {}", p.display()))
            }
        }
        _ => {
            let stdout = io::stdout();
            let tty = stdout.is_terminal();
            let mut out = stdout.lock();
            out.write_all(text)?;
            if tty && fmt != OutFormat::Pem {
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
    }
}

/// Like `AtomicFile::create`, but the temporary file is created with mode
/// 0600 before any key byte is written to it.
fn write_secret_atomic(dest: &Path, data: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create_with_mode(dest, Some(0o600))
        .with_context(|| format!("creating {}", dest.display()))?;
    f.write_all(data)?;
    f.commit()
        .with_context(|| format!("writing {}", dest.display()))
}
