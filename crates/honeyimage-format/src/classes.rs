//! Real model servers often answer with class *names* ("Dress": 0.91) where
//! the key counts classes by index, and answer one image at a time in
//! whatever form their handler chose. This module maps names to the key's
//! labels ([`ClassMap`], from `--class-map FILE`) and gathers per-image
//! answers of any form into one checked [`Scores`] ([`gather`]).
use std::collections::HashMap;

use crate::protocol::{check_dense, check_top_k, ReplyError, Scores};

/// Class names to the key's label indices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassMap {
    names: HashMap<String, u32>,
}

/// A class map file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("class map: {0}")]
pub struct ClassMapError(pub String);

impl ClassMap {
    /// Parses a class map in one of three forms: a JSON object from names to
    /// indices (`{"T-shirt/top": 0, ...}`); TorchServe's `index_to_name.json`
    /// (`{"0": "T-shirt/top", ...}`, or `{"0": ["n01440764", "tench"]}`,
    /// whose last element is the name); or text with one name per line, line
    /// i naming class i (blank lines count; a trailing newline does not).
    /// Names and indices must be unique.
    pub fn parse(text: &str) -> Result<ClassMap, ClassMapError> {
        let err = |m: String| ClassMapError(m);
        let pairs: Vec<(String, u64)> = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(obj)) => obj
                .into_iter()
                .map(|(k, v)| match (k.parse::<u64>(), &v) {
                    (_, serde_json::Value::Number(n)) => n.as_u64().map(|i| (k.clone(), i)).ok_or_else(|| err(format!("{k:?}: {n} is not a class index"))),
                    (Ok(i), serde_json::Value::String(name)) => Ok((name.clone(), i)),
                    (Ok(i), serde_json::Value::Array(a)) => match a.last() {
                        Some(serde_json::Value::String(name)) => Ok((name.clone(), i)),
                        _ => Err(err(format!("{k:?}: expected a name or a list ending in a name"))),
                    },
                    _ => Err(err(format!("{k:?}: expected name -> index or index -> name"))),
                })
                .collect::<Result<_, _>>()?,
            Ok(_) => return Err(err("a JSON class map must be an object".into())),
            Err(_) => text.strip_suffix('\n').unwrap_or(text).lines().enumerate().map(|(i, l)| (l.trim().to_string(), i as u64)).collect(),
        };
        let mut names = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for (name, i) in pairs {
            let i = u32::try_from(i).map_err(|_| err(format!("index {i} of {name:?} is too large")))?;
            if name.is_empty() {
                return Err(err(format!("class {i} has an empty name")));
            }
            if !seen.insert(i) {
                return Err(err(format!("index {i} is given twice")));
            }
            if names.insert(name.clone(), i).is_some() {
                return Err(err(format!("name {name:?} is given twice")));
            }
        }
        if names.is_empty() {
            return Err(err("no classes".into()));
        }
        Ok(ClassMap { names })
    }

    /// Number of classes named.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no class is named (never true for a parsed map).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of a class named in a reply.
    pub fn index(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }
}

/// A class as a reply names it: by the map when one is given, else as a
/// decimal index ("3"). `field` names it in the error.
pub fn label_of(name: &str, map: Option<&ClassMap>, field: &str) -> Result<u32, ReplyError> {
    let found = match map {
        Some(m) => m.index(name),
        None => name.trim().parse().ok(),
    };
    found.ok_or_else(|| ReplyError::Field {
        field: field.to_string(),
        message: match map {
            Some(_) => format!("class {name:?} is not in the class map"),
            None => format!("class {name:?} is a name, not an index: pass --class-map FILE"),
        },
    })
}

/// One image's answer, in whichever form the server gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A value for every class (probabilities or logits, not yet known which).
    Dense(Vec<f64>),
    /// Some classes with their probabilities, most probable first.
    TopK(Vec<(u32, f64)>),
    /// Only the most probable class.
    Label(u32),
}

/// Joins per-image answers into one checked [`Scores`] for `classes`
/// classes. Dense rows become [`Scores::Probabilities`] (values as sent; the
/// caller decides probabilities or logits); top-k rows that list every class
/// become dense rows; otherwise all rows must be of one form. `classes` 0
/// means not known: the first dense row's length.
pub fn gather(rows: Vec<Row>, classes: usize) -> Result<Scores, ReplyError> {
    let classes = match (classes, rows.first()) {
        (0, Some(Row::Dense(d))) => d.len(),
        _ => classes,
    };
    let rows: Vec<Row> = rows.into_iter().map(|r| complete(r, classes)).collect();
    let form = |r: &Row| match r {
        Row::Dense(_) => "dense",
        Row::TopK(_) => "top_k",
        Row::Label(_) => "labels",
    };
    if let Some(first) = rows.first() {
        if let Some(i) = rows.iter().position(|r| form(r) != form(first)) {
            return Err(ReplyError::Field {
                field: format!("row {i}"),
                message: format!("answered in {} form where row 0 is {}", form(&rows[i]), form(first)),
            });
        }
    }
    let scores = match rows.first() {
        Some(Row::TopK(_)) => Scores::TopK(rows.into_iter().map(|r| if let Row::TopK(t) = r { t } else { unreachable!() }).collect()),
        Some(Row::Label(_)) => Scores::Labels(rows.into_iter().map(|r| if let Row::Label(l) = r { l } else { unreachable!() }).collect()),
        _ => Scores::Probabilities(rows.into_iter().map(|r| if let Row::Dense(d) = r { d } else { unreachable!() }).collect()),
    };
    match &scores {
        Scores::Probabilities(rows) => check_dense("scores", rows, classes)?,
        Scores::TopK(rows) => check_top_k(rows, classes)?,
        Scores::Labels(labels) => {
            if let Some(row) = labels.iter().position(|&l| l as usize >= classes) {
                return Err(ReplyError::LabelOutOfRange { field: "labels", row, label: labels[row], classes });
            }
        }
        Scores::Logits(_) => {}
    }
    Ok(scores)
}

/// A top-k row naming every class once is a dense row.
fn complete(row: Row, classes: usize) -> Row {
    match row {
        Row::TopK(t) if t.len() == classes && classes > 0 => {
            let mut dense = vec![f64::NAN; classes];
            for &(l, s) in &t {
                match dense.get_mut(l as usize) {
                    Some(v) if v.is_nan() => *v = s,
                    _ => return Row::TopK(t),
                }
            }
            Row::Dense(dense)
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_maps_in_three_forms() {
        let a = ClassMap::parse(r#"{"cat": 0, "dog": 1}"#).unwrap();
        let b = ClassMap::parse(r#"{"0": "cat", "1": ["n02", "dog"]}"#).unwrap();
        let c = ClassMap::parse("cat\ndog\n").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.index("dog"), Some(1));
        assert!(ClassMap::parse(r#"{"cat": 0, "dog": 0}"#).unwrap_err().0.contains("twice"));
        assert!(ClassMap::parse("cat\ncat").unwrap_err().0.contains("twice"));
        assert!(ClassMap::parse("[1, 2]").is_err());
        assert!(ClassMap::parse("").is_err());
        assert_eq!(label_of("dog", Some(&a), "x").unwrap(), 1);
        assert_eq!(label_of("7", None, "x").unwrap(), 7);
        assert!(label_of("Dress", None, "x").unwrap_err().to_string().contains("--class-map"));
        assert!(label_of("Dress", Some(&a), "x").unwrap_err().to_string().contains("not in the class map"));
    }

    #[test]
    fn gather_checks_forms_and_completes_full_top_k() {
        let full = Row::TopK(vec![(1, 0.7), (0, 0.3)]);
        assert_eq!(gather(vec![full.clone(), Row::Dense(vec![0.5, 0.5])], 2).unwrap(), Scores::Probabilities(vec![vec![0.3, 0.7], vec![0.5, 0.5]]));
        let part = Row::TopK(vec![(2, 0.7)]);
        assert_eq!(gather(vec![part.clone()], 3).unwrap(), Scores::TopK(vec![vec![(2, 0.7)]]));
        assert!(gather(vec![part, Row::Label(1)], 3).unwrap_err().to_string().contains("row 1"));
        assert!(matches!(gather(vec![Row::Label(3)], 3), Err(ReplyError::LabelOutOfRange { .. })));
        assert!(matches!(gather(vec![Row::Dense(vec![0.1, f64::NAN])], 2), Err(ReplyError::NonFinite { .. })));
        assert!(matches!(gather(vec![Row::Dense(vec![1.0])], 2), Err(ReplyError::ClassCount { .. })));
    }
}
