//! `serve` under hostile and concurrent clients: slow and stalled
//! connections are cut by the time-outs, oversized and malformed requests
//! get 4xx answers, a connection flood is bounded, and a concurrent load
//! test from a second process (`bench-serve`) gets only correct replies,
//! while the server stays up throughout.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(model: &str, extra: &[&str]) -> Server {
    let mut child = bin().args(["serve", "--model", model, "--port", "0"]).args(extra).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().last().expect("serve prints its URL").to_string();
    let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    Server { child, addr }
}

/// Sends raw bytes and returns the status code of the reply (0 when the
/// server closed the connection without one).
fn raw(addr: &str, bytes: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn post(addr: &str, body: &[u8]) -> u16 {
    let mut rq = format!("POST /v1/predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    rq.extend_from_slice(body);
    raw(addr, &rq)
}

fn healthy(addr: &str) -> bool {
    raw(addr, format!("GET /v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()) == 200
}

/// Reads until the server closes the connection; returns how long it took.
fn time_to_close(mut s: TcpStream) -> Duration {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    t.elapsed()
}

#[test]
fn serve_survives_hostile_and_concurrent_clients() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    let o = run(&["train", "--data", fmnist().to_str().unwrap(), "--limit", "1000", "--epochs", "1", "--test-limit", "100", "--out", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let srv = start(
        model.to_str().unwrap(),
        &["--max-connections", "12", "--queue", "8", "--max-batch", "32", "--max-body", "200000", "--header-timeout", "1", "--request-timeout", "3"],
    );
    let addr = srv.addr.clone();
    assert!(healthy(&addr));

    // Slow clients: headers never finished, and a body that never arrives.
    let slow_headers: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    let mut slow_body = TcpStream::connect(&addr).unwrap();
    slow_body.write_all(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"shape\"").unwrap();

    // Bad requests, each answered with a 4xx while the slow ones hang.
    let img = vec![7u8; 28 * 28];
    let good = serde_json::to_vec(&honeyimage::query::PredictRequest::new(&img, 1, 28, 28, 1)).unwrap();
    assert_eq!(post(&addr, &good), 200);
    assert_eq!(post(&addr, b"{not json"), 400);
    assert_eq!(post(&addr, &[0xff, 0xfe, 0x00, 0x80]), 400);
    assert_eq!(post(&addr, br#"{"shape":[1000000,28,28,1],"dtype":"uint8","data":""}"#), 400);
    assert_eq!(post(&addr, br#"{"shape":[18446744073709551615,18446744073709551615,1,1],"dtype":"uint8","data":""}"#), 400);
    assert_eq!(post(&addr, br#"{"shape":[1,4096,4096,3],"dtype":"uint8","data":"AAAA"}"#), 400);
    assert_eq!(post(&addr, br#"{"shape":[1,28,28,1],"dtype":"float32","data":"AAAA"}"#), 400);
    assert_eq!(post(&addr, br#"{"shape":[1,5,5,1],"dtype":"uint8","data":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}"#), 422, "wrong image size for the model");
    assert_eq!(post(&addr, &vec![b' '; 300_000]), 413);
    assert_eq!(raw(&addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-hello\r\n\r\n"), 400);
    assert_eq!(raw(&addr, format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000)).as_bytes()) / 100, 4);
    assert_eq!(raw(&addr, format!("GET /v1/nothing HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()), 404);

    // The time-outs cut the slow clients (1 s for headers, 3 s for a request).
    for s in slow_headers {
        assert!(time_to_close(s) < Duration::from_secs(15), "a connection that never finished its headers was kept open");
    }
    let mut reply = Vec::new();
    slow_body.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = slow_body.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "a body that never arrived should time out with 408, got {reply:?}");

    // A connection flood: past --max-connections, new connections are closed at once.
    let flood: Vec<TcpStream> = (0..40).filter_map(|_| TcpStream::connect(&addr).ok()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed = flood
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            matches!((&**s).read(&mut [0u8; 1]), Ok(0))
        })
        .count();
    assert!(closed >= 40 - 12, "only {closed} of 40 flood connections were refused with --max-connections 12");
    drop(flood);
    std::thread::sleep(Duration::from_millis(300));
    assert!(healthy(&addr), "server down after the flood");

    // A concurrent load test from a second process: every reply correct.
    let o = run(&[
        "bench-serve", "--url", &format!("http://{addr}/v1/predict"), "--data", fmnist().to_str().unwrap(), "--split", "test", "--concurrency", "6",
        "--requests", "300", "--batch", "8", "--json", dir.path().join("load.json").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "load test: {}{}", stdout(&o), stderr(&o));
    let load: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("load.json")).unwrap()).unwrap();
    assert_eq!(load["sent"], 300, "{load}");
    assert_eq!(load["ok"].as_u64().unwrap() + load["busy_503"].as_u64().unwrap(), 300, "{load}");
    assert!(load["ok"].as_u64().unwrap() >= 250, "a queue of 8 should serve 6 clients without shedding most requests: {load}");
    assert!(healthy(&addr), "server down after the load test");
}

#[test]
fn serve_refuses_bad_settings_and_a_missing_model() {
    let o = run(&["serve", "--model", "/nonexistent/model", "--port", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/model"), "{}", stderr(&o));
    let o = run(&["serve", "--model", "/nonexistent/model", "--port", "0", "--queue", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["serve", "--model", "/nonexistent/model", "--port", "0", "--header-timeout", "nan"]);
    assert_eq!(o.status.code(), Some(2));
}
