//! `honeyimage bench-serve`: a bounded load test of a prediction endpoint
//! from a second process. It first asks for every distinct batch once, in
//! sequence, to get reference answers; then it sends `--requests` requests
//! from `--concurrency` threads and checks every reply against its
//! reference. It reports requests/s, images/s and latency percentiles, and
//! exits 2 if any reply was wrong or any request failed (a 503 "busy" is
//! counted apart: it is the server shedding load as designed).
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use honeyimage::query::{OutputKind, PredictRequest};
use serde::Serialize;

use crate::data_args::DataArgs;
use crate::progress::Ui;
use crate::settings::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    /// Predict URL, e.g. http://127.0.0.1:8080/v1/predict.
    #[arg(long)]
    url: String,
    #[command(flatten)]
    data: DataArgs,
    /// Parallel clients.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Requests in the timed phase.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// Images per request.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Distinct batches cycled through.
    #[arg(long, default_value_t = 8)]
    distinct: usize,
    /// Stop the timed phase after this many seconds even if requests remain.
    #[arg(long, default_value_t = 120.0)]
    max_seconds: f64,
    /// Client time-out per request, seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Also write the summary as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// What the load test measured.
#[derive(Debug, Serialize)]
pub struct Summary {
    url: String,
    concurrency: usize,
    batch: usize,
    sent: usize,
    ok: usize,
    wrong: usize,
    busy_503: usize,
    failed: usize,
    seconds: f64,
    requests_per_s: f64,
    images_per_s: f64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    first_failure: Option<String>,
}

enum Outcome {
    Ok(Vec<Vec<f64>>),
    Busy,
    Failed(String),
}

fn post(agent: &ureq::Agent, url: &str, body: &str, rows: usize) -> Outcome {
    match agent.post(url).set("Content-Type", "application/json").send_string(body) {
        Ok(resp) => {
            let mut bytes = Vec::new();
            if let Err(e) = resp.into_reader().take(64 << 20).read_to_end(&mut bytes) {
                return Outcome::Failed(format!("reading reply: {e}"));
            }
            match honeyimage_format::protocol::parse_reply(&bytes, OutputKind::Auto, rows) {
                Ok(p) => Outcome::Ok(p),
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
        Err(ureq::Error::Status(503, _)) => Outcome::Busy,
        Err(ureq::Error::Status(code, r)) => Outcome::Failed(format!("HTTP {code}: {}", r.into_string().unwrap_or_default().chars().take(200).collect::<String>())),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Sends `args.requests` requests from `args.concurrency` clients and
/// checks every reply against the reference answers.
fn load_test(args: &Args, bodies: &[String], reference: &[Vec<Vec<f64>>]) -> Summary {
    let next = AtomicUsize::new(0);
    let (ok, wrong, busy, failed) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let latencies = Mutex::new(Vec::with_capacity(args.requests));
    let first_failure = Mutex::new(None::<String>);
    let deadline = Duration::from_secs_f64(args.max_seconds);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..args.concurrency {
            s.spawn(|| {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs_f64(args.timeout)).build();
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.requests || start.elapsed() > deadline {
                        break;
                    }
                    let b = i % args.distinct;
                    let t = Instant::now();
                    let outcome = post(&agent, &args.url, &bodies[b], args.batch);
                    mine.push(t.elapsed().as_secs_f64() * 1e3);
                    let fail = |m: String| {
                        first_failure.lock().expect("not poisoned").get_or_insert(m);
                    };
                    match outcome {
                        Outcome::Ok(p) => {
                            let diff = p.iter().flatten().zip(reference[b].iter().flatten()).map(|(a, r)| (a - r).abs()).fold(0.0, f64::max);
                            if diff <= 1e-6 {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                wrong.fetch_add(1, Ordering::Relaxed);
                                fail(format!("request {i}: reply differs from the reference by {diff:.3e}"));
                            }
                        }
                        Outcome::Busy => {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::Failed(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            fail(format!("request {i}: {e}"));
                        }
                    }
                }
                latencies.lock().expect("not poisoned").extend(mine);
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut lat = latencies.into_inner().expect("not poisoned");
    lat.sort_by(f64::total_cmp);
    let ok = ok.into_inner();
    Summary {
        url: args.url.clone(),
        concurrency: args.concurrency,
        batch: args.batch,
        sent: lat.len(),
        ok,
        wrong: wrong.into_inner(),
        busy_503: busy.into_inner(),
        failed: failed.into_inner(),
        seconds,
        requests_per_s: ok as f64 / seconds,
        images_per_s: (ok * args.batch) as f64 / seconds,
        latency_ms_p50: percentile(&lat, 0.5),
        latency_ms_p90: percentile(&lat, 0.9),
        latency_ms_p99: percentile(&lat, 0.99),
        latency_ms_max: lat.last().copied().unwrap_or(f64::NAN),
        first_failure: first_failure.into_inner().expect("not poisoned"),
    }
}

impl Summary {
    /// One line a person reads.
    fn print(&self) {
        println!(
            "{} requests ({} ok, {} wrong, {} busy, {} failed) in {:.1} s: {:.1} req/s, {:.0} images/s; latency ms p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
            self.sent,
            self.ok,
            self.wrong,
            self.busy_503,
            self.failed,
            self.seconds,
            self.requests_per_s,
            self.images_per_s,
            self.latency_ms_p50,
            self.latency_ms_p90,
            self.latency_ms_p99,
            self.latency_ms_max
        );
    }
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitStatus> {
    if args.concurrency == 0 || args.requests == 0 || args.batch == 0 || args.distinct == 0 {
        bail!("--concurrency, --requests, --batch and --distinct must be >= 1");
    }
    if !(args.timeout > 0.0 && args.max_seconds > 0.0) {
        bail!("--timeout and --max-seconds must be > 0");
    }
    let (_, ds) = args.data.load()?;
    let len = ds.image_len();
    let (h, w, c) = (ds.height, ds.width, ds.channels);
    let bodies: Vec<String> = (0..args.distinct)
        .map(|b| {
            let px: Vec<u8> = (0..args.batch).flat_map(|i| ds.image((b * args.batch + i) % ds.len()).to_vec()).collect();
            debug_assert_eq!(px.len(), args.batch * len);
            serde_json::to_string(&PredictRequest::new(&px, args.batch, h, w, c)).expect("request serialises")
        })
        .collect();
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs_f64(args.timeout)).build();

    let mut reference = Vec::with_capacity(args.distinct);
    for (b, body) in bodies.iter().enumerate() {
        match post(&agent, &args.url, body, args.batch) {
            Outcome::Ok(p) => reference.push(p),
            Outcome::Busy => bail!("{}: busy (503) during the reference pass", args.url),
            Outcome::Failed(e) => bail!("{}: reference request {b} failed: {e}", args.url),
        }
    }
    ui.status(format!("reference answers for {} batches of {}; sending {} requests from {} clients", args.distinct, args.batch, args.requests, args.concurrency));

    let summary = load_test(&args, &bodies, &reference);
    summary.print();
    if let Some(p) = &args.json {
        honeyimage::fsio::write_json(p, &summary).with_context(|| format!("writing {}", p.display()))?;
    }
    if summary.wrong + summary.failed > 0 {
        bail!("{} of {} requests failed or were wrong; first: {}", summary.wrong + summary.failed, summary.sent, summary.first_failure.unwrap_or_default());
    }
    Ok(ExitStatus::Success)
}
