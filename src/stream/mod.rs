//! Body ciphers and the `Read`/`Write` adapters that stream them in
//! constant memory.

pub(crate) mod cipher;
mod modes;
mod reader;
mod writer;

pub(crate) use reader::BodyReader;
pub(crate) use writer::BodyWriter;

/// Size of the ciphertext chunk the adapters process at once.
pub const CHUNK_LEN: usize = 64 * 1024;
