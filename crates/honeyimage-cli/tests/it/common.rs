//! Helpers shared by the integration tests: the binary, real data subsets.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

