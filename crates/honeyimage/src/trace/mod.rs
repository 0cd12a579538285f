//! `trace`: is a found dataset (no model, only images) derived from one of
//! our releases, and from whose? The paper leaves leak detection open; this
//! answers it with the key alone.
//!
//! For every candidate of a key (R and W alike), the found images that look
//! like its original are found by nearest neighbours on coarse thumbnails
//! ([`align::descriptor`]) and aligned by trying every small crop of the
//! original ([`align::CropBox`]); a neighbour whose correlation with the
//! aligned original, blurred as fitted by [`align::mark`], reaches
//! `min_match` is a match. A matched candidate
//! scores how much of its HoneyImage perturbation the found image carries
//! ([`align::mark`]: the blur, brightness and contrast that best explain
//! the found image from the original are fitted, and the score is the
//! partial correlation of the found image with the perturbation through
//! that blur); several matches take the largest; an unmatched one scores
//! below every match.
//!
//! A release carries R's perturbations and lacks W; the original data, or
//! another recipient's release (whose candidates are disjoint from this
//! key's), hold R and W alike as unperturbed originals. Under the null
//! hypothesis that the found data do not derive from this key's release,
//! the scores depend on the found data and the candidates only, never on
//! the key's random R/W split, so the stratified rank-sum test of R's
//! scores against W's within classes (the one `verify` uses) is exact.
//! Both the mark and W's absence push R above W; with several keys the
//! p-values are Holm-corrected.
pub mod align;
pub mod found;

use honeyimage_report::TraceExample;
use honeyimage_stats::{stratified_rank_sum_test, Alternative};
use serde::{Deserialize, Serialize};

use self::align::{correlation, descriptor, luma, mark, warp, CropBox};
use self::found::{Found, Geometry};
use crate::key::KeyBody;
use crate::{Error, Result};

/// Settings of a trace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceConfig {
    /// Correlation with the aligned, fitted original from which a found image counts as a match.
    pub min_match: f64,
    /// Nearest neighbours (by thumbnail) examined per candidate.
    pub neighbours: usize,
    /// Largest crop (pixels per side) tried when aligning.
    pub max_crop: usize,
    /// Family-wise significance level over all keys.
    pub alpha: f64,
    /// Monte-Carlo draws when the exact test is too large.
    pub permutations: u64,
    /// Matched HoneyImages kept per key for the report.
    pub examples: usize,
    /// Largest Gaussian blur (pixels) [`align::mark`] tries to explain a
    /// found image by (0: brightness and contrast only).
    pub max_blur: f64,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig { min_match: 0.95, neighbours: 5, max_crop: 2, alpha: 0.001, permutations: 200_000, examples: 8, max_blur: 2.4 }
    }
}

/// Score of a candidate no found image matches: below every match.
pub const UNMATCHED: f64 = -2.0;

/// How one candidate was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateTrace {
    /// Sample id in the key.
    pub id: String,
    /// Released (R) or withheld (W).
    pub released: bool,
    /// Class.
    pub label: u32,
    /// Index (into the found data) of the best-scoring match, if any.
    pub found: Option<usize>,
    /// Its correlation with the aligned, fitted original.
    pub similarity: f64,
    /// The crop that aligned it.
    pub crop: CropBox,
    /// Its mark score ([`UNMATCHED`] when nothing matched).
    pub score: f64,
}

/// The verdict for one key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyTrace {
    /// Recipient (or key name).
    pub name: String,
    /// One-sided p-value that R scores above W.
    pub p_value: f64,
    /// How it was obtained.
    pub method: String,
    /// Holm-corrected over the keys traced together.
    pub p_holm: f64,
    /// Whether `p_holm < alpha`.
    pub flagged: bool,
    /// |R|, |W|.
    pub released: usize,
    /// |W|.
    pub withheld: usize,
    /// R candidates with a match.
    pub matched_released: usize,
    /// W candidates with a match.
    pub matched_withheld: usize,
    /// Median mark score of matched R (NaN when none).
    pub median_mark_released: f64,
    /// Median mark score of matched W (NaN when none).
    pub median_mark_withheld: f64,
    /// Ids of the HoneyImages (R) not found.
    pub not_found: Vec<String>,
    /// Every candidate.
    pub candidates: Vec<CandidateTrace>,
}

/// The whole trace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceOutcome {
    /// Per key, in the order given.
    pub keys: Vec<KeyTrace>,
    /// Names of the flagged keys.
    pub attributed: Vec<String>,
    /// Family-wise level.
    pub alpha: f64,
    /// Found images examined.
    pub found_images: usize,
    /// Matched HoneyImages of the implicated keys (of the lowest p-value's
    /// key when none is), best first.
    #[serde(skip)]
    pub examples: Vec<TraceExample>,
}

/// The common image geometry of `keys` (they must share one).
pub fn geometry(keys: &[(String, &KeyBody)]) -> Result<Geometry> {
    let g = |k: &KeyBody| Geometry { height: k.dataset.height, width: k.dataset.width, channels: k.dataset.channels };
    let first = keys.first().ok_or_else(|| Error::invalid("keys", "no key to trace"))?;
    let geo = g(first.1);
    for (name, k) in keys {
        let gk = g(k);
        if gk != geo {
            let msg = format!("key {name} is for {}x{}x{} images, key {} for {}x{}x{}", gk.height, gk.width, gk.channels, first.0, geo.height, geo.width, geo.channels);
            return Err(Error::invalid("keys", msg));
        }
    }
    if !(geo.channels == 1 || geo.channels == 3) || geo.height < 4 || geo.width < 4 {
        return Err(Error::invalid("keys", format!("trace needs 1- or 3-channel images of at least 4x4, the key's are {}x{}x{}", geo.height, geo.width, geo.channels)));
    }
    Ok(geo)
}

/// A key candidate on the grid: original and perturbation in 8-bit units.
struct Cand {
    id: String,
    released: bool,
    label: u32,
    original: Vec<f32>,
    perturbation: Vec<f32>,
    /// Thumbnails of the original and of a few crops of it ([`search_boxes`]).
    descriptors: Vec<Vec<f32>>,
}

/// The crops whose thumbnails are searched for (the alignment then tries
/// every crop up to `max_crop`): none, all sides, and each side alone.
fn search_boxes(max_crop: usize) -> Vec<CropBox> {
    let mut v = vec![CropBox::default()];
    for p in 1..=max_crop {
        v.push(CropBox { top: p, left: p, bottom: p, right: p });
        v.push(CropBox { top: p, ..CropBox::default() });
        v.push(CropBox { left: p, ..CropBox::default() });
        v.push(CropBox { bottom: p, ..CropBox::default() });
        v.push(CropBox { right: p, ..CropBox::default() });
    }
    v
}

fn candidates(key: &KeyBody, g: Geometry, max_crop: usize) -> Vec<Cand> {
    let f = |b: &[u8]| b.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let one = |s: &crate::key::KeySample, released: bool| {
        let original = f(&s.original.0);
        let perturbation: Vec<f32> = f(&s.honey.0).iter().zip(&original).map(|(h, o)| h - o).collect();
        let lum = luma(&original, g.channels);
        let descriptors = search_boxes(max_crop.min(g.height.min(g.width) / 4)).into_iter().map(|b| descriptor(&warp(&lum, g.height, g.width, 1, b), g.height, g.width)).collect();
        Cand { id: s.id.clone(), released, label: s.label, original, perturbation, descriptors }
    };
    key.released.iter().map(|s| one(s, true)).chain(key.withheld.iter().map(|s| one(s, false))).collect()
}

/// Candidates per matrix product in [`nearest_all`] (bounds its memory:
/// found images x this x descriptors per candidate floats).
const NN_CHUNK: usize = 64;

/// For every candidate, the `k` found images whose thumbnails are closest
/// (largest dot product) to any of the candidate's thumbnails: one matrix
/// product per chunk of candidates through libtorch.
fn nearest_all(cands: &[Cand], found: &Found, k: usize) -> Result<Vec<Vec<usize>>> {
    let dim = align::GRID * align::GRID;
    let flat: Vec<f32> = found.images.iter().flat_map(|f| f.descriptor.iter().copied()).collect();
    let f = tch::Tensor::from_slice(&flat).view([found.images.len() as i64, dim as i64]);
    let k = k.min(found.images.len()) as i64;
    let mut out = Vec::with_capacity(cands.len());
    for chunk in cands.chunks(NN_CHUNK) {
        let per = chunk[0].descriptors.len() as i64;
        let d: Vec<f32> = chunk.iter().flat_map(|c| c.descriptors.iter().flatten().copied()).collect();
        let d = tch::Tensor::from_slice(&d).view([chunk.len() as i64 * per, dim as i64]);
        let sims = f.matmul(&d.tr()).view([-1, chunk.len() as i64, per]).amax(2, false);
        let (_, idx) = sims.topk(k, 0, true, true);
        let idx: Vec<i64> = Vec::<i64>::try_from(idx.tr().contiguous().view([-1])).map_err(|e| Error::invalid("trace", e.to_string()))?;
        out.extend(idx.chunks(k as usize).map(|row| row.iter().map(|&j| j as usize).collect()));
    }
    Ok(out)
}

/// The candidate's images in the found image's channels (luma for a grey one).
fn in_channels(c: &Cand, channels: usize, g: Geometry) -> (Vec<f32>, Vec<f32>) {
    if channels == g.channels {
        (c.original.clone(), c.perturbation.clone())
    } else {
        (luma(&c.original, g.channels), luma(&c.perturbation, g.channels))
    }
}

/// Best alignment of found image `f` to the original `o`: (similarity, crop).
fn align(f: &[f32], o: &[f32], g: Geometry, c: usize, max_crop: usize) -> (f64, CropBox) {
    CropBox::all(max_crop)
        .into_iter()
        .filter(|b| b.top + b.bottom < g.height / 2 && b.left + b.right < g.width / 2)
        .map(|b| (correlation(f, &warp(o, g.height, g.width, c, b)), b))
        .fold((f64::NEG_INFINITY, CropBox::default()), |acc, x| if x.0 > acc.0 { x } else { acc })
}

/// The blurs [`align::mark`] tries.
fn blurs(cfg: &TraceConfig) -> Vec<f64> {
    align::BLURS.iter().copied().filter(|&s| s <= cfg.max_blur).collect()
}

/// How far below the best match's similarity another match may be and
/// still count: a copy and a re-encoded or perturbed copy of the same
/// image are within it; a merely similar image of the same class is not.
pub const MATCH_TIER: f64 = 0.01;

/// Traces one candidate through the found data: among the neighbours that
/// match (similarity to the aligned, fitted original at least `min_match`
/// and within [`MATCH_TIER`] of the best), the largest mark score.
fn trace_one(c: &Cand, neighbours: &[usize], found: &Found, g: Geometry, cfg: &TraceConfig) -> CandidateTrace {
    let mut out = CandidateTrace { id: c.id.clone(), released: c.released, label: c.label, found: None, similarity: f64::NAN, crop: CropBox::default(), score: UNMATCHED };
    let blurs = blurs(cfg);
    // Each neighbour aligned (the crop), then explained by the blurred
    // original (the similarity) and scored.
    let scored: Vec<(usize, CropBox, align::Mark)> = neighbours
        .iter()
        .map(|&j| {
            let img = &found.images[j];
            let (o, t) = in_channels(c, img.channels, g);
            let (_, crop) = align(&img.pixels, &o, g, img.channels, cfg.max_crop);
            let (ow, tw) = (warp(&o, g.height, g.width, img.channels, crop), warp(&t, g.height, g.width, img.channels, crop));
            (j, crop, mark(&img.pixels, &ow, &tw, (g.height, g.width, img.channels), &blurs))
        })
        .collect();
    let best = scored.iter().map(|s| s.2.similarity).fold(f64::NEG_INFINITY, f64::max);
    let floor = cfg.min_match.max(best - MATCH_TIER);
    for (j, crop, m) in scored.into_iter().filter(|s| s.2.similarity >= floor) {
        if m.score > out.score {
            out = CandidateTrace { found: Some(j), similarity: m.similarity, crop, score: m.score, ..out };
        }
    }
    out
}

/// Traces every candidate: neighbours by one batched search, then the
/// alignments on all cores.
fn trace_all(cands: &[Cand], found: &Found, g: Geometry, cfg: &TraceConfig) -> Result<Vec<CandidateTrace>> {
    let neighbours = nearest_all(cands, found, cfg.neighbours)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(cands.len().max(1));
    let chunk = cands.len().div_ceil(threads.max(1)).max(1);
    let jobs: Vec<(&Cand, &Vec<usize>)> = cands.iter().zip(&neighbours).collect();
    Ok(std::thread::scope(|s| {
        let handles: Vec<_> = jobs.chunks(chunk).map(|part| s.spawn(move || part.iter().map(|(c, n)| trace_one(c, n, found, g, cfg)).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("trace worker panicked")).collect()
    }))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The stratified test of R's scores above W's, by class.
fn test(traces: &[CandidateTrace], cfg: &TraceConfig, seed: u64) -> Result<(f64, String)> {
    let mut labels: Vec<u32> = traces.iter().map(|t| t.label).collect();
    labels.sort_unstable();
    labels.dedup();
    let strata: Vec<(Vec<f64>, Vec<f64>)> = labels
        .iter()
        .map(|&l| {
            let of = |r: bool| traces.iter().filter(|t| t.label == l && t.released == r).map(|t| t.score).collect::<Vec<f64>>();
            (of(false), of(true))
        })
        .collect();
    let r = stratified_rank_sum_test(&strata, Alternative::Less, cfg.permutations, seed)?;
    Ok((r.p_value, r.method_description()))
}

/// Traces `found` against every key.
pub fn trace(keys: &[(String, &KeyBody)], found: &Found, cfg: &TraceConfig) -> Result<TraceOutcome> {
    let g = geometry(keys)?;
    if found.images.is_empty() {
        return Err(Error::invalid("found data", "no images to trace"));
    }
    let mut out = Vec::with_capacity(keys.len());
    let mut examples = Vec::new();
    for (name, key) in keys {
        let cands = candidates(key, g, cfg.max_crop);
        let traces = trace_all(&cands, found, g, cfg)?;
        let (p_value, method) = test(&traces, cfg, key.params.seed)?;
        let matched = |r: bool| traces.iter().filter(|t| t.released == r && t.found.is_some()).count();
        let marks = |r: bool| median(traces.iter().filter(|t| t.released == r && t.found.is_some()).map(|t| t.score).collect());
        examples.push(pick_examples(name, &cands, &traces, found, g, cfg));
        out.push(KeyTrace {
            name: name.clone(),
            p_value,
            method,
            p_holm: f64::NAN,
            flagged: false,
            released: key.released.len(),
            withheld: key.withheld.len(),
            matched_released: matched(true),
            matched_withheld: matched(false),
            median_mark_released: marks(true),
            median_mark_withheld: marks(false),
            not_found: traces.iter().filter(|t| t.released && t.found.is_none()).map(|t| t.id.clone()).collect(),
            candidates: traces,
        });
    }
    let adjusted = honeyimage_stats::holm(&out.iter().map(|k| k.p_value).collect::<Vec<_>>());
    for (k, p) in out.iter_mut().zip(adjusted) {
        k.p_holm = p;
        k.flagged = p < cfg.alpha;
    }
    let attributed: Vec<String> = out.iter().filter(|k| k.flagged).map(|k| k.name.clone()).collect();
    // Show the implicated keys' matches (or the closest call's, when none is).
    let lowest = out.iter().enumerate().min_by(|a, b| a.1.p_value.total_cmp(&b.1.p_value)).map(|(i, _)| i);
    let shown = examples.into_iter().enumerate().filter(|(i, _)| out[*i].flagged || (attributed.is_empty() && Some(*i) == lowest)).flat_map(|(_, e)| e).collect();
    Ok(TraceOutcome { keys: out, attributed, alpha: cfg.alpha, found_images: found.images.len(), examples: shown })
}

/// Amplification of residuals in the report's images.
pub const GAIN: f32 = 16.0;

/// The best-scoring matched HoneyImages of one key, as report images.
fn pick_examples(name: &str, cands: &[Cand], traces: &[CandidateTrace], found: &Found, g: Geometry, cfg: &TraceConfig) -> Vec<TraceExample> {
    let mut order: Vec<usize> = (0..traces.len()).filter(|&i| traces[i].released && traces[i].found.is_some()).collect();
    order.sort_by(|&a, &b| traces[b].score.total_cmp(&traces[a].score));
    let u8s = |v: &[f32]| v.iter().map(|x| x.round().clamp(0.0, 255.0) as u8).collect::<Vec<u8>>();
    let amp = |v: &[f64]| v.iter().map(|x| (128.0 + GAIN as f64 * x).round().clamp(0.0, 255.0) as u8).collect::<Vec<u8>>();
    order
        .into_iter()
        .take(cfg.examples)
        .map(|i| {
            let (t, c) = (&traces[i], &cands[i]);
            let img = &found.images[t.found.expect("matched")];
            let (o, p) = in_channels(c, img.channels, g);
            let (ow, pw) = (warp(&o, g.height, g.width, img.channels, t.crop), warp(&p, g.height, g.width, img.channels, t.crop));
            let m = mark(&img.pixels, &ow, &pw, (g.height, g.width, img.channels), &blurs(cfg));
            TraceExample {
                recipient: name.to_string(),
                id: t.id.clone(),
                found_name: img.name.clone(),
                height: g.height,
                width: g.width,
                channels: img.channels,
                found: u8s(&img.pixels),
                original: u8s(&ow),
                residual: amp(&m.residual),
                perturbation: amp(&m.template),
                score: t.score,
                similarity: t.similarity,
            }
        })
        .collect()
}
