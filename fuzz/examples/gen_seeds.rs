//! Writes the small, valid seed inputs of every fuzz target into
//! `fuzz/seeds/<target>/`, in each target's input layout (see the comment at
//! the top of each `fuzz_targets/*.rs`). Run from `fuzz/`:
//!
//! ```text
//! CARGO_TARGET_DIR=target-ci cargo run --example gen_seeds
//! ```
use honeyimage_format::key::{self, Bytes, DatasetInfo, KeyBody, KeySample, ReleaseInfo, RwSplit};
use honeyimage_format::protocol::PredictRequest;
use honeyimage_fuzz::encode_image;
use image::ImageFormat;
use std::io::Write;
use std::path::Path;

fn seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(bytes.len() <= 10 * 1024, "seed {target}/{name} is {} bytes", bytes.len());
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A structure byte, then u16-length-prefixed pieces, then the last piece as is.
fn framed(first: &[u8], pieces: &[&[u8]], last: &[u8]) -> Vec<u8> {
    let mut v = first.to_vec();
    for p in pieces {
        v.extend((p.len() as u16).to_le_bytes());
        v.extend_from_slice(p);
    }
    v.extend_from_slice(last);
    v
}

fn px(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|j| ((j * 31 + seed * 97 + (j * j) % 13) % 256) as u8).collect()
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn idx_images(n: usize, h: usize, w: usize) -> Vec<u8> {
    let mut v = 0x0803u32.to_be_bytes().to_vec();
    for d in [n, h, w] {
        v.extend((d as u32).to_be_bytes());
    }
    v.extend(px(n * h * w, n));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = 0x0801u32.to_be_bytes().to_vec();
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn cifar(n: usize, label: &[u8]) -> Vec<u8> {
    (0..n).flat_map(|i| label.iter().copied().chain(px(3072, i))).collect()
}

/// numpy `.npy`, format 1.0, header padded like numpy does.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_s = if shape.len() == 1 {
        format!("({},)", shape[0])
    } else {
        format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
    };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let pad = 64 - (10 + h.len() + 1) % 64;
    h.push_str(&" ".repeat(pad));
    h.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend((h.len() as u16).to_le_bytes());
    v.extend(h.as_bytes());
    v.extend_from_slice(data);
    v
}

fn zip_of(members: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let m = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    for (name, bytes) in members {
        z.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(m)).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn key_body(h: usize, w: usize, c: usize) -> KeyBody<serde_json::Value> {
    let s = |i: usize| KeySample {
        id: format!("train:{i:05}"),
        index: i,
        label: (i % 2) as u32,
        hardness: 1.5,
        proxy_loss: 2.25,
        honey: Bytes(px(h * w * c, i)),
        original: Bytes(px(h * w * c, i + 7)),
    };
    KeyBody {
        tool_version: "0.1.0".into(),
        params: serde_json::json!({"count": 2, "seed": 42, "epsilon": 0.03}),
        dataset: DatasetInfo {
            format: "idx".into(),
            split: "train".into(),
            source: "/data/fashion".into(),
            samples: 10,
            height: h,
            width: w,
            channels: c,
            class_names: vec!["a".into(), "b".into(), "c".into()],
            fingerprint: "00ff".into(),
        },
        split: RwSplit::ClassBlind,
        commitment_nonce: String::new(),
        release: ReleaseInfo { samples: 9, fingerprint: "ff00".into() },
        released: vec![s(1), s(3)],
        withheld: vec![s(2)],
        summary: serde_json::json!({"gap": 0.5}),
        recipient: None,
    }
}

fn main() {
    // idx: mode, u16 len + images file, labels file.
    let (im, lab) = (idx_images(3, 2, 2), idx_labels(&[1, 2, 3]));
    seed("idx", "raw", &framed(&[0], &[&im], &lab));
    seed("idx", "gz-by-target", &framed(&[1], &[&im], &lab));
    seed("idx", "real-gzip", &framed(&[2], &[&gz(&im)], &gz(&lab)));
    seed("idx", "fashion-train-test", &framed(&[4 | 8], &[&idx_images(4, 3, 2)], &idx_labels(&[0, 9, 5, 3])));
    seed("idx", "empty", &framed(&[0], &[&idx_images(0, 1, 1)], &idx_labels(&[])));

    // cifar: flags, u16 len + names, u16 len + test batch, train batch.
    let names10: String = (0..10).map(|i| format!("class{i}\n")).collect();
    let names100: String = (0..100).map(|i| format!("c{i}\n")).collect();
    seed("cifar", "c10-train", &framed(&[0], &[b"", b""], &cifar(2, &[3])));
    seed("cifar", "c10-names-test", &framed(&[2 | 4], &[names10.as_bytes(), &cifar(1, &[9])], &cifar(1, &[0])));
    seed("cifar", "c10-two-batches", &framed(&[8 | 4], &[b"", &cifar(1, &[2])], &cifar(1, &[7])));
    seed("cifar", "c100-names-test", &framed(&[1 | 2 | 4], &[names100.as_bytes(), &cifar(1, &[3, 99])], &cifar(1, &[1, 42])));
    seed("cifar", "c100-train", &framed(&[1], &[b"", b""], &cifar(2, &[0, 5])));

    // npz: mode, u16 len + class names, then a zip (mode bit 0 clear) or
    // six u16-length-prefixed .npy members (mode bit 0 set).
    let labels = |n: usize, descr: &str, size: usize| -> Vec<u8> {
        let data: Vec<u8> = (0..n).flat_map(|i| {
            let mut b = ((i % 3) as u64).to_le_bytes()[..size].to_vec();
            if descr.starts_with('>') {
                b.reverse();
            }
            b
        }).collect();
        npy(descr, &[n, 1], &data)
    };
    let gray = |n: usize| npy("|u1", &[n, 2, 2], &px(n * 4, n));
    let rgb = |n: usize| npy("|u1", &[n, 2, 2, 3], &px(n * 12, n));
    let members = vec![
        ("train_images.npy", gray(3)),
        ("train_labels.npy", labels(3, "<i8", 8)),
        ("val_images.npy", gray(1)),
        ("val_labels.npy", labels(1, "<i8", 8)),
        ("test_images.npy", gray(2)),
        ("test_labels.npy", labels(2, "<i8", 8)),
    ];
    seed("npz", "zip-deflate", &framed(&[0], &[b""], &zip_of(&members, true)));
    seed("npz", "zip-stored-names", &framed(&[32], &[b"x\ny\nz\n"], &zip_of(&members[..2], false)));
    let parts: Vec<&[u8]> = members.iter().map(|(_, b)| b.as_slice()).collect();
    seed("npz", "members-stored", &framed(&[1], &[b"", parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]], b""));
    let rgbm = [rgb(2), labels(2, ">u2", 2), Vec::new(), Vec::new(), rgb(1), npy("|u1", &[1], &[1])];
    let r: Vec<&[u8]> = rgbm.iter().map(Vec::as_slice).collect();
    seed("npz", "members-rgb-deflate-names", &framed(&[1 | 2 | 4 | 32], &[b"a\nb\nc\n", r[0], r[1], r[2], r[3], r[4], r[5]], b""));
    let m4 = [gray(2), npy("<u4", &[2], &[1, 0, 0, 0, 0, 0, 0, 0])];
    seed("npz", "members-train-only", &framed(&[1 | 4 | 8 | 16], &[b"", &m4[0], &m4[1]], b""));

    // image_folder: extension byte (0 png, 1 jpg, 2 tif), then the image file.
    seed("image_folder", "png-rgb", &[&[0u8][..], &encode_image(ImageFormat::Png, 4, 4, 3, 9)].concat());
    seed("image_folder", "png-gray", &[&[0u8][..], &encode_image(ImageFormat::Png, 4, 4, 1, 9)].concat());
    seed("image_folder", "png-rgba", &[&[0u8][..], &encode_image(ImageFormat::Png, 4, 4, 4, 9)].concat());
    seed("image_folder", "png-5x3", &[&[0u8][..], &encode_image(ImageFormat::Png, 5, 3, 3, 1)].concat());
    seed("image_folder", "jpeg-rgb", &[&[1u8][..], &encode_image(ImageFormat::Jpeg, 4, 4, 3, 9)].concat());
    seed("image_folder", "jpeg-gray", &[&[1u8][..], &encode_image(ImageFormat::Jpeg, 8, 8, 1, 9)].concat());
    seed("image_folder", "tiff-rgb", &[&[2u8][..], &encode_image(ImageFormat::Tiff, 4, 4, 3, 9)].concat());
    seed("image_folder", "tiff-gray", &[&[2u8][..], &encode_image(ImageFormat::Tiff, 4, 4, 1, 9)].concat());

    // csv_index: the CSV text (images/a.png, images/b.png, images/g.png, c.png exist).
    seed("csv_index", "label-names", b"image,label\na,cat\nb,dog\nc,cat\n");
    seed("csv_index", "label-ints", b"image,label\na.png,0\nb,3\n");
    seed("csv_index", "one-hot", b"image,MEL,NV,BCC\na,1.0,0.0,0.0\nb,0.0,0.0,1.0\n");
    seed("csv_index", "bom-crlf-quoted", "\u{feff}image,\"label\"\r\n\"a\",\"x, y\"\r\n\r\nb,\"q\"\"z\"\r\n".as_bytes());
    seed("csv_index", "shape-mismatch", b"image,label\na,1\ng,0\n");

    // key: mode byte (even: whole file, odd: body only, the target adds the header).
    let k = key::encode(&key_body(2, 2, 1));
    seed("key", "full-gray", &[&[0u8][..], &k].concat());
    let nl = k.iter().position(|&b| b == b'\n').unwrap();
    seed("key", "body-gray", &[&[1u8][..], &k[nl + 1..]].concat());
    let k3 = key::encode(&key_body(2, 3, 3));
    let nl3 = k3.iter().position(|&b| b == b'\n').unwrap();
    seed("key", "body-rgb", &[&[1u8][..], &k3[nl3 + 1..]].concat());
    // Version 2: class-stratified, with a commitment nonce (mode 3: body
    // only, current version in the header).
    let nonce = "0123456789abcdef".repeat(4);
    let v2 = key::encode(&KeyBody { split: RwSplit::ClassStratified, commitment_nonce: nonce, ..key_body(2, 2, 1) });
    seed("key", "full-v2", &[&[0u8][..], &v2].concat());
    let nl2 = v2.iter().position(|&b| b == b'\n').unwrap();
    seed("key", "body-v2", &[&[3u8][..], &v2[nl2 + 1..]].concat());

    // http_request: max_batch selector (0:1 1:8 2:256 3:65536 4:usize::MAX 5:next u64), JSON body.
    let req = |n, h, w, c| serde_json::to_vec(&PredictRequest::new(&px(n * h * w * c, 1), n, h, w, c)).unwrap();
    seed("http_request", "batch2-gray", &[&[1u8][..], &req(2, 2, 2, 1)].concat());
    seed("http_request", "batch1-rgb", &[&[0u8][..], &req(1, 3, 2, 3)].concat());
    seed("http_request", "unbounded", &[&[4u8][..], &req(3, 1, 1, 1)].concat());
    seed("http_request", "u64-cap", &[&[5u8][..], &100u64.to_le_bytes(), &req(2, 2, 1, 3)].concat());

    // http_reply: kind (b % 3: 0 auto, 1 logits, 2 probabilities) and classes
    // (2 + b / 3), u16 expected rows, JSON body.
    let reply = |kind: u8, rows: u16, body: &str| [&[kind][..], &rows.to_le_bytes(), body.as_bytes()].concat();
    seed("http_reply", "auto-probs", &reply(0, 2, r#"{"probabilities":[[0.25,0.75],[1,0]]}"#));
    seed("http_reply", "logits", &reply(1, 2, r#"{"logits":[[1.5,-2,0.25],[0,0,1e3]]}"#));
    seed("http_reply", "declared-probs", &reply(2, 1, r#"{"probabilities":[[0.1,0.2,0.7]]}"#));
    seed("http_reply", "auto-logits", &reply(0, 1, r#"{"logits":[[-1e300,1e300]]}"#));
    seed("http_reply", "labels", &reply(24, 3, r#"{"labels":[3,0,9]}"#));
    seed("http_reply", "top-k", &reply(3, 2, r#"{"top_k":[[{"label":1,"score":0.91},{"label":2,"score":0.05}],[{"label":0,"score":1}]]}"#));
}
