//! verify against real deployments: a PyTorch suspect served by MLServer
//! (a real Open Inference Protocol server) over HTTP, and behind nginx over
//! HTTPS with a private CA and a required bearer token; NVIDIA's
//! `tritonclient` querying `honeyimage serve`; and stand-ins for TF Serving
//! and TorchServe (scripts/oip/standins.py, which follow their documented
//! REST APIs: the real servers cannot be installed here). Every path must
//! reach the p-value of the same model loaded from its TorchScript file, and
//! every misconfiguration must exit 2 with one line that never shows the
//! token. Servers are started by scripts/oip/ and installed by setup.sh.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::common::*;

const TOKEN: &str = "tok-7f3a9c2e51d84b06";

/// One protected release, its key and a foreign PyTorch suspect trained on
/// it, shared by the tests of this file.
struct Fixture {
    dir: PathBuf,
    key: PathBuf,
    pt: PathBuf,
    /// `verify --model suspect.pt --json`.
    reference: serde_json::Value,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let data = fmnist_subset(&dir, 3000);
        let (rel, key) = (dir.join("rel"), dir.join("k.key"));
        let o = run(&[
            "protect", "--data", data.to_str().unwrap(), "--out", rel.to_str().unwrap(), "--key", key.to_str().unwrap(), "--count", "30",
            "--proxy-epochs", "3", "--steps", "10", "--no-baseline",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let prefix = dir.join("torch");
        let o = Command::new("python3").args([script("train_torch_suspect.py").as_str(), rel.to_str().unwrap(), prefix.to_str().unwrap(), "--epochs", "15"]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let pt = dir.join("torch.pt");
        let (code, reference) = verify(&key, &["--model", pt.to_str().unwrap()], &[]);
        assert_eq!(code, 1, "the suspect trained on the release must be flagged: {reference}");
        Fixture { dir, key, pt, reference }
    })
}

fn script(name: &str) -> String {
    format!("{}/../../scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `verify --key KEY TARGET... EXTRA... --json` with `env`; exit code and
/// document (exit 0 or 1 required).
fn verify_env(key: &Path, target: &[&str], extra: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let o = verify_cmd(key, target, extra, env).arg("--json").output().unwrap();
    let code = o.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "verify failed: {}", stderr(&o));
    (code, serde_json::from_slice(&o.stdout).unwrap())
}

fn verify(key: &Path, target: &[&str], extra: &[&str]) -> (i32, serde_json::Value) {
    verify_env(key, target, extra, &[])
}

fn verify_cmd(key: &Path, target: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = bin();
    c.args(["verify", "--key", key.to_str().unwrap()]).args(target).args(extra).env_remove("HONEYIMAGE_BEARER_TOKEN").env_remove("HONEYIMAGE_HEADERS");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// A verify run that must fail: its one-line message (exit 2).
fn verify_fails(key: &Path, target: &[&str], extra: &[&str], env: &[(&str, &str)]) -> String {
    // Debug logging on: credentials must not leak there either.
    let o = verify_cmd(key, target, extra, env).env("HONEYIMAGE_LOG", "trace").output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains(TOKEN) && !stdout(&o).contains(TOKEN), "the token leaked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

/// The same verdict as the TorchScript file: the p-value, and mean losses
/// equal up to f32 rounding for servers that return logits.
fn assert_same(v: &serde_json::Value, reference: &serde_json::Value, what: &str) {
    assert_close(v, reference, what, 1e-5);
}

/// Servers that return *probabilities* lose the tiny ones (f32 rounds them
/// to 0, and verify floors their log), so the losses of confidently wrong
/// samples move a little; the rank test's p-value must not.
fn assert_close(v: &serde_json::Value, reference: &serde_json::Value, what: &str, relative: f64) {
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    assert_eq!(f(v, "p_value"), f(reference, "p_value"), "{what}: {v}");
    for k in ["mean_loss_released", "mean_loss_withheld"] {
        let (a, b) = (f(v, k), f(reference, k));
        assert!((a - b).abs() <= relative * b.abs().max(1e-3), "{what}: {k} {a} vs {b}");
    }
}

/// A server process started by a script that prints one JSON line when
/// ready; killed (with its children, see stack.py) when dropped.
struct Server {
    child: Child,
    info: serde_json::Value,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            let _ = child.kill();
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("{cmd:?} did not start: {err}");
        }
        Server { child, info: serde_json::from_str(&line).unwrap() }
    }

    fn url(&self, field: &str) -> String {
        self.info[field].as_str().unwrap_or_else(|| panic!("no {field} in {}", self.info)).to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stack(f: &Fixture, tls: bool) -> Server {
    let dir = tempfile::tempdir_in(&f.dir).unwrap().keep();
    let mut c = Command::new("python3");
    c.args([script("oip/stack.py").as_str(), "--model", f.pt.to_str().unwrap(), "--dir", dir.to_str().unwrap()]).env("HONEYIMAGE_TEST_TOKEN", TOKEN);
    if tls {
        c.arg("--tls");
    }
    Server::start(c)
}

#[test]
fn verify_reaches_mlserver_over_https_with_a_token_and_fails_clearly_when_misconfigured() {
    let f = fixture();
    let s = stack(f, true);
    let (https, ca, wrong_ca) = (s.url("https_url"), s.url("ca_cert"), s.url("wrong_ca_cert"));
    let key = &f.key;
    let token = [("HONEYIMAGE_BEARER_TOKEN", TOKEN)];

    // The token from the environment, and from a header file.
    let (code, v) = verify_env(key, &["--endpoint", &https], &["--ca-cert", &ca], &token);
    assert_eq!(code, 1, "{v}");
    assert_same(&v, &f.reference, "HTTPS + token");
    assert_eq!(v["http"]["protocol"], "v2");
    assert!(!v.to_string().contains(TOKEN));
    let headers = f.dir.join("headers.txt");
    std::fs::write(&headers, format!("# the suspect's API\nAuthorization: Bearer {TOKEN}\n")).unwrap();
    let o = verify_cmd(key, &["--endpoint", &https], &["--ca-cert", &ca, "--header-file", headers.to_str().unwrap(), "--json"], &[]).output().unwrap();
    assert_same(&serde_json::from_slice(&o.stdout).unwrap(), &f.reference, "HTTPS + header file");
    assert!(stderr(&o).contains("readable by other users"), "a shared credentials file is warned about: {}", stderr(&o));

    // Misconfigurations: one clear line each, exit 2, no token anywhere.
    // (The right token in another header, which the proxy ignores: it must
    // not show in the trace log either.)
    let api_key = format!("X-Api-Key: {TOKEN}");
    let e = verify_fails(key, &["--endpoint", &https], &["--ca-cert", &ca], &[("HONEYIMAGE_BEARER_TOKEN", "tok-wrong-0000"), ("HONEYIMAGE_HEADERS", &api_key)]);
    assert!(e.contains("401") && e.contains("credentials"), "{e}");
    let e = verify_fails(key, &["--endpoint", &https], &["--ca-cert", &ca], &[]);
    assert!(e.contains("401"), "{e}");
    let e = verify_fails(key, &["--endpoint", &https], &["--ca-cert", &wrong_ca], &token);
    assert!(e.contains("certificate of localhost") && e.contains("--ca-cert"), "{e}");
    let e = verify_fails(key, &["--endpoint", &https], &[], &token);
    assert!(e.contains("certificate of localhost"), "{e}");
    let e = verify_fails(key, &["--endpoint", &https.replace("/suspect", "/no-such-model")], &["--ca-cert", &ca], &token);
    assert!(e.contains("404") && e.contains("no-such-model"), "{e}");
    let e = verify_fails(key, &["--endpoint", &https], &["--ca-cert", &ca, "--resize", "32x32"], &token);
    assert!(e.contains("shape differs") && e.contains("[-1, 1, 28, 28]"), "{e}");
    // Credentials never travel in clear to another machine, nor in the URL.
    let e = verify_fails(key, &["--endpoint", "http://192.0.2.1:8080/v2/models/suspect"], &[], &token);
    assert!(e.contains("plain http"), "{e}");
    let e = verify_fails(key, &["--endpoint", &https.replace("https://", &format!("https://u:{TOKEN}@"))], &[], &[]);
    assert!(e.contains("--header-file"), "{e}");
}

#[test]
fn verify_speaks_every_protocol_and_standard_clients_query_serve() {
    let f = fixture();
    let key = &f.key;
    let pt = f.pt.to_str().unwrap();
    let names = script("oip/fmnist_index_to_name.json");

    // MLServer over plain HTTP (no token needed on loopback without nginx).
    let s = stack(f, false);
    let (_, v) = verify(key, &["--endpoint", &s.url("http_url")], &["--protocol", "v2", "--batch", "16"]);
    assert_same(&v, &f.reference, "MLServer over HTTP");
    assert_eq!(v["http"]["requests"], 2 + 60_u64.div_ceil(16), "readiness + metadata + infer batches: {v}");
    drop(s);

    // TF Serving stand-in (row format, NHWC by default for TF).
    let tfs = Server::start(with_args(&["tfserving", "--model", pt]));
    let (_, v) = verify(key, &["--endpoint", &tfs.url("model_url")], &[]);
    assert_close(&v, &f.reference, "TF Serving", 0.02);
    assert_eq!(v["http"]["protocol"], "tfserving");

    // TorchServe stand-in: PNG bodies, class names in the reply. All ten
    // classes give the full distribution; the stock handler's top 5 only
    // supports the label-only test.
    let ts = Server::start(with_args(&["torchserve", "--model", pt, "--topk", "10", "--index-to-name", &names]));
    let (_, v) = verify(key, &["--endpoint", &ts.url("predictions_url")], &["--class-map", &names]);
    assert_close(&v, &f.reference, "TorchServe", 0.02);
    assert_eq!(v["http"]["requests"], 1 + 60, "ping + one request per image: {v}");
    let e = verify_fails(key, &["--endpoint", &ts.url("predictions_url")], &[], &[]);
    assert!(e.contains("--class-map"), "{e}");
    let top5 = Server::start(with_args(&["torchserve", "--model", pt, "--index-to-name", &names]));
    let e = verify_fails(key, &["--endpoint", &top5.url("predictions_url")], &["--class-map", &names], &[]);
    assert!(e.contains("--label-only"), "{e}");
    let (_, v) = verify(key, &["--endpoint", &top5.url("predictions_url")], &["--class-map", &names, "--label-only"]);
    assert!(v["method"].as_str().unwrap().contains("Fisher"), "{v}");

    // honeyimage serve over the Open Inference Protocol: our client, and
    // NVIDIA's tritonclient (binary and JSON tensors) get what /v1/predict gives.
    let mut server = Kill(bin().args(["serve", "--model", pt, "--port", "0"]).stdout(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let predict = line.split_whitespace().last().unwrap().to_string();
    let base = predict.trim_end_matches("/v1/predict").to_string();
    let (_, v) = verify(key, &["--endpoint", &format!("{base}/v2/models/suspect")], &[]);
    // serve answers with probabilities (as over its own protocol).
    assert_close(&v, &f.reference, "honeyimage serve over V2", 0.02);
    let images: Vec<u8> = (0..5 * 784).map(|i| ((i * 37) % 256) as u8).collect();
    let npy = f.dir.join("q.npy");
    write_npy(&npy, &images, [5, 28, 28, 1]);
    let ours = ureq_predict(&predict, &images);
    for json_inputs in [false, true] {
        let mut c = Command::new("python3");
        c.args([script("oip/triton_query.py").as_str(), "--url", base.trim_start_matches("http://"), "--model", "suspect", "--images", npy.to_str().unwrap()]);
        if json_inputs {
            c.arg("--json-inputs");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "tritonclient: {}", stderr(&o));
        let got: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
        assert_eq!(got["server_live"], true);
        let rows = got["outputs"].as_array().unwrap();
        assert_eq!(rows.len(), 5);
        for (a, b) in rows.iter().zip(&ours) {
            for (x, y) in a.as_array().unwrap().iter().zip(b) {
                assert!((x.as_f64().unwrap() - y).abs() < 1e-6, "tritonclient {x} vs ours {y}");
            }
        }
    }
    drop(server);
}

/// A child process killed when dropped (also when a test fails).
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn with_args(args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    c.arg(script("oip/standins.py")).args(args);
    c
}

/// A uint8 .npy file (version 1.0) of `shape`.
fn write_npy(path: &Path, data: &[u8], shape: [usize; 4]) {
    let dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({}, {}, {}, {}), }}", shape[0], shape[1], shape[2], shape[3]);
    let pad = 64 - (10 + dict.len() + 1) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// Probabilities from our own protocol.
fn ureq_predict(url: &str, images: &[u8]) -> Vec<Vec<f64>> {
    let req = honeyimage::query::PredictRequest::new(images, images.len() / 784, 28, 28, 1);
    let reply: serde_json::Value = ureq::post(url).send_json(serde_json::to_value(&req).unwrap()).unwrap().into_json().unwrap();
    serde_json::from_value(reply["probabilities"].clone()).unwrap()
}
