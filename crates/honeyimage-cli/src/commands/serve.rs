//! `honeyimage serve`: expose a model (folder, TorchScript or ONNX) over the
//! HTTP JSON protocol of docs/HTTP_PROTOCOL.md, for tests and for owners who
//! want to try verification end to end. Loopback by default; request size
//! and batch size are bounded; requests are served one at a time.
use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use honeyimage::query::{PredictReply, PredictRequest};

use crate::progress::Ui;
use crate::query_args::{open_options, HttpArgs, PreArgs};

#[derive(clap::Args)]
pub struct Args {
    /// Model folder, TorchScript .pt or .onnx file.
    #[arg(long)]
    model: String,
    /// Address to bind (loopback unless told otherwise).
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
    #[command(flatten)]
    pre: PreArgs,
}

fn reply(rq: tiny_http::Request, code: u16, body: &serde_json::Value) {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]).expect("valid header");
    let resp = tiny_http::Response::from_string(body.to_string()).with_status_code(code).with_header(header);
    if let Err(e) = rq.respond(resp) {
        tracing::warn!("client went away: {e}");
    }
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    if args.max_batch == 0 || args.max_body == 0 {
        bail!("--max-batch and --max-body must be >= 1");
    }
    let http = HttpArgs { timeout: 30.0, retries: 0, rate_limit: None, batch: args.max_batch };
    let opts = open_options(&args.pre, &http)?;
    let mut oracle = honeyimage::query::open(&args.model, &opts, honeyimage::default_device()).with_context(|| format!("opening {}", args.model))?;
    let server = tiny_http::Server::http((args.host.as_str(), args.port)).map_err(|e| anyhow::anyhow!("binding {}:{}: {e}", args.host, args.port))?;
    let addr = server.server_addr().to_ip().context("server has no IP address")?;
    println!("serving {} on http://{addr}/v1/predict", args.model);
    std::io::stdout().flush()?;
    ui.status("POST /v1/predict with {\"shape\":[n,h,w,c],\"dtype\":\"uint8\",\"data\":\"<base64>\"}; Ctrl-C stops");
    for mut rq in server.incoming_requests() {
        let path = rq.url().split('?').next().unwrap_or("").to_string();
        match (rq.method(), path.as_str()) {
            (tiny_http::Method::Get, "/v1/health") => reply(rq, 200, &serde_json::json!({"status": "ok"})),
            (tiny_http::Method::Post, "/v1/predict") => {
                if rq.body_length().is_some_and(|n| n > args.max_body) {
                    reply(rq, 413, &serde_json::json!({"error": format!("body larger than {} bytes", args.max_body)}));
                    continue;
                }
                let mut body = Vec::new();
                if let Err(e) = rq.as_reader().take(args.max_body as u64 + 1).read_to_end(&mut body) {
                    reply(rq, 400, &serde_json::json!({"error": format!("reading body: {e}")}));
                    continue;
                }
                if body.len() > args.max_body {
                    reply(rq, 413, &serde_json::json!({"error": format!("body larger than {} bytes", args.max_body)}));
                    continue;
                }
                let req: PredictRequest = match serde_json::from_slice(&body) {
                    Ok(r) => r,
                    Err(e) => {
                        reply(rq, 400, &serde_json::json!({"error": format!("malformed request: {e}")}));
                        continue;
                    }
                };
                let px = match req.decode(args.max_batch) {
                    Ok(px) => px,
                    Err(e) => {
                        reply(rq, 400, &serde_json::json!({"error": e.to_string()}));
                        continue;
                    }
                };
                let [n, h, w, c] = req.shape;
                match oracle.predict(&px, n, h, w, c) {
                    Ok(p) => {
                        let r = PredictReply { probabilities: Some(p), logits: None };
                        reply(rq, 200, &serde_json::to_value(r).expect("serialises"))
                    }
                    Err(e) => reply(rq, 422, &serde_json::json!({"error": e.to_string()})),
                }
            }
            _ => reply(rq, 404, &serde_json::json!({"error": "not found: use POST /v1/predict or GET /v1/health"})),
        }
    }
    Ok(ExitCode::SUCCESS)
}
