//! CSV + images datasets (ISIC 2019 layout): a CSV whose `image` column names
//! files in a folder beside it, with either one-hot class columns
//! (`image,MEL,NV,...` holding 1.0/0.0) or a `label` column (class name or
//! integer). The CSV is split into lines with their original terminators, so a
//! release drops removed rows and keeps every other byte. Ids are the values
//! of the `image` column. A release holds the edited CSV, the whole image
//! sub-folder(s) minus removed samples (images stored directly beside the CSV:
//! only the referenced ones), with replaced images re-encoded losslessly.

use crate::folder::{decode_all, encode_like, is_image_name, IMAGE_EXTS};
use crate::fsutil::{self, file_name};
use crate::{Dataset, Edits, Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};

/// One data row.
struct Row {
    /// Index into `Table::lines`.
    line: usize,
    id: String,
    label: u32,
    /// Image dir (relative to the CSV's dir) and file within it.
    dir: PathBuf,
    file: PathBuf,
}

struct Table {
    text: Vec<u8>,
    /// Byte ranges of each line including its terminator.
    lines: Vec<(usize, usize)>,
    rows: Vec<Row>,
    class_names: Vec<String>,
}

fn split_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(ch),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Directories (relative to the CSV's dir) where images are looked for.
fn image_dirs(csv: &Path) -> Vec<PathBuf> {
    let stem = csv.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let base = stem.strip_suffix("_GroundTruth").unwrap_or(&stem);
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in [format!("{base}_Input"), base.to_string(), stem.clone(), "images".into(), String::new()] {
        let d = PathBuf::from(d);
        let full = csv.parent().unwrap_or(Path::new("")).join(&d);
        if !dirs.contains(&d) && (d.as_os_str().is_empty() || full.is_dir()) {
            dirs.push(d);
        }
    }
    dirs
}

/// (start, end) byte spans of the lines of `text`, newlines included.
fn line_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in text.iter().enumerate() {
        if *b == b'\n' {
            lines.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < text.len() {
        lines.push((start, text.len()));
    }
    lines
}

/// The (folder, file) of image `name` under `csv_dir`: the name as given
/// when it has an extension, else with each image extension, in each folder.
fn find_image(name: &str, dirs: &[PathBuf], csv_dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let rel = Path::new(name);
    let mut candidates: Vec<PathBuf> = IMAGE_EXTS[..4].iter().map(|e| PathBuf::from(format!("{name}.{e}"))).collect();
    if rel.extension().is_some() {
        candidates.insert(0, rel.into());
    }
    dirs.iter().find_map(|d| candidates.iter().find(|c| csv_dir.join(d).join(c).is_file()).map(|c| (d.clone(), c.clone())))
}

/// The class of a one-hot row: the one column holding 1 (others 0).
fn one_hot_label(f: &[String], class_cols: &[usize], header: &[String]) -> std::result::Result<String, String> {
    let mut hot = Vec::new();
    for &c in class_cols {
        match f[c].parse::<f64>() {
            Ok(1.0) => hot.push(c),
            Ok(0.0) => {}
            _ => return Err(format!("column `{}` holds {:?}, expected 0 or 1", header[c], f[c])),
        }
    }
    match hot[..] {
        [c] => Ok(header[c].clone()),
        [] => Err("no class column is 1".into()),
        _ => Err(format!("several class columns are 1: {}", hot.iter().map(|&c| header[c].as_str()).collect::<Vec<_>>().join(", "))),
    }
}

/// Class names of a `label` column: 0..=max for integer labels, else the
/// sorted distinct names.
fn class_names_of(raw_labels: &[String]) -> std::result::Result<Vec<String>, String> {
    if let Ok(ints) = raw_labels.iter().map(|l| l.parse::<u32>()).collect::<std::result::Result<Vec<_>, _>>() {
        let max = ints.iter().max().copied().unwrap_or(0);
        if max > 100_000 {
            return Err(format!("integer label {max} is implausibly large"));
        }
        return Ok((0..=max).map(|i| i.to_string()).collect());
    }
    Ok(raw_labels.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect())
}

fn parse(csv: &Path) -> Result<Table> {
    let text = fsutil::read(csv)?;
    let err = |line: usize, what: String| Error::Csv { path: csv.into(), line, what };
    let lines = line_spans(&text);
    let line_str = |i: usize| -> Result<&str> {
        let (a, b) = lines[i];
        let s = std::str::from_utf8(&text[a..b]).map_err(|_| err(i + 1, "not valid UTF-8".into()))?;
        Ok(s.trim_end_matches(['\n', '\r']))
    };
    if lines.is_empty() {
        return Err(err(1, "empty file, expected a header like `image,label`".into()));
    }
    let header = split_fields(line_str(0)?.trim_start_matches('\u{feff}'));
    let find = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let image_col = find("image").ok_or_else(|| err(1, format!("missing column `image` (header: {})", header.join(","))))?;
    let label_col = find("label");
    let class_cols: Vec<usize> = (0..header.len()).filter(|&c| c != image_col).collect();
    if label_col.is_none() && class_cols.is_empty() {
        return Err(err(1, "missing label columns: expected `label` or one-hot class columns".into()));
    }
    let dirs = image_dirs(csv);
    let csv_dir = csv.parent().unwrap_or(Path::new(""));
    let mut raw_labels = Vec::new();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for li in 1..lines.len() {
        let line = line_str(li)?;
        if line.trim().is_empty() {
            continue;
        }
        let f = split_fields(line);
        if f.len() != header.len() {
            return Err(err(li + 1, format!("{} fields, header has {}", f.len(), header.len())));
        }
        let name = &f[image_col];
        let rel = Path::new(name);
        if name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(err(li + 1, format!("bad image name {name:?}")));
        }
        if !seen.insert(name.clone()) {
            return Err(err(li + 1, format!("image {name:?} listed twice")));
        }
        let (dir, file) = find_image(name, &dirs, csv_dir).ok_or_else(|| {
            let looked: Vec<String> = dirs.iter().map(|d| csv_dir.join(d).display().to_string()).collect();
            err(li + 1, format!("unknown image {name:?}: no such file in {}", looked.join(", ")))
        })?;
        if !is_image_name(&file) {
            return Err(Error::NotAnImage { path: csv_dir.join(&dir).join(&file) });
        }
        let label = match label_col {
            Some(c) => f[c].clone(),
            None => one_hot_label(&f, &class_cols, &header).map_err(|what| err(li + 1, what))?,
        };
        raw_labels.push(label);
        rows.push(Row { line: li, id: name.clone(), label: 0, dir, file });
    }
    let class_names: Vec<String> = match label_col {
        None => class_cols.iter().map(|&c| header[c].clone()).collect(),
        Some(_) => class_names_of(&raw_labels).map_err(|what| err(1, what))?,
    };
    for (row, l) in rows.iter_mut().zip(&raw_labels) {
        row.label = class_names.iter().position(|c| c == l).unwrap_or(0) as u32;
    }
    Ok(Table { text, lines, rows, class_names })
}

pub(crate) fn load(csv: &Path) -> Result<Dataset> {
    let t = parse(csv)?;
    let dir = csv.parent().unwrap_or(Path::new(""));
    let files: Vec<PathBuf> = t.rows.iter().map(|r| dir.join(&r.dir).join(&r.file)).collect();
    let labels = t.rows.iter().map(|r| r.label).collect();
    let ids = t.rows.iter().map(|r| r.id.clone()).collect();
    decode_all(&files, labels, ids, t.class_names)
}

/// Image sub-folders a release copies whole (for the output-inside-input check).
pub(crate) fn copied_dirs(csv: &Path) -> Result<Vec<PathBuf>> {
    let dir = csv.parent().unwrap_or(Path::new(""));
    let t = parse(csv)?;
    let set: BTreeSet<&PathBuf> = t.rows.iter().map(|r| &r.dir).filter(|d| !d.as_os_str().is_empty()).collect();
    Ok(set.into_iter().map(|d| dir.join(d)).collect())
}

pub(crate) fn write_release(csv: &Path, ds: &Dataset, edits: &Edits, out_dir: &Path) -> Result<()> {
    let t = parse(csv)?;
    let dir = csv.parent().unwrap_or(Path::new(""));
    let removed_lines: HashSet<usize> = edits.remove.iter().filter_map(|&i| t.rows.get(i).map(|r| r.line)).collect();
    let mut out = Vec::with_capacity(t.text.len());
    for (i, &(a, b)) in t.lines.iter().enumerate() {
        if !removed_lines.contains(&i) {
            out.extend_from_slice(&t.text[a..b]);
        }
    }
    // Per image dir: files to skip when copying it (removed or replaced).
    let mut skip: BTreeMap<&PathBuf, HashSet<PathBuf>> = BTreeMap::new();
    for (i, r) in t.rows.iter().enumerate() {
        let entry = skip.entry(&r.dir).or_default();
        if !edits.keeps(i) || edits.replace.contains_key(&i) {
            entry.insert(r.file.clone());
        }
    }
    for (i, r) in t.rows.iter().enumerate() {
        let (src, dst) = (dir.join(&r.dir).join(&r.file), out_dir.join(&r.dir).join(&r.file));
        if let Some(px) = edits.replace.get(&i) {
            fsutil::write(&dst, &encode_like(&src, px, ds.height, ds.width, ds.channels)?)?;
        } else if edits.keeps(i) && r.dir.as_os_str().is_empty() {
            fsutil::copy(&src, &dst)?;
        }
    }
    for (d, skip) in skip.into_iter().filter(|(d, _)| !d.as_os_str().is_empty()) {
        fsutil::copy_tree(&dir.join(d), &out_dir.join(d), &skip)?;
    }
    fsutil::write(&out_dir.join(file_name(csv)), &out)
}
