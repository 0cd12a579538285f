//! Helpers shared by the fuzz targets: a per-process scratch directory (in
//! /dev/shm when it exists, so file-based readers run at RAM speed), small
//! input splitters, and the "open + load every split" driver. Any `Err` from
//! a reader is fine; a panic, abort, timeout or huge allocation is a bug.

use honeyimage_data::{DataSource, Edits, Split};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A `w`x`h` image with `c` channels (1 gray, 3 RGB, 4 opaque RGBA) of
/// deterministic pixels, encoded as `format`.
pub fn encode_image(format: image::ImageFormat, w: u32, h: u32, c: usize, seed: u8) -> Vec<u8> {
    let px: Vec<u8> = (0..(w * h) as usize * c)
        .map(|j| if c == 4 && j % 4 == 3 { 255 } else { (j as u8).wrapping_mul(37).wrapping_add(seed) })
        .collect();
    let img: image::DynamicImage = match c {
        1 => image::GrayImage::from_raw(w, h, px).unwrap().into(),
        3 => image::RgbImage::from_raw(w, h, px).unwrap().into(),
        4 => image::RgbaImage::from_raw(w, h, px).unwrap().into(),
        _ => panic!("channels"),
    };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A valid 4x4 RGB PNG: kept beside fuzzed inputs so they are compared with a real image.
pub fn ref_png_rgb() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| encode_image(image::ImageFormat::Png, 4, 4, 3, 0))
}

/// A valid 4x4 grayscale PNG.
pub fn ref_png_gray() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| encode_image(image::ImageFormat::Png, 4, 4, 1, 0))
}

/// The process's scratch directory, `<shm or tmp>/honeyimage-fuzz-<pid>`,
/// created once. libFuzzer exits without running destructors, so instead of
/// relying on a drop, each process removes the directories of fuzz processes
/// that no longer exist when it starts.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(pid) = name.strip_prefix("honeyimage-fuzz-") else { continue };
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("honeyimage-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create a scratch directory");
        dir
    })
}

/// `scratch()/name`, emptied (created fresh) for this iteration.
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = scratch().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("cannot create the dataset directory");
    d
}

/// Write `bytes` to `path` (parents created); panics only on a scratch-disk failure.
pub fn put(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("cannot write a fuzz input file");
}

/// A byte cursor over the fuzz input, for the few structure bytes a target
/// takes before its payload. Reads past the end give zeros / empty slices.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the fuzz input.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    /// One byte (0 at the end).
    pub fn byte(&mut self) -> u8 {
        let b = self.data.first().copied().unwrap_or(0);
        self.data = self.data.get(1..).unwrap_or(&[]);
        b
    }
    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    /// A little-endian u64.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }
    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }
    /// A piece whose length is a u16 prefix (clamped to what is left).
    pub fn piece(&mut self) -> &'a [u8] {
        let n = self.u16() as usize;
        self.take(n)
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(usize::MAX)
    }
}

/// Open the dataset at `path` (format auto-detected) and load every split it
/// has; returns how many splits loaded, and checks what loaded is consistent.
/// Set `HONEYIMAGE_FUZZ_DEBUG=1` to print each reader's result (for checking
/// that the seeds load), e.g. `target-ci/debug/idx seeds/idx/*`.
pub fn open_and_load(path: &Path) -> usize {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    let debug = *DEBUG.get_or_init(|| std::env::var_os("HONEYIMAGE_FUZZ_DEBUG").is_some());
    let src = match DataSource::open(path, None) {
        Ok(s) => s,
        Err(e) => {
            if debug {
                eprintln!("open: {e}");
            }
            return 0;
        }
    };
    let mut ok = 0;
    for split in [Split::Train, Split::Test] {
        let _ = src.has_split(split);
        let loaded = src.load(split);
        if debug {
            match &loaded {
                Ok(ds) => eprintln!("{split}: {} samples {}x{}x{}, {} classes", ds.len(), ds.height, ds.width, ds.channels, ds.num_classes()),
                Err(e) => eprintln!("{split}: {e}"),
            }
        }
        if let Ok(ds) = loaded {
            // `load` validated it; these must then hold (and not panic).
            assert!(ds.validate().is_ok());
            assert_eq!(ds.images.len(), ds.len() * ds.image_len());
            for i in 0..ds.len().min(4) {
                let _ = ds.image(i);
            }
            let _ = ds.class_counts();
            ok += 1;
            // A release re-reads the same outside bytes (and, for npz, rewrites
            // their headers): drop the first sample, re-encode the last.
            if ds.len() >= 2 {
                let mut edits = Edits::new();
                edits.remove.insert(0);
                edits.replace.insert(ds.len() - 1, ds.image(ds.len() - 1).iter().map(|p| !p).collect());
                let out = scratch().join("release");
                let _ = std::fs::remove_dir_all(&out);
                let _ = src.write_release(split, &out, &edits);
                let _ = std::fs::remove_dir_all(&out);
            }
        }
    }
    ok
}
