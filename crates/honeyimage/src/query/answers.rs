//! A suspect's answers recorded elsewhere, replayed: for an owner who cannot
//! query the suspect directly (an auditor or a court's expert queries it; a
//! metered API is queried once and verified with several settings). The
//! query images are exported by `honeyimage key queries` as PNG files named
//! by the SHA-256 of their pixels, in no order that says which were
//! released; whoever queries writes one CSV row per image:
//!
//! ```text
//! image,0,1,2,...         image,label
//! <sha256>[.png],s0,s1,...  or  <sha256>[.png],3
//! ```
//!
//! (class scores, logits or probabilities, one column per class; or only
//! the top-1 class). Replay looks each queried image up by the hash of its
//! pixels, so an answer can never be matched to the wrong image, and an
//! image with no answer is an error that names it.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Answer, Oracle, OutputKind};
use crate::{Error, Result};

/// The SHA-256 (hex) of an image's u8 HWC pixels: its name in an export.
pub fn image_digest(pixels: &[u8]) -> String {
    crate::fsio::sha256_hex(pixels)
}

/// Writes the key's query images (released and withheld, the pixels
/// `verify` sends) into the new folder `out` as `<sha256>.png`, each
/// distinct image once; nothing in a name or the folder says which were
/// released. Written into a temporary sibling and renamed, so a killed
/// export leaves no `out`. Returns how many images were written.
#[cfg(feature = "torch")]
pub fn export_queries(key: &crate::key::KeyBody, out: &Path) -> Result<usize> {
    if out.exists() {
        return Err(Error::invalid("output folder", format!("{} already exists", out.display())));
    }
    let (h, w, c) = (key.dataset.height as u32, key.dataset.width as u32, key.dataset.channels);
    let color = match c {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        _ => return Err(Error::invalid("key", format!("{c} channels: PNG export takes 1 or 3"))),
    };
    let tmp = crate::fsio::tmp_sibling(out);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut names = std::collections::BTreeSet::new();
    for s in key.released.iter().chain(&key.withheld) {
        let name = format!("{}.png", image_digest(&s.honey.0));
        if names.insert(name.clone()) {
            let path = tmp.join(&name);
            image::save_buffer(&path, &s.honey.0, w, h, color).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        }
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    Ok(names.len())
}

/// Recorded answers, looked up by image digest.
#[derive(Debug, Clone)]
pub struct RecordedAnswers {
    path: PathBuf,
    kind: OutputKind,
    rows: HashMap<String, Row>,
}

#[derive(Debug, Clone, PartialEq)]
enum Row {
    Scores(Vec<f64>),
    Label(u32),
}

impl RecordedAnswers {
    /// Reads a CSV of answers; `kind` says what score columns hold (`Auto`:
    /// decided over all rows, as for a live suspect).
    pub fn open(path: &Path, kind: OutputKind) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let rows = parse(&text).map_err(|message| Error::Answers { path: path.to_path_buf(), message })?;
        Ok(RecordedAnswers { path: path.to_path_buf(), kind, rows })
    }

    /// How many distinct images have an answer.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the file had no answers.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// The rows of an answers CSV by image digest, or why they are unusable.
fn parse(text: &str) -> std::result::Result<HashMap<String, Row>, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| e.to_string())?.clone();
    if header.get(0) != Some("image") || header.len() < 2 {
        return Err("the first line must be `image,label` or `image,<one column per class>`".into());
    }
    let labels = header.len() == 2 && &header[1] == "label";
    let mut rows = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let digest = digest_of(&record[0]).ok_or_else(|| format!("line {line}: {:?} is not a SHA-256 image name (64 hex digits, optionally .png)", &record[0]))?;
        let row = if labels { Row::Label(parse_label(&record[1], line)?) } else { Row::Scores(parse_scores(&record, line)?) };
        match rows.get(&digest) {
            Some(old) if *old != row => return Err(format!("line {line}: image {digest} has two different answers")),
            _ => {
                rows.insert(digest, row);
            }
        }
    }
    if rows.is_empty() {
        return Err("no answers".into());
    }
    Ok(rows)
}

fn digest_of(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".png").unwrap_or(name).to_ascii_lowercase();
    (stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit())).then_some(stem)
}

fn parse_label(cell: &str, line: usize) -> std::result::Result<u32, String> {
    cell.parse().map_err(|_| format!("line {line}: label {cell:?} is not a class index"))
}

fn parse_scores(record: &csv::StringRecord, line: usize) -> std::result::Result<Vec<f64>, String> {
    record
        .iter()
        .skip(1)
        .enumerate()
        .map(|(j, cell)| match cell.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("line {line}, class {j}: {cell:?} is not a finite number")),
        })
        .collect()
}

impl Oracle for RecordedAnswers {
    fn describe(&self) -> String {
        format!("answers {}", self.path.display())
    }

    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        let len = h * w * c;
        let found: Vec<&Row> = (0..n)
            .map(|i| {
                let digest = image_digest(&images[i * len..(i + 1) * len]);
                self.rows.get(&digest).ok_or_else(|| Error::Answers {
                    path: self.path.clone(),
                    message: format!("no answer for query image {digest} (export the queries with `honeyimage key queries` and answer every one)"),
                })
            })
            .collect::<Result<_>>()?;
        let labels: Option<Vec<u32>> = found.iter().map(|r| if let Row::Label(l) = r { Some(*l) } else { None }).collect();
        Ok(match labels {
            Some(labels) => Answer::Labels(labels),
            // One file holds one kind of row, so every row here has scores.
            None => Answer::Scores { rows: found.iter().filter_map(|r| if let Row::Scores(s) = r { Some(s.clone()) } else { None }).collect(), kind: self.kind },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(b: u8) -> String {
        image_digest(&[b; 4])
    }

    #[test]
    fn scores_are_looked_up_by_the_images_pixels() {
        let text = format!("image,a,b\n{},0.1,0.9\n{}.png,2.0,-1.0\n", digest(1), digest(2));
        let mut o = RecordedAnswers { path: "a.csv".into(), kind: OutputKind::Logits, rows: parse(&text).unwrap() };
        let images = [[2u8; 4], [1u8; 4]].concat();
        assert_eq!(o.query(&images, 2, 2, 2, 1).unwrap(), Answer::Scores { rows: vec![vec![2.0, -1.0], vec![0.1, 0.9]], kind: OutputKind::Logits });
    }

    #[test]
    fn labels_replay_as_a_label_only_api() {
        let text = format!("image,label\n{},3\n", digest(7));
        let mut o = RecordedAnswers { path: "a.csv".into(), kind: OutputKind::Auto, rows: parse(&text).unwrap() };
        assert_eq!(o.query(&[7u8; 4], 1, 2, 2, 1).unwrap(), Answer::Labels(vec![3]));
    }

    #[test]
    fn a_missing_image_is_named() {
        let text = format!("image,label\n{},3\n", digest(7));
        let mut o = RecordedAnswers { path: "a.csv".into(), kind: OutputKind::Auto, rows: parse(&text).unwrap() };
        let e = o.query(&[8u8; 4], 1, 2, 2, 1).unwrap_err().to_string();
        assert!(e.contains(&digest(8)) && e.contains("a.csv"), "{e}");
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let d = digest(1);
        for (text, says) in [
            ("name,label\n".to_string(), "first line"),
            (format!("image,label\n{d},x\n"), "line 2: label"),
            (format!("image,a,b\n{d},0.1,NaN\n"), "line 2, class 1"),
            (format!("image,a,b\n{d},0.1\n"), "line 2"),
            ("image,label\nabc,1\n".to_string(), "SHA-256"),
            (format!("image,label\n{d},1\n{d},2\n"), "two different answers"),
            ("image,label\n".to_string(), "no answers"),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
        assert_eq!(parse(&format!("image,label\n{d},1\n{d},1\n")).unwrap().len(), 1, "a repeated identical answer is fine");
    }
}
