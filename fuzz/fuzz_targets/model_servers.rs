//! Replies and requests of the standard model servers' protocols:
//! `honeyimage_format::oip::read_scores` (Open Inference Protocol reply),
//! `serving::read_tfserving`, `serving::read_torchserve`,
//! `oip::parse_request` (what `serve` parses, with and without the binary
//! tensor extension) and `classes::ClassMap::parse`. First byte `b`: the
//! class count (`2 + b % 16`) and whether a class map of that many names
//! (`c0`, `c1`, ...) is used (`b & 16`); next two bytes `expected_rows`
//! (u16), next two the JSON length for the binary extension (u16; 0 =
//! none); the rest is the body.
#![no_main]
use honeyimage_format::classes::{gather, ClassMap};
use honeyimage_format::protocol::Scores;
use honeyimage_format::{oip, serving};
use honeyimage_fuzz::Input;

fn check(s: &Scores, rows: usize, classes: usize) {
    // Accepted replies have one row per image and only existing classes.
    assert_eq!(s.len(), rows);
    match s {
        Scores::Probabilities(r) | Scores::Logits(r) => assert!(r.iter().all(|r| r.len() == classes && r.iter().all(|v| v.is_finite()))),
        Scores::TopK(r) => assert!(r.iter().flatten().all(|&(l, p)| (l as usize) < classes && (0.0..=1.0).contains(&p))),
        Scores::Labels(l) => assert!(l.iter().all(|&l| (l as usize) < classes)),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let b = inp.byte() as usize;
    let classes = 2 + b % 16;
    let names: String = (0..classes).map(|i| format!("c{i}\n")).collect();
    let map = ClassMap::parse(&names).expect("a list of distinct names");
    let map = (b & 16 != 0).then_some(&map);
    let rows = inp.u16() as usize;
    let json_len = inp.u16() as usize;
    let body = inp.rest();
    if let Ok(s) = oip::read_scores(body, None, rows, classes, map) {
        check(&s, rows, classes);
    }
    if let Ok(s) = serving::read_tfserving(body, None, rows, classes, map) {
        check(&s, rows, classes);
    }
    if let Ok(row) = serving::read_torchserve(body, None, map) {
        if let Ok(s) = gather(vec![row], classes) {
            check(&s, 1, classes);
        }
    }
    if let Ok((_, px, [n, h, w, c])) = oip::parse_request(body, (json_len > 0).then_some(json_len), 64) {
        assert_eq!(px.len(), n * h * w * c);
        assert!(n <= 64 && (c == 1 || c == 3));
    }
    if let Ok(text) = std::str::from_utf8(body) {
        if let Ok(m) = ClassMap::parse(text) {
            assert!(!m.is_empty());
        }
    }
});
