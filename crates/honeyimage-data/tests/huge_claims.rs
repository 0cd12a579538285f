//! Regression tests for fuzzer findings (see FUZZING.md): a header or a label
//! that claims a huge size must be refused without a huge allocation. A
//! counting global allocator records the largest single allocation, so an
//! allocation made "on the file's word" fails the test instead of passing
//! silently thanks to overcommit.

mod common;

use common::*;
use honeyimage_data::{DataSource, Error, Split};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LARGEST.fetch_max(new, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Tests share the allocation counter: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Load the train split of `path`; returns the error and the largest single
/// allocation made meanwhile.
fn load_err(path: &Path) -> (Error, usize) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    LARGEST.store(0, Ordering::Relaxed);
    let e = DataSource::open(path, None).and_then(|s| s.load(Split::Train)).unwrap_err();
    (e, LARGEST.load(Ordering::Relaxed))
}

const LIMIT: usize = 256 << 20;

/// Patch the uncompressed size of zip member `name` in both its local header
/// and its central-directory entry.
fn lie_about_size(zip: &mut [u8], name: &[u8], size: u32) {
    let mut i = 0;
    let mut patched = false;
    while i + 46 <= zip.len() {
        if zip[i..i + 4] == *b"PK\x01\x02" {
            let n = u16::from_le_bytes([zip[i + 28], zip[i + 29]]) as usize;
            if &zip[i + 46..i + 46 + n] == name {
                zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
                let local = u32::from_le_bytes(zip[i + 42..i + 46].try_into().unwrap()) as usize;
                zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
                patched = true;
            }
        }
        i += 1;
    }
    assert!(patched);
}

/// Fuzzer finding (npz): the zip directory said a 300-byte member is 2 GiB
/// uncompressed, and `read_member` reserved that much before reading.
#[test]
fn npz_member_lying_about_its_size() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bloodmnist.npz");
    write_zip(&p, &[("train_images.npy", npy("|u1", &[2, 2, 2], &[0; 8]), false), ("train_labels.npy", npy("|u1", &[2], &[0, 1]), false)]);
    let mut z = std::fs::read(&p).unwrap();
    lie_about_size(&mut z, b"train_labels.npy", 0x8000_0800);
    std::fs::write(&p, &z).unwrap();
    let (e, largest) = load_err(&p);
    assert!(e.to_string().contains("train_labels.npy"), "{e}");
    assert!(largest < LIMIT, "allocated {largest} bytes for a {}-byte file", z.len());
}

/// Fuzzer finding (npz): without a class-names file, the classes are "0" to
/// the largest label, so one label of 2^34 allocated 2^34 names.
#[test]
fn npz_absurd_label_without_class_names() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bloodmnist.npz");
    for (descr, bytes) in [("<u8", (1u64 << 34).to_le_bytes().to_vec()), ("<i4", 100_000i32.to_le_bytes().to_vec())] {
        let labels = npy(descr, &[2], &[bytes.clone(), vec![0; bytes.len()]].concat());
        write_zip(&p, &[("train_images.npy", npy("|u1", &[2, 2, 2], &[0; 8]), true), ("train_labels.npy", labels, true)]);
        let (e, largest) = load_err(&p);
        assert!(matches!(e, Error::TooLarge { .. }) && e.to_string().contains("train_labels.npy"), "{e}");
        assert!(largest < LIMIT, "allocated {largest} bytes");
    }
    // The largest label that is still accepted.
    let labels = npy("<i4", &[2], &[99_999i32.to_le_bytes(), [0; 4]].concat());
    write_zip(&p, &[("train_images.npy", npy("|u1", &[2, 2, 2], &[0; 8]), true), ("train_labels.npy", labels, true)]);
    let ds = DataSource::open(&p, None).unwrap().load(Split::Train).unwrap();
    assert_eq!(ds.num_classes(), 100_000);
}
