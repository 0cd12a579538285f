//! Fixture builders and comparison helpers shared by the integration tests:
//! every test dataset is synthesised here in a temp dir, in its real format.
#![allow(dead_code)]

use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use honeyimage_data::{Dataset, Edits};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// Deterministic pixel bytes.
pub fn px(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|j| ((j * 31 + seed * 97 + (j * j) % 13) % 256) as u8).collect()
}

/// Every file under `dir`, by '/'-joined relative path.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

pub fn idx_images(n: usize, h: usize, w: usize, pixels: &[u8]) -> Vec<u8> {
    let mut v = 0x0803u32.to_be_bytes().to_vec();
    for d in [n, h, w] {
        v.extend((d as u32).to_be_bytes());
    }
    v.extend_from_slice(pixels);
    v
}

pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = 0x0801u32.to_be_bytes().to_vec();
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

/// Write `{prefix}-images-idx3-ubyte[.gz]` and labels with `n` 5x4 images.
pub fn make_idx(dir: &Path, prefix: &str, n: usize, gzip: bool) {
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let images = idx_images(n, 5, 4, &px(n * 20, n));
    let sfx = if gzip { ".gz" } else { "" };
    let enc = |b: Vec<u8>| if gzip { gz(&b) } else { b };
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{sfx}")), enc(images)).unwrap();
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{sfx}")), enc(idx_labels(&labels))).unwrap();
}

/// CIFAR record: label byte(s) then CHW planar pixels.
pub fn cifar_records(n: usize, labels: &[u8], seed: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        v.extend_from_slice(labels);
        v.extend(px(3072, seed * 100 + i));
    }
    v
}

/// A numpy-style `.npy` (format 1.0, header padded to 64 bytes).
pub fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
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

/// Write a zip of `(name, bytes, deflated)` members.
pub fn write_zip(path: &Path, members: &[(&str, Vec<u8>, bool)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes, deflate) in members {
        let m = if *deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        z.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(m)).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

/// `(name, raw compressed bytes, decompressed bytes)` of each zip member, in order.
pub fn zip_members(path: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut raw = Vec::new();
            let name = {
                let mut f = z.by_index_raw(i).unwrap();
                f.read_to_end(&mut raw).unwrap();
                f.name().unwrap().to_string()
            };
            let mut plain = Vec::new();
            z.by_index(i).unwrap().read_to_end(&mut plain).unwrap();
            (name, raw, plain)
        })
        .collect()
}

/// A MedMNIST-like npz: train (n) / val (2) / test (3) of HxW[xC] uint8, int64 [N,1] labels.
pub fn make_npz(path: &Path, n: usize, shape: &[usize]) {
    let len: usize = shape.iter().product();
    let mut members = Vec::new();
    for (split, count, deflate) in [("train", n, true), ("val", 2, false), ("test", 3, true)] {
        let mut s = vec![count];
        s.extend_from_slice(shape);
        let labels: Vec<u8> = (0..count).flat_map(|i| ((i % 4) as i64).to_le_bytes()).collect();
        members.push((format!("{split}_images.npy"), npy("|u1", &s, &px(count * len, count)), deflate));
        members.push((format!("{split}_labels.npy"), npy("<i8", &[count, 1], &labels), deflate));
    }
    let m: Vec<(&str, Vec<u8>, bool)> = members.iter().map(|(a, b, c)| (a.as_str(), b.clone(), *c)).collect();
    write_zip(path, &m);
}

pub fn save_png(path: &Path, w: u32, h: u32, channels: usize, seed: usize) {
    save_as(path, w, h, channels, seed, image::ImageFormat::Png)
}

pub fn save_as(path: &Path, w: u32, h: u32, channels: usize, seed: usize, f: image::ImageFormat) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let p = px((w * h) as usize * channels, seed);
    let img: image::DynamicImage = match channels {
        1 => image::GrayImage::from_raw(w, h, p).unwrap().into(),
        3 => image::RgbImage::from_raw(w, h, p).unwrap().into(),
        4 => image::RgbaImage::from_raw(w, h, p.chunks(4).flat_map(|c| [c[0], c[1], c[2], 255]).collect())
            .unwrap()
            .into(),
        _ => unreachable!(),
    };
    img.save_with_format(path, f).unwrap();
}

/// Edits touching the start, middle and end of a split of `n` samples.
pub fn sample_edits(n: usize, image_len: usize) -> Edits {
    let mut e = Edits::new();
    e.remove.extend([1, n - 1]);
    e.replace.insert(0, px(image_len, 999));
    e.replace.insert(2, vec![7; image_len]);
    e
}

/// Check `new` is `orig` with `edits` applied (ids compared when `file_ids`).
pub fn check_edited(orig: &Dataset, new: &Dataset, edits: &Edits, file_ids: bool) {
    let kept: Vec<usize> = (0..orig.len()).filter(|i| !edits.remove.contains(i)).collect();
    assert_eq!(new.len(), orig.len() - edits.remove.len());
    assert_eq!((new.height, new.width, new.channels), (orig.height, orig.width, orig.channels));
    assert_eq!(new.class_names, orig.class_names);
    for (j, &i) in kept.iter().enumerate() {
        assert_eq!(new.labels[j], orig.labels[i], "label of kept sample {i}");
        let want = edits.replace.get(&i).map_or(orig.image(i), |v| v.as_slice());
        assert_eq!(new.image(j), want, "pixels of kept sample {i}");
        if file_ids {
            assert_eq!(new.ids[j], orig.ids[i]);
        }
    }
}
