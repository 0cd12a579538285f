//! Attribution (`verify --keys`): a data vendor licensed its dataset to
//! several recipients, each with its own release and key (`protect
//! --recipients`); a suspect model trained on one of them. The suspect is
//! verified against every recipient's key, and the p-values are corrected
//! for the number of keys with Holm's procedure, so that the chance of
//! naming any innocent recipient stays below alpha. A model trained on two
//! leaked copies is attributed to both.
//!
//! Each key's test stays exact against a model trained on another
//! recipient's release: candidates are disjoint between recipients, so that
//! release holds all of this key's candidates, R and W alike, unperturbed
//! (see `protect::recipients`).
use serde::{Deserialize, Serialize};

use crate::key::KeyBody;
use crate::query::Oracle;
use crate::verify::{verify, Verdict, VerifyConfig};
use crate::Result;

/// One recipient's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipientVerdict {
    /// The recipient.
    pub recipient: String,
    /// Its key's verification (its `verdict` uses the uncorrected alpha).
    pub verification: Verdict,
    /// Its p-value, Holm-corrected over all keys.
    pub p_holm: f64,
    /// Whether `p_holm < alpha`: the suspect trained on this recipient's release.
    pub flagged: bool,
}

/// The attribution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attribution {
    /// Per recipient, in the key folder's order.
    pub recipients: Vec<RecipientVerdict>,
    /// The recipients whose releases the suspect trained on.
    pub attributed: Vec<String>,
    /// Family-wise significance level.
    pub alpha: f64,
}

/// Verifies `oracle` against every recipient's key and corrects for their number.
pub fn attribute(keys: &[(String, KeyBody)], oracle: &mut dyn Oracle, cfg: &VerifyConfig) -> Result<Attribution> {
    let mut verdicts = Vec::with_capacity(keys.len());
    for (_, key) in keys {
        verdicts.push(verify(key, oracle, cfg)?);
    }
    Ok(correct(keys.iter().map(|(n, _)| n.clone()).zip(verdicts).collect(), cfg.alpha))
}

/// Holm-corrects a set of per-recipient verdicts at family-wise level `alpha`.
pub fn correct(verdicts: Vec<(String, Verdict)>, alpha: f64) -> Attribution {
    let adjusted = honeyimage_stats::holm(&verdicts.iter().map(|(_, v)| v.p_value).collect::<Vec<_>>());
    let recipients: Vec<RecipientVerdict> = verdicts
        .into_iter()
        .zip(adjusted)
        .map(|((recipient, verification), p_holm)| RecipientVerdict { recipient, verification, p_holm, flagged: p_holm < alpha })
        .collect();
    let attributed = recipients.iter().filter(|r| r.flagged).map(|r| r.recipient.clone()).collect();
    Attribution { recipients, attributed, alpha }
}
