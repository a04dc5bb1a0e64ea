//! Python binary file objects as Rust `Read`, `Seek` and `Write`, and the
//! input sources the decrypting functions take (a path or a file object).
//!
//! The calls into Python run while the decryption itself has detached from
//! the interpreter: each one attaches for the length of the call only.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

/// A Python object with `read` (and maybe `seek`/`tell`) or `write`.
pub struct PyFile {
    obj: Py<PyAny>,
}

impl PyFile {
    pub fn new(obj: Py<PyAny>) -> Self {
        PyFile { obj }
    }

    /// Whether `seek` works (the object says so through `seekable()`).
    pub fn seekable(&self, py: Python<'_>) -> bool {
        self.obj
            .bind(py)
            .call_method0("seekable")
            .and_then(|r| r.is_truthy())
            .unwrap_or(false)
    }
}

impl Read for PyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        Python::attach(|py| {
            let got = self.obj.bind(py).call_method1("read", (buf.len(),))?;
            if got.is_none() {
                // A non-blocking raw stream with nothing ready.
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let n = if let Ok(b) = got.cast::<PyBytes>() {
                copy_out(b.as_bytes(), buf)?
            } else if let Ok(b) = got.cast::<PyByteArray>() {
                copy_out(&b.to_vec(), buf)?
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "read() returned {} instead of bytes: open the file in binary mode",
                        got.get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    ),
                ));
            };
            Ok(n)
        })
    }
}

fn copy_out(data: &[u8], buf: &mut [u8]) -> io::Result<usize> {
    let asked = buf.len();
    let dst = buf.get_mut(..data.len()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "read({asked}) returned {} bytes, more than asked for",
                data.len()
            ),
        )
    })?;
    dst.copy_from_slice(data);
    Ok(data.len())
}

impl Seek for PyFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (offset, whence): (i128, i32) = match pos {
            SeekFrom::Start(n) => (i128::from(n), 0),
            SeekFrom::Current(n) => (i128::from(n), 1),
            SeekFrom::End(n) => (i128::from(n), 2),
        };
        Python::attach(|py| {
            let r = self.obj.bind(py).call_method1("seek", (offset, whence))?;
            Ok(r.extract::<u64>()?)
        })
    }
}

impl Write for PyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let r = self
                .obj
                .bind(py)
                .call_method1("write", (PyBytes::new(py, buf),))?;
            // Buffered and text-less writers return the count; a raw
            // non-blocking writer may return None (nothing written).
            if r.is_none() {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let n: usize = r.extract()?;
            if n > buf.len() {
                return Err(io::Error::other(format!(
                    "write() of {} bytes reported {n}",
                    buf.len()
                )));
            }
            Ok(n)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Python::attach(|py| {
            let obj = self.obj.bind(py);
            if obj.hasattr("flush")? {
                obj.call_method0("flush")?;
            }
            Ok(())
        })
    }
}

/// Where ciphertext comes from: a file by path, or a Python file object.
pub enum Input {
    File(File),
    Py(PyFile),
}

impl Input {
    /// A `str`/`os.PathLike` opens the file; anything with `read` is used
    /// as it is.
    pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Input> {
        if obj.hasattr("read")? {
            return Ok(Input::Py(PyFile::new(obj.clone().unbind())));
        }
        if obj.is_instance_of::<PyBytes>()
            || obj.is_instance_of::<PyByteArray>()
            || obj.is_instance_of::<pyo3::types::PyMemoryView>()
        {
            // Bytes would otherwise be taken for a file name.
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "expected a path or a binary file object, not bytes: \
                 for a container in memory use decrypt() or io.BytesIO(data)",
            ));
        }
        let path: PathBuf = obj.extract().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(
                "expected a path (str or os.PathLike) or a binary file object with read()",
            )
        })?;
        let py = obj.py();
        let file = py.detach(|| File::open(&path)).map_err(|e| {
            let err = PyErr::from(e);
            crate::errors::with_context(py, err, &path.display().to_string())
        })?;
        Ok(Input::File(file))
    }

    pub fn seekable(&self, py: Python<'_>) -> bool {
        match self {
            Input::File(_) => true,
            Input::Py(f) => f.seekable(py),
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::Py(f) => f.read(buf),
        }
    }
}

impl Seek for Input {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Input::File(f) => f.seek(pos),
            Input::Py(f) => f.seek(pos),
        }
    }
}
