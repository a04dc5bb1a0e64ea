//! The dbox framing parser (`mailcrypt::store::dbox`): any input either
//! parses into mails that lie inside the file, in order, or is refused
//! with a typed error; never a panic, never unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcrypt::store::dbox::DboxFile;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(f) = DboxFile::parse(&mut std::io::Cursor::new(data), len) {
        let mut end = 0;
        for m in &f.mails {
            assert!(m.header_offset >= end && m.offset == m.header_offset + 30);
            assert!(m.offset + m.len <= len);
            end = m.offset + m.len;
        }
    }
});
