//! Full decryption with a fixed key ring (every key in `vectors/dovecot`
//! and `vectors/oracle/keys` that mailcrypt supports): streaming mode,
//! verified mode over a seekable input and, for odd-length inputs,
//! verified mode over a buffered non-seekable input. See
//! `mailcrypt_fuzz::check_decrypt` for the properties checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PIECES: [usize; 5] = [1, 13, 512, 4096, 70_000];

fuzz_target!(|data: &[u8]| {
    let ring = mailcrypt_fuzz::ring();
    let piece = PIECES
        .get(data.len() % PIECES.len())
        .copied()
        .unwrap_or(4096);
    mailcrypt_fuzz::check_decrypt(data, ring, piece, data.len() % 2 == 1);
});
