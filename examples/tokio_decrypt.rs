//! Decrypt a mail on tokio without blocking a worker, then encrypt it again
//! to a file (feature `async`):
//!
//! ```text
//! cargo run --features async --example tokio_decrypt -- KEY.pem MAIL [OUT]
//! ```
//!
//! Without arguments it opens `vectors/dovecot/sample-v2.bin`. tokio's
//! `AsyncRead`/`AsyncWrite` become the `futures-io` traits mailcrypt uses
//! through `tokio_util::compat`.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use mailcrypt::keys::{KeyRing, PrivateKey};
use mailcrypt::{AsyncDecryptor, Encryptor};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (key_path, mail_path, out_path) = match args.as_slice() {
        [k, m] => (k.clone(), m.clone(), None),
        [k, m, o] => (k.clone(), m.clone(), Some(o.clone())),
        _ => (
            "vectors/dovecot/sample-v2.key.pem".to_string(),
            "vectors/dovecot/sample-v2.bin".to_string(),
            None,
        ),
    };
    let key = PrivateKey::from_bytes(&tokio::fs::read(&key_path).await?, None)?;
    let public = key.public_key().clone();
    let mut ring = KeyRing::new();
    ring.add(key);

    // Streaming: plaintext flows as it is decrypted; a tampered file ends
    // in an error from the last read, never in a clean end of file.
    let file = tokio::fs::File::open(&mail_path).await?.compat();
    let mut dec = AsyncDecryptor::open(file, &ring, &mailcrypt::DecryptOptions::default()).await?;
    if let Some(m) = &dec.info().matched {
        eprintln!("{mail_path}: key {} ({})", m.key_id, m.convention.name());
    }
    let mut plain = Vec::new();
    dec.read_to_end(&mut plain).await?;
    eprintln!("{mail_path}: {} plaintext bytes", plain.len());

    if let Some(out_path) = out_path {
        let out = tokio::fs::File::create(&out_path).await?.compat_write();
        let mut w = Encryptor::new(vec![public]).wrap_async_output(out)?;
        w.write_all(&plain).await?;
        // Writes the tag and flushes; `close()` would also close the file.
        let file = w.finish().await?;
        file.into_inner().sync_all().await?;
        eprintln!("{out_path}: written");
    } else {
        use tokio::io::AsyncWriteExt as _;
        tokio::io::stdout().write_all(&plain).await?;
    }
    Ok(())
}
