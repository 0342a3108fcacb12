//! The live stream's query string and `Last-Event-ID` header (SPEC 4): never a panic.
//!
//! Input layout: one flag byte (bit 0 set: the request carries a `Last-Event-ID`
//! header), the header's bytes up to the first `\n`, then the raw query string, decoded
//! the way the server's `Query<HashMap<String, String>>` extractor decodes it.
#![no_main]
use std::collections::HashMap;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let (header, query) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let header = (flag & 1 == 1).then_some(header);
    if let Ok(q) = serde_urlencoded::from_bytes::<HashMap<String, String>>(query) {
        let _ = agentpipe_protocol::stream::StreamParams::parse(header, &q);
    }
});
