//! HTTP reply a client receives:
//! `honeyimage_format::protocol::parse_reply(body, kind, expected_rows)`.
//! First byte picks the declared `OutputKind`, the next two bytes
//! `expected_rows` (u16); the rest is the JSON body.
#![no_main]
use honeyimage_format::protocol::{parse_reply, OutputKind};
use honeyimage_fuzz::Input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let kind = [OutputKind::Auto, OutputKind::Logits, OutputKind::Probabilities][inp.byte() as usize % 3];
    let rows = inp.u16() as usize;
    if let Ok(p) = parse_reply(inp.rest(), kind, rows) {
        // Accepted replies are probability rows of equal width >= 2.
        assert_eq!(p.len(), rows);
        let k = p.first().map_or(2, Vec::len);
        assert!(k >= 2);
        for r in &p {
            assert_eq!(r.len(), k);
            assert!(r.iter().all(|v| v.is_finite() && *v >= 0.0), "{r:?}");
        }
    }
});
