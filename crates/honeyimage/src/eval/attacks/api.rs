//! Query-side attacks: the API in front of a suspect changes what the owner
//! sees, not what the model learnt. Each wraps any [`Oracle`] and answers as
//! such an API would: only the top-1 label, top-k probabilities rounded to a
//! few decimals (read as a real top-k reply is read: by its top-1 class),
//! probabilities with noise added, or the model's answer to a JPEG
//! re-encoded query.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use honeyimage_format::protocol::{OutputKind, PredictReply, Scores};

use super::pixels;
use crate::config::Attack;
use crate::query::{to_probabilities, Answer, Oracle};
use crate::{Error, Result};

/// A suspect behind an attacking API.
pub struct AttackedApi<'a> {
    inner: &'a mut dyn Oracle,
    attack: Attack,
    rng: ChaCha8Rng,
}

impl<'a> AttackedApi<'a> {
    /// `inner` behind `attack` (a query-side attack); `seed` drives the noise.
    pub fn new(inner: &'a mut dyn Oracle, attack: &Attack, seed: u64) -> Result<Self> {
        match attack {
            Attack::LabelsOnly | Attack::TopK { .. } | Attack::OutputNoise { .. } | Attack::QueryJpeg { .. } => {
                Ok(AttackedApi { inner, attack: attack.clone(), rng: ChaCha8Rng::seed_from_u64(seed ^ 0xa11) })
            }
            other => Err(Error::invalid("attack", format!("{} is not a query-side attack", other.label()))),
        }
    }

    /// The inner model's answer as probabilities.
    fn probabilities(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Vec<Vec<f64>>> {
        let name = self.inner.describe();
        match self.inner.query(images, n, h, w, c)? {
            Answer::Scores { rows, kind } => to_probabilities(rows, kind, n, &name),
            Answer::Labels(_) => Err(Error::model(name, "answers with labels only; a query-side attack needs its scores")),
        }
    }
}

/// Index of the largest value (the first among ties).
fn top1(row: &[f64]) -> u32 {
    row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u32
}

/// Probabilities plus N(0, sigma) noise, clipped at 0 and renormalised.
fn noisy(rows: Vec<Vec<f64>>, sigma: f64, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let normal = Normal::new(0.0, sigma).expect("sigma validated > 0");
    rows.into_iter()
        .map(|r| {
            let mut r: Vec<f64> = r.into_iter().map(|p| (p + normal.sample(rng)).max(0.0)).collect();
            let s: f64 = r.iter().sum();
            if s > 0.0 {
                r.iter_mut().for_each(|p| *p /= s);
            } else {
                let k = r.len() as f64;
                r.iter_mut().for_each(|p| *p = 1.0 / k);
            }
            r
        })
        .collect()
}

/// A top-k reply as the tool reads a real one: dense rounded probabilities
/// when k covers every class, else the top-1 class only.
fn top_k_answer(rows: &[Vec<f64>], k: usize, decimals: u32) -> Answer {
    let reply = PredictReply::top_k(rows, k, Some(decimals));
    let top = reply.top_k.expect("a top-k reply");
    let classes = rows.first().map_or(0, Vec::len);
    if k >= classes {
        let dense = top
            .iter()
            .map(|r| {
                let mut d = vec![0.0; classes];
                r.iter().for_each(|e| d[e.label as usize] = e.score);
                d
            })
            .collect();
        return Answer::Scores { rows: dense, kind: OutputKind::Probabilities };
    }
    crate::query::answer_of(Scores::TopK(top.iter().map(|r| r.iter().map(|e| (e.label, e.score)).collect()).collect()))
}

impl Oracle for AttackedApi<'_> {
    fn describe(&self) -> String {
        format!("{} behind {}", self.inner.describe(), self.attack.label())
    }

    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        match self.attack.clone() {
            Attack::QueryJpeg { .. } => {
                let len = h * w * c;
                let mut px = Vec::with_capacity(images.len());
                for i in 0..n {
                    px.extend(pixels::transform_image(&self.attack, &images[i * len..(i + 1) * len], h, w, c)?);
                }
                self.inner.query(&px, n, h, w, c)
            }
            Attack::LabelsOnly => Ok(Answer::Labels(self.probabilities(images, n, h, w, c)?.iter().map(|r| top1(r)).collect())),
            Attack::TopK { k, decimals } => Ok(top_k_answer(&self.probabilities(images, n, h, w, c)?, k, decimals)),
            Attack::OutputNoise { sigma } => {
                let rows = self.probabilities(images, n, h, w, c)?;
                Ok(Answer::Scores { rows: noisy(rows, sigma, &mut self.rng), kind: OutputKind::Probabilities })
            }
            _ => unreachable!("checked in new"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers fixed logits for every image.
    struct Fixed(Vec<f64>);
    impl Oracle for Fixed {
        fn describe(&self) -> String {
            "fixed".into()
        }
        fn query(&mut self, _: &[u8], n: usize, _: usize, _: usize, _: usize) -> Result<Answer> {
            Ok(Answer::Scores { rows: vec![self.0.clone(); n], kind: OutputKind::Logits })
        }
    }

    #[test]
    fn labels_only_and_top_k_hide_the_scores() {
        let mut m = Fixed(vec![0.0, 3.0, 1.0]);
        let mut api = AttackedApi::new(&mut m, &Attack::LabelsOnly, 0).unwrap();
        assert_eq!(api.query(&[0; 2], 2, 1, 1, 1).unwrap(), Answer::Labels(vec![1, 1]));
        assert!(api.describe().contains("labels-only"));
        let mut api = AttackedApi::new(&mut m, &Attack::TopK { k: 2, decimals: 2 }, 0).unwrap();
        assert_eq!(api.query(&[0], 1, 1, 1, 1).unwrap(), Answer::Labels(vec![1]));
        let mut api = AttackedApi::new(&mut m, &Attack::TopK { k: 3, decimals: 2 }, 0).unwrap();
        match api.query(&[0], 1, 1, 1, 1).unwrap() {
            Answer::Scores { rows, kind: OutputKind::Probabilities } => assert_eq!(rows[0], [0.04, 0.84, 0.11]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn noise_keeps_rows_probabilities_and_is_seeded() {
        let mut m = Fixed(vec![0.0, 1.0, 2.0, 3.0]);
        let mut run = |seed| {
            let mut api = AttackedApi::new(&mut m, &Attack::OutputNoise { sigma: 0.05 }, seed).unwrap();
            match api.query(&[0; 3], 3, 1, 1, 1).unwrap() {
                Answer::Scores { rows, .. } => rows,
                other => panic!("{other:?}"),
            }
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|r| r.iter().all(|&p| p >= 0.0) && (r.iter().sum::<f64>() - 1.0).abs() < 1e-12));
        assert_ne!(a[0], a[1], "each row gets its own noise");
    }

    #[test]
    fn other_attacks_are_refused() {
        let mut m = Fixed(vec![0.0]);
        assert!(AttackedApi::new(&mut m, &Attack::Jpeg { quality: 75 }, 0).is_err());
    }
}
