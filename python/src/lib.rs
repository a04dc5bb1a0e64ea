//! `mailcrypt._native`: the PyO3 layer under the `mailcrypt` Python
//! package. A thin layer over the library's public API: no parsing or
//! cryptography is written here; every call that does cryptography or
//! file I/O detaches from the interpreter (the GIL is released).
//!
//! The pure-Python package (`python/mailcrypt/`) adds the file-like reader,
//! the argument conveniences and the `dcrypt-decrypt` script.

mod dicts;
mod errors;
mod pyio;

use std::io::{self, BufReader, Cursor, Read};
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};

use mailcrypt::container::Header;
use mailcrypt::keys::{
    AttributeFile, KeyRing as Ring, PointForm, PrivateKey, PublicKey, UserKeyStore,
};
use mailcrypt::{
    DecryptError, DecryptOptions, Decryptor, Encryptor, KeyError, Target, Verification,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};
use zeroize::Zeroizing;

use errors::{decrypt_err, encrypt_err, io_err, key_err, with_context};
use pyio::{Input, PyFile};

/// Default cap on the ciphertext buffered to authenticate a non-seekable
/// input before releasing plaintext (the CLI's `--max-buffer` default).
const DEFAULT_MAX_BUFFER: u64 = 256 * 1024 * 1024;

/// Read chunk of the file-backed sources (the decryptor's own chunk size).
const CHUNK: usize = 64 * 1024;

// ---------------------------------------------------------------- arguments

/// Bytes from `bytes`, `bytearray` or `memoryview`.
fn bytes_arg(obj: &Bound<'_, PyAny>) -> PyResult<Option<PyBackedBytes>> {
    if let Ok(b) = obj.extract::<PyBackedBytes>() {
        return Ok(Some(b));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let b = obj.call_method0("tobytes")?;
        return Ok(Some(b.cast_into::<PyBytes>()?.into()));
    }
    Ok(None)
}

fn data_arg(obj: &Bound<'_, PyAny>) -> PyResult<PyBackedBytes> {
    bytes_arg(obj)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "expected bytes, bytearray or memoryview, not {}",
            type_name(obj)
        ))
    })
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Key material given either as bytes or as a path to read.
enum KeySource {
    Bytes(PyBackedBytes),
    Path(PathBuf),
}

impl KeySource {
    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<KeySource> {
        if let Some(b) = bytes_arg(obj)? {
            return Ok(KeySource::Bytes(b));
        }
        obj.extract::<PathBuf>().map(KeySource::Path).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a path (str or os.PathLike) or bytes, not {}",
                type_name(obj)
            ))
        })
    }

    fn label(&self) -> Option<String> {
        match self {
            KeySource::Bytes(_) => None,
            KeySource::Path(p) => Some(p.display().to_string()),
        }
    }

    /// The bytes (read from the file for a path; call detached).
    fn load(&self) -> io::Result<Zeroizing<Vec<u8>>> {
        match self {
            KeySource::Bytes(b) => Ok(Zeroizing::new(b.to_vec())),
            KeySource::Path(p) => std::fs::read(p).map(Zeroizing::new),
        }
    }
}

/// A password given as `str` (UTF-8) or bytes.
fn password_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Zeroizing<Vec<u8>>>> {
    let Some(obj) = obj else { return Ok(None) };
    if obj.is_none() {
        return Ok(None);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(Zeroizing::new(s.to_cow()?.as_bytes().to_vec())));
    }
    match bytes_arg(obj)? {
        Some(b) => Ok(Some(Zeroizing::new(b.to_vec()))),
        None => Err(PyTypeError::new_err(format!(
            "a password is str or bytes, not {}",
            type_name(obj)
        ))),
    }
}

fn options(allow_ofb_cfb: bool, require_integrity: bool) -> DecryptOptions {
    DecryptOptions::default()
        .allow_ofb_cfb(allow_ofb_cfb)
        .require_integrity(require_integrity)
}

/// The lock around a ring's keys cannot be poisoned by this module (no
/// code path panics while holding it), but say so rather than unwrap.
fn poisoned<T>(_: T) -> PyErr {
    errors::MailcryptError::new_err("internal error: a key ring lock was poisoned by a panic")
}

// ---------------------------------------------------------------- KeyRing

/// A set of private keys that decryption picks from. Every key is matched
/// under every key-id convention Dovecot builds use (compressed and
/// uncompressed point, v1), so one key opens mail from any build.
///
/// >>> ring = KeyRing()
/// >>> ring.add_file("vectors/dovecot/sample-v2.key.pem")
/// 'ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd'
/// >>> len(ring)
/// 1
#[pyclass(name = "KeyRing", module = "mailcrypt", frozen)]
struct KeyRing {
    ring: RwLock<Ring>,
}

impl KeyRing {
    /// Parse a key (detached) and add it under `label`.
    fn add_key(
        &self,
        py: Python<'_>,
        source: KeySource,
        password: Option<Zeroizing<Vec<u8>>>,
        label: Option<String>,
    ) -> PyResult<String> {
        let what = source.label();
        let loaded = py.detach(|| -> Result<PrivateKey, KeyError> {
            let data = source.load()?;
            PrivateKey::from_bytes(&data, password.as_deref().map(Vec::as_slice))
        });
        let key = loaded.map_err(|e| {
            let err = key_err(py, e);
            match &what {
                Some(w) => with_context(py, err, &format!("loading private key {w}")),
                None => err,
            }
        })?;
        let id = key.public_key().canonical_id().to_hex();
        let label = label.or(what).unwrap_or_else(|| id.clone());
        // Every lock of the ring is taken detached: a decryption holding
        // the read lock may need the interpreter (a Python file source).
        py.detach(|| {
            self.ring
                .write()
                .map(|mut ring| {
                    ring.add_labeled(label, key);
                })
                .map_err(|_| ())
        })
        .map_err(poisoned)?;
        Ok(id)
    }
}

#[pymethods]
impl KeyRing {
    #[new]
    fn new() -> Self {
        KeyRing {
            ring: RwLock::new(Ring::new()),
        }
    }

    /// Add the private key in the file ``path`` (``str`` or
    /// ``os.PathLike``): PEM PKCS#8 (plain or password-encrypted), SEC1,
    /// PKCS#1, DER, a Dovecot key string, a JWK, or the one-line base64 of
    /// a PEM. ``password`` (``str`` or ``bytes``) opens encrypted keys.
    /// Returns the key's canonical id (lower-case hex).
    ///
    /// Raises BadPasswordError (encrypted key, password missing or wrong),
    /// MalformedError (not a key), UnsupportedError, OSError.
    ///
    /// >>> KeyRing().add_file("vectors/dovecot/sample-v2.key.pem")
    /// 'ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd'
    #[pyo3(signature = (path, password=None, *, label=None))]
    fn add_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        password: Option<&Bound<'_, PyAny>>,
        label: Option<String>,
    ) -> PyResult<String> {
        let pw = password_arg(password)?;
        self.add_key(py, KeySource::Path(path), pw, label)
    }

    /// Add a private key given as bytes, in any form ``add_file`` reads.
    /// The key is labelled with its canonical id in error messages unless
    /// ``label`` is given. Returns the key's canonical id.
    ///
    /// >>> import pathlib
    /// >>> pem = pathlib.Path("vectors/dovecot/sample-v2.key.pem").read_bytes()
    /// >>> KeyRing().add_bytes(pem, label="sample")[:16]
    /// 'ab13d251976dedab'
    #[pyo3(signature = (data, password=None, *, label=None))]
    fn add_bytes(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        password: Option<&Bound<'_, PyAny>>,
        label: Option<String>,
    ) -> PyResult<String> {
        let data = data_arg(data)?;
        let pw = password_arg(password)?;
        self.add_key(py, KeySource::Bytes(data), pw, label)
    }

    /// Add a user's mail-crypt keys from their Dovecot mailbox attribute
    /// file (``mail_attribute_dict = file:...``): the user key, opened
    /// with ``password``, and the folder keys it encrypts. Returns the
    /// canonical ids of the keys added.
    ///
    /// Raises BadPasswordError when the password is missing or wrong,
    /// NoKeyError when a folder key is encrypted to a key that is nowhere
    /// (``key_ids`` names it), MalformedError when the file holds no
    /// private key. Keys that fail while others load give a
    /// ``RuntimeWarning`` instead.
    ///
    /// >>> ring = KeyRing()
    /// >>> len(ring.add_attributes("vectors/userkeys/v24/dovecot-attributes",
    /// ...                         "Tr0ub4dor&3-mailcrypt"))
    /// 2
    #[pyo3(signature = (path, password=None))]
    fn add_attributes(
        &self,
        py: Python<'_>,
        path: PathBuf,
        password: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<String>> {
        let pw = password_arg(password)?;
        let shown = path.display().to_string();
        let attrs = py
            .detach(|| AttributeFile::read(&path))
            .map_err(|e| with_context(py, key_err(py, e), &format!("reading {shown}")))?;
        let store = UserKeyStore::from_attributes(&attrs);
        let report = py.detach(|| {
            let mut ring = self.ring.write().map_err(|_| None)?;
            store
                .load_into(&mut ring, pw.as_deref().map(Vec::as_slice))
                .map_err(Some)
        });
        let report = match report {
            Ok(r) => r,
            Err(Some(e)) => return Err(with_context(py, key_err(py, e), &shown)),
            Err(None) => return Err(poisoned(())),
        };
        if report.loaded.is_empty() {
            // A wrong password is the cause whenever it appears: the keys
            // encrypted to the user key fail only because of it.
            let mut failed = report.failed;
            let first = failed
                .iter()
                .position(|(_, e)| {
                    matches!(e, KeyError::WrongPassword(_) | KeyError::PasswordRequired)
                })
                .unwrap_or(0);
            if first < failed.len() {
                let (attr, e) = failed.swap_remove(first);
                return Err(with_context(
                    py,
                    key_err(py, e),
                    &format!("{shown}: {attr}"),
                ));
            }
            return Err(errors::MalformedError::new_err(format!(
                "{shown}: no mail-crypt key could be loaded"
            )));
        }
        let warning = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
        let notes = report
            .failed
            .iter()
            .map(|(attr, e)| format!("{shown}: {attr}: {e}"))
            .chain(report.warnings.iter().map(|w| format!("{shown}: {w}")));
        for note in notes {
            let msg = std::ffi::CString::new(note.replace('\0', " "))
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            PyErr::warn(py, &warning, &msg, 1)?;
        }
        Ok(report
            .loaded
            .into_iter()
            .map(|(_, id)| id.to_hex())
            .collect())
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.ring.read().map(|r| r.len()).map_err(|_| ()))
            .map_err(poisoned)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let n = self.__len__(py)?;
        Ok(format!(
            "<mailcrypt.KeyRing with {n} key{}>",
            if n == 1 { "" } else { "s" }
        ))
    }
}

// ---------------------------------------------------------------- decrypt

/// Run `f` with the ring's keys, detached from the interpreter.
fn with_ring<T: Send>(
    py: Python<'_>,
    ring: &KeyRing,
    f: impl FnOnce(&Ring) -> T + Send,
) -> PyResult<T> {
    py.detach(|| {
        let r = ring.ring.read().map_err(|_| ())?;
        Ok(f(&r))
    })
    .map_err(poisoned::<()>)
}

/// Turn an error out of the plaintext copy: decryption errors and the
/// exceptions of Python files keep their class; any other error of the
/// decompressor is a bad compressed stream, i.e. malformed input.
fn drain_err(e: io::Error, decompress: bool) -> PyErr {
    let carried = e
        .get_ref()
        .is_some_and(|i| i.is::<DecryptError>() || i.is::<PyErr>());
    if carried || !decompress {
        return io_err(e);
    }
    errors::MalformedError::new_err(format!(
        "decompressing the decrypted mail (pass decompress=False to get the compressed bytes): {e}"
    ))
}

/// Decrypt a whole container held in memory. See ``mailcrypt.decrypt``.
#[pyfunction]
#[pyo3(signature = (data, ring, verified=true, decompress=false, allow_ofb_cfb=false, require_integrity=false))]
fn _decrypt<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    ring: &Bound<'py, KeyRing>,
    verified: bool,
    decompress: bool,
    allow_ofb_cfb: bool,
    require_integrity: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let data = data_arg(data)?;
    let opts = options(allow_ofb_cfb, require_integrity);
    let out = with_ring(py, ring.get(), |ring| -> Result<Vec<u8>, io::Error> {
        let bytes: &[u8] = &data;
        let mut out = Vec::new();
        if verified {
            let dec = Decryptor::open_seekable(
                Cursor::new(bytes),
                ring,
                &opts.clone().verification(Verification::Verified),
            )
            .map_err(io_from)?
            .use_source_buffer();
            drain(dec, &mut out, decompress)?;
        } else {
            let dec = Decryptor::open(bytes, ring, &opts)
                .map_err(io_from)?
                .use_source_buffer();
            drain(dec, &mut out, decompress)?;
        }
        Ok(out)
    })?;
    match out {
        Ok(v) => Ok(PyBytes::new(py, &v)),
        Err(e) => Err(drain_err(e, decompress)),
    }
}

/// A `DecryptError` carried through `io::Error` (undone by `io_err`).
fn io_from(e: DecryptError) -> io::Error {
    match e {
        DecryptError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// Copy the plaintext to `out`, decompressing it if asked.
fn drain(mut src: impl Read, out: &mut impl io::Write, decompress: bool) -> io::Result<u64> {
    if decompress {
        return mailcrypt::compress::decompress_to(src, out).map(|(_, n)| n);
    }
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(buf.get(..n).unwrap_or_default())?;
        total += n as u64;
    }
    out.flush()?;
    Ok(total)
}

/// A decryptor over any source: streaming, or verified from the source
/// itself (seekable) or from a buffered copy of it.
type Dec = Decryptor<BufReader<Input>>;

fn open_source(
    input: Input,
    seekable: bool,
    ring: &Ring,
    verified: bool,
    max_buffer: u64,
    opts: &DecryptOptions,
) -> Result<Dec, DecryptError> {
    let src = BufReader::with_capacity(CHUNK, input);
    let opts = opts
        .clone()
        .verification(if verified {
            Verification::Verified
        } else {
            Verification::Streaming
        })
        .buffer_limit(max_buffer);
    let dec = if seekable {
        Decryptor::open_seekable(src, ring, &opts)?
    } else {
        Decryptor::open(src, ring, &opts)?
    };
    Ok(dec.use_source_buffer())
}

/// Open a source for decryption (detached), or raise.
fn open_dec(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    ring: &KeyRing,
    verified: bool,
    max_buffer: u64,
    opts: &DecryptOptions,
) -> PyResult<Dec> {
    let input = Input::from_py(source)?;
    let seekable = input.seekable(py);
    with_ring(py, ring, |ring| {
        open_source(input, seekable, ring, verified, max_buffer, opts)
    })?
    .map_err(|e| decrypt_err(py, e))
}

/// The plaintext of an open container, read in pieces. Made by
/// ``mailcrypt.open``, which wraps it in a buffered binary file object.
#[pyclass(name = "_Reader", module = "mailcrypt", frozen)]
struct Reader {
    dec: Mutex<Option<Dec>>,
    info: Py<PyDict>,
}

#[pymethods]
impl Reader {
    /// Up to ``size`` bytes of plaintext (all that is left if negative);
    /// ``b""`` at the end. Raises AuthenticationError at the end of a
    /// tampered file instead of returning ``b""``.
    #[pyo3(signature = (size=-1))]
    fn read<'py>(&self, py: Python<'py>, size: i64) -> PyResult<Bound<'py, PyBytes>> {
        let got = py.detach(|| -> Result<Vec<u8>, Option<io::Error>> {
            let mut guard = self.dec.lock().map_err(|_| None)?;
            let dec = guard.as_mut().ok_or(None)?;
            match usize::try_from(size) {
                Ok(n) => {
                    let mut buf = vec![0u8; n.min(16 * CHUNK)];
                    loop {
                        match dec.read(&mut buf) {
                            Ok(k) => {
                                buf.truncate(k);
                                return Ok(buf);
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(Some(e)),
                        }
                    }
                }
                Err(_) => {
                    let mut all = Vec::new();
                    dec.read_to_end(&mut all).map_err(Some)?;
                    Ok(all)
                }
            }
        });
        match got {
            Ok(v) => Ok(PyBytes::new(py, &v)),
            Err(Some(e)) => Err(io_err(e)),
            Err(None) => Err(PyValueError::new_err("I/O operation on closed file")),
        }
    }

    /// Release the source (closes a file opened by path).
    fn close(&self, py: Python<'_>) {
        let dec = py.detach(|| self.dec.lock().ok().and_then(|mut g| g.take()));
        drop(dec);
    }

    /// Header fields, ``authenticated`` and the matching key (see
    /// ``mailcrypt.inspect``).
    #[getter]
    fn info(&self, py: Python<'_>) -> Py<PyDict> {
        self.info.clone_ref(py)
    }
}

/// Open a container for reading in pieces. See ``mailcrypt.open``.
#[pyfunction]
#[pyo3(signature = (source, ring, verified=false, allow_ofb_cfb=false, require_integrity=false, max_buffer=DEFAULT_MAX_BUFFER))]
fn _open(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    ring: &Bound<'_, KeyRing>,
    verified: bool,
    allow_ofb_cfb: bool,
    require_integrity: bool,
    max_buffer: u64,
) -> PyResult<Reader> {
    let opts = options(allow_ofb_cfb, require_integrity);
    let dec = open_dec(py, source, ring.get(), verified, max_buffer, &opts)?;
    let info = dicts::info_dict(py, dec.info())?.unbind();
    Ok(Reader {
        dec: Mutex::new(Some(dec)),
        info,
    })
}

/// Decrypt ``source`` into the binary file object ``destination``.
/// See ``mailcrypt.decrypt_stream``.
#[pyfunction]
#[pyo3(signature = (source, destination, ring, verified=true, decompress=false, allow_ofb_cfb=false, require_integrity=false, max_buffer=DEFAULT_MAX_BUFFER))]
#[allow(clippy::too_many_arguments)]
fn _decrypt_stream<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    destination: &Bound<'py, PyAny>,
    ring: &Bound<'py, KeyRing>,
    verified: bool,
    decompress: bool,
    allow_ofb_cfb: bool,
    require_integrity: bool,
    max_buffer: u64,
) -> PyResult<Bound<'py, PyDict>> {
    if !destination.hasattr("write")? {
        return Err(PyTypeError::new_err(
            "destination must be a binary file object with write()",
        ));
    }
    let opts = options(allow_ofb_cfb, require_integrity);
    let dec = open_dec(py, source, ring.get(), verified, max_buffer, &opts)?;
    let info = dicts::info_dict(py, dec.info())?;
    let mut out = io::BufWriter::with_capacity(CHUNK, PyFile::new(destination.clone().unbind()));
    let written = py.detach(|| drain(dec, &mut out, decompress));
    let written = written.map_err(|e| drain_err(e, decompress))?;
    info.set_item("written", written)?;
    Ok(info)
}

// ---------------------------------------------------------------- encrypt

/// Encrypt bytes for the given recipients. See ``mailcrypt.encrypt``.
#[pyfunction]
#[pyo3(signature = (data, recipients, target="dovecot-2.3", cipher="aes-256-gcm-sha256", key_id_form=None, multiple_recipients=false, same_calg=false))]
#[allow(clippy::too_many_arguments)]
fn _encrypt<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    recipients: &Bound<'py, PyAny>,
    target: &str,
    cipher: &str,
    key_id_form: Option<&str>,
    multiple_recipients: bool,
    same_calg: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let data = data_arg(data)?;
    let target = Target::from_name(target).ok_or_else(|| {
        let names: Vec<_> = Target::ALL.iter().map(|t| t.name()).collect();
        PyValueError::new_err(format!(
            "unknown target {target:?} (expected one of: {})",
            names.join(", ")
        ))
    })?;
    let form = match key_id_form {
        None => None,
        Some("compressed") => Some(PointForm::Compressed),
        Some("uncompressed") => Some(PointForm::Uncompressed),
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "key_id_form is \"compressed\" or \"uncompressed\", not {other:?}"
            )));
        }
    };
    let sources: Vec<KeySource> =
        if recipients.is_instance_of::<PyList>() || recipients.is_instance_of::<PyTuple>() {
            recipients
                .try_iter()?
                .map(|r| KeySource::from_py(&r?))
                .collect::<PyResult<_>>()?
        } else {
            vec![KeySource::from_py(recipients)?]
        };
    let mut keys = Vec::with_capacity(sources.len());
    for s in &sources {
        let loaded = py.detach(|| -> Result<PublicKey, KeyError> {
            let bytes = s.load()?;
            PublicKey::from_bytes(&bytes)
        });
        keys.push(loaded.map_err(|e| {
            let err = key_err(py, e);
            match s.label() {
                Some(p) => with_context(py, err, &format!("loading public key {p}")),
                None => err,
            }
        })?);
    }
    let mut enc = Encryptor::new(keys)
        .target(target)
        .algorithm(cipher)
        .map_err(|e| encrypt_err(py, e))?;
    if let Some(f) = form {
        enc = enc.key_id_form(f);
    }
    if multiple_recipients {
        enc = enc.allow_multiple_recipients();
    }
    if same_calg {
        enc = enc.same_calg();
    }
    let out = py.detach(|| -> Result<Vec<u8>, mailcrypt::EncryptError> {
        let mut w = enc.wrap_output(Vec::with_capacity(data.len() + 1024))?;
        io::Write::write_all(&mut w, &data)?;
        Ok(w.finish()?)
    });
    let out = out.map_err(|e| encrypt_err(py, e))?;
    Ok(PyBytes::new(py, &out))
}

// ---------------------------------------------------------------- inspect

/// The CLI's ``inspect --json`` object. See ``mailcrypt.inspect``.
#[pyfunction]
#[pyo3(signature = (source, ring=None))]
fn _inspect<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    ring: Option<&Bound<'py, KeyRing>>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (file, size, header) = match bytes_arg(source)? {
        Some(b) => {
            let size = b.len() as u64;
            let header = py.detach(|| (size > 0).then(|| Header::parse(&b).map(|(h, _)| h)));
            (None, size, header)
        }
        None => {
            let path: PathBuf = source.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "expected bytes or a path (str or os.PathLike), not {}",
                    type_name(source)
                ))
            })?;
            let shown = path.display().to_string();
            let got = py.detach(|| -> io::Result<_> {
                let size = std::fs::metadata(&path)?.len();
                if size == 0 {
                    return Ok((size, None));
                }
                let mut f = BufReader::new(std::fs::File::open(&path)?);
                Ok((size, Some(Header::read(&mut f))))
            });
            let (size, header) =
                got.map_err(|e| with_context(py, PyErr::from(e), &format!("reading {shown}")))?;
            (Some(shown), size, header)
        }
    };
    d.set_item("file", file)?;
    d.set_item("size", size)?;
    let Some(header) = header else {
        d.set_item("format", "empty")?;
        return Ok(d);
    };
    let header = header.map_err(|e| decrypt_err(py, DecryptError::Format(e)))?;
    dicts::header_fields(&d, &header)?;
    if let Some(ring) = ring {
        let opened = match bytes_arg(source)? {
            Some(b) => with_ring(py, ring.get(), |ring| {
                Decryptor::open(&b[..], ring, &mailcrypt::DecryptOptions::default())
                    .map(|d| d.info().matched.clone())
            })?,
            None => {
                let input = Input::from_py(source)?;
                with_ring(py, ring.get(), |ring| {
                    Decryptor::open(
                        BufReader::new(input),
                        ring,
                        &mailcrypt::DecryptOptions::default(),
                    )
                    .map(|d| d.info().matched.clone())
                })?
            }
        };
        match opened {
            Ok(Some(m)) => d.set_item("match", dicts::match_dict(py, &m)?)?,
            Ok(None) => {}
            Err(e) => {
                d.set_item("match", py.None())?;
                d.set_item("match_error", e.to_string())?;
            }
        }
    }
    Ok(d)
}

/// The CLI's ``keyid --json`` object. See ``mailcrypt.key_ids``.
#[pyfunction]
#[pyo3(signature = (source, password=None))]
fn _key_ids<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    password: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let source = KeySource::from_py(source)?;
    let pw = password_arg(password)?;
    let file = source.label();
    let public = py.detach(|| -> Result<PublicKey, KeyError> {
        let data = source.load()?;
        // A private key gives its public half; a public key is taken as is.
        match PrivateKey::from_bytes(&data, pw.as_deref().map(Vec::as_slice)) {
            Ok(k) => Ok(k.public_key().clone()),
            Err(KeyError::NotPrivate) => PublicKey::from_bytes(&data),
            Err(e) => PublicKey::from_bytes(&data).map_err(|_| e),
        }
    });
    let public = public.map_err(|e| {
        let err = key_err(py, e);
        match &file {
            Some(f) => with_context(py, err, f),
            None => err,
        }
    })?;
    dicts::key_ids_dict(py, file, &public)
}

/// Whether ``data`` starts with the mail-crypt magic, the test Dovecot
/// itself uses to tell encrypted from plain mail. (A 0-byte file is not
/// encrypted by this test, though ``decrypt`` accepts it as Dovecot's
/// encrypted form of an empty mail.)
///
/// >>> is_encrypted(b"CRYPTED\x03\x07\x02")
/// True
/// >>> is_encrypted(b"From: a@b\n")
/// False
#[pyfunction]
fn is_encrypted(data: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(mailcrypt::is_encrypted(&data_arg(data)?))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<KeyRing>()?;
    m.add_class::<Reader>()?;
    m.add_function(wrap_pyfunction!(_decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(_open, m)?)?;
    m.add_function(wrap_pyfunction!(_decrypt_stream, m)?)?;
    m.add_function(wrap_pyfunction!(_encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(_inspect, m)?)?;
    m.add_function(wrap_pyfunction!(_key_ids, m)?)?;
    m.add_function(wrap_pyfunction!(is_encrypted, m)?)?;
    m.add("MailcryptError", py.get_type::<errors::MailcryptError>())?;
    m.add("NoKeyError", py.get_type::<errors::NoKeyError>())?;
    m.add(
        "AuthenticationError",
        py.get_type::<errors::AuthenticationError>(),
    )?;
    m.add("MalformedError", py.get_type::<errors::MalformedError>())?;
    m.add(
        "BadPasswordError",
        py.get_type::<errors::BadPasswordError>(),
    )?;
    m.add(
        "UnsupportedError",
        py.get_type::<errors::UnsupportedError>(),
    )?;
    let targets: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
    m.add("TARGETS", PyTuple::new(py, targets)?)?;
    Ok(())
}
