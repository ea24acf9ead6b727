"""Small hardening of the API and TLS (issue 16, item 5), each part against a running `stratus up`:

- a JSON body with a key given twice is a 400 naming the key;
- the API, the console and /metrics (the plane's and the cache's own --metrics-port) answer only
  requests whose Host names the address they listen on, localhost or a name in --api-hosts;
  anything else (DNS rebinding) gets 421 with a plain-text reason;
- TLS 1.2 offers ECDHE with AES-GCM or ChaCha20-Poly1305 only, for ECDSA and RSA certificates;
- every port the engines listen on (client and cluster bus) is on loopback, and the endpoint's
  ports are on --bind; the files and sockets docs/security.md describes have the modes it says.
"""

import json
import os
import re
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import STRATUS_BIN, IO_TIMEOUT, deadline_poll, module_stratus

API_HOSTS = "cache.example.com,10.9.8.7"
srv = module_stratus("--metrics-port", "0", "--api-hosts", API_HOSTS)


# ---- helpers -----------------------------------------------------------------------------


def printed_port(inst, label):
    """The port of the `label  http://HOST:PORT/...` line stratus printed (api, metrics)."""
    rx = re.compile(rf"^\s+{label}\s+http://(\[[^\]]+\]|[^:/]+):(\d+)/")

    def find():
        for line in list(inst.stdout_lines):
            m = rx.match(line)
            if m:
                return int(m.group(2))
        return None

    return deadline_poll(find, 10, what=f"the {label} line")


def token(inst):
    return (inst.data_dir / "admin-token").read_text().strip()


def http(addr, port, path="/", host="127.0.0.1", method="GET", body=None, headers=(),
         version="1.1"):
    """One raw HTTP request (host=None: no Host header); returns (status, headers, body text)."""
    lines = [f"{method} {path} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += list(headers)
    data = body.encode() if isinstance(body, str) else (body or b"")
    if data:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    lines.append("Connection: close")
    req = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    with socket.create_connection((addr, port), timeout=IO_TIMEOUT) as s:
        s.sendall(req)
        resp = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    head, _, text = resp.partition(b"\r\n\r\n")
    status_line, *hdr_lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for h in hdr_lines:
        k, _, v = h.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(status_line.split()[1]), hdrs, text.decode(errors="replace")


def api(inst, method, path, body=None, host=None):
    port = printed_port(inst, "api")
    status, _, text = http("127.0.0.1", port, path, host=host or f"127.0.0.1:{port}",
                           method=method, body=body,
                           headers=[f"Authorization: Bearer {token(inst)}"])
    return status, json.loads(text) if text.strip().startswith("{") else text


def listeners(pid):
    """(address, port) of every listening TCP socket of process pid, from /proc."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            rows = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, hexport = f[1].split(":")
            raw = bytes.fromhex(hexaddr)
            # The kernel prints the address as 32-bit words in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.add((socket.inet_ntop(family, raw), int(hexport, 16)))
    return out


def engine_confs(inst):
    """{engine dir: {port, cluster-port, bind, unixsocket ...}} from each rendered redis.conf."""
    out = {}
    for conf in sorted((inst.data_dir / "caches" / "default" / "engines").glob("*/redis.conf")):
        kv = {}
        for line in conf.read_text().splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2 and not parts[0].startswith("#"):
                kv.setdefault(parts[0], parts[1])
        out[conf.parent] = kv
    return out


def tls12(inst, cipher, host=None):
    """Handshake at TLS 1.2 offering only `cipher`; the cipher agreed, or the error raised."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(inst.ca)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(cipher)
    except ssl.SSLError:
        pytest.skip(f"this Python's OpenSSL cannot offer {cipher}")
    sock = socket.create_connection((host or inst.host, inst.port), timeout=IO_TIMEOUT)
    try:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            return tls.cipher()[0]
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return e
    finally:
        sock.close()


# ---- 1. duplicate keys -------------------------------------------------------------------


DUPLICATES = [
    ("PATCH", "/v1/caches/default", '{"description": "a", "description": "b"}', "description"),
    ("PATCH", "/v1/caches/default",
     '{"usage_limits": {"max_storage": "1gb",\n "max_storage": "2gb"}}', "max_storage"),
    ("POST", "/v1/caches", '{"name": "dup-a", "name": "dup-b"}', "name"),
    ("POST", "/v1/snapshots", '{"name": "s1", "cache": "default", "name": "s2"}', "name"),
    ("POST", "/v1/snapshots/none/export", '{"path": "/tmp/a", "path": "/tmp/b"}', "path"),
]


@pytest.mark.parametrize("method,path,body,key", DUPLICATES,
                         ids=[f"{m} {p} {k}" for m, p, _, k in DUPLICATES])
def test_a_duplicated_key_is_a_400_naming_it(srv, method, path, body, key):
    status, reply = api(srv, method, path, body)
    assert status == 400, reply
    assert reply["error"]["code"] == "InvalidRequest"
    assert f'the key "{key}" twice' in reply["error"]["message"], reply


def test_a_long_duplicated_key_is_refused_with_its_place(srv):
    # jansson quotes keys of up to 18 characters in its message; a longer one is still refused.
    key = "k" * 40
    status, reply = api(srv, "PATCH", "/v1/caches/default", f'{{"{key}": 1, "{key}": 2}}')
    assert status == 400, reply
    assert "a key twice (line 1, column" in reply["error"]["message"], reply


def test_a_refused_body_changes_nothing(srv):
    status, reply = api(srv, "PATCH", "/v1/caches/default",
                        '{"description": "first", "description": "last"}')
    assert status == 400
    status, cache = api(srv, "GET", "/v1/caches/default")
    assert status == 200 and cache["description"] not in ("first", "last"), cache
    status, caches = api(srv, "GET", "/v1/caches")
    assert [c["name"] for c in caches["caches"]] == ["default"], caches


# ---- 2. Host check -----------------------------------------------------------------------


LISTENERS = ["api", "console", "api /metrics", "metrics"]


def target(inst, which):
    """(port, path, headers) of one HTTP listener."""
    if which == "metrics":
        return printed_port(inst, "metrics"), "/metrics", []
    port = printed_port(inst, "api")
    if which == "api":
        return port, "/v1/caches", [f"Authorization: Bearer {token(inst)}"]
    return port, "/" if which == "console" else "/metrics", []


ALLOWED = ["127.0.0.1:{port}", "127.0.0.1", "localhost:{port}", "localhost", "LocalHost:1",
           "cache.example.com", "Cache.Example.com:443", "10.9.8.7:{port}"]
REFUSED = ["attacker.example:{port}", "attacker.example", "127.0.0.2:{port}", "0.0.0.0:{port}",
           "[::1]:{port}", "localhost.attacker.example", "cache.example.com.attacker.example",
           "127.0.0.1:{port}:1", "127.0.0.1:http", ""]


@pytest.mark.parametrize("which", LISTENERS)
def test_host_names_this_server(srv, which):
    port, path, headers = target(srv, which)
    for host in ALLOWED:
        status, _, text = http("127.0.0.1", port, path, host=host.format(port=port),
                               headers=headers)
        assert status == 200, (host, status, text[:300])


@pytest.mark.parametrize("which", LISTENERS)
def test_other_hosts_get_421_with_a_reason(srv, which):
    port, path, headers = target(srv, which)
    for host in REFUSED:
        h = host.format(port=port)
        status, hdrs, text = http("127.0.0.1", port, path, host=h, headers=headers)
        assert status == 421, (h, status, text[:300])
        assert hdrs["content-type"].startswith("text/plain"), hdrs
        assert text.startswith("misdirected request: "), text
        assert "--api-hosts" in text or "Host header" in text, text


@pytest.mark.parametrize("which", LISTENERS)
def test_no_host_or_two_hosts_get_421(srv, which):
    port, path, headers = target(srv, which)
    status, _, text = http("127.0.0.1", port, path, host=None, headers=headers, version="1.0")
    assert status == 421 and "send a Host header" in text, (status, text)
    status, _, text = http("127.0.0.1", port, path, host=None, headers=headers)
    assert status == 421, (status, text)
    status, _, text = http("127.0.0.1", port, path, host="127.0.0.1",
                           headers=headers + ["Host: attacker.example"])
    assert status == 421 and "one Host header" in text, (status, text)


def test_a_misdirected_call_does_nothing(srv):
    # What a rebound page would try: change the cache with the token it somehow has.
    status, text = api(srv, "PATCH", "/v1/caches/default", '{"description": "rebound"}',
                       host="attacker.example")
    assert status == 421, text
    status, cache = api(srv, "GET", "/v1/caches/default")
    assert cache["description"] != "rebound", cache


def test_the_cli_still_reaches_the_api(srv):
    r = subprocess.run([STRATUS_BIN, "cache", "list", "--data-dir", str(srv.data_dir)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^default\s+available", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("value", ["a.example:8379", "http://a.example", "a b", "*"])
def test_api_hosts_is_checked_at_start(tmp_path, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUS_")}
    r = subprocess.run([STRATUS_BIN, "up", "--data-dir", str(tmp_path / "d"), "--api-hosts", value],
                       capture_output=True, text=True, timeout=30, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--api-hosts" in r.stderr, r.stderr


# ---- 3. TLS 1.2 ciphers ------------------------------------------------------------------


CBC_OR_SHA1 = ["AES128-SHA", "AES256-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
               "ECDHE-RSA-AES128-SHA"]
AEAD_ECDSA = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
              "ECDHE-ECDSA-CHACHA20-POLY1305"]


def test_tls12_offers_aead_ciphers_only(srv):
    for cipher in CBC_OR_SHA1:
        got = tls12(srv, cipher)
        assert isinstance(got, Exception), f"{cipher} accepted at TLS 1.2"
    for cipher in AEAD_ECDSA:
        assert tls12(srv, cipher) == cipher
    # A client offering everything gets the server's first choice.
    assert tls12(srv, "ALL") == "ECDHE-ECDSA-AES128-GCM-SHA256"
    # TLS 1.3 (every suite AEAD) is untouched, and the endpoint still serves.
    assert srv.client().ping()


# ---- 4. where everything listens ---------------------------------------------------------


def test_engines_listen_on_loopback_and_the_endpoint_on_bind(srv):
    confs = engine_confs(srv)
    assert len(confs) == 2, confs
    expected_engine_ports = set()
    for d, kv in confs.items():
        assert kv["bind"] == "127.0.0.1", (d, kv["bind"])
        expected_engine_ports |= {int(kv["port"]), int(kv["cluster-port"])}
    seen = set()
    for pid in srv.engine_pids():
        socks = listeners(pid)
        assert socks, f"engine {pid} listens on nothing"
        for addr, port in socks:
            assert addr in ("127.0.0.1", "::1"), (pid, addr, port)
        seen |= {p for _, p in socks}
    assert seen == expected_engine_ports, (seen, expected_engine_ports)
    own = listeners(srv.pid)
    assert {a for a, _ in own} == {"127.0.0.1"}, own
    ports = {p for _, p in own}
    wanted = {srv.port, srv.plaintext_port, printed_port(srv, "metrics"), printed_port(srv, "api")}
    assert ports == wanted, (ports, wanted)


# ---- 5. the modes docs/security.md states ------------------------------------------------


def test_files_and_sockets_have_the_documented_modes(srv):
    d = srv.data_dir
    cache = d / "caches" / "default"

    def mode(p):
        return stat.S_IMODE(os.lstat(p).st_mode)

    for p in [d, d / "tls", d / "caches", cache, cache / "engines"]:
        assert mode(p) == 0o700, (p, oct(mode(p)))
    for p in [d / "admin-token", d / "api", d / "tls" / "ca.key", d / "tls" / "server.key",
              cache / "password", cache / "internal-password", cache / "proxy-password"]:
        assert mode(p) == 0o600, (p, oct(mode(p)))
    for e in confs_dirs(srv):
        assert mode(e) == 0o700, (e, oct(mode(e)))
        assert mode(e / "redis.conf") == 0o600, e
        sock = e / "redis.sock"
        assert stat.S_ISSOCK(os.lstat(sock).st_mode), sock
        assert mode(sock) == 0o700, (sock, oct(mode(sock)))


def confs_dirs(inst):
    return list(engine_confs(inst).keys())


# ---- IPv6 and an RSA certificate ---------------------------------------------------------


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def rsa_cert(dir_):
    """A throwaway CA and an RSA server certificate for localhost, 127.0.0.1 and ::1."""
    dir_.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, crt = (dir_ / n for n in ("ca.key", "ca.crt", "s.key", "s.csr", "s.crt"))
    ext = dir_ / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=stratus test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj",
        "/CN=localhost")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return crt, key, ca


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_bind_and_an_rsa_certificate(stratus_factory, tmp_path):
    crt, key, ca = rsa_cert(tmp_path / "rsa")
    inst = stratus_factory("--bind", "::1", "--tls-cert", str(crt), "--tls-key", str(key),
                           "--tls-ca", str(ca), "--metrics-port", "0")
    assert inst.host == "::1", inst.url
    # TLS 1.2 with an RSA certificate: the ECDHE-RSA AEAD suites, nothing else.
    for cipher in ["AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384",
                   "AES128-GCM-SHA256"]:  # the last: AEAD, but static RSA (no forward secrecy)
        assert isinstance(tls12(inst, cipher), Exception), f"{cipher} accepted"
    for cipher in ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                   "ECDHE-RSA-CHACHA20-POLY1305"]:
        assert tls12(inst, cipher) == cipher
    assert inst.client().ping()
    # The API and /metrics on [::1]: the bracketed address (any spelling) and localhost.
    api_port, metrics_port = printed_port(inst, "api"), printed_port(inst, "metrics")
    for port, path in ((api_port, "/"), (metrics_port, "/metrics")):
        for host, want in ((f"[::1]:{port}", 200), ("[0:0::1]", 200), (f"localhost:{port}", 200),
                           (f"127.0.0.1:{port}", 421), ("::1", 421), ("attacker.example", 421)):
            status, _, text = http("::1", port, path, host=host)
            assert status == want, (port, host, status, text[:200])
    assert (inst.data_dir / "api").read_text().strip() == f"http://[::1]:{api_port}"
    r = subprocess.run([STRATUS_BIN, "cache", "list", "--data-dir", str(inst.data_dir)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and f"[::1]:{inst.port}" in r.stdout, (r.stdout, r.stderr)
    # The endpoint, plaintext port, API and metrics on ::1; the engines on IPv4 loopback.
    own = listeners(inst.pid)
    assert {a for a, _ in own} == {"::1"}, own
    for pid in inst.engine_pids():
        assert {a for a, _ in listeners(pid)} == {"127.0.0.1"}, pid


def test_a_data_dir_open_to_others_is_warned_about(srv, stratus_factory, tmp_path):
    # Stratus makes its data dir 0700; one made before keeps its mode, and stratus.db (ACL users'
    # password hashes) and the engines' files inside rely on the directory being closed.
    d = tmp_path / "open-data"
    d.mkdir()
    os.chmod(d, 0o755)
    inst = stratus_factory("--replicas", "0", "--api-port", "off", data_dir=d)
    assert f"--data-dir: {d} can be entered by other users (mode 755)" in inst.log_text()
    assert "can be entered by other users" not in srv.log_text()
