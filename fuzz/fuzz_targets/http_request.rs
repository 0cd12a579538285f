//! HTTP request body a server receives:
//! `honeyimage_format::protocol::PredictRequest::parse(body, max_batch)`.
//! First byte picks `max_batch` (1, 8, 256, 65536, usize::MAX, or the next 8
//! bytes as a u64); the rest is the JSON body.
#![no_main]
use honeyimage_format::protocol::PredictRequest;
use honeyimage_fuzz::Input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let max_batch = match inp.byte() % 6 {
        0 => 1,
        1 => 8,
        2 => 256,
        3 => 65536,
        4 => usize::MAX,
        _ => inp.u64() as usize,
    };
    let body = inp.rest();
    if let Ok((req, px)) = PredictRequest::parse(body, max_batch) {
        let [n, h, w, c] = req.shape;
        assert!(n >= 1 && n <= max_batch);
        assert_eq!(px.len(), n * h * w * c);
    }
});
