//! CSV + images reader (ISIC layout): `DataSource::open(gt.csv)` +
//! `load(split)`. The input is the CSV text; beside it are valid PNGs
//! `images/a.png`, `images/b.png` (4x4 RGB), `images/g.png` (4x4 gray) and
//! `c.png` (4x4 RGB, directly beside the CSV), which rows may name.
#![no_main]
use honeyimage_fuzz::{fresh_dir, open_and_load, put, ref_png_gray, ref_png_rgb};
use std::path::PathBuf;
use std::sync::OnceLock;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = fresh_dir("csv");
        put(&d.join("images/a.png"), ref_png_rgb());
        put(&d.join("images/b.png"), ref_png_rgb());
        put(&d.join("images/g.png"), ref_png_gray());
        put(&d.join("c.png"), ref_png_rgb());
        d
    });
    let csv = dir.join("gt.csv");
    put(&csv, data);
    open_and_load(&csv);
});
