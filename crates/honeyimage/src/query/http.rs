//! The HTTP(S) transport every remote protocol shares: TLS through rustls
//! (the system's roots plus a private CA from `--ca-cert`; verification is
//! never switched off), credential headers that never reach a message or a
//! log ([`Credentials`]), time-outs, retries with back-off and a rate limit.
//! Messages name the endpoint without its query string or user info.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Replies larger than this are refused.
const MAX_REPLY_BYTES: u64 = 256 << 20;

/// Environment variable holding extra request headers, one `Name: value` a line.
pub const HEADERS_ENV: &str = "HONEYIMAGE_HEADERS";
/// Environment variable holding a bearer token (`Authorization: Bearer <token>`).
pub const TOKEN_ENV: &str = "HONEYIMAGE_BEARER_TOKEN";

/// Request headers that carry secrets (API keys, bearer tokens). Their
/// values never appear in `Debug` output, messages or logs: errors name the
/// header, never its value, and [`Credentials::redact`] scrubs any text a
/// server echoes back.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.headers.iter().map(|(n, _)| format!("{n}: <redacted>"))).finish()
    }
}

/// RFC 9110 token characters (header names).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Credentials {
    /// Parses `Name: value` lines (blank lines and `#` comments skipped).
    /// `source` names the file or variable in errors, which give the line
    /// number and never the value.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let mut headers = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| Error::invalid("headers", format!("{source} line {}: {why}", i + 1));
            let (name, value) = line.split_once(':').ok_or_else(|| bad("expected `Name: value`"))?;
            let (name, value) = (name.trim(), value.trim());
            if !is_token(name) {
                return Err(bad("not a valid header name"));
            }
            if value.is_empty() || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(bad(&format!("the value of {name} is empty or has control characters")));
            }
            headers.push((name.to_string(), value.to_string()));
        }
        Ok(Credentials { headers })
    }

    /// Reads a header file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Headers from [`HEADERS_ENV`] and a bearer token from [`TOKEN_ENV`].
    pub fn from_env() -> Result<Self> {
        let mut c = match std::env::var(HEADERS_ENV) {
            Ok(text) => Self::parse(&text, HEADERS_ENV)?,
            Err(_) => Credentials::default(),
        };
        if let Ok(token) = std::env::var(TOKEN_ENV) {
            let token = token.trim();
            if token.is_empty() || token.bytes().any(|b| b.is_ascii_control()) {
                return Err(Error::invalid("headers", format!("{TOKEN_ENV} is empty or has control characters")));
            }
            c.headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        Ok(c)
    }

    /// These headers followed by `other`'s.
    pub fn merged(mut self, other: Credentials) -> Self {
        self.headers.extend(other.headers);
        self
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The header names (for messages).
    pub fn names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// `text` with every header value (and a bearer token inside one)
    /// replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (_, v) in &self.headers {
            let token = v.strip_prefix("Bearer ").unwrap_or(v);
            for secret in [v.as_str(), token] {
                if secret.len() >= 4 {
                    out = out.replace(secret, "<redacted>");
                }
            }
        }
        out
    }

    fn apply(&self, mut req: ureq::Request) -> ureq::Request {
        for (n, v) in &self.headers {
            req = req.set(n, v);
        }
        req
    }
}

/// Settings of the HTTP client.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after a failed request (timeouts, connection errors, 5xx, 429).
    pub retries: usize,
    /// First back-off delay; doubles after each retry.
    pub backoff: Duration,
    /// At most this many requests per second (None: no limit).
    pub rate_limit: Option<f64>,
    /// Images per request (protocols that take one image per request ignore it).
    pub batch: usize,
    /// A PEM file of CA certificates trusted besides the system's roots.
    pub ca_cert: Option<PathBuf>,
    /// Headers sent with every request (credentials).
    pub credentials: Credentials,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(250),
            rate_limit: None,
            batch: 64,
            ca_cert: None,
            credentials: Credentials::default(),
        }
    }
}

/// The rustls configuration: the system's roots plus the certificates of
/// `ca` (PEM), ring's cryptography, no client certificate.
pub fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match rustls_native_certs::load_native_certs() {
        Ok(certs) => {
            roots.add_parsable_certificates(certs);
        }
        Err(e) => tracing::warn!("system root certificates not loaded: {e}"),
    }
    if let Some(path) = ca {
        let bad = |m: String| Error::invalid("--ca-cert", format!("{}: {m}", path.display()));
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in the file".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| bad(format!("unusable CA certificate: {e}")))?;
        }
    }
    if roots.is_empty() {
        return Err(Error::invalid("TLS", "no trusted root certificates on this system; pass the server's CA with --ca-cert FILE"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("TLS", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// `url` as messages show it: scheme, host, port and path, without user
/// info or query string.
pub fn shown(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

/// Parses and checks an endpoint URL: http(s), a host, no credentials in
/// it, and no credentials sent in clear to another machine.
pub fn endpoint_url(text: &str, credentials: &Credentials) -> Result<url::Url> {
    let url = url::Url::parse(text).map_err(|e| Error::invalid("endpoint", format!("{:?}: {e}", credentials.redact(text))))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::invalid("endpoint", format!("{} is not an http(s) URL", shown(&url))));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid("endpoint", format!("{}: credentials in the URL would show in process lists and logs; put them in --header-file or {TOKEN_ENV}", shown(&url))));
    }
    if url.scheme() == "http" && !credentials.is_empty() && !is_loopback(&url) {
        return Err(Error::invalid("endpoint", format!("{}: refusing to send credentials ({}) over plain http to another machine; use https", shown(&url), credentials.names().join(", "))));
    }
    Ok(url)
}

/// Why a request failed, and whether trying again may help.
struct Failure {
    retry: bool,
    message: String,
}

/// A connection to one server: the agent (TLS, time-out), credentials, rate
/// limit and retries.
pub struct Transport {
    agent: ureq::Agent,
    cfg: HttpConfig,
    last: Option<Instant>,
    /// Requests sent (including retries) and time spent in them.
    pub requests: usize,
    /// Seconds spent waiting for replies.
    pub seconds: f64,
}

impl Transport {
    /// A transport with `cfg`'s time-out, TLS roots and credentials.
    pub fn new(cfg: HttpConfig) -> Result<Self> {
        let mut b = ureq::AgentBuilder::new().timeout(cfg.timeout).redirects(0);
        b = b.tls_config(tls_config(cfg.ca_cert.as_deref())?);
        Ok(Transport { agent: b.build(), cfg, last: None, requests: 0, seconds: 0.0 })
    }

    /// The settings.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// GET `url`; the body of a 2xx reply.
    pub fn get(&mut self, url: &url::Url) -> Result<Vec<u8>> {
        self.send(url, None)
    }

    /// POST `body` as `content_type` to `url`; the body of a 2xx reply.
    pub fn post(&mut self, url: &url::Url, content_type: &str, body: &[u8]) -> Result<Vec<u8>> {
        self.send(url, Some((content_type, body)))
    }

    fn send(&mut self, url: &url::Url, body: Option<(&str, &[u8])>) -> Result<Vec<u8>> {
        let mut delay = self.cfg.backoff;
        for attempt in 0.. {
            if let (Some(rate), Some(last)) = (self.cfg.rate_limit, self.last) {
                if let Some(wait) = Duration::from_secs_f64(1.0 / rate).checked_sub(last.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            let start = Instant::now();
            self.last = Some(start);
            let r = self.once(url, body);
            self.requests += 1;
            self.seconds += start.elapsed().as_secs_f64();
            match r {
                Ok(bytes) => return Ok(bytes),
                Err(f) if f.retry && attempt < self.cfg.retries => {
                    tracing::warn!("{}: {}; retrying in {delay:?}", shown(url), f.message);
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(f) => return Err(Error::model(shown(url), format!("{} (after {} attempts)", f.message, attempt + 1))),
            }
        }
        unreachable!("the loop returns")
    }

    fn once(&self, url: &url::Url, body: Option<(&str, &[u8])>) -> std::result::Result<Vec<u8>, Failure> {
        let creds = &self.cfg.credentials;
        let req = match body {
            Some((ct, _)) => self.agent.request_url("POST", url).set("Content-Type", ct),
            None => self.agent.request_url("GET", url),
        };
        let req = creds.apply(req.set("Accept", "application/json"));
        let result = match body {
            Some((_, b)) => req.send_bytes(b),
            None => req.call(),
        };
        match result {
            Ok(resp) => {
                let mut bytes = Vec::new();
                resp.into_reader()
                    .take(MAX_REPLY_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Failure { retry: true, message: creds.redact(&format!("reading reply: {e}")) })?;
                if bytes.len() as u64 > MAX_REPLY_BYTES {
                    return Err(Failure { retry: false, message: format!("reply larger than {MAX_REPLY_BYTES} bytes") });
                }
                Ok(bytes)
            }
            Err(ureq::Error::Status(code, resp)) => {
                let text: String = resp.into_string().unwrap_or_default().chars().take(200).collect();
                let hint = match code {
                    401 | 403 => " (check the credentials: --header-file, HONEYIMAGE_HEADERS or HONEYIMAGE_BEARER_TOKEN)",
                    404 => " (wrong model name, version or path?)",
                    _ => "",
                };
                let message = creds.redact(&format!("HTTP {code}{hint}: {}", text.trim()));
                Err(Failure { retry: code >= 500 || code == 429, message })
            }
            Err(ureq::Error::Transport(t)) => {
                let mut chain = vec![t.kind().to_string()];
                chain.extend(t.message().map(str::to_string));
                let mut src = std::error::Error::source(&t);
                while let Some(s) = src {
                    chain.push(s.to_string());
                    src = s.source();
                }
                chain.dedup();
                let text = chain.join(": ");
                let host = url.host_str().unwrap_or("?");
                if text.contains("certificate") || text.contains("Certificate") {
                    let message = format!("TLS: the certificate of {host} is not trusted ({text}); if a private CA signed it, pass that CA with --ca-cert FILE");
                    return Err(Failure { retry: false, message: creds.redact(&message) });
                }
                Err(Failure { retry: true, message: creds.redact(&text) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_never_show() {
        let c = Credentials::parse("# api\nAuthorization: Bearer s3cr3t-token\n\nX-Api-Key:  k-123456 \n", "h.txt").unwrap();
        assert_eq!(c.names(), vec!["Authorization", "X-Api-Key"]);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("k-123456") && dbg.contains("X-Api-Key"), "{dbg}");
        assert_eq!(c.redact("echo: Bearer s3cr3t-token and k-123456"), "echo: <redacted> and <redacted>");
        assert_eq!(c.redact("token s3cr3t-token"), "token <redacted>");
        for bad in ["NoColon", "Bad Name: v", "X-Empty:"] {
            let e = Credentials::parse(bad, "h.txt").unwrap_err().to_string();
            assert!(e.contains("h.txt line 1"), "{e}");
        }
        let e = Credentials::parse("X-Key: abc\u{7}def", "h.txt").unwrap_err().to_string();
        assert!(!e.contains("abc"), "the value must not appear: {e}");
    }

    #[test]
    fn endpoint_urls_refuse_leaky_credentials() {
        let c = Credentials::parse("Authorization: Bearer abcdef", "x").unwrap();
        let e = endpoint_url("https://user:pw@example.org/v2/models/m", &Credentials::default()).unwrap_err().to_string();
        assert!(e.contains("--header-file") && !e.contains("pw@"), "{e}");
        assert!(endpoint_url("http://example.org/v2/models/m", &c).unwrap_err().to_string().contains("plain http"));
        endpoint_url("http://127.0.0.1:8080/v2/models/m", &c).unwrap();
        endpoint_url("http://localhost:8080/v2/models/m", &c).unwrap();
        endpoint_url("https://example.org/v2/models/m", &c).unwrap();
        assert!(endpoint_url("ftp://example.org/x", &c).is_err());
        assert_eq!(shown(&url::Url::parse("https://h:1/p?api_key=zz").unwrap()), "https://h:1/p");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let e = tls_config(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("ca.pem") && e.contains("--ca-cert"), "{e}");
        assert!(tls_config(Some(&dir.path().join("missing.pem"))).unwrap_err().to_string().contains("missing.pem"));
    }
}
