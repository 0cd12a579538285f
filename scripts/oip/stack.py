"""Starts a real Open Inference Protocol ("V2") server for the integration
tests of `honeyimage verify`, optionally behind TLS with a bearer token.

Why it exists: the tests must query servers that nobody here wrote. MLServer
(Seldon's V2 server) serves the TorchScript suspect through
scripts/oip/mlserver_runtime.py; with --tls, nginx terminates HTTPS with a
certificate from a throw-away CA and, when $HONEYIMAGE_TEST_TOKEN is set,
answers 401 unless `Authorization: Bearer <token>` is sent, as an API
gateway in front of a model server would.

usage: stack.py --model suspect.pt --dir DIR [--name suspect] [--tls] [--timeout 120]

Everything (settings, certificates, nginx config, logs, pid and temp files)
lives in DIR. Ports are free loopback ports picked at start, so several
stacks can run at once. When both servers answer, it prints ONE JSON line
on stdout:
  {"http_url": "http://127.0.0.1:P/v2/models/NAME", "http_base": ...,
   "https_url": "https://localhost:Q/v2/models/NAME", "https_base": ...,  (--tls)
   "ca_cert": "DIR/ca.pem", "wrong_ca_cert": "DIR/wrong-ca.pem",          (--tls)
   "token_required": bool, "dir": DIR}
and stays in the foreground. It stops MLServer and nginx (each in its own
process group) and exits on SIGTERM/SIGINT/SIGHUP, when its parent dies, or
when its stdin is a pipe and that pipe closes (so a test that spawns it with
a piped stdin and dies cleans up anyway; /dev/null stdin is not watched).
Children also get PR_SET_PDEATHSIG=SIGTERM, so even a SIGKILL of this
supervisor leaves no server behind. Logs: DIR/mlserver.log, DIR/nginx-*.log.
"""
import argparse, ctypes, json, os, pwd, re, select, shutil, signal, socket, ssl, stat, subprocess, sys, time
import urllib.error, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN_ENV = "HONEYIMAGE_TEST_TOKEN"


class Stop(Exception):
    """Raised from the signal handlers: unwinds to the cleanup in main()."""


def log(msg):
    print(f"stack.py: {msg}", file=sys.stderr, flush=True)


def free_ports(n):
    """n distinct free loopback ports (all held open together while picking)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pdeathsig():
    # Runs in the child between fork and exec: SIGTERM it when we die, even by SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


LIVE = []  # (what, Popen, log file) of every child started and not yet stopped


def spawn(what, cmd, logfile, cwd, env=None):
    """Starts cmd in a new session (its own process group), output to logfile."""
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_pdeathsig)
    LIVE.append((what, proc, logfile))
    return proc


def stop(proc, grace=10.0):
    """SIGTERM the child's whole process group, SIGKILL it after `grace` s."""
    LIVE[:] = [c for c in LIVE if c[1] is not proc]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)  # pgid == pid: start_new_session
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)  # does any member of the group remain?
            except ProcessLookupError:
                return
            time.sleep(0.1)
    proc.poll()


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError as e:
        return f"({e})"


def status(url, headers=None, context=None):
    """HTTP status of GET url, or None when nothing answers."""
    handlers = [urllib.request.ProxyHandler({})]  # loopback: ignore *_proxy
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    try:
        with urllib.request.build_opener(*handlers).open(
                urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ssl.SSLError):
        return None


def wait_ready(proc, urls, logfile, what, timeout, headers=None, context=None):
    """Polls until every url answers 200; raises with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting; "
                               f"{logfile}:\n{tail(logfile)}")
        if all(status(u, headers, context) == 200 for u in urls):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s ({urls}); "
                               f"{logfile}:\n{tail(logfile)}")
        time.sleep(0.25)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def mlserver_config(d, name, model, http_port, grpc_port):
    # MLServer cannot switch gRPC off: it gets a free loopback port too.
    # Metrics (another port) off; parallel_workers 0: inference in the main
    # process, no worker pool (one process, low CPU).
    write_json(os.path.join(d, "settings.json"), {
        "debug": False, "host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port,
        "metrics_endpoint": None, "parallel_workers": 0, "load_models_at_startup": True,
        "metrics_dir": os.path.join(d, ".metrics"), "environments_dir": os.path.join(d, ".envs"),
    })
    os.makedirs(os.path.join(d, name), exist_ok=True)
    write_json(os.path.join(d, name, "model-settings.json"), {
        "name": name,
        "implementation": "mlserver_runtime.TorchScriptRuntime",
        "platform": "pytorch_torchscript",
        "parameters": {"uri": model},
        "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}],
    })


def start_mlserver(d, name, model, timeout):
    """Starts MLServer on free ports; retries if a port was taken meanwhile."""
    exe = os.path.join(os.path.dirname(sys.executable), "mlserver")
    if not os.path.exists(exe):
        exe = shutil.which("mlserver") or sys.exit("stack.py: no `mlserver` (run scripts/setup.sh)")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")])))
    env.pop(TOKEN_ENV, None)  # nginx checks the token; MLServer has no use for it
    logfile = os.path.join(d, "mlserver.log")
    open(logfile, "w").close()  # a reused DIR: no stale errors in the tail

    def launch():
        http_port, grpc_port = free_ports(2)
        mlserver_config(d, name, model, http_port, grpc_port)
        return spawn("MLServer", [exe, "start", d], logfile, cwd=d, env=env), f"http://127.0.0.1:{http_port}"

    return start_with_retries(launch, name, logfile, "MLServer", timeout)


def start_with_retries(launch, name, logfile, what, timeout, headers=None, ctx=None):
    """Runs `launch()` (-> process, base URL) until the model answers ready;
    up to 3 tries when a port picked as free was taken meanwhile."""
    for attempt in range(3):
        proc, base = launch()
        try:
            wait_ready(proc, [f"{base}/v2/health/ready", f"{base}/v2/models/{name}/ready"],
                       logfile, what, timeout, headers, ctx)
            return proc, base
        except RuntimeError:
            stop(proc)
            if attempt < 2 and "address already in use" in tail(logfile, 20).lower():
                log("a port was taken meanwhile, retrying")
                continue
            raise


def make_certs(d):
    """Throw-away CA, server cert for localhost/127.0.0.1 signed by it, and an
    unrelated CA. EC P-256, v3 extensions as strict verifiers (rustls) want."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    for stem, cn in (("ca", "honeyimage test CA"), ("wrong-ca", "honeyimage unrelated test CA")):
        run("req", "-x509", *ec, "-keyout", f"{stem}.key", "-out", f"{stem}.pem", "-days", "30",
            "-subj", f"/CN={cn}", *ca_ext)
    run("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "server-ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", "0x" + os.urandom(8).hex(), "-days", "30", "-out", "server.pem",
        "-extfile", "server-ext.cnf")
    for k in ("ca.key", "wrong-ca.key", "server.key"):
        os.chmod(os.path.join(d, k), 0o600)


def nginx_config(d, port, upstream, token):
    """nginx: TLS on 127.0.0.1:port, proxy to MLServer, 401 without the token."""
    p = lambda *a: os.path.join(d, *a)
    os.makedirs(p("nginx-tmp"), exist_ok=True)
    temps = "\n".join(f"    {k}_temp_path {p('nginx-tmp', k)};"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    if token is None:
        auth = ""
    else:  # token68 characters only (checked in main): nothing to escape for nginx
        auth = f"""
            if ($http_authorization != "Bearer {token}") {{
                add_header WWW-Authenticate 'Bearer realm="honeyimage-test"' always;
                return 401 '{{"error": "missing or invalid bearer token"}}';
            }}"""
    # As root, the workers would otherwise run as "nobody"; elsewhere "user" is ignored.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    conf = f"""# Written by scripts/oip/stack.py; everything lives in {d}.
{user}daemon off;
worker_processes 1;
pid {p('nginx.pid')};
error_log {p('nginx-error.log')} notice;
events {{ worker_connections 256; }}
http {{
    access_log {p('nginx-access.log')};
{temps}
    client_max_body_size 256m;
    client_body_buffer_size 4m;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {p('server.pem')};
        ssl_certificate_key {p('server.key')};
        location / {{
            default_type application/json;  # the 401 body; MLServer sets its own{auth}
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""
    with open(p("nginx.conf"), "w") as f:
        f.write(conf)
    os.chmod(p("nginx.conf"), 0o600)  # it holds the token


def start_nginx(d, upstream, name, token, timeout):
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(exe, os.X_OK):
        sys.exit("stack.py: no nginx (run scripts/setup.sh: apt package nginx-light)")
    logfile = os.path.join(d, "nginx-error.log")
    open(logfile, "w").close()
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}

    def launch():
        (port,) = free_ports(1)
        nginx_config(d, port, upstream, token)
        # -e: the startup error log, before the config is read (default is under /var/log).
        proc = spawn("nginx", [exe, "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", logfile],
                     logfile, cwd=d)
        return proc, f"https://localhost:{port}"

    return start_with_retries(launch, name, logfile, "nginx", timeout, headers, ctx)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="TorchScript file (input [n,1,28,28] in [0,1])")
    ap.add_argument("--dir", required=True, help="work folder (created)")
    ap.add_argument("--name", default="suspect", help="model name in the V2 URLs")
    ap.add_argument("--tls", action="store_true", help="also start nginx with HTTPS (+ token)")
    ap.add_argument("--timeout", type=float, default=120, help="readiness timeout, seconds")
    a = ap.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", a.name):
        sys.exit("stack.py: --name must match [A-Za-z0-9_.-]+")
    d = os.path.abspath(a.dir)
    os.makedirs(d, exist_ok=True)
    model = os.path.abspath(a.model)
    if not os.path.isfile(model):
        sys.exit(f"stack.py: no model file {model}")
    token = os.environ.get(TOKEN_ENV) or None
    if token is not None and not re.fullmatch(r"[A-Za-z0-9._~+/-]+=*", token):
        sys.exit(f"stack.py: ${TOKEN_ENV} must be an RFC 6750 token: [A-Za-z0-9._~+/-]+=*")

    def on_signal(sig, _frame):
        raise Stop(signal.Signals(sig).name)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    ppid = os.getppid()
    code = 1
    try:
        _, http_base = start_mlserver(d, a.name, model, a.timeout)
        info = {"http_url": f"{http_base}/v2/models/{a.name}", "http_base": http_base}
        if a.tls:
            make_certs(d)
            _, https_base = start_nginx(d, http_base, a.name, token, a.timeout)
            info.update(https_url=f"{https_base}/v2/models/{a.name}", https_base=https_base,
                        ca_cert=os.path.join(d, "ca.pem"),
                        wrong_ca_cert=os.path.join(d, "wrong-ca.pem"))
        info.update(token_required=token is not None and a.tls, dir=d)
        print(json.dumps(info), flush=True)

        # Watch stdin only when it is a pipe: EOF there means the test went away.
        watch = [sys.stdin.fileno()] if stat.S_ISFIFO(os.fstat(0).st_mode) else []
        while True:
            ready, _, _ = select.select(watch, [], [], 0.5)
            if ready and not os.read(watch[0], 65536):
                raise Stop("stdin closed")
            if os.getppid() != ppid:
                raise Stop("parent died")
            for what, proc, logfile in LIVE:
                if proc.poll() is not None:
                    raise RuntimeError(f"{what} exited with {proc.returncode}; "
                                       f"{logfile}:\n{tail(logfile)}")
    except Stop as e:
        log(f"{e}: stopping")
        code = 0
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        if isinstance(e, subprocess.CalledProcessError):
            e = f"{e}: {e.stderr.decode(errors='replace')}"
        log(f"error: {e}")
        code = 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        for _, proc, _ in reversed(LIVE[:]):  # nginx first (it fronts MLServer)
            stop(proc)
    sys.exit(code)


if __name__ == "__main__":
    main()
