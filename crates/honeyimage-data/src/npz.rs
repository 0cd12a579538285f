//! MedMNIST `.npz` archives: a zip of `.npy` arrays named `train_images`,
//! `train_labels`, `val_*`, `test_*`. The `.npy` header is a small Python dict
//! literal that we parse by hand; a release rewrites only the edited split's
//! two arrays (keeping their header text and dtype) and copies every other
//! member's compressed bytes verbatim, in the original order.

use crate::fsutil::{self, file_name};
use crate::{index_id, Dataset, Edits, Error, Result, Split, MAX_BYTES};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use zip::ZipArchive;

const MAGIC: &[u8] = b"\x93NUMPY";
/// Most classes a dataset without a class-names file may have (its largest
/// label plus one), as for integer labels in a CSV.
const MAX_CLASSES: i128 = 100_000;

/// A parsed `.npy` array (data kept as raw bytes).
struct Npy {
    descr: String,
    shape: Vec<usize>,
    /// Everything before the data: magic, version, header length, header text.
    prefix_len: usize,
    /// Offset of the header text (after the length field).
    text_start: usize,
    bytes: Vec<u8>,
}

impl Npy {
    fn data(&self) -> &[u8] {
        &self.bytes[self.prefix_len..]
    }
}

fn member_path(npz: &Path, member: &str) -> PathBuf {
    PathBuf::from(format!("{}:{member}", npz.display()))
}

/// Value text following `'key':` in a header dict.
fn dict_value<'a>(text: &'a str, key: &str, path: &Path) -> Result<&'a str> {
    [format!("'{key}'"), format!("\"{key}\"")]
        .iter()
        .find_map(|k| text.find(k.as_str()).map(|i| &text[i + k.len()..]))
        .and_then(|rest| rest.trim_start().strip_prefix(':'))
        .map(str::trim_start)
        .ok_or_else(|| Error::malformed(path, format!("npy header has no '{key}' entry")))
}

fn parse_npy(bytes: Vec<u8>, path: &Path) -> Result<Npy> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(Error::malformed(path, "not a .npy array (bad magic)"));
    }
    let (text_start, hlen) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (12, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        v => return Err(Error::malformed(path, format!("unsupported .npy version {v}"))),
    };
    let prefix_len = text_start + hlen;
    let text = bytes
        .get(text_start..prefix_len)
        .ok_or_else(|| Error::truncated(path, "file ends inside the .npy header"))?;
    let text = std::str::from_utf8(text).map_err(|_| Error::malformed(path, "npy header is not text"))?;
    let descr_v = dict_value(text, "descr", path)?;
    let q = descr_v.chars().next().filter(|c| *c == '\'' || *c == '"');
    let descr = q
        .and_then(|q| descr_v[1..].split(q).next())
        .ok_or_else(|| Error::malformed(path, "npy 'descr' is not a simple dtype string"))?
        .to_string();
    if dict_value(text, "fortran_order", path)?.starts_with("True") {
        return Err(Error::malformed(path, "Fortran-ordered arrays are not supported"));
    }
    let shape_v = dict_value(text, "shape", path)?;
    let inner = shape_v
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| Error::malformed(path, "npy 'shape' is not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::malformed(path, format!("bad npy shape ({inner})")))?;
    let item = itemsize(&descr).unwrap_or(1);
    let total = shape.iter().try_fold(item as u64, |a, &d| a.checked_mul(d as u64)).filter(|&t| t <= MAX_BYTES);
    let total = total.ok_or_else(|| Error::too_large(path, format!("shape {shape:?} of {descr} (limit {MAX_BYTES} bytes)")))?;
    let have = (bytes.len() - prefix_len.min(bytes.len())) as u64;
    if have < total {
        return Err(Error::truncated(path, format!("{have} data bytes, shape {shape:?} of {descr} needs {total}")));
    }
    if have > total {
        return Err(Error::malformed(path, format!("{have} data bytes, shape {shape:?} of {descr} needs only {total}")));
    }
    Ok(Npy { descr, shape, prefix_len, text_start, bytes })
}

/// Size of an integer/unsigned element type such as `<i8` or `|u1`.
fn itemsize(descr: &str) -> Option<usize> {
    let d = descr.trim_start_matches(['<', '>', '|', '=']);
    d.get(1..)?.parse().ok()
}

/// Decode integer labels, or explain why the dtype is not acceptable.
fn int_values(npy: &Npy, path: &Path) -> Result<Vec<i128>> {
    let big = npy.descr.starts_with('>');
    let d = npy.descr.trim_start_matches(['<', '>', '|', '=']);
    let (kind, size) = (d.chars().next(), itemsize(&npy.descr));
    let ok = matches!(kind, Some('i' | 'u')) && matches!(size, Some(1 | 2 | 4 | 8));
    let (Some(kind), Some(size), true) = (kind, size, ok) else {
        return Err(Error::Dtype { path: path.into(), what: format!("expected integer labels, got {}", npy.descr) });
    };
    Ok(npy
        .data()
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            if big {
                b[8 - size..].copy_from_slice(c);
                b.reverse();
            } else {
                b[..size].copy_from_slice(c);
            }
            let u = u64::from_le_bytes(b);
            if kind == 'i' {
                let shift = 64 - 8 * size as u32;
                i128::from(((u << shift) as i64) >> shift)
            } else {
                i128::from(u)
            }
        })
        .collect())
}

/// An opened `.npz` file.
#[derive(Debug, Clone)]
pub(crate) struct Npz {
    path: PathBuf,
    members: Vec<String>,
}

fn zip_err(path: &Path, e: zip::result::ZipError) -> Error {
    Error::malformed(path, format!("bad zip archive: {e}"))
}

fn open_zip(path: &Path) -> Result<ZipArchive<BufReader<File>>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    ZipArchive::new(BufReader::new(f)).map_err(|e| zip_err(path, e))
}

impl Npz {
    pub(crate) fn open(path: &Path) -> Result<Npz> {
        let zip = open_zip(path)?;
        let members = zip.file_names().map(|n| n.map(|n| n.to_string())).collect::<std::result::Result<_, _>>();
        Ok(Npz { path: path.into(), members: members.map_err(|e| zip_err(path, e))? })
    }

    fn member(&self, split: &str, kind: &str) -> Option<&str> {
        let base = format!("{split}_{kind}");
        self.members.iter().find(|m| **m == format!("{base}.npy") || **m == base).map(String::as_str)
    }

    pub(crate) fn has_split(&self, split: Split) -> bool {
        self.member(split.as_str(), "images").is_some() && self.member(split.as_str(), "labels").is_some()
    }

    /// The optional `<stem>_class_names.txt` beside the archive.
    pub(crate) fn names_file(&self) -> PathBuf {
        let stem = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        self.path.with_file_name(format!("{stem}_class_names.txt"))
    }

    fn read_member(&self, zip: &mut ZipArchive<BufReader<File>>, name: &str) -> Result<Npy> {
        let path = member_path(&self.path, name);
        let mut f = zip.by_name(name).map_err(|e| zip_err(&path, e))?;
        let size = f.size();
        if size > MAX_BYTES + 4096 {
            return Err(Error::too_large(&path, format!("member is {size} bytes uncompressed")));
        }
        // `size` comes from the zip directory and may lie: grow the buffer as
        // data arrives rather than reserving up to 2 GiB on its word.
        let mut bytes = Vec::with_capacity(size.min(1 << 26) as usize);
        (&mut f).take(size + 1).read_to_end(&mut bytes).map_err(|e| Error::malformed(&path, format!("cannot decompress: {e}")))?;
        if bytes.len() as u64 != size {
            return Err(Error::malformed(&path, format!("member holds {} bytes, directory says {size}", bytes.len())));
        }
        parse_npy(bytes, &path)
    }

    fn labels(&self, zip: &mut ZipArchive<BufReader<File>>, name: &str, n: Option<usize>) -> Result<(Npy, Vec<i128>)> {
        let path = member_path(&self.path, name);
        let npy = self.read_member(zip, name)?;
        let values = int_values(&npy, &path)?;
        if !(npy.shape.len() == 1 || (npy.shape.len() == 2 && npy.shape[1] == 1)) {
            return Err(Error::malformed(&path, format!("labels have shape {:?}; expected [N] or [N, 1] (multi-label data is not supported)", npy.shape)));
        }
        if let Some(n) = n.filter(|&n| n != values.len()) {
            return Err(Error::count(&path, format!("{} labels for {n} images", values.len())));
        }
        Ok((npy, values))
    }

    fn class_names(&self, zip: &mut ZipArchive<BufReader<File>>) -> Result<Vec<String>> {
        let f = self.names_file();
        if f.is_file() {
            let text = String::from_utf8(fsutil::read(&f)?).map_err(|_| Error::malformed(&f, "not UTF-8"))?;
            return Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect());
        }
        let mut max: i128 = -1;
        for s in ["train", "val", "test"] {
            if let Some(m) = self.member(s, "labels") {
                let m_max = self.labels(zip, m, None)?.1.into_iter().max().unwrap_or(-1);
                // Class names "0".."max" are made up from the largest label:
                // refuse an absurd one before allocating that many names.
                if m_max >= MAX_CLASSES {
                    return Err(Error::too_large(
                        &member_path(&self.path, m),
                        format!("label {m_max} implies {} classes (limit {MAX_CLASSES})", m_max + 1),
                    ));
                }
                max = max.max(m_max);
            }
        }
        Ok((0..=max).map(|i| i.to_string()).collect())
    }

    pub(crate) fn load(&self, split: Split) -> Result<Dataset> {
        let (Some(im), Some(lm)) = (self.member(split.as_str(), "images"), self.member(split.as_str(), "labels")) else {
            return Err(Error::MissingSplit { path: self.path.clone(), split });
        };
        let mut zip = open_zip(&self.path)?;
        let class_names = self.class_names(&mut zip)?;
        let ipath = member_path(&self.path, im);
        let images = self.read_member(&mut zip, im)?;
        if !matches!(images.descr.as_str(), "|u1" | "<u1" | ">u1" | "=u1" | "u1" | "|B") {
            return Err(Error::Dtype { path: ipath, what: format!("expected uint8 images, got {}", images.descr) });
        }
        let (n, h, w, c) = match images.shape[..] {
            [n, h, w] => (n, h, w, 1),
            [n, h, w, c @ (1 | 3)] => (n, h, w, c),
            _ => return Err(Error::malformed(&ipath, format!("images have shape {:?}; expected [N, H, W] or [N, H, W, 1|3]", images.shape))),
        };
        if h == 0 || w == 0 {
            return Err(Error::malformed(&ipath, format!("zero-size images ({h}x{w})")));
        }
        let lpath = member_path(&self.path, lm);
        let (_, values) = self.labels(&mut zip, lm, Some(n))?;
        let labels = values
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                u32::try_from(l).ok().filter(|&l| (l as usize) < class_names.len()).ok_or(Error::LabelOutOfRange {
                    path: lpath.clone(),
                    index: i,
                    label: l,
                    num_classes: class_names.len(),
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        Ok(Dataset {
            images: images.data().to_vec(),
            labels,
            height: h,
            width: w,
            channels: c,
            class_names,
            ids: (0..n).map(|i| index_id(split, i)).collect(),
        })
    }

    /// Write the edited archive (and the class-names file, if any) into `out_dir`.
    pub(crate) fn write_release(&self, split: Split, ds: &Dataset, edits: &Edits, out_dir: &Path) -> Result<()> {
        let (Some(im), Some(lm)) = (self.member(split.as_str(), "images"), self.member(split.as_str(), "labels")) else {
            return Err(Error::MissingSplit { path: self.path.clone(), split });
        };
        let mut zin = open_zip(&self.path)?;
        let images = self.read_member(&mut zin, im)?;
        let (labels, _) = self.labels(&mut zin, lm, Some(ds.len()))?;
        let kept: Vec<usize> = (0..ds.len()).filter(|&i| edits.keeps(i)).collect();
        let mut new_images = rewrite_header(&images, kept.len(), &member_path(&self.path, im))?;
        let mut new_labels = rewrite_header(&labels, kept.len(), &member_path(&self.path, lm))?;
        let row = labels.data().len() / ds.len().max(1);
        for &i in &kept {
            new_images.extend_from_slice(edits.replace.get(&i).map_or(ds.image(i), |v| v.as_slice()));
            new_labels.extend_from_slice(&labels.data()[i * row..(i + 1) * row]);
        }
        let out_path = out_dir.join(file_name(&self.path));
        let file = File::create(&out_path).map_err(|e| Error::io(&out_path, e))?;
        let mut zout = zip::ZipWriter::new(std::io::BufWriter::new(file));
        let werr = |e: zip::result::ZipError| Error::malformed(&out_path, format!("writing zip: {e}"));
        for i in 0..zin.len() {
            let entry = zin.by_index_raw(i).map_err(|e| zip_err(&self.path, e))?;
            let name = entry.name().map_err(|e| zip_err(&self.path, e))?.to_string();
            let data = if name == im { Some(&new_images) } else if name == lm { Some(&new_labels) } else { None };
            match data {
                None => zout.raw_copy_file(entry).map_err(werr)?,
                Some(bytes) => {
                    let opts = zip::write::SimpleFileOptions::default()
                        .compression_method(entry.compression())
                        .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
                    drop(entry);
                    zout.start_file(name, opts).map_err(werr)?;
                    zout.write_all(bytes).map_err(|e| Error::io(&out_path, e))?;
                }
            }
        }
        let mut w = zout.finish().map_err(werr)?;
        w.flush().map_err(|e| Error::io(&out_path, e))?;
        let names = self.names_file();
        if names.is_file() {
            fsutil::copy(&names, &out_dir.join(file_name(&names)))?;
        }
        Ok(())
    }
}

/// The original header with the first shape dimension set to `n`, padded to
/// its original length, so an unchanged array gets a byte-identical header.
fn rewrite_header(npy: &Npy, n: usize, path: &Path) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(&npy.bytes[npy.text_start..npy.prefix_len])
        .map_err(|_| Error::malformed(path, "npy header is not text"))?;
    let shape_at = text.find("shape").and_then(|i| text[i..].find('(').map(|j| i + j + 1));
    let shape_at = shape_at.ok_or_else(|| Error::malformed(path, "npy header has no shape tuple"))?;
    let digits = text[shape_at..].find(|c: char| !c.is_ascii_digit() && c != ' ').unwrap_or(0);
    let mut new = format!("{}{n}{}", &text[..shape_at], &text[shape_at + digits..]);
    let body = new.trim_end().len();
    new.truncate(body);
    let room = npy.prefix_len - npy.text_start;
    if new.len() + 1 > room {
        return Err(Error::malformed(path, "npy header has no room for the new shape"));
    }
    let mut out = npy.bytes[..npy.text_start].to_vec();
    out.extend_from_slice(new.as_bytes());
    out.resize(npy.prefix_len - 1, b' ');
    out.push(b'\n');
    Ok(out)
}
