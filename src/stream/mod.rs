//! Body ciphers and the `Read`/`Write` adapters that stream them in
//! constant memory.

pub(crate) mod cipher;
mod modes;
mod reader;
mod writer;

#[cfg(feature = "async")]
pub(crate) use reader::BodyDecoder;
pub(crate) use reader::BodyReader;
#[cfg(feature = "async")]
pub(crate) use writer::BodyEncoder;
pub(crate) use writer::BodyWriter;

/// Size of the ciphertext chunk the adapters process at once.
pub const CHUNK_LEN: usize = 64 * 1024;
