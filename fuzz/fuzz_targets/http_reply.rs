//! HTTP reply a client receives:
//! `honeyimage_format::protocol::parse_reply(body, kind, expected_rows)` and
//! `parse_reply_any(body, expected_rows, classes)`. First byte `b` picks the
//! declared `OutputKind` (`b % 3`) and the class count (`2 + b / 3`), the
//! next two bytes `expected_rows` (u16); the rest is the JSON body.
#![no_main]
use honeyimage_format::protocol::{parse_reply, parse_reply_any, OutputKind, Scores};
use honeyimage_fuzz::Input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let b = inp.byte() as usize;
    let (kind, classes) = ([OutputKind::Auto, OutputKind::Logits, OutputKind::Probabilities][b % 3], 2 + b / 3);
    let rows = inp.u16() as usize;
    let body = inp.rest();
    if let Ok(s) = parse_reply_any(body, rows, classes) {
        // Accepted replies have one row per image and only existing classes.
        assert_eq!(s.len(), rows);
        match s {
            Scores::Probabilities(r) | Scores::Logits(r) => assert!(r.iter().all(|r| r.len() == classes)),
            Scores::TopK(r) => assert!(r.iter().flatten().all(|&(l, p)| (l as usize) < classes && (0.0..=1.0).contains(&p))),
            Scores::Labels(l) => assert!(l.iter().all(|&l| (l as usize) < classes)),
        }
    }
    if let Ok(p) = parse_reply(body, kind, rows) {
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
