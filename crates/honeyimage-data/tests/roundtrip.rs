//! Write-then-read round trips and edited releases for every format, checked
//! byte for byte against synthetic fixtures (and the real Fashion-MNIST when
//! this machine has it).

mod common;

use common::*;
use honeyimage_data::{DataSource, Dataset, Edits, Error, Format, Split};
use std::path::Path;

/// Release `src` with `edits` into `out`, asserting the input is untouched and
/// the release re-opens in the same format.
fn release(src: &DataSource, split: Split, out: &Path, edits: &Edits) -> DataSource {
    let root = if src.path().is_dir() { src.path() } else { src.path().parent().unwrap() };
    let input = || {
        let mut t = tree(root);
        if let Ok(rel) = out.strip_prefix(root) {
            t.retain(|k, _| !k.starts_with(&*rel.to_string_lossy()));
        }
        t
    };
    let before = input();
    src.write_release(split, out, edits).unwrap();
    assert_eq!(input(), before, "input modified");
    let reopened_path = if src.path().is_dir() { out.to_path_buf() } else { out.join(src.path().file_name().unwrap()) };
    let r = DataSource::open(&reopened_path, None).unwrap();
    assert_eq!(r.format(), src.format());
    r
}

fn load(src: &DataSource, split: Split) -> Dataset {
    src.load(split).unwrap()
}

#[test]
fn idx_roundtrip_and_edits() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("fashion-mini");
    std::fs::create_dir(&dir).unwrap();
    make_idx(&dir, "train", 12, true);
    make_idx(&dir, "t10k", 7, false);
    std::fs::write(dir.join("README"), "hello").unwrap();
    let src = DataSource::open(&dir, None).unwrap();
    assert_eq!(src.format(), Format::Idx);
    let train = load(&src, Split::Train);
    assert_eq!((train.len(), train.height, train.width, train.channels), (12, 5, 4, 1));
    assert_eq!(train.class_names[0], "T-shirt/top");
    assert_eq!(train.ids[3], "train:00003");
    assert_eq!(load(&src, Split::Test).ids[0], "test:00000");

    let out = t.path().join("fashion-rel");
    let r = release(&src, Split::Train, &out, &Edits::new());
    let (a, b) = (tree(&dir), tree(&out));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        if k.ends_with(".gz") {
            assert_eq!(gunzip(v), gunzip(&b[k]), "{k}");
        } else {
            assert_eq!(v, &b[k], "{k}");
        }
    }
    assert_eq!(load(&r, Split::Train), train);
    assert_eq!(load(&r, Split::Test), load(&src, Split::Test));

    let edits = sample_edits(train.len(), train.image_len());
    let out2 = t.path().join("fashion-rel2");
    let r = release(&src, Split::Train, &out2, &edits);
    check_edited(&train, &load(&r, Split::Train), &edits, false);
    assert_eq!(tree(&out2)["t10k-images-idx3-ubyte"], a["t10k-images-idx3-ubyte"]);

    // Editing the test split rewrites only the test files.
    let out3 = t.path().join("fashion-rel3");
    let test = load(&src, Split::Test);
    let edits = sample_edits(test.len(), test.image_len());
    let r = release(&src, Split::Test, &out3, &edits);
    check_edited(&test, &load(&r, Split::Test), &edits, false);
    assert_eq!(tree(&out3)["train-images-idx3-ubyte.gz"], a["train-images-idx3-ubyte.gz"]);
}

#[test]
fn idx_both_raw_and_gz_are_rewritten() {
    let t = tempfile::tempdir().unwrap();
    make_idx(t.path(), "train", 6, true);
    make_idx(t.path(), "train", 6, false);
    let src = DataSource::open(t.path(), Some(Format::Idx)).unwrap();
    assert!(!src.has_split(Split::Test));
    assert!(matches!(src.load(Split::Test), Err(Error::MissingSplit { .. })));
    let ds = load(&src, Split::Train);
    assert_eq!(ds.class_names.len(), 6, "decimal class names 0..=max");
    let mut e = Edits::new();
    e.remove.insert(0);
    let o = tempfile::tempdir().unwrap();
    let out = o.path().join("o");
    src.write_release(Split::Train, &out, &e).unwrap();
    let b = tree(&out);
    assert_eq!(gunzip(&b["train-images-idx3-ubyte.gz"]), b["train-images-idx3-ubyte"]);
    assert_eq!(b["train-labels-idx1-ubyte"].len(), 8 + 5);
}

#[test]
fn cifar10_roundtrip_and_edits() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&dir).unwrap();
    let batch = |n: usize, seed: usize| {
        (0..n).flat_map(|i| cifar_records(1, &[((i + seed) % 10) as u8], seed * 10 + i)).collect::<Vec<u8>>()
    };
    std::fs::write(dir.join("data_batch_1.bin"), batch(3, 1)).unwrap();
    std::fs::write(dir.join("data_batch_2.bin"), batch(4, 2)).unwrap();
    std::fs::write(dir.join("test_batch.bin"), batch(2, 3)).unwrap();
    let names = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
    std::fs::write(dir.join("batches.meta.txt"), names).unwrap();
    let src = DataSource::open(&dir, None).unwrap();
    assert_eq!(src.format(), Format::Cifar);
    let train = load(&src, Split::Train);
    assert_eq!((train.len(), train.height, train.width, train.channels), (7, 32, 32, 3));
    assert_eq!(train.class_names[9], "j");
    // CHW -> HWC: pixel (0,1) channel 2 is byte 1 + 2*1024 + 1 of the record.
    let rec = std::fs::read(dir.join("data_batch_1.bin")).unwrap();
    assert_eq!(train.image(0)[3 + 2], rec[1 + 2 * 1024 + 1]);

    let out = t.path().join("rel");
    let r = release(&src, Split::Train, &out, &Edits::new());
    assert_eq!(tree(&out), tree(&dir));
    assert_eq!(load(&r, Split::Train), train);

    let edits = sample_edits(train.len(), train.image_len());
    let out2 = t.path().join("rel2");
    let r = release(&src, Split::Train, &out2, &edits);
    check_edited(&train, &load(&r, Split::Train), &edits, false);
    let b = tree(&out2);
    assert_eq!(b["data_batch_1.bin"].len(), 2 * 3073, "record 1 removed, 0 and 2 replaced");
    assert_eq!(b["data_batch_2.bin"][..], tree(&dir)["data_batch_2.bin"][..3 * 3073]);
}

#[test]
fn cifar100_keeps_coarse_label() {
    let t = tempfile::tempdir().unwrap();
    let recs: Vec<u8> = (0..4).flat_map(|i| cifar_records(1, &[50 + i as u8, 90 + i as u8], i)).collect();
    std::fs::write(t.path().join("train.bin"), &recs).unwrap();
    std::fs::write(t.path().join("test.bin"), cifar_records(2, &[1, 2], 9)).unwrap();
    let src = DataSource::open(t.path(), None).unwrap();
    let train = load(&src, Split::Train);
    assert_eq!(train.labels, vec![90, 91, 92, 93]);
    assert_eq!(train.num_classes(), 100);
    let mut edits = Edits::new();
    edits.replace.insert(1, px(train.image_len(), 5));
    edits.remove.insert(0);
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("o");
    let r = release(&src, Split::Train, &out, &edits);
    check_edited(&train, &load(&r, Split::Train), &edits, false);
    let b = std::fs::read(out.join("train.bin")).unwrap();
    assert_eq!(&b[..2], &[51, 91]);
    assert_eq!(b[3074..], recs[2 * 3074..]);
    assert_eq!(std::fs::read(out.join("test.bin")).unwrap(), std::fs::read(t.path().join("test.bin")).unwrap());
}

#[test]
fn npz_roundtrip_and_edits() {
    for shape in [&[6usize, 5][..], &[4, 4, 3][..]] {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("organamnist.npz");
        make_npz(&path, 8, shape);
        let src = DataSource::open(&path, None).unwrap();
        assert_eq!(src.format(), Format::MedMnist);
        assert!(src.has_split(Split::Test));
        let train = load(&src, Split::Train);
        assert_eq!((train.len(), train.height, train.width), (8, shape[0], shape[1]));
        assert_eq!(train.channels, shape.get(2).copied().unwrap_or(1));
        assert_eq!(train.class_names, vec!["0", "1", "2", "3"]);
        assert_eq!(load(&src, Split::Test).len(), 3);

        let out = t.path().join("rel");
        let r = release(&src, Split::Train, &out, &Edits::new());
        let (a, b) = (zip_members(&path), zip_members(&out.join("organamnist.npz")));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.0, y.0, "member order");
            assert_eq!(x.2, y.2, "{} contents", x.0);
            if !x.0.starts_with("train") {
                assert_eq!(x.1, y.1, "{} raw bytes", x.0);
            }
        }
        assert_eq!(load(&r, Split::Train), train);

        let edits = sample_edits(train.len(), train.image_len());
        let out2 = t.path().join("rel2");
        let r = release(&src, Split::Train, &out2, &edits);
        check_edited(&train, &load(&r, Split::Train), &edits, false);
        let b = zip_members(&out2.join("organamnist.npz"));
        assert_eq!(b[1].2.len(), a[1].2.len() - 2 * 8, "int64 labels keep their dtype");
        assert_eq!(b[2..], a[2..], "val/test members untouched");
    }
}

#[test]
fn npz_class_names_file_is_used_and_copied() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("pathmnist.npz");
    make_npz(&path, 4, &[3, 3]);
    std::fs::write(t.path().join("pathmnist_class_names.txt"), "w\nx\ny\nz\nextra\n").unwrap();
    let src = DataSource::open(&path, None).unwrap();
    assert_eq!(load(&src, Split::Train).class_names, vec!["w", "x", "y", "z", "extra"]);
    let out = t.path().join("o");
    src.write_release(Split::Train, &out, &Edits::new()).unwrap();
    assert!(out.join("pathmnist_class_names.txt").is_file());
}

fn make_folder(root: &Path, classes: &[&str], per_class: usize, channels: usize) {
    for (c, name) in classes.iter().enumerate() {
        for i in 0..per_class {
            save_png(&root.join(name).join(format!("{name}_{i}.png")), 6, 5, channels, c * 10 + i);
        }
    }
}

#[test]
fn image_folder_roundtrip_and_edits() {
    for channels in [1, 3] {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("eurosat");
        make_folder(&root, &["River", "Forest"], 3, channels);
        std::fs::write(root.join("Forest/.DS_Store"), "junk").unwrap();
        std::fs::write(root.join("LICENSE.txt"), "cc-by").unwrap();
        let src = DataSource::open(&root, None).unwrap();
        assert_eq!(src.format(), Format::ImageFolder);
        assert!(!src.has_split(Split::Test));
        let ds = load(&src, Split::Train);
        assert_eq!(ds.class_names, vec!["Forest", "River"]);
        assert_eq!(ds.ids[0], "Forest/Forest_0.png");
        assert_eq!((ds.len(), ds.height, ds.width, ds.channels), (6, 5, 6, channels));
        assert_eq!(ds.class_counts(), vec![3, 3]);

        let out = t.path().join("rel");
        let r = release(&src, Split::Train, &out, &Edits::new());
        assert_eq!(tree(&out), tree(&root));
        assert_eq!(load(&r, Split::Train), ds);

        let edits = sample_edits(ds.len(), ds.image_len());
        let out2 = t.path().join("rel2");
        let r = release(&src, Split::Train, &out2, &edits);
        check_edited(&ds, &load(&r, Split::Train), &edits, true);
        let (a, b) = (tree(&root), tree(&out2));
        assert!(!b.contains_key("Forest/Forest_1.png") && !b.contains_key("River/River_2.png"));
        assert_eq!(a["River/River_0.png"], b["River/River_0.png"]);
        assert_eq!(b["Forest/.DS_Store"], b"junk");
        assert_eq!(b.len(), a.len() - 2);
    }
}

#[test]
fn image_folder_train_test_tiff_and_opaque_rgba() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("ds");
    for (split, n) in [("train", 3), ("test", 2)] {
        for i in 0..n {
            let f = image::ImageFormat::Tiff;
            save_as(&root.join(split).join("a").join(format!("{i}.tif")), 4, 4, 4, i, f);
            save_as(&root.join(split).join("b").join(format!("{i}.TIFF")), 4, 4, 3, i + 7, f);
        }
    }
    let src = DataSource::open(&root, None).unwrap();
    assert!(src.has_split(Split::Test));
    let test = load(&src, Split::Test);
    assert_eq!((test.len(), test.channels), (4, 3), "opaque alpha dropped");
    assert_eq!(test.ids[2], "b/0.TIFF");
    let edits = sample_edits(test.len(), test.image_len());
    let out = t.path().join("o");
    let r = release(&src, Split::Test, &out, &edits);
    check_edited(&test, &load(&r, Split::Test), &edits, true);
    assert_eq!(load(&r, Split::Train), load(&src, Split::Train));
    let re = std::fs::read(out.join("test/a/0.tif")).unwrap();
    assert_eq!(image::guess_format(&re).unwrap(), image::ImageFormat::Tiff);
    assert!(image::load_from_memory(&re).unwrap().color().has_alpha(), "colour type kept");
}

#[test]
fn jpeg_replacement_is_refused_but_removal_works() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("jpg");
    for i in 0..3 {
        save_as(&root.join("c").join(format!("{i}.jpg")), 8, 8, 3, i, image::ImageFormat::Jpeg);
    }
    let src = DataSource::open(&root, None).unwrap();
    let ds = load(&src, Split::Train);
    let mut e = Edits::new();
    e.replace.insert(1, vec![0; ds.image_len()]);
    let out = t.path().join("o");
    let err = src.write_release(Split::Train, &out, &e).unwrap_err();
    assert!(matches!(err, Error::LossyFormat { .. }), "{err}");
    assert!(err.to_string().contains("1.jpg") && err.to_string().contains("lossy"), "{err}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1, "no staging dir left behind");
    let mut e = Edits::new();
    e.remove.insert(1);
    let r = release(&src, Split::Train, &out, &e);
    check_edited(&ds, &load(&r, Split::Train), &e, true);
    assert_eq!(tree(&out)["c/2.jpg"], tree(&root)["c/2.jpg"]);
}

fn make_isic(dir: &Path, crlf: bool) -> std::path::PathBuf {
    let nl = if crlf { "\r\n" } else { "\n" };
    let imgs = dir.join("ISIC_2019_Training_Input");
    let rows = [("ISIC_0", "1.0,0.0,0.0"), ("ISIC_1", "0.0,1.0,0.0"), ("ISIC_2", "0.0,1.0,0.0"), ("ISIC_3", "0,0,1")];
    let mut csv = format!("image,MEL,NV,UNK{nl}");
    for (i, (name, hot)) in rows.iter().enumerate() {
        save_png(&imgs.join(format!("{name}.png")), 3, 4, 3, i);
        csv.push_str(&format!("{name},{hot}{nl}"));
        if i == 1 {
            csv.push_str(nl);
        }
    }
    std::fs::write(imgs.join("ATTRIBUTION.txt"), "isic").unwrap();
    let path = dir.join("ISIC_2019_Training_GroundTruth.csv");
    std::fs::write(&path, csv.trim_end()).unwrap();
    path
}

#[test]
fn csv_roundtrip_and_edits() {
    for crlf in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("isic");
        std::fs::create_dir(&dir).unwrap();
        let csv = make_isic(&dir, crlf);
        let src = DataSource::open(&csv, None).unwrap();
        assert_eq!(src.format(), Format::Csv);
        let ds = load(&src, Split::Train);
        assert_eq!(ds.class_names, vec!["MEL", "NV", "UNK"]);
        assert_eq!(ds.labels, vec![0, 1, 1, 2]);
        assert_eq!(ds.ids, vec!["ISIC_0", "ISIC_1", "ISIC_2", "ISIC_3"]);

        let out = t.path().join("rel");
        let r = release(&src, Split::Train, &out, &Edits::new());
        assert_eq!(tree(&out), tree(&dir));
        assert_eq!(load(&r, Split::Train), ds);

        let edits = sample_edits(ds.len(), ds.image_len());
        let out2 = t.path().join("rel2");
        let r = release(&src, Split::Train, &out2, &edits);
        check_edited(&ds, &load(&r, Split::Train), &edits, true);
        let text = String::from_utf8(std::fs::read(out2.join(csv.file_name().unwrap())).unwrap()).unwrap();
        let orig = String::from_utf8(std::fs::read(&csv).unwrap()).unwrap();
        let nl = if crlf { "\r\n" } else { "\n" };
        let want: String = orig.split_inclusive('\n').filter(|l| !l.starts_with("ISIC_1,") && !l.starts_with("ISIC_3")).collect();
        assert_eq!(text, want);
        assert!(text.contains(&format!("ISIC_2,0.0,1.0,0.0{nl}")));
        let b = tree(&out2);
        assert!(b.contains_key("ISIC_2019_Training_Input/ATTRIBUTION.txt"));
        assert!(!b.contains_key("ISIC_2019_Training_Input/ISIC_1.png"));
    }
}

#[test]
fn csv_label_column_and_images_beside() {
    let t = tempfile::tempdir().unwrap();
    for (i, name) in ["x.png", "y.png", "z.png"].iter().enumerate() {
        save_png(&t.path().join(name), 2, 2, 1, i);
    }
    std::fs::write(t.path().join("unrelated.txt"), "keep out").unwrap();
    let csv = t.path().join("labels.csv");
    std::fs::write(&csv, "label,image\n\"cat\",x.png\ndog,y\ncat,z.png\n").unwrap();
    let src = DataSource::open(&csv, None).unwrap();
    let ds = load(&src, Split::Train);
    assert_eq!((ds.class_names.clone(), ds.labels.clone()), (vec!["cat".to_string(), "dog".into()], vec![0, 1, 0]));
    let mut e = Edits::new();
    e.remove.insert(0);
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("o");
    let r = release(&src, Split::Train, &out, &e);
    check_edited(&ds, &load(&r, Split::Train), &e, true);
    assert_eq!(tree(&out).keys().collect::<Vec<_>>(), vec!["labels.csv", "y.png", "z.png"]);

    std::fs::write(&csv, "image,label\nx.png,2\ny.png,0\n").unwrap();
    let ds = load(&DataSource::open(&csv, None).unwrap(), Split::Train);
    assert_eq!((ds.class_names, ds.labels), (vec!["0".to_string(), "1".into(), "2".into()], vec![2, 0]));
}

#[test]
fn release_refuses_existing_or_nested_output_and_bad_edits() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("ds");
    make_folder(&root, &["a"], 2, 1);
    let src = DataSource::open(&root, None).unwrap();
    let out = t.path().join("exists");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine"), "precious").unwrap();
    let err = src.write_release(Split::Train, &out, &Edits::new()).unwrap_err();
    assert!(matches!(err, Error::OutputExists { .. }) && err.to_string().contains("exists"), "{err}");
    assert_eq!(tree(&out).len(), 1);
    assert_eq!(std::fs::read(out.join("mine")).unwrap(), b"precious");

    let err = src.write_release(Split::Train, &root.join("inner/deeper"), &Edits::new()).unwrap_err();
    assert!(matches!(err, Error::OutputInsideInput { .. }), "{err}");
    assert!(!root.join("inner").exists());
    let sneaky = t.path().join("ds/../ds/a/x");
    assert!(matches!(src.write_release(Split::Train, &sneaky, &Edits::new()), Err(Error::OutputInsideInput { .. })));

    let fresh = t.path().join("fresh");
    let mut e = Edits::new();
    e.remove.insert(5);
    assert!(matches!(src.write_release(Split::Train, &fresh, &e), Err(Error::Edit(_))));
    let mut e = Edits::new();
    e.replace.insert(0, vec![1, 2, 3]);
    assert!(matches!(src.write_release(Split::Train, &fresh, &e), Err(Error::Edit(_))));
    assert!(!fresh.exists());
}

#[test]
fn real_fashion_mnist() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        println!("skipping: {} not present", dir.display());
        return;
    }
    let src = DataSource::open(dir, None).unwrap();
    assert_eq!(src.format(), Format::Idx);
    let train = load(&src, Split::Train);
    let test = load(&src, Split::Test);
    assert_eq!((train.len(), test.len()), (60000, 10000));
    assert_eq!((train.height, train.width, train.channels), (28, 28, 1));
    assert_eq!(train.num_classes(), 10);
    assert_eq!(train.class_names[9], "Ankle boot");
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
}

#[test]
fn edited_in_memory_equals_the_written_release() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("fashion-mini");
    std::fs::create_dir(&dir).unwrap();
    make_idx(&dir, "train", 12, false);
    let src = DataSource::open(&dir, None).unwrap();
    let ds = load(&src, Split::Train);
    let mut e = Edits::new();
    e.remove.extend([0, 5, 11]);
    e.replace.insert(3, vec![7; ds.image_len()]);
    e.replace.insert(10, vec![250; ds.image_len()]);
    let o = tempfile::tempdir().unwrap();
    let written = load(&release(&src, Split::Train, &o.path().join("r"), &e), Split::Train);
    let mem = ds.edited(&e).unwrap();
    assert_eq!((mem.images.clone(), mem.labels.clone()), (written.images, written.labels));
    assert_eq!(mem.ids.len(), 9);
    e.replace.insert(12, vec![0; ds.image_len()]);
    assert!(ds.edited(&e).unwrap_err().to_string().contains("replace index 12 out of range"), "edits are checked");
}
