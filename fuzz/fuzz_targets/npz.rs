//! MedMNIST `.npz` reader: `DataSource::open(file.npz)` + `load(split)`.
//! Input: mode byte, a u16-length-prefixed class-names text, then a payload.
//! Mode bit 0 clear: the payload is the whole `.npz` file (a hostile zip).
//! Mode bit 0 set: the payload is up to six u16-length-prefixed `.npy`
//! members (train/val/test images and labels) that the target zips itself,
//! so that the fuzzer reaches the `.npy` parser without fighting the CRC;
//! bit 1 chooses deflate over stored, bits 2-4 drop the val/test members.
//! Mode bit 5 writes `<stem>_class_names.txt` beside the archive.
#![no_main]
use honeyimage_fuzz::{fresh_dir, open_and_load, put, Input};
use std::io::Write;

const MEMBERS: [&str; 6] =
    ["train_images.npy", "train_labels.npy", "val_images.npy", "val_labels.npy", "test_images.npy", "test_labels.npy"];

fn build_zip(inp: &mut Input, mode: u8) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if mode & 2 != 0 { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (i, name) in MEMBERS.iter().enumerate() {
        let bytes = inp.piece();
        let dropped = match i {
            2 | 3 => mode & 4 != 0,
            4 => mode & 8 != 0,
            5 => mode & 16 != 0,
            _ => false,
        };
        if !dropped {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
    }
    z.finish().unwrap().into_inner()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mode = inp.byte();
    let names = inp.piece();
    let dir = fresh_dir("npz");
    let npz = dir.join("bloodmnist.npz");
    let archive = if mode & 1 != 0 { build_zip(&mut inp, mode) } else { inp.rest().to_vec() };
    put(&npz, &archive);
    if mode & 32 != 0 {
        put(&dir.join("bloodmnist_class_names.txt"), names);
    }
    open_and_load(&npz);
});
