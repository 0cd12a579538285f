//! Image-folder reader (`root/<class>/<file>`): `DataSource::open(root)` +
//! `load(split)`. The input is the bytes of one image file,
//! `root/cls_a/1.<ext>`, decoded after a valid 4x4 RGB PNG `root/cls_a/0.png`
//! so the fuzzed image is checked against a real one; `root/cls_b/2.png` is
//! another valid 4x4 RGB PNG. The first byte picks the extension (png, jpg, tif);
//! the decoder still guesses the format from the content.
#![no_main]
use honeyimage_fuzz::{encode_image, fresh_dir, open_and_load, put, ref_png_rgb, Input};
use image::ImageFormat;
use std::path::PathBuf;
use std::sync::OnceLock;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The valid images never change: write them once.
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let root = fresh_dir("folder");
        put(&root.join("cls_a/0.png"), ref_png_rgb());
        put(&root.join("cls_b/2.png"), &encode_image(ImageFormat::Png, 4, 4, 3, 77));
        root
    });
    let mut inp = Input::new(data);
    let ext = ["png", "jpg", "tif"][inp.byte() as usize % 3];
    for e in ["png", "jpg", "tif"] {
        let _ = std::fs::remove_file(root.join(format!("cls_a/1.{e}")));
    }
    put(&root.join(format!("cls_a/1.{ext}")), inp.rest());
    open_and_load(root);
});
