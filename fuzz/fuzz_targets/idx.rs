//! IDX (MNIST / Fashion-MNIST) reader: `DataSource::open(dir)` + `load(split)`.
//! Input: mode byte, then a u16-length-prefixed images file, then the labels
//! file. Mode bits: 0-1 encoding (0 raw files, 1 the target gzips them, 2
//! the bytes are written as-is to `.gz` files: a hostile gzip stream),
//! bit 2 also write the same pair as the test split (`t10k-*`), bit 3 put the
//! dataset in a directory named `fashion-mnist` (Fashion class names).
#![no_main]
use honeyimage_fuzz::{fresh_dir, open_and_load, put, Input};
use std::io::Write;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mode = inp.byte();
    let images = inp.piece();
    let labels = inp.rest();
    let dir = fresh_dir(if mode & 8 != 0 { "fashion-mnist" } else { "mnist" });
    let (sfx, enc): (&str, fn(&[u8]) -> Vec<u8>) = match mode & 3 {
        1 => (".gz", gzip),
        2 | 3 => (".gz", |b: &[u8]| b.to_vec()),
        _ => ("", |b: &[u8]| b.to_vec()),
    };
    let prefixes: &[&str] = if mode & 4 != 0 { &["train", "t10k"] } else { &["train"] };
    for p in prefixes {
        put(&dir.join(format!("{p}-images-idx3-ubyte{sfx}")), &enc(images));
        put(&dir.join(format!("{p}-labels-idx1-ubyte{sfx}")), &enc(labels));
    }
    open_and_load(&dir);
});
