//! `results.csv`: one row per suspect for spreadsheets, written through the
//! `csv` crate so that quoting is right for any name.

use crate::results::EvalResults;

const HEADER: [&str; 19] = [
    "name",
    "method",
    "role",
    "arch",
    "seed",
    "epochs",
    "train_accuracy",
    "test_accuracy",
    "p_value",
    "statistic",
    "tau_score",
    "effect_size",
    "label_only_p",
    "verdict",
    // From here on appended, so that readers of the older columns keep working.
    "key",
    "attack",
    "removed_all",
    "removed_marked",
    "calibrated_p",
];

/// `results.csv`: a header row, then one row per suspect — every key's, so
/// unlike the page's tables it holds each clean model once per key — with
/// the columns `name, method, role, arch, seed, epochs, train_accuracy,
/// test_accuracy, p_value, statistic, tau_score, effect_size, label_only_p,
/// verdict, key, attack, removed_all, removed_marked, calibrated_p` (`key` 0 is the main
/// key; `attack` is empty for an unattacked suspect, and `removed_all` /
/// `removed_marked` are the fractions of all and of the marked training
/// samples a cleaning attack removed, empty for other suspects;
/// `calibrated_p` is the calibrated exact test's p on the same answers,
/// empty where it does not apply). The last five were appended in turn so
/// that readers of the older columns keep working.
/// Fields are quoted when they hold a comma, quote or line break; NaN is an
/// empty field, infinities are `inf`/`-inf`, the verdict is `true`/`false`.
pub fn suspects_csv(results: &EvalResults) -> String {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail, and every row has the header's length.
    w.write_record(HEADER).expect("writing to memory");
    for s in &results.suspects {
        let row = [
            s.name.clone(),
            s.method.to_string(),
            s.role.to_string(),
            s.arch.clone(),
            s.seed.to_string(),
            s.epochs.to_string(),
            num(s.train_accuracy),
            num(s.test_accuracy),
            num(s.p_value),
            num(s.statistic),
            num(s.tau_score),
            num(s.effect_size),
            num(s.label_only_p),
            s.verdict.to_string(),
            s.key.to_string(),
            s.attack.clone(),
            s.removed.map_or_else(String::new, |r| num(r.all)),
            s.removed.map_or_else(String::new, |r| num(r.marked)),
            s.calibrated_p.map_or_else(String::new, num),
        ];
        w.write_record(&row).expect("writing to memory");
    }
    let bytes = w.into_inner().expect("flushing to memory");
    // Every field came from a `String`, so the bytes are UTF-8.
    String::from_utf8(bytes).expect("UTF-8 in, UTF-8 out")
}

fn num(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Removed;
    use crate::testutil::{results, suspect};
    use crate::{Method, Role};

    #[test]
    fn names_with_commas_quotes_and_line_breaks_are_quoted() {
        let r = results(vec![
            suspect("a, b", Method::HoneyImage, Role::Infringing, true),
            suspect("say \"hi\"", Method::RandomPgd, Role::CleanDisjoint, false),
            suspect("two\nlines", Method::BadNets, Role::Original, false),
            suspect(
                "plain/name",
                Method::HardUnperturbed,
                Role::CleanMinusHoney,
                false,
            ),
        ]);
        let csv = suspects_csv(&r);
        let rows: Vec<&str> = csv.split_inclusive('\n').collect();
        assert!(
            rows[1].starts_with("\"a, b\",honeyimage,infringing,small-cnn,1,3,0.9,0.8,"),
            "{}",
            rows[1]
        );
        assert!(rows[1].ends_with(",true,0,,,,\n"), "{}", rows[1]);
        assert!(
            rows[2].starts_with("\"say \"\"hi\"\"\",random-pgd,clean-disjoint,"),
            "{}",
            rows[2]
        );
        assert!(rows[3].starts_with("\"two\n"), "{}", rows[3]);
        assert!(
            rows[4].starts_with("lines\",badnets,original,"),
            "{}",
            rows[4]
        );
        assert!(
            rows[5].starts_with("plain/name,hard-unperturbed,clean-minus-honey,"),
            "{}",
            rows[5]
        );
        // A CSV reader gets the names back exactly.
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        let names: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[0].to_string())
            .collect();
        assert_eq!(names, ["a, b", "say \"hi\"", "two\nlines", "plain/name"]);
    }

    #[test]
    fn numbers_nan_and_infinities() {
        let mut s = suspect("x", Method::BadNets, Role::Infringing, true);
        (s.tau_score, s.label_only_p, s.statistic, s.effect_size) =
            (f64::NAN, f64::NAN, f64::INFINITY, f64::NEG_INFINITY);
        s.p_value = 0.0;
        let csv = suspects_csv(&results(vec![s]));
        assert_eq!(
            csv.lines().nth(1),
            Some("x,badnets,infringing,small-cnn,1,3,0.9,0.8,0,inf,,-inf,,true,0,,,,")
        );
        assert!(csv.ends_with('\n') && !csv.contains('\r'));
    }

    #[test]
    fn every_key_has_its_rows_and_the_key_follows_the_older_columns() {
        let mut extra = suspect("clean/s2", Method::HoneyImage, Role::CleanDisjoint, true);
        extra.key = 3;
        let r = results(vec![
            suspect("clean/s2", Method::HoneyImage, Role::CleanDisjoint, false),
            extra,
        ]);
        let csv = suspects_csv(&r);
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert_eq!(header.len(), 19);
        assert_eq!(&header[14], "key");
        assert_eq!(
            &header[13], "verdict",
            "the older columns keep their places"
        );
        let keys: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[14].to_string())
            .collect();
        assert_eq!(keys, ["0", "3"], "rows of further keys are not dropped");
    }

    #[test]
    fn attacked_suspects_name_their_attack_and_what_it_removed() {
        let mut jpeg = suspect("jpeg/s1", Method::HoneyImage, Role::Infringing, true);
        jpeg.attack = "jpeg-q75".into();
        let mut filtered = suspect("filter/s1", Method::HoneyImage, Role::CleanDisjoint, false);
        filtered.attack = "loss-filter-0p05-f4".into();
        filtered.removed = Some(Removed {
            all: 0.075,
            marked: f64::NAN,
        });
        filtered.calibrated_p = Some(0.25);
        let csv = suspects_csv(&results(vec![
            suspect("plain", Method::HoneyImage, Role::Infringing, true),
            jpeg,
            filtered,
        ]));
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert_eq!(
            header.iter().skip(14).collect::<Vec<_>>(),
            ["key", "attack", "removed_all", "removed_marked", "calibrated_p"]
        );
        let tails: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().skip(15).map(str::to_string).collect())
            .collect();
        assert_eq!(
            tails,
            [
                vec!["", "", "", ""],
                vec!["jpeg-q75", "", "", ""],
                vec!["loss-filter-0p05-f4", "0.075", "", "0.25"],
            ]
        );
    }
}
