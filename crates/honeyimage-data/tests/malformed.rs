//! Every kind of malformed input gives its own error variant, whose message
//! names the offending file; none of them panics.

mod common;

use common::*;
use honeyimage_data::{DataSource, Edits, Error, Format, Split};
use std::path::Path;

/// Load the train split of `path`, expecting an error whose text names `file`.
fn load_err(path: &Path, file: &str) -> Error {
    let err = DataSource::open(path, None).and_then(|s| s.load(Split::Train)).unwrap_err();
    assert!(err.to_string().contains(file), "error {err:?} does not name {file}");
    err
}

#[test]
fn idx_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let labels = idx_labels(&[1, 2, 3]);
    let images = idx_images(3, 2, 2, &[9; 12]);
    let write = |img: &[u8], lab: &[u8], gzip: bool| {
        for f in std::fs::read_dir(d).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        let (sfx, img, lab) = if gzip { (".gz", gz(img), gz(lab)) } else { ("", img.to_vec(), lab.to_vec()) };
        std::fs::write(d.join(format!("train-images-idx3-ubyte{sfx}")), img).unwrap();
        std::fs::write(d.join(format!("train-labels-idx1-ubyte{sfx}")), lab).unwrap();
    };
    for gzip in [false, true] {
        write(&images[..images.len() - 1], &labels, gzip);
        assert!(matches!(load_err(d, "train-images-idx3-ubyte"), Error::Truncated { .. }));
        write(&images[..10], &labels, gzip);
        assert!(matches!(load_err(d, "train-images-idx3-ubyte"), Error::Truncated { .. }));
        write(&[images.clone(), vec![0]].concat(), &labels, gzip);
        assert!(matches!(load_err(d, "train-images-idx3-ubyte"), Error::Malformed { .. }));
        let mut bad = images.clone();
        bad[3] = 2;
        write(&bad, &labels, gzip);
        assert!(matches!(load_err(d, "train-images-idx3-ubyte"), Error::BadMagic { found: 0x802, .. }));
        // Absurd header: must be refused before trying to allocate ~2^64 bytes.
        write(&idx_images(u32::MAX as usize, 0xffff, 0xffff, &[]), &labels, gzip);
        assert!(matches!(load_err(d, "train-images-idx3-ubyte"), Error::TooLarge { .. }));
        write(&idx_images(40_000, 256, 256, &[]), &labels, gzip);
        assert!(matches!(load_err(d, "train-images-idx3-ubyte"), Error::TooLarge { .. }));
        write(&images, &idx_labels(&[1, 2]), gzip);
        assert!(matches!(load_err(d, "train-images-idx3-ubyte"), Error::CountMismatch { .. }));
        write(&images, &images, gzip);
        assert!(matches!(load_err(d, "train-labels-idx1-ubyte"), Error::BadMagic { .. }));
    }
    // A corrupt gzip stream is reported, not panicked on.
    write(&images, &labels, true);
    let mut g = std::fs::read(d.join("train-images-idx3-ubyte.gz")).unwrap();
    let mid = g.len() / 2;
    g[mid] ^= 0xff;
    g.truncate(g.len() - 3);
    std::fs::write(d.join("train-images-idx3-ubyte.gz"), g).unwrap();
    load_err(d, "train-images-idx3-ubyte.gz");
}

#[test]
fn cifar_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let mut recs = cifar_records(3, &[4], 0);
    recs.pop();
    std::fs::write(d.join("data_batch_1.bin"), &recs).unwrap();
    let err = load_err(d, "data_batch_1.bin");
    assert!(matches!(err, Error::Truncated { .. }) && err.to_string().contains("3073"), "{err}");
    let recs = [cifar_records(2, &[4], 0), cifar_records(1, &[10], 1)].concat();
    std::fs::write(d.join("data_batch_1.bin"), &recs).unwrap();
    let err = load_err(d, "data_batch_1.bin");
    assert!(matches!(err, Error::LabelOutOfRange { index: 2, label: 10, num_classes: 10, .. }), "{err}");
    assert!(err.to_string().contains("record 2"));
    std::fs::write(d.join("data_batch_1.bin"), cifar_records(1, &[1], 0)).unwrap();
    std::fs::write(d.join("batches.meta.txt"), "only\nthree\nnames\n").unwrap();
    assert!(matches!(load_err(d, "batches.meta.txt"), Error::CountMismatch { .. }));
}

#[test]
fn npz_errors() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bloodmnist.npz");
    let labels = |n: usize| npy("|u1", &[n, 1], &vec![0; n]);
    let check = |members: Vec<(&str, Vec<u8>, bool)>, needle: &str| {
        write_zip(&p, &members);
        let e = load_err(&p, "bloodmnist.npz");
        assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        e
    };
    let f32s = npy("<f4", &[2, 2, 2], &[0; 32]);
    let e = check(vec![("train_images.npy", f32s, true), ("train_labels.npy", labels(2), true)], "expected uint8 images, got <f4");
    assert!(matches!(e, Error::Dtype { .. }) && e.to_string().contains("train_images.npy"));
    let imgs = || npy("|u1", &[2, 2, 2], &[0; 8]);
    let fl = npy("<f8", &[2, 1], &[0; 16]);
    let e = check(vec![("train_images.npy", imgs(), true), ("train_labels.npy", fl, false)], "expected integer labels, got <f8");
    assert!(matches!(e, Error::Dtype { .. }));
    let e = check(vec![("train_images.npy", imgs(), true), ("train_labels.npy", labels(3), true)], "train_labels.npy");
    assert!(matches!(e, Error::CountMismatch { .. }));
    let short = imgs()[..70].to_vec();
    let e = check(vec![("train_images.npy", short, true), ("train_labels.npy", labels(2), true)], "train_images.npy");
    assert!(matches!(e, Error::Truncated { .. }));
    let huge = npy("|u1", &[1 << 40, 1 << 20, 2], &[]);
    let e = check(vec![("train_images.npy", huge, true), ("train_labels.npy", labels(2), true)], "train_images.npy");
    assert!(matches!(e, Error::TooLarge { .. }));
    let multi = npy("|u1", &[2, 3], &[0; 6]);
    let e = check(vec![("train_images.npy", imgs(), true), ("train_labels.npy", multi, true)], "multi-label");
    assert!(matches!(e, Error::Malformed { .. }));
    let neg = npy("<i2", &[2], &[1, 0, 0xff, 0xff]);
    let e = check(vec![("train_images.npy", imgs(), true), ("train_labels.npy", neg, true)], "label -1");
    assert!(matches!(e, Error::LabelOutOfRange { index: 1, .. }));
    std::fs::write(t.path().join("bloodmnist_class_names.txt"), "a\n").unwrap();
    let big = npy("|u1", &[2], &[0, 1]);
    let e = check(vec![("train_images.npy", imgs(), true), ("train_labels.npy", big, true)], "label 1 out of range");
    assert!(matches!(e, Error::LabelOutOfRange { index: 1, num_classes: 1, .. }));
    std::fs::write(&p, b"PK\x03\x04 this is not a zip").unwrap();
    assert!(DataSource::open(&p, None).unwrap_err().to_string().contains("bloodmnist.npz"));
}

#[test]
fn image_folder_errors() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("f");
    save_png(&root.join("a/1.png"), 4, 4, 3, 0);
    save_png(&root.join("a/2.png"), 4, 5, 3, 0);
    let e = load_err(&root, "2.png");
    assert!(matches!(e, Error::ShapeMismatch { .. }) && e.to_string().contains("4x4x3"), "{e}");
    save_png(&root.join("a/2.png"), 4, 4, 1, 0);
    assert!(matches!(load_err(&root, "2.png"), Error::ShapeMismatch { .. }));
    save_png(&root.join("a/2.png"), 4, 4, 3, 0);
    std::fs::write(root.join("a/notes.txt"), "x").unwrap();
    assert!(matches!(load_err(&root, "notes.txt"), Error::NotAnImage { .. }));
    std::fs::remove_file(root.join("a/notes.txt")).unwrap();
    std::fs::write(root.join("a/3.png"), "not really a png").unwrap();
    assert!(matches!(load_err(&root, "3.png"), Error::Image { .. }));
    std::fs::remove_file(root.join("a/3.png")).unwrap();
    let transparent = image::RgbaImage::from_raw(4, 4, vec![0; 64]).unwrap();
    transparent.save(root.join("a/4.png")).unwrap();
    let e = load_err(&root, "4.png");
    assert!(e.to_string().contains("transparent"), "{e}");
}

#[test]
fn csv_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    save_png(&d.join("images/a.png"), 2, 2, 3, 0);
    let csv = d.join("gt.csv");
    let check = |text: &str, needle: &str| {
        std::fs::write(&csv, text).unwrap();
        let e = load_err(&csv, "gt.csv");
        assert!(matches!(e, Error::Csv { .. }), "{e:?}");
        assert!(e.to_string().contains(needle), "{e} lacks {needle}");
    };
    check("img,label\na,x\n", "gt.csv:1: missing column `image`");
    check("image\na\n", "missing label columns");
    check("image,A,B\na,1.0,0.0\nb,0.0,1.0\n", "gt.csv:3: unknown image \"b\"");
    check("image,A,B\na,0.0,0.0\n", "gt.csv:2: no class column");
    check("image,A,B\na,1.0,1.0\n", "several class columns are 1: A, B");
    check("image,A,B\na,0.5,0.0\n", "column `A` holds \"0.5\"");
    check("image,A,B\na,1.0\n", "2 fields, header has 3");
    check("image,label\na,x\na,y\n", "listed twice");
    check("image,label\n../a.png,x\n", "bad image name");
    check("", "empty file");
}

#[test]
fn detection_and_explicit_formats() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("readme.md"), "x").unwrap();
    let e = DataSource::open(t.path(), None).unwrap_err();
    assert!(matches!(e, Error::UnknownFormat { .. }) && e.to_string().contains("idx3-ubyte"), "{e}");
    assert!(matches!(DataSource::open(&t.path().join("readme.md"), None), Err(Error::UnknownFormat { .. })));
    assert!(matches!(DataSource::open(&t.path().join("missing"), None), Err(Error::Io { .. })));
    assert!(DataSource::open(t.path(), Some(Format::Cifar)).is_err());
    assert!(DataSource::open(t.path(), Some(Format::Csv)).is_err());
    assert!(DataSource::open(t.path(), Some(Format::ImageFolder)).is_err());
}

#[test]
fn arbitrary_bytes_never_panic() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for seed in 0..40usize {
        let bytes: Vec<u8> = px(64 + seed * 37, seed).into_iter().map(|b| b ^ (seed as u8)).collect();
        let mut idx = idx_images(2, 2, 2, &[]);
        idx.extend_from_slice(&bytes[..seed % 16]);
        std::fs::write(d.join("train-images-idx3-ubyte"), &idx).unwrap();
        std::fs::write(d.join("train-labels-idx1-ubyte"), &bytes).unwrap();
        std::fs::write(d.join("data_batch_1.bin"), &bytes).unwrap();
        std::fs::write(d.join("x.npz"), &bytes).unwrap();
        std::fs::write(d.join("x.csv"), &bytes).unwrap();
        for (p, f) in [(d.to_path_buf(), Format::Idx), (d.to_path_buf(), Format::Cifar), (d.join("x.npz"), Format::MedMnist), (d.join("x.csv"), Format::Csv)] {
            if let Ok(s) = DataSource::open(&p, Some(f)) {
                let _ = s.load(Split::Train);
                let _ = s.write_release(Split::Train, &d.join("out"), &Edits::new());
                let _ = std::fs::remove_dir_all(d.join("out"));
            }
        }
    }
}
