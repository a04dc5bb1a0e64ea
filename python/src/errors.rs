//! The Python exception classes and the mapping from the library's error
//! enums onto them. Every message is the library's own (it says what was
//! wrong and what was tried); the class tells a caller what to do about it.

use std::io;

use mailcrypt::keys::KeyId;
use mailcrypt::{DecryptError, EncryptError, KeyError, KeySearch};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

pyo3::create_exception!(
    mailcrypt,
    MailcryptError,
    PyException,
    "Base class of every error mailcrypt raises (I/O errors stay OSError)."
);
pyo3::create_exception!(
    mailcrypt,
    NoKeyError,
    MailcryptError,
    "No key in the ring opens the file (or a stored key is encrypted to a key that was not given).\n\n\
     Attributes: ``key_ids`` (list of str: the recipient ids the file names, lower-case hex) and \
     ``tried`` (list of ``(label, {convention: id})`` for every key in the ring)."
);
pyo3::create_exception!(
    mailcrypt,
    AuthenticationError,
    MailcryptError,
    "The file is corrupt or was tampered with: the AEAD tag, the HMAC or the header's \
     key-check hash does not match (or integrity was required and the file has none)."
);
pyo3::create_exception!(
    mailcrypt,
    MalformedError,
    MailcryptError,
    "The input is not a well-formed container or key (not encrypted, truncated, bad field)."
);
pyo3::create_exception!(
    mailcrypt,
    BadPasswordError,
    MailcryptError,
    "A key is encrypted with a password and the password is missing or wrong."
);
pyo3::create_exception!(
    mailcrypt,
    UnsupportedError,
    MailcryptError,
    "The file or key uses an algorithm or option mailcrypt does not implement or refuses by \
     default (e.g. OFB/CFB bodies without ``allow_ofb_cfb=True``)."
);

/// `NoKeyError` carrying the ids the file names and what the ring held.
fn no_key(py: Python<'_>, msg: String, wanted: &[KeyId], search: Option<&KeySearch>) -> PyErr {
    let err = NoKeyError::new_err(msg);
    let fill = || -> PyResult<()> {
        let value = err.value(py);
        let ids: Vec<String> = wanted.iter().map(KeyId::to_hex).collect();
        value.setattr("key_ids", ids)?;
        let tried = PyList::empty(py);
        for (label, ids) in search.map(|s| s.tried.as_slice()).unwrap_or_default() {
            let d = PyDict::new(py);
            for (conv, id) in ids {
                d.set_item(conv.name(), id.to_hex())?;
            }
            tried.append((label.as_str(), d))?;
        }
        value.setattr("tried", tried)
    };
    match fill() {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// An error and its `source()` chain, as one message ("a: b: c"); the
/// library's errors either display a cause or return it as the source,
/// never both, so nothing is printed twice.
fn chain_message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    msg
}

/// The exception for a failed decryption.
pub fn decrypt_err(py: Python<'_>, e: DecryptError) -> PyErr {
    let msg = chain_message(&e);
    match e {
        DecryptError::Format(_)
        | DecryptError::Unwrap { .. }
        | DecryptError::TruncatedBody(_)
        | DecryptError::BadPadding
        | DecryptError::BodyTooLong { .. } => MalformedError::new_err(msg),
        DecryptError::NoMatchingKey(search) => no_key(py, msg, &search.wanted, Some(&search)),
        DecryptError::UnsupportedCipher(_)
        | DecryptError::UnsupportedHash(_)
        | DecryptError::UnsupportedKeyType(_)
        | DecryptError::Unsupported(_) => UnsupportedError::new_err(msg),
        // The key-check hash authenticates the header's session key: a
        // mismatch with the key the id named means a corrupt header.
        DecryptError::KeyCheck
        | DecryptError::Authentication { .. }
        | DecryptError::NoIntegrity(_) => AuthenticationError::new_err(msg),
        DecryptError::Key(k) => key_err(py, k),
        DecryptError::Io(e) => io_err(e),
        _ => MailcryptError::new_err(msg),
    }
}

/// The exception for a key that could not be loaded.
pub fn key_err(py: Python<'_>, e: KeyError) -> PyErr {
    let msg = chain_message(&e);
    match e {
        KeyError::UnknownFormat(_) | KeyError::Invalid(_) | KeyError::IdMismatch { .. } => {
            MalformedError::new_err(msg)
        }
        KeyError::Unsupported(_) => UnsupportedError::new_err(msg),
        KeyError::PasswordRequired | KeyError::WrongPassword(_) => BadPasswordError::new_err(msg),
        KeyError::DecryptionKeyRequired { key_id } => no_key(py, msg, &[key_id], None),
        KeyError::Io(e) => io_err(e),
        _ => MailcryptError::new_err(msg),
    }
}

/// The exception for a failed encryption.
pub fn encrypt_err(py: Python<'_>, e: EncryptError) -> PyErr {
    let msg = chain_message(&e);
    match e {
        EncryptError::Unsupported(_) => UnsupportedError::new_err(msg),
        EncryptError::Key(k) => key_err(py, k),
        EncryptError::Io(e) => io_err(e),
        _ => MailcryptError::new_err(msg),
    }
}

/// An I/O error: the Python exception a wrapped Python file raised, a
/// decryption error that travelled through `Read`, or `OSError`.
pub fn io_err(e: io::Error) -> PyErr {
    if e.get_ref().is_some_and(|i| i.is::<DecryptError>()) {
        return Python::attach(|py| decrypt_err(py, DecryptError::from_io(e)));
    }
    PyErr::from(e)
}

/// Give a key error context (which file or attribute it came from),
/// keeping its class and attributes.
pub fn with_context(py: Python<'_>, err: PyErr, what: &str) -> PyErr {
    let value = err.value(py);
    let msg = format!("{what}: {value}");
    if let Ok(args) = pyo3::types::PyTuple::new(py, [msg]) {
        let _ = value.setattr("args", args);
    }
    err
}
