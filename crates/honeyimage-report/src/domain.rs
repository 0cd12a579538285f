//! The two vocabularies of an evaluation — which method judges a suspect, and
//! what the suspect was trained on — as enums rather than strings, so that a
//! typo is a compile error and "is this suspect clean?" is written once. The
//! serde names are the strings earlier `results.json` files hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A dataset-ownership verification method: HoneyImage or one of its baselines.
///
/// The order of the variants is the order of [`Method::ALL`], which is the
/// order of the report (HoneyImage first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The paper's method: hard samples, perturbed (`honeyimage`).
    #[serde(rename = "honeyimage")]
    HoneyImage,
    /// Random (not hard) samples with the same optimisation (`random-pgd`).
    RandomPgd,
    /// Hard samples without perturbation: plain membership inference (`hard-unperturbed`).
    HardUnperturbed,
    /// A BadNets-style patch watermark (`badnets`).
    #[serde(rename = "badnets")]
    BadNets,
}

impl Method {
    /// Every method, HoneyImage first.
    pub const ALL: [Method; 4] = [
        Method::HoneyImage,
        Method::RandomPgd,
        Method::HardUnperturbed,
        Method::BadNets,
    ];

    /// The identifier used in files, names and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::HoneyImage => "honeyimage",
            Method::RandomPgd => "random-pgd",
            Method::HardUnperturbed => "hard-unperturbed",
            Method::BadNets => "badnets",
        }
    }

    /// The human name shown in the report.
    pub const fn label(self) -> &'static str {
        match self {
            Method::HoneyImage => "HoneyImage",
            Method::RandomPgd => "Random PGD",
            Method::HardUnperturbed => "Hard unperturbed",
            Method::BadNets => "BadNets",
        }
    }
}

/// What a suspect model was trained on, which decides what its verdict should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Trained on the method's release: should be flagged (`infringing`).
    Infringing,
    /// Trained on data disjoint from the protected set: should not be flagged (`clean-disjoint`).
    CleanDisjoint,
    /// Trained on the release without its HoneyImages: should not be flagged (`clean-minus-honey`).
    CleanMinusHoney,
    /// Trained on the private original data, for harmlessness; not judged (`original`).
    Original,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Infringing,
        Role::CleanDisjoint,
        Role::CleanMinusHoney,
        Role::Original,
    ];

    /// The identifier used in files and names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Infringing => "infringing",
            Role::CleanDisjoint => "clean-disjoint",
            Role::CleanMinusHoney => "clean-minus-honey",
            Role::Original => "original",
        }
    }

    /// A positive of the detection task: trained on the protected release.
    pub const fn is_infringing(self) -> bool {
        matches!(self, Role::Infringing)
    }

    /// A negative of the detection task: never saw the HoneyImages.
    pub const fn is_clean(self) -> bool {
        matches!(self, Role::CleanDisjoint | Role::CleanMinusHoney)
    }
}

// `pad` (not `write_str`) so that width and alignment (`{:<18}`) work.
impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Method {
    type Err = Error;

    /// Parses the identifier of [`Method::as_str`] (not the label).
    fn from_str(s: &str) -> Result<Self, Error> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| Error::UnknownMethod(s.to_string()))
    }
}

impl FromStr for Role {
    type Err = Error;

    /// Parses the identifier of [`Role::as_str`].
    fn from_str(s: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_the_ones_old_files_hold() {
        let expected = ["honeyimage", "random-pgd", "hard-unperturbed", "badnets"];
        for (m, name) in Method::ALL.into_iter().zip(expected) {
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Method>(&format!("\"{name}\"")).unwrap(),
                m
            );
            assert_eq!(m.as_str(), name);
            assert_eq!(m.to_string(), name);
            assert_eq!(name.parse::<Method>().unwrap(), m);
        }
    }

    #[test]
    fn role_names_are_the_ones_old_files_hold() {
        let expected = [
            "infringing",
            "clean-disjoint",
            "clean-minus-honey",
            "original",
        ];
        for (r, name) in Role::ALL.into_iter().zip(expected) {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Role>(&format!("\"{name}\"")).unwrap(),
                r
            );
            assert_eq!(r.to_string(), name);
            assert_eq!(name.parse::<Role>().unwrap(), r);
        }
    }

    #[test]
    fn unknown_and_differently_spelled_names_are_refused() {
        for bad in [
            "HoneyImage",
            "honey-image",
            "random_pgd",
            "BadNets",
            "",
            "all",
        ] {
            let err = bad.parse::<Method>().unwrap_err();
            assert!(
                matches!(&err, Error::UnknownMethod(s) if s == bad),
                "{bad}: {err}"
            );
            assert!(
                serde_json::from_str::<Method>(&format!("\"{bad}\"")).is_err(),
                "{bad}"
            );
        }
        for bad in ["clean", "Infringing", "clean_disjoint", "minus-honey"] {
            assert!(matches!(bad.parse::<Role>(), Err(Error::UnknownRole(s)) if s == bad));
            assert!(
                serde_json::from_str::<Role>(&format!("\"{bad}\"")).is_err(),
                "{bad}"
            );
        }
        let msg = Error::UnknownMethod("honey".into()).to_string();
        assert!(msg.starts_with("unknown method \"honey\""), "{msg}");
    }

    #[test]
    fn labels_and_role_classes() {
        let labels: Vec<_> = Method::ALL.iter().map(|m| m.label()).collect();
        assert_eq!(
            labels,
            ["HoneyImage", "Random PGD", "Hard unperturbed", "BadNets"]
        );
        let clean: Vec<_> = Role::ALL.into_iter().filter(|r| r.is_clean()).collect();
        assert_eq!(clean, [Role::CleanDisjoint, Role::CleanMinusHoney]);
        let inf: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| r.is_infringing())
            .collect();
        assert_eq!(inf, [Role::Infringing]);
        assert!(!Role::Original.is_clean() && !Role::Original.is_infringing());
    }

    #[test]
    fn display_honours_width() {
        assert_eq!(format!("[{:<12}]", Method::BadNets), "[badnets     ]");
        assert_eq!(format!("[{:>10}]", Role::Original), "[  original]");
    }
}
