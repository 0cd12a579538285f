//! The evaluation report: self-contained HTML, CSV quoting, robustness to
//! missing numbers, and a real render in headless Chromium (screenshot and
//! DOM) to prove the page is not blank. Chromium is required under CI (`CI`
//! set); elsewhere its absence skips that one test with a note.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use honeyimage_report::results::{
    CalibratedSummary,
    AttackSummary, CurvePoint, EpochPoint, EvalResults, Example, FprAt, KeyPopulation,
    MethodCurve, MethodSummary, Removed, Stealth, SuspectResult,
};
use honeyimage_report::{render_html, suspects_csv, write_report, Method, Role};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

/// A deterministic pseudo-random stream (no dependency on `rand` here).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn suspect(method: Method, role: Role, i: usize, p: f64, alpha: f64) -> SuspectResult {
    SuspectResult {
        name: format!("{method}/{role}/resnet18/s{i}"),
        key: 0,
        method,
        role,
        arch: if i % 2 == 0 { "resnet18" } else { "vgg11" }.into(),
        seed: i as u64,
        epochs: 30,
        train_accuracy: 0.97 + 0.002 * i as f64,
        test_accuracy: 0.88 + 0.003 * i as f64,
        p_value: p,
        statistic: -p.log10(),
        tau_score: if method == Method::BadNets {
            f64::NAN
        } else {
            0.1 * -p.log10()
        },
        effect_size: 0.05,
        label_only_p: if method == Method::BadNets {
            f64::NAN
        } else {
            p.sqrt()
        },
        verdict: p < alpha,
        curve: vec![EpochPoint {
            epoch: 10,
            p_value: p.sqrt(),
            tau_score: 0.1,
            train_accuracy: 0.8,
        }],
        attack: String::new(),
        removed: None,
        calibrated_p: (method != Method::BadNets).then(|| p.sqrt()),
    }
}

/// Three methods, 10 infringing + 10 clean suspects each, a training-length
/// curve and three 28x28x1 examples with a ±4 perturbation.
fn synthetic() -> EvalResults {
    let alpha = 0.01;
    let mut rng = Lcg(7);
    let mut suspects = Vec::new();
    let mut methods = Vec::new();
    // (method, how strongly infringing suspects stand out in -log10 p)
    for (method, strength) in [
        (Method::HoneyImage, 9.0),
        (Method::RandomPgd, 1.5),
        (Method::BadNets, 0.6),
    ] {
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        let mut rows = Vec::new();
        for i in 0..10 {
            let stat = strength * (0.6 + 0.8 * rng.next()) + 0.3 * rng.next();
            let p = 10f64.powf(-stat).min(1.0);
            rows.push(suspect(method, Role::Infringing, i, p, alpha));
            pos.push(-p.log10());
        }
        for i in 0..10 {
            let p = (0.02 + rng.next()).min(1.0);
            let role = if i % 2 == 0 {
                Role::CleanDisjoint
            } else {
                Role::CleanMinusHoney
            };
            rows.push(suspect(method, role, i, p, alpha));
            neg.push(-p.log10());
        }
        let roc = honeyimage_stats::roc_curve(&pos, &neg).unwrap();
        let auroc = honeyimage_stats::auroc(&pos, &neg).unwrap();
        let tpr = rows
            .iter()
            .filter(|s| s.role == Role::Infringing && s.verdict)
            .count() as f64
            / 10.0;
        let tnr = rows
            .iter()
            .filter(|s| s.role != Role::Infringing && !s.verdict)
            .count() as f64
            / 10.0;
        let is_badnets = method == Method::BadNets;
        methods.push(MethodSummary {
            calibrated: (!is_badnets).then_some(CalibratedSummary {
                infringing: 10,
                tpr: tpr * 0.9,
                median_p: 2e-4,
                clean: 10,
                clean_flagged: 1,
            }),
            method,
            n_infringing: 10,
            n_clean: 10,
            auroc,
            auroc_ci: ((auroc - 0.08).max(0.0), (auroc + 0.05).min(1.0)),
            tpr,
            tnr,
            tpr_at_1pct_fpr: None,
            tpr_at_01pct_fpr: None,
            tau_roc: if is_badnets { vec![] } else { roc.clone() },
            roc,
            tau_auroc: (!is_badnets).then_some(auroc * 0.97),
            tau: (!is_badnets).then_some(0.2),
            tau_tpr: (!is_badnets).then_some(tpr * 0.9),
            tau_tnr: (!is_badnets).then_some(0.9),
            infringing_test_accuracy: 0.91,
            accuracy_drop_points: if is_badnets { Some(1.4) } else { Some(0.3) },
            accuracy_drop_ci95: if is_badnets { None } else { Some((-0.1, 0.7)) },
            accuracy_drop_pairs: if is_badnets { 1 } else { 3 },
        });
        suspects.extend(rows);
    }
    // One suspect whose name needs CSV quoting (and HTML escaping).
    suspects[0].name = "honeyimage/infringing/resnet18, \"odd\" <name>".into();
    // One trained on the original data, for harmlessness.
    suspects.push(suspect(Method::HoneyImage, Role::Original, 99, 0.5, alpha));

    let curve: Vec<CurvePoint> = (1..=6)
        .map(|k| {
            let epoch = 5 * k;
            CurvePoint {
                epoch,
                auroc: (0.5 + 0.1 * k as f64).min(1.0),
                median_p_infringing: 10f64.powf(-1.5 * k as f64),
                median_p_clean: 0.4 + 0.02 * k as f64,
                mean_train_accuracy: 0.5 + 0.08 * k as f64,
            }
        })
        .collect();

    let examples = ["zero", "one", "two"]
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let (h, w) = (28, 28);
            let original: Vec<u8> = (0..h * w)
                .map(|i| {
                    let (y, x) = ((i / w) as f64 - 13.5, (i % w) as f64 - 13.5);
                    let r = (x * x + y * y).sqrt();
                    if (r - 5.0 - 2.0 * c as f64).abs() < 2.0 {
                        230
                    } else {
                        20
                    }
                })
                .collect();
            let honey = original
                .iter()
                .map(|&v| {
                    // Mostly ±4 (the budget), sometimes smaller or none.
                    let d = (rng.next() * 9.0).floor() as i32 - 4;
                    let d = if d.abs() >= 2 { 4 * d.signum() } else { d };
                    (v as i32 + d).clamp(0, 255) as u8
                })
                .collect();
            Example {
                class_name: name.to_string(),
                height: h,
                width: w,
                channels: 1,
                original,
                honey,
            }
        })
        .collect();

    EvalResults {
        config: serde_json::json!({
            "data": "mnist",
            "count": 20,
            "epochs": 30,
            "alpha": alpha,
            "archs": ["resnet18", "vgg11"],
            "honey": { "epsilon": 4, "steps": 50 }
        }),
        versions: serde_json::json!({ "honeyimage": "0.1.0", "libtorch": "2.x" }),
        alpha,
        suspects,
        methods,
        stealth: Stealth {
            ssim_mean: 0.9931,
            ssim_min: 0.981,
            psnr_mean: 41.2,
            linf_max: 4,
            lpips_stl: None,
        },
        method_curves: vec![
            MethodCurve { method: Method::HoneyImage, points: curve.clone() },
            // The baseline without its first point: its cell reads a dash.
            MethodCurve { method: Method::HardUnperturbed, points: curve.iter().skip(1).map(|p: &CurvePoint| CurvePoint { median_p_infringing: p.median_p_infringing * 10.0, ..p.clone() }).collect() },
        ],
        curve,
        examples,
        wall_seconds: 3725.0,
        key_population: None,
        robustness: Vec::new(),
    }
}

/// `r` with its 10 clean HoneyImage models judged again by 11 further keys
/// (rows with `key` 1..=11, a few falsely flagged) and the key population of
/// all 12 keys x 10 clean models: uniform-looking p-values, statistics from
/// `honeyimage_stats`, made-up bootstrap intervals.
fn with_keys(mut r: EvalResults) -> EvalResults {
    let mut rng = Lcg(11);
    let clean: Vec<SuspectResult> = r
        .suspects
        .iter()
        .filter(|s| s.method == Method::HoneyImage && s.role.is_clean())
        .cloned()
        .collect();
    let mut p_values: Vec<f64> = clean.iter().map(|s| s.p_value).collect();
    for key in 1..=11 {
        for s in &clean {
            let mut row = s.clone();
            row.key = key;
            row.p_value = rng.next().max(1e-4);
            row.statistic = -row.p_value.log10();
            row.verdict = row.p_value < r.alpha;
            p_values.push(row.p_value);
            r.suspects.push(row);
        }
    }
    p_values.sort_by(f64::total_cmp);
    let pairs = p_values.len();
    let (ks_d, ks_p) = honeyimage_stats::ks_uniform(&p_values).unwrap();
    let fpr = [0.05, 0.01, 0.001]
        .iter()
        .map(|&alpha| {
            let flagged = p_values.iter().filter(|&&p| p < alpha).count();
            let ci95 = honeyimage_stats::binomial_ci(flagged as u64, pairs as u64, 0.95).unwrap();
            FprAt {
                alpha,
                flagged,
                rate: flagged as f64 / pairs as f64,
                ci95,
                key_bootstrap_ci95: (ci95.0 * 0.5, ci95.1 * 1.4),
            }
        })
        .collect();
    r.key_population = Some(KeyPopulation {
        keys: 12,
        clean_models: clean.len(),
        pairs,
        ks_d,
        ks_p,
        fpr,
        clean_p_values: p_values,
        key_level: None,
    });
    r
}

/// The HTML of the element that starts at `id` up to the next `</table>`.
fn table_of<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id}"));
    let end = start + html[start..].find("</table>").unwrap();
    &html[start..end]
}

/// Nothing in the page may be fetched from elsewhere.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "<link",
        "<script src",
        "@import",
        "http://",
        "https://",
    ] {
        assert!(
            !lower.contains(bad),
            "report references an external resource: found {bad:?}"
        );
    }
}

fn pos_of(html: &str, needle: &str) -> usize {
    html.find(needle).unwrap_or_else(|| panic!("no {needle:?}"))
}

/// A table cell holding the report's dash for "no value".
const DASH_CELL: &str = "<td class=\"num\">–</td>";

#[test]
fn html_has_every_section_and_is_self_contained() {
    let r = synthetic();
    let html = render_html(&r);
    for needle in [
        "HoneyImage evaluation",
        "id=\"results-table\"",
        ">Calibrated</th>",
        "id=\"stealth-table\"",
        "id=\"histograms\"",
        "id=\"curve-plot\"",
        "id=\"suspects-table\"",
        "id=\"examples\"",
        "data:image/png;base64,",
        "not measured (pass <code>--lpips-weights</code>)",
        "flagged 10 of 10 infringing models and 0 of 10 clean models",
        "data=mnist",
        "count=20",
        "1 h 02 min",
    ] {
        assert!(html.contains(needle), "report lacks {needle:?}");
    }
    let roc = &html[html.find("id=\"roc-plot\"").expect("roc-plot")..];
    assert!(
        roc[..roc.find("</div>").unwrap()].contains("<svg"),
        "roc-plot has no inline svg"
    );
    // One histogram per method, one image triple per example.
    let hist =
        &html[html.find("id=\"histograms\"").unwrap()..html.find("id=\"curve-plot\"").unwrap()];
    assert_eq!(hist.matches("<svg").count(), 3);
    assert_eq!(html.matches("<figure class=\"example\">").count(), 3);
    // Every method's training-length power, a dash where a method lacks an epoch.
    let curves = &html[pos_of(&html, "id=\"curve-plot\"")..pos_of(&html, "id=\"suspects-table\"")];
    assert!(curves.contains("HoneyImage median p") && curves.contains("Hard unperturbed median p"), "method curve table missing");
    assert_eq!(curves.matches("<tr>").count(), 1 + 6, "a header and one row per epoch");
    assert!(curves.contains(DASH_CELL), "the baseline's missing first epoch");
    // Data text is escaped.
    assert!(html.contains("resnet18, &quot;odd&quot; &lt;name&gt;"));
    assert!(!html.contains("<name>"));
    assert_self_contained(&html);
    // Order of sections as promised.
    let pos = |s: &str| html.find(s).unwrap();
    assert!(pos("id=\"results-table\"") < pos("id=\"roc-plot\""));
    assert!(pos("id=\"roc-plot\"") < pos("id=\"histograms\""));
    assert!(pos("id=\"histograms\"") < pos("id=\"curve-plot\""));
    assert!(pos("id=\"curve-plot\"") < pos("id=\"suspects-table\""));
    assert!(pos("id=\"suspects-table\"") < pos("id=\"examples\""));
    assert!(pos("id=\"examples\"") < pos("Full configuration"));
}

#[test]
fn html_survives_nan_none_and_empty_vectors() {
    let mut r = synthetic();
    for m in &mut r.methods {
        m.auroc = f64::NAN;
        m.auroc_ci = (f64::NAN, f64::INFINITY);
        m.tpr = f64::NAN;
        m.tau_auroc = None;
        m.accuracy_drop_points = Some(f64::NAN);
        m.infringing_test_accuracy = f64::NAN;
    }
    r.methods[1].roc.clear();
    r.suspects[1].p_value = f64::NAN;
    r.suspects[1].statistic = f64::NAN;
    r.suspects[2].p_value = 0.0;
    r.suspects[2].statistic = f64::INFINITY;
    r.curve[2].median_p_clean = f64::NAN;
    r.curve[3].median_p_infringing = 0.0;
    r.examples[0].honey.truncate(10);
    r.stealth.ssim_mean = f64::NAN;
    r.stealth.lpips_stl = Some(f64::NAN);
    r.wall_seconds = f64::NAN;
    let html = render_html(&r);
    assert!(html.contains("id=\"results-table\""));
    assert!(html.contains('–'));
    assert_self_contained(&html);

    let empty = EvalResults {
        config: serde_json::Value::Null,
        versions: serde_json::json!({}),
        alpha: f64::NAN,
        suspects: vec![],
        methods: vec![],
        stealth: Stealth {
            ssim_mean: f64::NAN,
            ssim_min: f64::NAN,
            psnr_mean: f64::NAN,
            linf_max: 0,
            lpips_stl: None,
        },
        curve: vec![],
        method_curves: vec![],
        examples: vec![],
        wall_seconds: 0.0,
        key_population: None,
        robustness: Vec::new(),
    };
    let html = render_html(&empty);
    for needle in [
        "id=\"results-table\"",
        "id=\"roc-plot\"",
        "id=\"suspects-table\"",
        "id=\"curve-plot\"",
        "id=\"examples\"",
    ] {
        assert!(html.contains(needle), "empty report lacks {needle:?}");
    }
    assert!(html.contains("No suspect models were evaluated"));
    assert_self_contained(&html);
    assert_eq!(suspects_csv(&empty).lines().count(), 1);

    // A single epoch, a single method with no suspects rows, and a degenerate example.
    let mut one = synthetic();
    one.curve.truncate(1);
    one.methods.truncate(1);
    one.suspects.clear();
    one.examples = vec![Example {
        class_name: "x".into(),
        height: 0,
        width: 0,
        channels: 3,
        original: vec![],
        honey: vec![],
    }];
    let html = render_html(&one);
    assert!(
        html.contains("flagged 10 of 10 infringing models"),
        "summary falls back to the rates"
    );
}

#[test]
fn csv_has_one_row_per_suspect_and_quotes() {
    let r = synthetic();
    let csv = suspects_csv(&r);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "name,method,role,arch,seed,epochs,train_accuracy,test_accuracy,p_value,statistic,tau_score,effect_size,label_only_p,verdict,key,attack,removed_all,removed_marked,calibrated_p"
    );
    assert_eq!(lines.len(), r.suspects.len() + 1);
    assert!(
        lines[1].starts_with(
            "\"honeyimage/infringing/resnet18, \"\"odd\"\" <name>\",honeyimage,infringing,"
        ),
        "{}",
        lines[1]
    );
    // Every unquoted row has the 19 columns; badnets NaNs are empty fields,
    // and it has no calibrated p (no key).
    for l in &lines[2..] {
        assert_eq!(l.split(',').count(), 19, "{l}");
        assert!(l.contains(",0,,,,") || l.contains(",0,,,0."), "main key, no attack: {l}");
        assert_eq!(l.starts_with("badnets/"), l.ends_with(",0,,,,"), "{l}");
    }
    let badnets = lines.iter().find(|l| l.starts_with("badnets/")).unwrap();
    assert!(
        badnets.contains(",,"),
        "NaN should be an empty field: {badnets}"
    );
}

#[test]
fn write_report_writes_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    let r = synthetic();
    write_report(&r, &path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), render_html(&r));
}

/// Whether headless Chromium can be used. Under CI (`CI` set) it must be
/// there, as before; elsewhere a missing browser skips the test with a note.
fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} is missing: the report test needs headless Chromium (apt-get install chromium)"
    );
    eprintln!("skipped: {CHROMIUM} is missing (apt-get install chromium); CI is unset, so this test passes");
    false
}

/// Runs Chromium with `args`, killing it after [`CHROMIUM_TIMEOUT`]; returns stdout.
fn chromium(args: &[String], profile: &Path) -> Vec<u8> {
    let out_file = profile.with_extension("stdout");
    let err_file = profile.with_extension("stderr");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_TIMEOUT:?}; stderr:\n{}",
                std::fs::read_to_string(&err_file).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "chromium failed ({status}); stderr:\n{}",
        std::fs::read_to_string(&err_file).unwrap_or_default()
    );
    std::fs::read(&out_file).unwrap()
}

#[test]
fn chromium_renders_a_non_blank_page() {
    if !chromium_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report: PathBuf = dir.path().join("report.html");
    write_report(&with_keys(synthetic()), &report).unwrap();
    let url = format!("file://{}", report.display());

    // The DOM as Chromium parsed it: tables and an SVG inside the ROC plot.
    let dom = chromium(
        &["--dump-dom".into(), url.clone()],
        &dir.path().join("profile-dom"),
    );
    let dom = String::from_utf8_lossy(&dom);
    assert!(
        dom.contains("id=\"results-table\""),
        "rendered DOM lacks the results table"
    );
    assert!(
        dom.contains("id=\"suspects-table\""),
        "rendered DOM lacks the suspects table"
    );
    let roc = &dom[dom
        .find("id=\"roc-plot\"")
        .expect("rendered DOM lacks roc-plot")..];
    let roc_end = roc.find("</div>").unwrap_or(roc.len());
    assert!(
        roc[..roc_end].contains("<svg"),
        "rendered roc-plot contains no svg"
    );
    assert!(
        dom.contains("id=\"key-fpr-table\""),
        "rendered DOM lacks the key table"
    );

    // The screenshot: decoded, it must show a real page.
    let shot = dir.path().join("shot.png");
    chromium(
        &[
            "--window-size=1200,2400".into(),
            format!("--screenshot={}", shot.display()),
            url,
        ],
        &dir.path().join("profile-shot"),
    );
    let img = image::open(&shot)
        .expect("chromium wrote no readable screenshot")
        .to_rgb8();
    let (w, h) = img.dimensions();
    assert!(w >= 1000 && h >= 2000, "screenshot is {w}x{h}");
    let non_white = img
        .pixels()
        .filter(|p| p.0.iter().any(|&c| c < 240))
        .count();
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    let frac = non_white as f64 / (w as f64 * h as f64);
    assert!(
        frac > 0.03,
        "page looks blank: only {:.2}% non-white pixels",
        100.0 * frac
    );
    assert!(
        colours.len() >= 50,
        "page looks blank: only {} distinct colours",
        colours.len()
    );
    // Orange (HoneyImage / infringing) must appear: the plots were drawn.
    let orange = img
        .pixels()
        .filter(|p| p.0[0] > 200 && p.0[1] > 70 && p.0[1] < 160 && p.0[2] < 60)
        .count();
    assert!(
        orange > 200,
        "no plot colours visible ({orange} orange pixels)"
    );
    if let Ok(keep) = std::env::var("HONEYIMAGE_REPORT_SHOT") {
        // Keep the screenshot (and the page) for a person to look at.
        std::fs::copy(&shot, &keep).unwrap();
        std::fs::copy(&report, Path::new(&keep).with_extension("html")).unwrap();
    }
}

/// The example builder: `HONEYIMAGE_REPORT_OUT=/tmp/report.html cargo test -p
/// honeyimage-report --test report keep_sample` writes the synthetic run's
/// report, with its `results.csv` and `results.json` beside it (`.csv`,
/// `.json`), for a person to open; without the variable it checks that
/// writing leaves nothing but those files behind.
#[test]
fn keep_sample_report() {
    let r = with_attacks(with_keys(synthetic()));
    let dir = tempfile::tempdir().unwrap();
    let path = match std::env::var_os("HONEYIMAGE_REPORT_OUT") {
        Some(p) => PathBuf::from(p),
        None => dir.path().join("report.html"),
    };
    write_report(&r, &path).unwrap();
    std::fs::write(path.with_extension("csv"), suspects_csv(&r)).unwrap();
    std::fs::write(
        path.with_extension("json"),
        serde_json::to_string_pretty(&r).unwrap(),
    )
    .unwrap();
    if path.starts_with(dir.path()) {
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["report.csv", "report.html", "report.json"],
            "no temporary file left behind"
        );
    }
}

#[test]
fn write_report_names_the_path_it_could_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-folder").join("report.html");
    let err = write_report(&synthetic(), &path).unwrap_err();
    assert!(
        matches!(&err, honeyimage_report::Error::Write { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("no-such-folder"), "{err}");
    assert!(!path.exists());
}

#[test]
fn results_round_trip_through_json() {
    let r = synthetic();
    let json = serde_json::to_string(&r).unwrap();
    // NaN is written as null and read back as NaN; methods and roles keep their names.
    assert!(json.contains("\"method\":\"random-pgd\""));
    assert!(json.contains("\"role\":\"clean-minus-honey\""));
    let back: EvalResults = serde_json::from_str(&json).unwrap();
    assert_eq!(render_html(&back), render_html(&r));
    assert_eq!(suspects_csv(&back), suspects_csv(&r));
}

#[test]
fn key_section_renders_its_finding_table_and_qq_plot() {
    let r = with_keys(synthetic());
    let kp = r.key_population.as_ref().unwrap();
    assert_eq!((kp.pairs, kp.clean_models), (120, 10));
    let html = render_html(&r);
    let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("no {s}"));
    assert!(pos("id=\"histograms\"") < pos("id=\"key-population\""));
    assert!(pos("id=\"key-population\"") < pos("id=\"curve-plot\""));
    assert!(html.contains("<h2>False positives over keys</h2>"));
    assert!(
        html.contains("Over 120 (key, clean model) pairs — 12 keys × 10 clean models — the clean p-values are"),
        "finding sentence"
    );
    // Cites the run's α (0.01) and its interval.
    assert_eq!(kp.fpr[1].flagged, 1);
    assert!(
        html.contains("at α = 0.01, 1 of 120 was flagged (0.83%; 95% interval 0.021% to 4.56%).")
    );
    // One row per α, flagged over pairs.
    let table = table_of(&html, "key-fpr-table");
    assert_eq!(table.matches("<tr").count(), 1 + 3);
    for f in &kp.fpr {
        assert!(table.contains(&format!("{} / 120", f.flagged)), "{table}");
    }
    // The QQ plot is an inline SVG.
    let qq = &html[pos("id=\"qq-plot\"")..];
    assert!(qq[..qq.find("</div>").unwrap()].contains("<svg"));
    // Text is escaped ("p < α" in the note) and nothing is fetched.
    assert!(html.contains("flagged at p &lt; α"));
    assert_self_contained(&html);
}

#[test]
fn key_section_is_absent_without_a_key_population() {
    let html = render_html(&synthetic());
    assert!(!html.contains("key-population") && !html.contains("False positives over keys"));
    assert!(!html.contains("qq-plot"));
}

#[test]
fn key_finding_flips_when_ks_rejects_or_a_rate_exceeds_alpha() {
    let mut r = with_keys(synthetic());
    let calm = render_html(&r);
    assert!(
        calm.contains("<p class=\"finding\">"),
        "uniform p-values are no alarm"
    );
    assert!(calm.contains("the clean p-values are consistent with uniform (KS D = "));
    let kp = r.key_population.as_mut().unwrap();
    kp.ks_p = 0.003;
    let html = render_html(&r);
    assert!(html.contains("<p class=\"finding alarm\">"));
    assert!(html.contains("are not consistent with uniform (KS D = "));
    assert!(html.contains("p = 0.0030), but no false-positive rate is significantly above its α"));
    // A rate whose interval lies above its α is cited and marked.
    let kp = r.key_population.as_mut().unwrap();
    kp.ks_p = 0.5;
    kp.fpr[2] = FprAt {
        alpha: 0.001,
        flagged: 6,
        rate: 0.05,
        ci95: (0.0186, 0.1057),
        key_bootstrap_ci95: (0.0, 0.2),
    };
    let html = render_html(&r);
    assert!(html.contains("<p class=\"finding alarm\">"));
    assert!(html.contains(
        "yet at α = 0.001, 6 of 120 were flagged (5.00%; 95% interval 1.86% to 10.6%), more than α allows."
    ));
    let table = table_of(&html, "key-fpr-table");
    assert_eq!(
        table.matches("▲ above α").count(),
        1,
        "only the Clopper-Pearson interval"
    );
    assert_eq!(table.matches("<tr class=\"wrong-row\">").count(), 1);
}

#[test]
fn rows_of_further_keys_change_no_table_or_count() {
    let plain = synthetic();
    let keyed = with_keys(synthetic());
    assert_eq!(keyed.suspects.len(), plain.suspects.len() + 110);
    let (a, b) = (render_html(&plain), render_html(&keyed));
    // Header, tiles, detection table and histograms are the same page up to
    // the key section.
    let upto = |html: &str| html[..html.find("id=\"histograms\"").unwrap()].to_string();
    assert_eq!(upto(&a), upto(&b));
    let hist = |html: &str| {
        let h = &html[html.find("id=\"histograms\"").unwrap()..];
        h[..h.find("</section>").unwrap()].to_string()
    };
    assert_eq!(hist(&a), hist(&b));
    assert!(b.contains("HoneyImage · 10 infringing, 10 clean"));
    // The suspects table lists the main key's rows only, and says where the rest went.
    let rows = |html: &str| table_of(html, "suspects-table").matches("<tr").count();
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(rows(&b), 1 + plain.suspects.len());
    assert!(b.contains("61 suspects in total."));
    assert!(b.contains(
        "110 further judgements of clean models by 11 further keys are summarised under"
    ));
    // The CSV keeps every row, with its key.
    let csv = suspects_csv(&keyed);
    assert_eq!(csv.lines().count(), 1 + keyed.suspects.len());
    assert_eq!(csv.lines().filter(|l| l.contains(",11,,,")).count(), 10);
}

#[test]
fn an_old_results_json_without_keys_still_reads() {
    // results.json as earlier runs wrote it: no `key` and no `key_population`.
    let r = synthetic();
    let mut v = serde_json::to_value(&r).unwrap();
    v.as_object_mut().unwrap().remove("key_population");
    for s in v["suspects"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("key");
    }
    let old = serde_json::to_string(&v).unwrap();
    assert!(!old.contains("\"key\"") && !old.contains("key_population"));
    let back: EvalResults = serde_json::from_str(&old).unwrap();
    assert!(back.key_population.is_none());
    assert!(back.suspects.iter().all(|s| s.key == 0));
    assert_eq!(render_html(&back), render_html(&r));
    assert_eq!(suspects_csv(&back), suspects_csv(&r));
}

#[test]
fn a_key_population_round_trips_through_json() {
    let r = with_keys(synthetic());
    let back: EvalResults = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back.key_population, r.key_population);
    assert_eq!(render_html(&back), render_html(&r));
}

/// `r` with a robustness study: three attacks in two families against
/// HoneyImage and BadNets (BadNets not run under the filter), with one
/// attacked suspect per (attack, method) in the suspects list.
fn with_attacks(mut r: EvalResults) -> EvalResults {
    let row =
        |attack: &str, family: &str, method: Method, tpr_001: f64, acc: (f64, f64)| AttackSummary {
            attack: attack.into(),
            family: family.into(),
            method,
            calibrated: None,
            label_only: attack == "labels-only",
            infringing: 10,
            tpr_001,
            tpr_01: (tpr_001 + 0.05).min(1.0),
            median_p: 3e-6,
            auroc: 0.99,
            clean: 3,
            clean_flagged: 0,
            test_accuracy: acc.1,
            base_test_accuracy: acc.0,
            removed: None,
        };
    let mut filter = row(
        "loss-filter-0p05-f4",
        "cleaning",
        Method::HoneyImage,
        0.4,
        (0.851, 0.86),
    );
    filter.removed = Some(Removed {
        all: 0.075,
        marked: 0.525,
    });
    r.robustness = vec![
        row("jpeg-q75", "data", Method::HoneyImage, 1.0, (0.851, 0.843)),
        row("jpeg-q75", "data", Method::BadNets, 0.2, (0.84, 0.83)),
        filter,
        row(
            "labels-only",
            "query",
            Method::HoneyImage,
            0.95,
            (0.851, 0.851),
        ),
        row(
            "labels-only",
            "query",
            Method::BadNets,
            f64::NAN,
            (0.84, 0.84),
        ),
    ];
    let attacked: Vec<SuspectResult> = r
        .robustness
        .iter()
        .map(|a| {
            let mut s = suspect(a.method, Role::Infringing, 0, 1e-6, r.alpha);
            s.name = format!("{}/{}", s.name, a.attack);
            s.attack = a.attack.clone();
            s.removed = a.removed;
            s
        })
        .collect();
    r.suspects.extend(attacked);
    r
}

#[test]
fn robustness_section_renders_its_finding_heat_map_and_costs() {
    let plain = synthetic();
    let r = with_attacks(synthetic());
    let html = render_html(&r);
    let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("no {s}"));
    assert!(pos("id=\"histograms\"") < pos("id=\"robustness\""));
    assert!(pos("id=\"robustness\"") < pos("id=\"curve-plot\""));
    assert!(html.contains("<h2>Robustness: the infringer's playbook</h2>"));
    assert!(html.contains(
        "<p class=\"finding alarm\">HoneyImage keeps TPR ≥ 0.9 at α = 0.001 under 2 of 3 attacks \
         that cost the attacker less than 2 points of test accuracy (not under loss-filter-0p05-f4); \
         no attacked clean model was flagged.</p>"
    ));
    // Rows grouped by family, one column per method, a dash where not run.
    let table = table_of(&html, "robustness-table");
    assert_eq!(table.matches("<tr class=\"family\">").count(), 3);
    assert_eq!(table.matches("<td class=\"heat\"").count(), 5);
    assert!(table.contains("<th class=\"num\">HoneyImage</th><th class=\"num\">BadNets</th>"));
    assert!(
        table.contains("style=\"background:#8ce99a\""),
        "TPR 1 is green"
    );
    assert!(table.contains(">1.00</td>") && table.contains(">0.20</td>"));
    assert!(table.contains(">0.95<span class=\"labels-mark\">labels</span></td>"));
    assert!(table.contains("<td class=\"heat muted\" title=\"not run\">–</td>"));
    assert!(table.contains("10 infringing / 0 of 3 clean flagged"));
    // One cost line per attack, from HoneyImage's row.
    let costs = &html[pos("id=\"robustness-costs\"")..];
    let costs = &costs[..costs.find("</ul>").unwrap()];
    assert_eq!(costs.matches("<li>").count(), 3);
    for line in [
        "<code>jpeg-q75</code> (data): test accuracy 85.1% → 84.3% (−0.8 points); clean models flagged 0 of 3",
        "<code>loss-filter-0p05-f4</code> (cleaning): test accuracy 85.1% → 86.0% (+0.9 points); clean models flagged 0 of 3; \
         removed 7.50% of the training set and 52.5% of the HoneyImages (7.0× the base rate)",
        "<code>labels-only</code> (query): test accuracy 85.1% → 85.1% (no change)",
    ] {
        assert!(costs.contains(line), "no {line:?} in {costs}");
    }
    assert!(html.contains("Image Shortcut Squeezing (Liu et al., ICML 2023)"));
    assert_self_contained(&html);
    // Attacked suspects stay out of the tables and counts, but not the CSV.
    let rows = |html: &str| table_of(html, "suspects-table").matches("<tr").count();
    assert_eq!(rows(&html), rows(&render_html(&plain)));
    assert!(html.contains("5 attacked suspects are summarised under"));
    let csv = suspects_csv(&r);
    assert_eq!(csv.lines().count(), 1 + r.suspects.len());
    assert!(
        csv.contains(",true,0,loss-filter-0p05-f4,0.075,0.525,"),
        "{csv}"
    );
    // Without attacks there is no section, and JSON round-trips it.
    assert!(!render_html(&plain).contains("id=\"robustness\""));
    let back: EvalResults = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(render_html(&back), html);
}
