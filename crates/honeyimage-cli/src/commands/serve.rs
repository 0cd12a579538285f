//! `honeyimage serve`: expose a model (folder, TorchScript or ONNX) over the
//! HTTP JSON protocol of docs/HTTP_PROTOCOL.md and over the Open Inference
//! Protocol (KServe V2 REST, so Triton's and KServe's clients can query it),
//! for tests and for owners who want to try verification end to end.
//!
//! Hardening: loopback unless told otherwise; bounded connections, request
//! body, batch size and inference queue; a header read time-out (slow
//! clients) and a whole-request time-out; a panic anywhere answers 500 and
//! the server keeps serving. HTTP is hyper's; the model runs on one
//! dedicated thread fed by a bounded queue (a full queue answers 503 with
//! Retry-After, so clients back off instead of piling up).
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use honeyimage::query::{PredictReply, PredictRequest};
use honeyimage_format::oip::{self, InferResponse, ModelMetadata, ResponseOutput, ServerMetadata, TensorMetadata};
use tokio::sync::{oneshot, Semaphore};

use crate::progress::Ui;
use crate::settings::ExitStatus;
use crate::query_args::{open_options, HttpArgs, PreArgs};

#[derive(clap::Args)]
pub struct Args {
    /// Model folder, TorchScript .pt or .onnx file.
    #[arg(long)]
    model: String,
    /// Address to bind. Loopback by default; anything else exposes the model
    /// to the network without authentication.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one; the URL is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 32 << 20)]
    max_body: usize,
    /// Most images in one request.
    #[arg(long, default_value_t = 256)]
    max_batch: usize,
    /// Most open connections; more are closed at once.
    #[arg(long, default_value_t = 64)]
    max_connections: usize,
    /// Most requests waiting for the model; more get 503 + Retry-After.
    #[arg(long, default_value_t = 16)]
    queue: usize,
    /// Seconds a client may take to send its request headers.
    #[arg(long, default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds a whole request may take (body, queue and inference).
    #[arg(long, default_value_t = 60.0)]
    request_timeout: f64,
    /// Answer with the top-1 class of each image only (like a label-only API).
    #[arg(long, conflicts_with = "top_k")]
    labels_only: bool,
    /// Answer with the K most likely classes and their probabilities only.
    #[arg(long)]
    top_k: Option<usize>,
    /// Round top-k probabilities to this many decimals.
    #[arg(long, requires = "top_k")]
    decimals: Option<u32>,
    /// The model's name in the Open Inference Protocol (/v2/models/NAME).
    #[arg(long, default_value = "suspect")]
    name: String,
    #[command(flatten)]
    pre: PreArgs,
}

/// What the server answers with (docs/HTTP_PROTOCOL.md).
#[derive(Clone, Copy, Debug)]
enum ReplyForm {
    Probabilities,
    Labels,
    TopK { k: usize, decimals: Option<u32> },
}

impl ReplyForm {
    fn of(args: &Args) -> ReplyForm {
        match (args.labels_only, args.top_k) {
            (true, _) => ReplyForm::Labels,
            (false, Some(k)) => ReplyForm::TopK { k, decimals: args.decimals },
            (false, None) => ReplyForm::Probabilities,
        }
    }

    fn reply(self, p: Vec<Vec<f64>>) -> PredictReply {
        match self {
            ReplyForm::Probabilities => PredictReply::probabilities(p),
            ReplyForm::Labels => PredictReply::labels_of(&p),
            ReplyForm::TopK { k, decimals } => PredictReply::top_k(&p, k, decimals),
        }
    }

    /// The same answer as an Open Inference Protocol output: "probabilities"
    /// FP64 [n, k], "labels" INT64 [n], or "top_k" BYTES [n, k] in the
    /// classification extension's "score:index" form.
    fn output(self, p: Vec<Vec<f64>>) -> ResponseOutput {
        let r = self.reply(p);
        match (r.probabilities, r.labels, r.top_k) {
            (Some(p), _, _) => ResponseOutput::fp64_rows(self.output_name(), &p),
            (_, Some(l), _) => ResponseOutput::labels(self.output_name(), &l),
            (_, _, Some(t)) => ResponseOutput::classification(self.output_name(), &t.iter().map(|r| r.iter().map(|e| (e.label, e.score)).collect()).collect::<Vec<_>>()),
            _ => unreachable!("a reply has one form"),
        }
    }

    fn output_name(self) -> &'static str {
        match self {
            ReplyForm::Probabilities => "probabilities",
            ReplyForm::Labels => "labels",
            ReplyForm::TopK { .. } => "top_k",
        }
    }

    /// The output's metadata (`k`: classes, if known).
    fn output_metadata(self) -> TensorMetadata {
        let (datatype, shape) = match self {
            ReplyForm::Probabilities => ("FP64", vec![-1, -1]),
            ReplyForm::Labels => ("INT64", vec![-1]),
            ReplyForm::TopK { k, .. } => ("BYTES", vec![-1, k as i64]),
        };
        TensorMetadata { name: self.output_name().into(), datatype: datatype.into(), shape }
    }
}

/// Work for the model thread.
struct Job {
    px: Vec<u8>,
    shape: [usize; 4],
    reply: oneshot::Sender<std::result::Result<Vec<Vec<f64>>, String>>,
}

#[derive(Clone)]
struct AppState {
    jobs: std::sync::mpsc::SyncSender<Job>,
    max_batch: usize,
    form: ReplyForm,
    /// The model's name in the Open Inference Protocol.
    name: Arc<str>,
    /// Input (h, w, c), when the model knows it.
    input: Option<(usize, usize, usize)>,
}

fn json_error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn predict(State(st): State<AppState>, body: axum::body::Bytes) -> Response {
    let max_batch = st.max_batch;
    // JSON + base64 of up to --max-body bytes: off the async threads.
    let parsed = tokio::task::spawn_blocking(move || PredictRequest::parse(&body, max_batch)).await;
    let (req, px) = match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, format!("parsing failed: {e}")),
    };
    match run_model(&st, px, req.shape).await {
        Ok(p) => Json(st.form.reply(p)).into_response(),
        Err(r) => r,
    }
}

/// Queues a batch for the model thread; its probability rows, or the error reply.
async fn run_model(st: &AppState, px: Vec<u8>, shape: [usize; 4]) -> std::result::Result<Vec<Vec<f64>>, Response> {
    let (tx, rx) = oneshot::channel();
    match st.jobs.try_send(Job { px, shape, reply: tx }) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(_)) => {
            let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, "busy: the request queue is full, retry later");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return Err(r);
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Err(json_error(StatusCode::INTERNAL_SERVER_ERROR, "the model thread stopped")),
    }
    match rx.await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(json_error(StatusCode::UNPROCESSABLE_ENTITY, e)),
        Err(_) => Err(json_error(StatusCode::INTERNAL_SERVER_ERROR, "the model thread dropped the request")),
    }
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not found: use POST /v1/predict, GET /v1/health, or the Open Inference Protocol under /v2")
}

/// `GET /v2`.
async fn v2_server() -> Response {
    Json(ServerMetadata { name: "honeyimage".into(), version: env!("CARGO_PKG_VERSION").into(), extensions: vec!["binary_tensor_data".into(), "classification".into()] }).into_response()
}

async fn v2_live() -> Response {
    Json(serde_json::json!({ "live": true })).into_response()
}

async fn v2_ready() -> Response {
    Json(serde_json::json!({ "ready": true })).into_response()
}

/// The model named in the path, or a 404 naming the one served.
fn v2_model(st: &AppState, name: &str) -> std::result::Result<(), Response> {
    match name == &*st.name {
        true => Ok(()),
        false => Err(json_error(StatusCode::NOT_FOUND, format!("model {name:?} not found (this server serves {:?})", &*st.name))),
    }
}

fn v2_metadata(st: &AppState) -> ModelMetadata {
    let [h, w, c] = st.input.map_or([-1; 3], |(h, w, c)| [h as i64, w as i64, c as i64]);
    ModelMetadata {
        name: st.name.to_string(),
        versions: vec![],
        platform: "honeyimage".into(),
        inputs: vec![TensorMetadata { name: "images".into(), datatype: "UINT8".into(), shape: vec![-1, h, w, c] }],
        outputs: vec![st.form.output_metadata()],
    }
}

async fn v2_model_metadata(State(st): State<AppState>, Path(p): Path<Vec<(String, String)>>) -> Response {
    match v2_model(&st, &p[0].1) {
        Ok(()) => Json(v2_metadata(&st)).into_response(),
        Err(r) => r,
    }
}

async fn v2_model_ready(State(st): State<AppState>, Path(p): Path<Vec<(String, String)>>) -> Response {
    match v2_model(&st, &p[0].1) {
        Ok(()) => Json(serde_json::json!({ "name": &*st.name, "ready": true })).into_response(),
        Err(r) => r,
    }
}

/// `POST /v2/models/{name}[/versions/{v}]/infer`: JSON, or JSON plus binary
/// tensors (`Inference-Header-Content-Length`); the reply is always JSON.
async fn v2_infer(State(st): State<AppState>, Path(p): Path<Vec<(String, String)>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = v2_model(&st, &p[0].1) {
        return r;
    }
    let json_len = match headers.get("inference-header-content-length").map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok())) {
        None => None,
        Some(Some(l)) => Some(l),
        Some(None) => return json_error(StatusCode::BAD_REQUEST, "Inference-Header-Content-Length is not a length"),
    };
    let max_batch = st.max_batch;
    let parsed = tokio::task::spawn_blocking(move || oip::parse_request(&body, json_len, max_batch)).await;
    let (req, px, shape) = match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, format!("parsing failed: {e}")),
    };
    let ours = st.form.output_name();
    if let Some(o) = req.outputs.iter().find(|o| o.name != ours) {
        return json_error(StatusCode::BAD_REQUEST, format!("unknown output {:?} (this model has {ours:?})", o.name));
    }
    match run_model(&st, px, shape).await {
        Ok(p) => Json(InferResponse { model_name: st.name.to_string(), model_version: None, id: req.id, outputs: vec![st.form.output(p)] }).into_response(),
        Err(r) => r,
    }
}

/// The model thread: opens the model, then answers jobs one at a time. A
/// panic inside the model answers that job with an error and goes on.
fn model_thread(model: String, opts: honeyimage::query::OpenOptions, jobs: std::sync::mpsc::Receiver<Job>, ready: std::sync::mpsc::Sender<Result<Option<(usize, usize, usize)>>>) {
    let mut oracle = match honeyimage::query::open(&model, &opts, honeyimage::default_device()) {
        Ok(o) => {
            let _ = ready.send(Ok(o.input_shape()));
            o
        }
        Err(e) => {
            let _ = ready.send(Err(anyhow::Error::new(e).context(format!("opening {model}"))));
            return;
        }
    };
    for job in jobs {
        let [n, h, w, c] = job.shape;
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| oracle.predict(&job.px, n, h, w, c)));
        let out = match out {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the model failed on this input (internal panic)".to_string()),
        };
        let _ = job.reply.send(out);
    }
}

fn secs(what: &str, v: f64) -> Result<Duration> {
    if !(v > 0.0 && v.is_finite() && v < 1e6) {
        bail!("--{what} {v}: must be a positive number of seconds");
    }
    Ok(Duration::from_secs_f64(v))
}

/// The routes of both protocols, with the body limit, the whole-request
/// time-out and the panic guard.
fn router(state: AppState, max_body: usize, request_timeout: Duration) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/predict", post(predict))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(v2_live))
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/models/{name}", get(v2_model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(v2_model_metadata))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route("/v2/models/{name}/versions/{version}/ready", get(v2_model_ready))
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(v2_infer))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitStatus> {
    if args.max_batch == 0 || args.max_body == 0 || args.max_connections == 0 || args.queue == 0 {
        bail!("--max-batch, --max-body, --max-connections and --queue must be >= 1");
    }
    let header_timeout = secs("header-timeout", args.header_timeout)?;
    let request_timeout = secs("request-timeout", args.request_timeout)?;
    let http = HttpArgs::local(args.max_batch);
    let opts = open_options(&args.pre, &http)?;

    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Job>(args.queue);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let model = args.model.clone();
    std::thread::Builder::new().name("model".into()).spawn(move || model_thread(model, opts, job_rx, ready_tx))?;
    let input = ready_rx.recv().context("the model thread stopped while opening the model")??;

    let state = AppState { jobs: job_tx, max_batch: args.max_batch, form: ReplyForm::of(&args), name: args.name.as_str().into(), input };
    let app = router(state, args.max_body, request_timeout);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await.with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let addr: SocketAddr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            ui.status(&format!("warning: {addr} is reachable from other machines and the endpoint has no authentication"));
        }
        println!("serving {} on http://{addr}/v1/predict", args.model);
        ui.status(&format!("Open Inference Protocol: http://{addr}/v2/models/{}", args.name));
        std::io::stdout().flush()?;
        ui.status("POST /v1/predict with {\"shape\":[n,h,w,c],\"dtype\":\"uint8\",\"data\":\"<base64>\"}; Ctrl-C stops");
        let slots = Arc::new(Semaphore::new(args.max_connections));
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        // EMFILE and friends: wait instead of spinning.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = tokio::signal::ctrl_c() => break,
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!("{peer}: refused, {} connections open", args.max_connections);
                drop(stream);
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |rq| tower::ServiceExt::oneshot(app.clone(), rq));
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .max_buf_size(64 << 10)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("{peer}: {e}");
                }
                drop(permit);
            });
        }
        anyhow::Ok(())
    })?;
    Ok(ExitStatus::Success)
}
