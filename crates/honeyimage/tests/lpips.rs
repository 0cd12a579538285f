//! LPIPS matches the official `lpips` package (v0.1, AlexNet) on the same
//! weights: the package's learned linear heads and a seeded random AlexNet
//! (pretrained AlexNet weights cannot be downloaded here).
use std::path::Path;
use std::process::Command;

use honeyimage::lpips::Lpips;

fn reference(dir: &Path, size: [usize; 3], count: usize) -> (Vec<u8>, Vec<u8>, Vec<f64>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/lpips_reference.py");
    let s = size.map(|v| v.to_string());
    let o = Command::new("python3").args([script, dir.to_str().unwrap(), "--size", &s[0], &s[1], &s[2], "--count", &count.to_string()]).output().unwrap();
    assert!(o.status.success(), "reference script failed (is the lpips package installed? scripts/setup.sh does it): {}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let d = doc["distances"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    (std::fs::read(dir.join("a.u8")).unwrap(), std::fs::read(dir.join("b.u8")).unwrap(), d)
}

#[test]
fn lpips_matches_the_official_package_on_grey_and_colour_images() {
    for (size, count) in [([28, 28, 1], 6), ([32, 32, 3], 4), ([70, 96, 3], 3)] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, expected) = reference(dir.path(), size, count);
        let net = Lpips::load(&dir.path().join("weights.pt"), tch::Device::Cpu).unwrap();
        let got = net.distance(&a, &b, count, size[0], size[1], size[2]).unwrap();
        assert_eq!(got.len(), count);
        assert_eq!(got[0], 0.0, "identical images");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!((g - e).abs() <= 1e-4 * e.abs() + 1e-7, "{size:?} pair {i}: honeyimage {g} vs lpips {e}");
        }
        // More noise, larger distance (the reference pairs grow noisier).
        assert!(got.windows(2).all(|w| w[1] > w[0]), "{got:?}");
        // Symmetric.
        let back = net.distance(&b, &a, count, size[0], size[1], size[2]).unwrap();
        for (x, y) in got.iter().zip(&back) {
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1e-6), "{x} vs {y}");
        }
    }
}

#[test]
fn lpips_refuses_files_that_are_not_its_weights() {
    let dir = tempfile::tempdir().unwrap();
    let e = Lpips::load(&dir.path().join("missing.pt"), tch::Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("missing.pt"), "{e}");
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"not a state dict").unwrap();
    let e = Lpips::load(&junk, tch::Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("junk.pt"), "{e}");
    let net = Lpips::random(tch::Device::Cpu, 0);
    assert!(net.distance(&[0; 10], &[0; 10], 1, 28, 28, 1).is_err());
}
