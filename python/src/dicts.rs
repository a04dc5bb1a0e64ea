//! The dicts `inspect()`, `key_ids()` and `Reader.info` return: the same
//! keys and values as the CLI's `inspect --json` and `keyid --json`.

use mailcrypt::container::{Header, Integrity};
use mailcrypt::keys::{PointForm, PublicKey};
use mailcrypt::{ContainerInfo, KeyMatch};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `format`, `header_len`, cipher, integrity and recipients of a header
/// (the CLI's `inspect --json` fields after `file` and `size`).
pub fn header_fields(d: &Bound<'_, PyDict>, header: &Header) -> PyResult<()> {
    let py = d.py();
    d.set_item("format", format!("v{}", header.version()))?;
    d.set_item("header_len", header.header_len())?;
    let recipients = PyList::empty(py);
    match header {
        Header::V1(h) => {
            d.set_item("cipher", "aes-256-ctr")?;
            d.set_item("integrity", "none")?;
            let r = PyDict::new(py);
            r.set_item("type", "ec")?;
            r.set_item("key_id", hex(&h.key_id))?;
            r.set_item("ephemeral_key_len", h.ephemeral_key.len())?;
            recipients.append(r)?;
        }
        Header::V2(h) => {
            let integrity = match h.integrity() {
                Integrity::Aead => "aead",
                Integrity::Hmac => "hmac",
                _ => "none",
            };
            d.set_item("flags", h.flags)?;
            d.set_item("integrity", integrity)?;
            d.set_item("cipher", h.cipher.name())?;
            d.set_item("mac", h.hash.name())?;
            d.set_item("rounds", h.rounds)?;
            for rcp in &h.recipients {
                let r = PyDict::new(py);
                r.set_item(
                    "type",
                    match rcp.key_type.to_byte() {
                        1 => "rsa",
                        2 => "ec",
                        4 => "ml-kem",
                        _ => "unknown",
                    },
                )?;
                r.set_item("key_id", rcp.key_id.to_hex())?;
                r.set_item("ephemeral_key_len", rcp.ephemeral_key.len())?;
                r.set_item("encrypted_key_len", rcp.encrypted_key.len())?;
                recipients.append(r)?;
            }
        }
        _ => {
            return Err(crate::errors::MalformedError::new_err(format!(
                "unknown header version {}",
                header.version()
            )));
        }
    }
    d.set_item("recipients", recipients)
}

/// `{"key", "key_id", "convention"}` of the key that opened a file.
pub fn match_dict<'py>(py: Python<'py>, m: &KeyMatch) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("key", &m.key_label)?;
    d.set_item("key_id", m.key_id.to_hex())?;
    d.set_item("convention", m.convention.name())?;
    Ok(d)
}

/// What an open reader knows: the header fields, whether the body is
/// authenticated and which key matched.
pub fn info_dict<'py>(py: Python<'py>, info: &ContainerInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match &info.header {
        Some(h) => header_fields(&d, h)?,
        None => d.set_item("format", "empty")?,
    }
    d.set_item("authenticated", info.is_authenticated())?;
    match &info.matched {
        Some(m) => d.set_item("match", match_dict(py, m)?)?,
        None => d.set_item("match", py.None())?,
    }
    Ok(d)
}

/// The CLI's `keyid --json` object for a public key.
pub fn key_ids_dict<'py>(
    py: Python<'py>,
    file: Option<String>,
    key: &PublicKey,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("file", file)?;
    d.set_item("type", key.key_type().to_string())?;
    if let Some(f) = key.source_point_form() {
        d.set_item(
            "point_form",
            match f {
                PointForm::Compressed => "compressed",
                PointForm::Uncompressed => "uncompressed",
            },
        )?;
    }
    let ids = PyDict::new(py);
    for (conv, id) in key.ids() {
        ids.set_item(conv.name(), id.to_hex())?;
    }
    d.set_item("ids", ids)?;
    Ok(d)
}
