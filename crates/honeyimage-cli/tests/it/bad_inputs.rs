//! A corpus of bad inputs fed to the real binary. Every one must end with
//! exit code 2, exactly one stderr line `error: …` that names the offending
//! file, value or URL, no panic, and no partial output (release folder, key,
//! work folder, model folder) left behind. All cases run; the failures are
//! listed together at the end.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};


use crate::common::*;

/// What one case runs and what it requires.
struct Spec {
    /// Arguments after the binary (which adds `--quiet`).
    args: Vec<String>,
    /// Substrings the single stderr line must contain (the file, value or URL first).
    expect: Vec<String>,
    /// Paths that must not exist afterwards.
    absent: Vec<PathBuf>,
    /// Extra environment (HONEYIMAGE_KEY_PASSPHRASE is always removed first).
    env: Vec<(&'static str, String)>,
}

/// Fixtures shared by the cases, and a fresh folder for each case.
struct Ctx<'a> {
    dir: PathBuf,
    shared: &'a Shared,
}

struct Shared {
    /// A valid key (28x28x1, 10 classes) for a release that does not exist.
    key: PathBuf,
    /// The same key, encrypted with the passphrase "right".
    encrypted_key: PathBuf,
    /// A model folder trained by `honeyimage train` on 28x28x1 images.
    model: PathBuf,
}

struct Case {
    name: &'static str,
    build: fn(&Ctx) -> Spec,
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn spec(args: Vec<String>, expect: &[&str], absent: Vec<PathBuf>) -> Spec {
    Spec { args, expect: strs(expect), absent, env: Vec::new() }
}

// ---------------------------------------------------------------- fixtures

fn idx_images(n: u32, h: u32, w: u32, pixels: &[u8]) -> Vec<u8> {
    let mut v = 0x0803u32.to_be_bytes().to_vec();
    for d in [n, h, w] {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(pixels);
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = 0x0801u32.to_be_bytes().to_vec();
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn pixels(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|j| ((j * 31 + seed * 97 + (j * j) % 13) % 256) as u8).collect()
}

/// An IDX folder `<dir>/idx` holding the given image and label file bytes.
fn idx_dir(dir: &Path, images: &[u8], labels: &[u8], gz: bool) -> PathBuf {
    let d = dir.join("idx");
    std::fs::create_dir_all(&d).unwrap();
    let sfx = if gz { ".gz" } else { "" };
    std::fs::write(d.join(format!("train-images-idx3-ubyte{sfx}")), images).unwrap();
    std::fs::write(d.join(format!("train-labels-idx1-ubyte{sfx}")), labels).unwrap();
    d
}

/// Valid IDX bytes: 10 images of 8x8 (the smallest a model takes), labels 0..9.
fn good_idx() -> (Vec<u8>, Vec<u8>) {
    let labels: Vec<u8> = (0..10).collect();
    (idx_images(10, 8, 8, &pixels(640, 1)), idx_labels(&labels))
}

/// CIFAR-10 records: label byte then 3072 pixel bytes.
fn cifar_records(labels: &[u8]) -> Vec<u8> {
    labels.iter().enumerate().flat_map(|(i, &l)| std::iter::once(l).chain(pixels(3072, i))).collect()
}

fn cifar_dir(dir: &Path, batch: &[u8]) -> PathBuf {
    let d = dir.join("cifar");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("data_batch_1.bin"), batch).unwrap();
    d
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// A zip archive of stored (uncompressed) members.
fn zip_stored(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let (time, date) = (0u16, 0x21u16); // 1980-01-01 00:00
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let mut common = Vec::new();
        common.extend(20u16.to_le_bytes()); // version needed
        common.extend(0u16.to_le_bytes()); // flags
        common.extend(0u16.to_le_bytes()); // stored
        common.extend(time.to_le_bytes());
        common.extend(date.to_le_bytes());
        common.extend(crc.to_le_bytes());
        common.extend((data.len() as u32).to_le_bytes());
        common.extend((data.len() as u32).to_le_bytes());
        common.extend((name.len() as u16).to_le_bytes());
        common.extend(0u16.to_le_bytes()); // extra length
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(&common);
        out.extend(name.as_bytes());
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // version made by
        central.extend(&common);
        central.extend(0u16.to_le_bytes()); // comment length
        central.extend(0u16.to_le_bytes()); // disk
        central.extend(0u16.to_le_bytes()); // internal attributes
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// A numpy `.npy` (format 1.0, header padded to 64 bytes).
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_s = if shape.len() == 1 {
        format!("({},)", shape[0])
    } else {
        format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
    };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    h.push_str(&" ".repeat(21 - shape[0].to_string().len()));
    let pad = 64 - (10 + h.len() + 1) % 64;
    h.push_str(&" ".repeat(pad));
    h.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend((h.len() as u16).to_le_bytes());
    v.extend(h.as_bytes());
    v.extend_from_slice(data);
    v
}

/// `<dir>/blood.npz` with the given members.
fn npz(dir: &Path, members: &[(&str, Vec<u8>)]) -> PathBuf {
    let p = dir.join("blood.npz");
    std::fs::write(&p, zip_stored(members)).unwrap();
    p
}

fn u8_images(n: usize) -> Vec<u8> {
    npy("|u1", &[n, 3, 3], &pixels(n * 9, 2))
}

fn i64_labels(labels: &[i64]) -> Vec<u8> {
    npy("<i8", &[labels.len(), 1], &labels.iter().flat_map(|l| l.to_le_bytes()).collect::<Vec<_>>())
}

fn png(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_raw(w, h, pixels((w * h * 3) as usize, 5)).unwrap().save(path).unwrap();
}

/// An image folder `<dir>/folder` with classes a and b, two 4x4 PNGs each.
fn folder(dir: &Path) -> PathBuf {
    let root = dir.join("folder");
    for c in ["a", "b"] {
        for i in 0..2 {
            png(&root.join(c).join(format!("{i}.png")), 4, 4);
        }
    }
    root
}

/// `<dir>/gt.csv` with `text`, beside `<dir>/images/a.png`.
fn csv(dir: &Path, text: &str) -> PathBuf {
    png(&dir.join("images/a.png"), 2, 2);
    let p = dir.join("gt.csv");
    std::fs::write(&p, text).unwrap();
    p
}


/// A loopback HTTP server answering every request per `behaviour`.
fn server(behaviour: &'static str) -> String {
    scripted_server(4, move |_, n| {
        let probs = |rows: usize, k: usize| format!("{{\"probabilities\":{}}}", uniform_rows(rows, k));
        match behaviour {
            "nan-string" => Some((200, format!("{{\"probabilities\":[{}]}}", vec![format!("[\"NaN\"{}]", ",0.1".repeat(9)); n].join(",")))),
            "eleven-classes" => Some((200, probs(n, 11))),
            "extra-row" => Some((200, probs(n + 1, 10))),
            "empty" => Some((200, String::new())),
            "404" => Some((404, "{\"error\":\"no such route\"}".to_string())),
            "hang-up" => None,
            _ => unreachable!(),
        }
    })
}

// ---------------------------------------------------------------- commands

/// `protect` with the cheapest settings; every output must stay absent.
fn protect(d: &Path, data: &Path, expect: &[&str]) -> Spec {
    protect_with(d, data, expect, &[])
}

fn protect_with(d: &Path, data: &Path, expect: &[&str], extra: &[&str]) -> Spec {
    let (out, key) = (d.join("rel"), d.join("owner.key"));
    let mut args = strs(&["protect", "--data", &s(data), "--out", &s(&out), "--key", &s(&key), "--count", "2", "--proxy-epochs", "1", "--steps", "1", "--no-baseline"]);
    args.extend(strs(extra));
    spec(args, expect, vec![out, key, d.join("rel.work")])
}

fn inspect(data: &Path, expect: &[&str]) -> Spec {
    spec(strs(&["inspect", "--data", &s(data)]), expect, vec![])
}

fn train(d: &Path, data: &Path, expect: &[&str], extra: &[&str]) -> Spec {
    let out = d.join("model");
    let mut args = strs(&["train", "--data", &s(data), "--out", &s(&out), "--epochs", "1", "--test-limit", "10"]);
    args.extend(strs(extra));
    spec(args, expect, vec![out, d.join("model.checkpoint")])
}

fn verify(key: &Path, target: &[&str], expect: &[&str]) -> Spec {
    let mut args = strs(&["verify", "--key", &s(key), "--retries", "0", "--timeout", "2", "--json"]);
    args.extend(strs(target));
    spec(args, expect, vec![])
}

/// The fixture key against an endpoint where nothing listens (port 9):
/// a key error must come before any connection.
fn verify_key(key: &Path, expect: &[&str]) -> Spec {
    verify(key, &["--endpoint", "http://127.0.0.1:9/v1/predict"], expect)
}

fn key_info(key: &Path, expect: &[&str]) -> Spec {
    spec(strs(&["key", "info", "--key", &s(key)]), expect, vec![])
}

fn endpoint(c: &Ctx, behaviour: &'static str) -> Spec {
    let url = server(behaviour);
    verify(&c.shared.key, &["--endpoint", &url], &[&url])
}

// ---------------------------------------------------------------- the corpus

const CASES: &[Case] = &[
    // IDX
    Case { name: "idx truncated image file", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im[..im.len() - 5], &lab, false);
        protect(&c.dir, &d, &["train-images-idx3-ubyte", "truncated"])
    }},
    Case { name: "idx truncated label file", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab[..lab.len() - 3], false);
        protect(&c.dir, &d, &["train-labels-idx1-ubyte", "truncated"])
    }},
    Case { name: "idx trailing bytes", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &[im, vec![0; 7]].concat(), &lab, false);
        protect(&c.dir, &d, &["train-images-idx3-ubyte", "trailing bytes"])
    }},
    Case { name: "idx wrong magic", build: |c| {
        let (mut im, lab) = good_idx();
        im[3] = 0x02;
        let d = idx_dir(&c.dir, &im, &lab, false);
        inspect(&d, &["train-images-idx3-ubyte", "magic"])
    }},
    Case { name: "idx label file with the image magic", build: |c| {
        let (im, _) = good_idx();
        let d = idx_dir(&c.dir, &im, &im, false);
        inspect(&d, &["train-labels-idx1-ubyte", "magic"])
    }},
    Case { name: "idx header claims 2^32 images of 65535x65535", build: |c| {
        let (_, lab) = good_idx();
        let d = idx_dir(&c.dir, &idx_images(u32::MAX, 65535, 65535, &[1; 64]), &lab, false);
        protect(&c.dir, &d, &["train-images-idx3-ubyte", "absurd size"])
    }},
    Case { name: "idx image/label count mismatch", build: |c| {
        let (im, _) = good_idx();
        let d = idx_dir(&c.dir, &im, &idx_labels(&[1, 2, 3]), false);
        train(&c.dir, &d, &["train-images-idx3-ubyte", "10 images but 3 labels"], &[])
    }},
    Case { name: "idx corrupt gzip", build: |c| {
        // A gzip header followed by a deflate block of the reserved type 3.
        let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        g.extend([0xff; 40]);
        let (_, lab) = good_idx();
        let d = idx_dir(&c.dir, &g, &lab, true);
        std::fs::write(d.join("train-labels-idx1-ubyte.gz"), &g[..10]).unwrap();
        protect(&c.dir, &d, &["train-images-idx3-ubyte.gz"])
    }},
    Case { name: "idx zero-size images", build: |c| {
        let d = idx_dir(&c.dir, &idx_images(3, 0, 4, &[]), &idx_labels(&[0, 1, 2]), false);
        protect(&c.dir, &d, &["train-images-idx3-ubyte", "zero-size"])
    }},
    Case { name: "idx images without a labels file", build: |c| {
        let d = c.dir.join("lonely");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("train-images-idx3-ubyte"), good_idx().0).unwrap();
        inspect(&d, &["lonely", "labels"])
    }},
    // CIFAR-10 binary
    Case { name: "cifar truncated batch", build: |c| {
        let mut b = cifar_records(&[1, 2, 3]);
        b.truncate(b.len() - 100);
        let d = cifar_dir(&c.dir, &b);
        protect(&c.dir, &d, &["data_batch_1.bin", "truncated"])
    }},
    Case { name: "cifar label byte 10", build: |c| {
        let d = cifar_dir(&c.dir, &cifar_records(&[1, 2, 10, 3]));
        protect(&c.dir, &d, &["data_batch_1.bin", "label 10"])
    }},
    Case { name: "cifar class names file of the wrong length", build: |c| {
        let d = cifar_dir(&c.dir, &cifar_records(&[1, 2]));
        std::fs::write(d.join("batches.meta.txt"), "cat\ndog\n").unwrap();
        inspect(&d, &["batches.meta.txt"])
    }},
    // MedMNIST npz
    Case { name: "npz that is not a zip", build: |c| {
        let p = c.dir.join("blood.npz");
        std::fs::write(&p, b"PK\x03\x04 certainly not a zip archive").unwrap();
        protect(&c.dir, &p, &["blood.npz"])
    }},
    Case { name: "npz float64 images", build: |c| {
        let p = npz(&c.dir, &[("train_images.npy", npy("<f8", &[2, 3, 3], &[0; 144])), ("train_labels.npy", i64_labels(&[0, 1]))]);
        protect(&c.dir, &p, &["train_images.npy", "<f8"])
    }},
    Case { name: "npz float labels holding NaN", build: |c| {
        let nan: Vec<u8> = [f64::NAN, 1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let p = npz(&c.dir, &[("train_images.npy", u8_images(2)), ("train_labels.npy", npy("<f8", &[2, 1], &nan))]);
        protect(&c.dir, &p, &["train_labels.npy", "integer labels"])
    }},
    Case { name: "npz image/label count mismatch", build: |c| {
        let p = npz(&c.dir, &[("train_images.npy", u8_images(3)), ("train_labels.npy", i64_labels(&[0, 1]))]);
        protect(&c.dir, &p, &["train_labels.npy"])
    }},
    Case { name: "npz without a labels array", build: |c| {
        let p = npz(&c.dir, &[("train_images.npy", u8_images(3))]);
        protect(&c.dir, &p, &["blood.npz", "no train split"])
    }},
    Case { name: "npz without a labels array (inspect)", build: |c| {
        let p = npz(&c.dir, &[("train_images.npy", u8_images(3)), ("test_labels.npy", i64_labels(&[0]))]);
        inspect(&p, &["blood.npz"])
    }},
    Case { name: "npz truncated array", build: |c| {
        let im = u8_images(3);
        let p = npz(&c.dir, &[("train_images.npy", im[..im.len() - 4].to_vec()), ("train_labels.npy", i64_labels(&[0, 1, 2]))]);
        inspect(&p, &["train_images.npy", "truncated"])
    }},
    Case { name: "npz negative label", build: |c| {
        let p = npz(&c.dir, &[("train_images.npy", u8_images(2)), ("train_labels.npy", i64_labels(&[0, -1]))]);
        inspect(&p, &["train_labels.npy", "label -1"])
    }},
    // image folder
    Case { name: "folder: text file named .png", build: |c| {
        let root = folder(&c.dir);
        std::fs::write(root.join("a/fake.png"), "this is text, not a PNG").unwrap();
        protect(&c.dir, &root, &["fake.png"])
    }},
    Case { name: "folder: mixed image sizes", build: |c| {
        let root = folder(&c.dir);
        png(&root.join("b/2.png"), 5, 4);
        protect(&c.dir, &root, &["2.png", "4x5x3"])
    }},
    Case { name: "folder: truncated PNG", build: |c| {
        let root = folder(&c.dir);
        let p = root.join("b/1.png");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        protect(&c.dir, &root, &["1.png"])
    }},
    Case { name: "folder: transparent PNG", build: |c| {
        let root = folder(&c.dir);
        image::RgbaImage::from_raw(4, 4, vec![0; 64]).unwrap().save(root.join("a/0.png")).unwrap();
        inspect(&root, &["0.png", "transparent"])
    }},
    Case { name: "folder: sub-folder inside a class folder", build: |c| {
        let root = folder(&c.dir);
        std::fs::create_dir_all(root.join("a/nested")).unwrap();
        inspect(&root, &["nested"])
    }},
    Case { name: "folder: no class folders", build: |c| {
        let root = c.dir.join("noclasses");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("readme.txt"), "x").unwrap();
        protect(&c.dir, &root, &["noclasses"])
    }},
    Case { name: "folder: only empty class folders (train)", build: |c| {
        let root = c.dir.join("empty-classes");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        train(&c.dir, &root, &["empty-classes"], &[])
    }},
    Case { name: "folder: only empty class folders (protect)", build: |c| {
        let root = c.dir.join("empty-classes");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        protect(&c.dir, &root, &["empty-classes"])
    }},
    // CSV index
    Case { name: "csv missing image column", build: |c| {
        let p = csv(&c.dir, "file,label\na,x\n");
        protect(&c.dir, &p, &["gt.csv:1", "missing column `image`"])
    }},
    Case { name: "csv row naming a missing image", build: |c| {
        let p = csv(&c.dir, "image,label\na,x\nghost,y\n");
        protect(&c.dir, &p, &["gt.csv:3", "ghost"])
    }},
    Case { name: "csv one-hot label that is not 0 or 1", build: |c| {
        let p = csv(&c.dir, "image,cat,dog\na,1.0,maybe\n");
        inspect(&p, &["gt.csv:2", "maybe"])
    }},
    Case { name: "csv empty file", build: |c| {
        let p = csv(&c.dir, "");
        protect(&c.dir, &p, &["gt.csv", "empty file"])
    }},
    Case { name: "csv row with too few fields", build: |c| {
        let p = csv(&c.dir, "image,cat,dog\na,1\n");
        inspect(&p, &["gt.csv:2", "fields"])
    }},
    // keys
    Case { name: "key with one flipped byte", build: |c| {
        let mut b = std::fs::read(&c.shared.key).unwrap();
        let i = b.len() * 2 / 3;
        b[i] ^= 0x04;
        let p = c.dir.join("flipped.key");
        std::fs::write(&p, b).unwrap();
        verify_key(&p, &["flipped.key", "integrity"])
    }},
    Case { name: "key for another release", build: |c| {
        let rel = c.dir.join("some-other-release");
        std::fs::create_dir_all(&rel).unwrap();
        std::fs::write(rel.join("x"), "x").unwrap();
        let mut sp = verify_key(&c.shared.key, &["fixture.key", "different release", "some-other-release"]);
        sp.args.extend(strs(&["--release", &s(&rel)]));
        sp
    }},
    Case { name: "truncated key", build: |c| {
        let b = std::fs::read(&c.shared.key).unwrap();
        let p = c.dir.join("cut.key");
        std::fs::write(&p, &b[..b.len() / 2]).unwrap();
        key_info(&p, &["cut.key"])
    }},
    Case { name: "empty key file", build: |c| {
        let p = c.dir.join("empty.key");
        std::fs::write(&p, "").unwrap();
        key_info(&p, &["empty.key"])
    }},
    Case { name: "JSON file that is not a key", build: |c| {
        let p = c.dir.join("config.json");
        std::fs::write(&p, "{\"format\":\"honeyimage-model\",\"version\":1}\n{}").unwrap();
        verify_key(&p, &["config.json"])
    }},
    Case { name: "key file that does not exist", build: |c| verify_key(&c.dir.join("nowhere.key"), &["nowhere.key"]) },
    Case { name: "encrypted key without a passphrase", build: |c| key_info(&c.shared.encrypted_key, &["fixture.key.age", "passphrase"]) },
    Case { name: "encrypted key with the wrong passphrase", build: |c| {
        let mut sp = key_info(&c.shared.encrypted_key, &["fixture.key.age", "wrong passphrase"]);
        sp.env.push(("HONEYIMAGE_KEY_PASSPHRASE", "wrong".into()));
        sp
    }},
    Case { name: "encrypted key with a missing passphrase file", build: |c| {
        let mut sp = verify_key(&c.shared.encrypted_key, &["no-such-pass.txt"]);
        sp.args.extend(strs(&["--passphrase-file", &s(&c.dir.join("no-such-pass.txt"))]));
        sp
    }},
    // models
    Case { name: "model folder that is not a model", build: |c| {
        let d = c.dir.join("not-a-model");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("notes.txt"), "hello").unwrap();
        verify(&c.shared.key, &["--model", &s(&d)], &["not-a-model"])
    }},
    Case { name: "model folder whose config.json is not JSON", build: |c| {
        let d = c.dir.join("bad-config");
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(&c.shared.model).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
        }
        std::fs::write(d.join("config.json"), "{\"format\": \"honeyimage-model\", ").unwrap();
        verify(&c.shared.key, &["--model", &s(&d)], &["bad-config", "config.json"])
    }},
    Case { name: "model folder with truncated weights", build: |c| {
        let d = c.dir.join("cut-model");
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(&c.shared.model).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
        }
        let w = d.join("model.safetensors");
        let b = std::fs::read(&w).unwrap();
        std::fs::write(&w, &b[..b.len() / 2]).unwrap();
        verify(&c.shared.key, &["--model", &s(&d)], &["cut-model", "model.safetensors"])
    }},
    Case { name: "model for other images than the key's", build: |c| {
        let k = c.dir.join("rgb32.key");
        make_key(&k, 32, 32, 3);
        verify(&k, &["--model", &s(&c.shared.model)], &[&s(&c.shared.model), "32x32x3"])
    }},
    Case { name: "truncated .onnx file", build: |c| {
        // The first bytes of an ONNX protobuf: ir_version, then a cut-off producer_name.
        let p = c.dir.join("suspect.onnx");
        std::fs::write(&p, b"\x08\x07\x12\x07pytorc").unwrap();
        verify(&c.shared.key, &["--model", &s(&p)], &["suspect.onnx"])
    }},
    Case { name: "random bytes as a .pt file", build: |c| {
        let p = c.dir.join("suspect.pt");
        std::fs::write(&p, pixels(4096, 9)).unwrap();
        verify(&c.shared.key, &["--model", &s(&p)], &["suspect.pt"])
    }},
    Case { name: "model file of an unknown kind", build: |c| {
        let p = c.dir.join("suspect.bin");
        std::fs::write(&p, b"x").unwrap();
        verify(&c.shared.key, &["--model", &s(&p)], &["suspect.bin"])
    }},
    // endpoints
    Case { name: "endpoint: NaN as a JSON string", build: |c| endpoint(c, "nan-string") },
    Case { name: "endpoint: 11 classes for a 10-class key", build: |c| endpoint(c, "eleven-classes") },
    Case { name: "endpoint: one row too many", build: |c| endpoint(c, "extra-row") },
    Case { name: "endpoint: empty body", build: |c| endpoint(c, "empty") },
    Case { name: "endpoint: HTTP 404", build: |c| endpoint(c, "404") },
    Case { name: "endpoint: hangs up without a reply", build: |c| endpoint(c, "hang-up") },
    Case { name: "endpoint: connection refused", build: |c| {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/v1/predict");
        verify(&c.shared.key, &["--endpoint", &url], &[&url])
    }},
    // flags
    Case { name: "protect --count 0", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab, false);
        let mut sp = protect(&c.dir, &d, &["count"]);
        let i = sp.args.iter().position(|a| a == "--count").unwrap();
        sp.args[i + 1] = "0".into();
        sp
    }},
    Case { name: "protect --epsilon nan", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab, false);
        protect_with(&c.dir, &d, &["epsilon", "NaN"], &["--epsilon", "nan"])
    }},
    Case { name: "protect --step adam", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab, false);
        protect_with(&c.dir, &d, &["adam", "sign or momentum"], &["--step", "adam"])
    }},
    Case { name: "protect --no-perturb --objective fit", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab, false);
        protect_with(&c.dir, &d, &["--no-perturb", "--objective"], &["--no-perturb", "--objective", "fit"])
    }},
    Case { name: "protect --count not a number", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab, false);
        let mut sp = protect(&c.dir, &d, &["--count", "lots"]);
        let i = sp.args.iter().position(|a| a == "--count").unwrap();
        sp.args[i + 1] = "lots".into();
        sp
    }},
    Case { name: "protect --data that does not exist", build: |c| protect(&c.dir, &c.dir.join("no-such-data"), &["no-such-data"]) },
    Case { name: "train --data that does not exist", build: |c| train(&c.dir, &c.dir.join("no-such-data"), &["no-such-data"], &[]) },
    Case { name: "train --epochs 0", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab, false);
        let mut sp = train(&c.dir, &d, &["epochs"], &[]);
        let i = sp.args.iter().position(|a| a == "--epochs").unwrap();
        sp.args[i + 1] = "0".into();
        sp
    }},
    Case { name: "train on images smaller than any model takes", build: |c| {
        let d = c.dir.join("small-images");
        std::fs::rename(idx_dir(&c.dir, &idx_images(10, 4, 4, &pixels(160, 1)), &idx_labels(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), false), &d).unwrap();
        train(&c.dir, &d, &["small-images", "4x4"], &[])
    }},
    Case { name: "train --batch-size 0", build: |c| {
        let (im, lab) = good_idx();
        let d = idx_dir(&c.dir, &im, &lab, false);
        train(&c.dir, &d, &["batch size"], &["--batch-size", "0"])
    }},
    Case { name: "verify --timeout 0", build: |c| {
        let mut sp = verify_key(&c.shared.key, &["--timeout 0"]);
        let i = sp.args.iter().position(|a| a == "--timeout").unwrap();
        sp.args[i + 1] = "0".into();
        sp
    }},
    Case { name: "verify --alpha 2", build: |c| {
        let mut sp = verify_key(&c.shared.key, &["--alpha 2"]);
        sp.args.extend(strs(&["--alpha", "2"]));
        sp
    }},
];

/// Runs one case; `Err` describes every way it fell short.
fn check(name: &str, sp: &Spec) -> Result<(), String> {
    let mut cmd = bin();
    cmd.args(&sp.args).env_remove("HONEYIMAGE_KEY_PASSPHRASE").env_remove("HONEYIMAGE_LOG").stdin(Stdio::null());
    for (k, v) in &sp.env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("binary runs");
    let err = stderr(&o);
    let mut problems = Vec::new();
    if o.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", o.status.code()));
    }
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 {
        problems.push(format!("{} non-empty stderr lines, expected 1", lines.len()));
    }
    if !lines.first().is_some_and(|l| l.starts_with("error:")) {
        problems.push("stderr does not start with `error:`".into());
    }
    if err.contains("panicked") || stdout(&o).contains("panicked") {
        problems.push("panicked".into());
    }
    for e in &sp.expect {
        if !err.contains(e.as_str()) {
            problems.push(format!("stderr lacks {e:?}"));
        }
    }
    for p in &sp.absent {
        if p.exists() {
            problems.push(format!("left behind {}", p.display()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {}\n    args: {:?}\n    stderr: {}\n    stdout: {}", problems.join("; "), sp.args, err.trim_end(), stdout(&o).trim_end()))
    }
}

#[test]
fn every_bad_input_gives_one_clear_error_line_and_leaves_nothing_behind() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // Shared fixtures: a key, its encrypted copy, one tiny trained model.
    let key = root.join("fixture.key");
    make_key(&key, 28, 28, 1);
    let encrypted_key = root.join("fixture.key.age");
    let o = bin()
        .args(["key", "encrypt", "--key", &s(&key), "--out", &s(&encrypted_key)])
        .env("HONEYIMAGE_KEY_PASSPHRASE", "right")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "key encrypt: {}", stderr(&o));
    let data = fmnist_subset(root, 200);
    let model = root.join("tiny-model");
    let o = run(&["train", "--data", &s(&data), "--epochs", "1", "--out", &s(&model), "--test-limit", "10"]);
    assert!(o.status.success(), "train: {}", stderr(&o));
    let shared = Shared { key, encrypted_key, model };
    let setup = t0.elapsed();

    assert!(CASES.len() >= 32, "only {} cases", CASES.len());
    // Two workers: each case is one short process, mostly libtorch start-up.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, Result<(), String>, Duration)> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                sc.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(case) = CASES.get(i) else { break done };
                        let dir = root.join(format!("case-{i:02}"));
                        std::fs::create_dir_all(&dir).unwrap();
                        let sp = (case.build)(&Ctx { dir, shared: &shared });
                        let t = Instant::now();
                        done.push((i, check(case.name, &sp), t.elapsed()));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let mut results = results;
    results.sort_by_key(|r| r.0);
    let slowest = results.iter().max_by_key(|r| r.2).map(|r| (r.2, CASES[r.0].name)).unwrap();
    let failures: Vec<String> = results.into_iter().filter_map(|r| r.1.err()).collect();
    eprintln!(
        "{} bad-input cases in {:.1}s (setup {:.1}s, slowest {:?}: {:.1}s)",
        CASES.len(),
        t0.elapsed().as_secs_f64(),
        setup.as_secs_f64(),
        slowest.1,
        slowest.0.as_secs_f64()
    );
    assert!(failures.is_empty(), "{} of {} bad-input cases failed:\n\n{}", failures.len(), CASES.len(), failures.join("\n\n"));
}
