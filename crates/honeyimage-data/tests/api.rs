//! The in-memory `Dataset` helpers, the `Split`/`Format` names and
//! `write_atomic`.

use honeyimage_data::{write_atomic, Dataset, Edits, Error, Format, Split};

fn tiny() -> Dataset {
    Dataset {
        images: (0..12).collect(),
        labels: vec![1, 0, 1],
        height: 2,
        width: 2,
        channels: 1,
        class_names: vec!["a".into(), "b".into()],
        ids: vec!["x".into(), "y".into(), "z".into()],
    }
}

#[test]
fn dataset_helpers() {
    let d = tiny();
    assert_eq!((d.len(), d.is_empty(), d.num_classes(), d.image_len()), (3, false, 2, 4));
    assert_eq!(d.image(1), &[4, 5, 6, 7]);
    assert_eq!(d.class_counts(), vec![1, 2]);
    d.validate().unwrap();
    let s = d.subset(&[2, 0, 2]);
    assert_eq!(s.ids, vec!["z", "x", "z"]);
    assert_eq!(s.labels, vec![1, 1, 1]);
    assert_eq!(s.image(1), d.image(0));
    let f = d.to_f32();
    assert_eq!(f.len(), 12);
    assert_eq!(f[11], 11.0 / 255.0);

    let mut bad = d.clone();
    bad.labels[2] = 2;
    assert!(matches!(bad.validate(), Err(Error::Invalid(m)) if m.contains("sample 2 (z)")));
    let mut bad = d.clone();
    bad.images.pop();
    assert!(bad.validate().is_err());
    let mut bad = d;
    bad.ids.pop();
    assert!(bad.validate().is_err());
}

#[test]
fn names_round_trip() {
    for f in Format::ALL {
        assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        assert_eq!(serde_json::from_str::<Format>(&format!("\"{f}\"")).unwrap(), f);
    }
    assert_eq!(Format::MedMnist.to_string(), "medmnist");
    assert_eq!(Format::ImageFolder.to_string(), "image-folder");
    assert_eq!("test".parse::<Split>().unwrap(), Split::Test);
    assert_eq!(Split::Train.to_string(), "train");
    let e = "val".parse::<Split>().unwrap_err();
    assert!(e.to_string().contains("\"val\""), "{e}");
    assert!("png".parse::<Format>().is_err());
}

#[test]
fn edits_validate() {
    let mut e = Edits::new();
    assert!(e.is_empty());
    e.validate(3, 4).unwrap();
    e.replace.insert(1, vec![0; 4]);
    e.validate(3, 4).unwrap();
    e.remove.insert(1);
    assert!(e.validate(3, 4).unwrap_err().to_string().contains("both removed and replaced"));
    e.remove.clear();
    e.remove.insert(3);
    assert!(e.validate(3, 4).unwrap_err().to_string().contains("out of range"));
}

#[test]
fn atomic_write() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("f.json");
    write_atomic(&p, b"one").unwrap();
    write_atomic(&p, b"two").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1, "no temp files left");
    let e = write_atomic(&t.path().join("missing/f"), b"x").unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}

#[test]
fn class_gaps_are_refused_unless_the_class_count_is_given() {
    let mk = |labels: Vec<u32>, k: usize| honeyimage_data::Dataset {
        images: vec![0; labels.len() * 4],
        ids: (0..labels.len()).map(|i| format!("s{i}")).collect(),
        labels,
        height: 2,
        width: 2,
        channels: 1,
        class_names: (0..k).map(|c| c.to_string()).collect(),
    };
    // One corrupt label 200 in a 3-class set: 201 inferred classes, 198 empty.
    let mut ds = mk(vec![0, 1, 2, 200], 201);
    assert_eq!(ds.missing_classes().len(), 197);
    let e = ds.check_classes(None).unwrap_err().to_string();
    assert!(e.contains("197 of 201 classes") && e.contains("3..=199") && e.contains("--num-classes"), "{e}");
    let e = ds.check_classes(Some(3)).unwrap_err().to_string();
    assert!(e.contains("sample 3 (s3) has label 200"), "{e}");
    // A split lacking its last class gets the stated count.
    let mut ds = mk(vec![0, 1, 0], 2);
    ds.check_classes(Some(4)).unwrap();
    assert_eq!(ds.num_classes(), 4);
    let mut ds = mk(vec![0, 2], 3);
    assert!(ds.check_classes(None).unwrap_err().to_string().contains("labels 1"));
    assert!(mk(vec![0, 1, 2], 3).check_classes(None).is_ok());
}
