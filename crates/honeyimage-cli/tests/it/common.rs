//! Helpers shared by the integration tests: the binary, real data subsets.
#![allow(dead_code)]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use honeyimage::key::{self, Bytes, DatasetInfo, KeyBody, KeySample, ReleaseInfo};

use honeyimage_data::{DataSource, Edits, Split};

pub const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_honeyimage"));
    c.arg("--quiet");
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn fmnist() -> &'static Path {
    let p = Path::new(FMNIST);
    assert!(p.exists(), "{FMNIST} is missing: run scripts/setup.sh");
    p
}

/// A real Fashion-MNIST IDX folder with only the first `n` training images.
pub fn fmnist_subset(dir: &Path, n: usize) -> PathBuf {
    fmnist_range(dir, 0, n)
}

/// A real Fashion-MNIST IDX folder with training images `start..end`.
pub fn fmnist_range(dir: &Path, start: usize, end: usize) -> PathBuf {
    let out = dir.join(format!("fmnist-{start}-{end}"));
    let src = DataSource::open(fmnist(), None).unwrap();
    let edits = Edits { remove: (0..start).chain(end..60_000).collect(), ..Edits::default() };
    src.write_release(Split::Train, &out, &edits).unwrap();
    out
}

pub fn sha(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}


/// A valid key for a made-up 10-class dataset of `h`x`w`x`c` images (10
/// released, 10 withheld), for tests that need a key but no protection run.
pub fn make_key(path: &Path, h: usize, w: usize, c: usize) {
    let sample = |i: usize| KeySample {
        id: format!("train:{i:05}"),
        index: i,
        label: (i % 10) as u32,
        hardness: 3.0,
        proxy_loss: 3.0,
        honey: Bytes(vec![(i * 7 % 256) as u8; h * w * c]),
        original: Bytes(vec![0; h * w * c]),
    };
    let body = KeyBody {
        tool_version: "test".into(),
        params: Default::default(),
        split: Default::default(),
        commitment_nonce: String::new(),
        dataset: DatasetInfo {
            format: "idx".into(),
            split: "train".into(),
            source: "x".into(),
            samples: 100,
            height: h,
            width: w,
            channels: c,
            class_names: (0..10).map(|i| i.to_string()).collect(),
            fingerprint: "0".into(),
        },
        release: ReleaseInfo { samples: 90, fingerprint: "0".into() },
        released: (0..10).map(sample).collect(),
        withheld: (10..20).map(sample).collect(),
        summary: serde_json::json!({}),
        recipient: None,
    };
    key::save(&body, path).unwrap();
}

/// `n` JSON rows of `k` equal probabilities.
pub fn uniform_rows(n: usize, k: usize) -> String {
    let row = format!("[{}]", vec![format!("{}", 1.0 / k as f64); k].join(","));
    format!("[{}]", vec![row; n].join(","))
}

/// A loopback HTTP server for client tests: for each of the first `max`
/// connections it reads one request and answers `answer(connection index,
/// images in the request)`: `Some((status, body))`, or `None` to hang up.
/// Returns the predict URL.
pub fn scripted_server(max: usize, answer: impl Fn(usize, usize) -> Option<(u16, String)> + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/predict", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for (i, conn) in l.incoming().take(max).enumerate() {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let n = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["shape"][0].as_u64()).unwrap_or(1) as usize;
            let Some((status, reply)) = answer(i, n) else { continue };
            let _ = write!(c, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len());
        }
    });
    url
}
