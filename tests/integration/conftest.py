"""Integration-test harness: starts the real `stratus up` in a temp dir on free ports.

Each instance is a subprocess whose stdout is parsed for the ready block (see `Stratus.start`);
its stderr goes to a log file that is attached to the report of any failing test. Teardown stops
it with SIGTERM, then SIGKILL, then kills any process still running from its data dir, so no
redis-server outlives a test.
"""

import os
import shutil
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parents[2]
STRATUS_BIN = os.environ.get("STRATUS_BIN") or str(REPO / "build" / "stratus")
# Every `stratus up` of the tests runs its control plane's API on a port of its own.
os.environ.setdefault("STRATUS_API_PORT", "0")

READY_TIMEOUT = 30.0  # seconds to wait for "Press Ctrl-C to stop."
STOP_TIMEOUT = 30.0  # seconds between SIGTERM and SIGKILL
TEST_TIMEOUT = int(os.environ.get("STRATUS_TEST_TIMEOUT", "240"))  # per-test watchdog
IO_TIMEOUT = 10.0  # every socket read in the tests; a reply slower than this is a hang

HEADER_RE = re.compile(
    r'^Stratus (?P<version>\S+) is up: cache "(?P<cache>[^"]+)", '
    r"(?P<shards>\d+) shard\(s\) x (?P<engines>\d+) engine\(s\)$"
)
FIELD_RES = {
    "url": re.compile(r"^\s+url\s+(\S+)$"),
    "ca": re.compile(r"^\s+ca\s+(\S.*?)\s*$"),
    "plaintext": re.compile(r"^\s+plaintext\s+(\S+)$"),
    "redis-cli": re.compile(r"^\s+redis-cli\s+(redis-cli\s.*?)\s*$"),
    "ioredis": re.compile(r"^\s+ioredis\s+(\S.*?)\s*$"),
    "redis-py": re.compile(r"^\s+redis-py\s+(\S.*?)\s*$"),
}
READY_LINE = "Press Ctrl-C to stop."

# Instances started and not yet torn down; their logs go into the report of a failing test.
_LIVE = []


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


class StratusStartError(Exception):
    pass


def deadline_poll(predicate, timeout, interval=0.05, what="condition"):
    """Calls predicate() until it returns a truthy value or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - keep polling, report the last one
            last_exc = e
        if time.monotonic() >= end:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}"
                + (f" (last error: {last_exc!r})" if last_exc else "")
            )
        time.sleep(interval)


def _proc_cwd(pid):
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def processes_under(path):
    """Pids of live (non-zombie) processes whose cwd or command line is inside `path`."""
    path = str(path)
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        cwd = _proc_cwd(pid)
        if cwd == path or cwd.startswith(path + "/") or path in _proc_cmdline(pid):
            if _proc_state(pid) not in ("Z", "X", ""):
                found.append(pid)
    return found


def rss_kb(pid):
    """Resident memory of process pid in KB (VmRSS), 0 if it has none."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child_pids(pid, name="redis-server"):
    """Direct children of `pid` whose command name is `name` (pgrep -P pid name)."""
    r = subprocess.run(["pgrep", "-P", str(pid), name], capture_output=True, text=True)
    return sorted(int(x) for x in r.stdout.split())


class Stratus:
    """One running `stratus up`, with what its ready block said."""

    def __init__(self, workdir, data_dir=None, args=(), env=None, plaintext=True, name="stratus",
                 prefix=()):
        self.workdir = Path(workdir)
        self.prefix = list(prefix)  # e.g. ["ip", "netns", "exec", ns]: runs it elsewhere
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.plaintext = plaintext
        self.name = name
        self.proc = None
        self.returncode = None
        self.stdout_lines = []
        self.seen_children = set()
        self._lines_cond = threading.Condition()
        self._stop_watch = threading.Event()
        self._starts = 0

    # ---- lifecycle -------------------------------------------------------------------------

    def command(self):
        cmd = self.prefix + [STRATUS_BIN, "up", "--data-dir", str(self.data_dir), "--port", "0"]
        if self.plaintext:
            cmd += ["--plaintext-port", "0"]
        return cmd + self.args

    def start(self, timeout=READY_TIMEOUT):
        """Spawns stratus and waits for its ready block; returns self."""
        self._starts += 1
        self.log_path = self.workdir / f"{self.name}-{self._starts}.log"
        self.stdout_lines = []
        self.returncode = None
        # Hermetic: no STRATUS_* setting leaks in from the caller's environment (the Makefile
        # exports STRATUS_BIN, for one).
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUS_")}
        env["STRATUS_API_PORT"] = "0"  # each instance's control-plane API on a free port
        env.update(self.extra_env)
        self._log_file = open(self.log_path, "wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
            cwd=str(self.workdir),
            start_new_session=True,  # a Ctrl-C in the terminal running pytest is ours to send
        )
        if self not in _LIVE:
            _LIVE.append(self)
        self._stop_watch.clear()
        threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True).start()
        threading.Thread(target=self._watch_children, args=(self.proc,), daemon=True).start()
        self._wait_ready(timeout)
        self.ready_after = time.monotonic() - self.started_at
        return self

    def _read_stdout(self, proc):
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            with self._lines_cond:
                self.stdout_lines.append(line)
                self._lines_cond.notify_all()
        with self._lines_cond:
            self._stdout_eof = proc
            self._lines_cond.notify_all()

    def _watch_children(self, proc):
        # Remember every engine pid seen, so teardown can kill one that outlived its parent.
        while not self._stop_watch.is_set() and proc.poll() is None:
            for pid in child_pids(proc.pid):
                self.seen_children.add(pid)
            self._stop_watch.wait(0.2)

    def _wait_ready(self, timeout):
        end = time.monotonic() + timeout
        with self._lines_cond:
            while READY_LINE not in self.stdout_lines:
                if getattr(self, "_stdout_eof", None) is self.proc:
                    rc = self.proc.wait(timeout=5)
                    raise StratusStartError(
                        f"stratus exited with status {rc} before it was ready\n"
                        f"command: {' '.join(self.command())}\n"
                        f"stdout:\n" + "\n".join(self.stdout_lines) + "\n"
                        f"stderr (tail):\n{self.log_tail()}"
                    )
                left = end - time.monotonic()
                if left <= 0:
                    raise StratusStartError(
                        f"stratus not ready after {timeout}s\n"
                        f"command: {' '.join(self.command())}\n"
                        f"stdout so far:\n" + "\n".join(self.stdout_lines) + "\n"
                        f"stderr (tail):\n{self.log_tail()}"
                    )
                self._lines_cond.wait(min(left, 0.5))
        self._parse_ready()

    def _parse_ready(self):
        lines = list(self.stdout_lines)
        idx = lines.index(READY_LINE)
        block = lines[: idx + 1]
        self.ready_block = block
        self.header = None
        self.fields = {}
        for line in block:
            m = HEADER_RE.match(line)
            if m:
                self.header = m
                continue
            for key, rx in FIELD_RES.items():
                m = rx.match(line)
                if m and key not in self.fields:
                    self.fields[key] = m.group(1)
        missing = [k for k in ("url", "ca", "redis-cli", "ioredis", "redis-py") if k not in self.fields]
        if self.header is None or missing:
            raise StratusStartError(
                "ready block does not follow the contract "
                f"(header {'ok' if self.header else 'missing'}, missing fields {missing}):\n"
                + "\n".join(block)
            )
        self.version = self.header.group("version")
        self.shards = int(self.header.group("shards"))
        self.engines_per_shard = int(self.header.group("engines"))
        self.url = self.fields["url"]
        self.ca = self.fields["ca"]
        u = urllib.parse.urlsplit(self.url)
        assert u.scheme == "rediss", self.url
        self.username = urllib.parse.unquote(u.username or "")
        self.password = urllib.parse.unquote(u.password or "")
        self.host = u.hostname
        self.port = u.port
        self.plaintext_url = self.fields.get("plaintext")
        self.plaintext_port = None
        if self.plaintext_url:
            pu = urllib.parse.urlsplit(self.plaintext_url)
            self.plaintext_port = pu.port
            self.plaintext_host = pu.hostname

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends `sig`, waits up to `timeout`, then SIGKILLs; returns the exit status."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        self._stop_watch.set()
        try:
            self._log_file.close()
        except Exception:  # noqa: BLE001
            pass
        self.proc = None
        return self.returncode

    def kill_leftovers(self):
        """SIGKILLs every engine seen and every process running from the data dir; returns them."""
        victims = set()
        for pid in self.seen_children:
            if "redis-server" in _proc_cmdline(pid) and _proc_state(pid) not in ("Z", "X", ""):
                victims.add(pid)
        victims.update(processes_under(self.data_dir))
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return sorted(victims)

    def sanitizer_report(self):
        """The first sanitizer report in the log (ASan, LSan, UBSan), or "" when there is none."""
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            at = text.find(marker)
            if at >= 0:
                return text[max(0, at - 200):at + 3000]
        return ""

    def teardown(self):
        self.stop()
        leftovers = self.kill_leftovers()
        if self in _LIVE:
            _LIVE.remove(self)
        # A sanitizer build (make SANITIZER=... check) reports to stderr, i.e. the log: any
        # report fails the test that ran this instance.
        report = self.sanitizer_report()
        assert not report, f"sanitizer report in {self.log_path}:\n{report}"
        return leftovers

    # ---- introspection ---------------------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def engine_pids(self):
        """The redis-server children right now (pgrep -P <pid> redis-server)."""
        return child_pids(self.proc.pid) if self.proc else []

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def log_tail(self, lines=150):
        return "\n".join(self.log_text().splitlines()[-lines:])

    # ---- clients ---------------------------------------------------------------------------

    def client(self, **kw):
        """redis-py client over TLS, verified with the printed CA, authenticated."""
        kw.setdefault("socket_timeout", IO_TIMEOUT)
        kw.setdefault("socket_connect_timeout", IO_TIMEOUT)
        kw.setdefault("decode_responses", True)
        return redis.Redis.from_url(self.url, ssl_ca_certs=self.ca, **kw)

    def plain_client(self, **kw):
        """redis-py client to the plaintext port, authenticated."""
        assert self.plaintext_url, "this instance was started without a plaintext port"
        kw.setdefault("socket_timeout", IO_TIMEOUT)
        kw.setdefault("socket_connect_timeout", IO_TIMEOUT)
        kw.setdefault("decode_responses", True)
        return redis.Redis.from_url(self.plaintext_url, **kw)

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.check_hostname = False
        return ctx

    def raw_tls(self, auth=True, timeout=IO_TIMEOUT):
        """A RawConn over a verified TLS socket; AUTHed unless auth=False."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        tls = self.ssl_context().wrap_socket(sock, server_hostname="localhost")
        conn = RawConn(tls, timeout)
        if auth:
            conn.auth(self.username, self.password)
        return conn

    def raw_plain(self, auth=True, timeout=IO_TIMEOUT):
        """A RawConn to the plaintext port; AUTHed unless auth=False."""
        sock = socket.create_connection((self.host, self.plaintext_port), timeout=timeout)
        conn = RawConn(sock, timeout)
        if auth:
            conn.auth(self.username, self.password)
        return conn

    def raw_tcp_to_tls_port(self, timeout=IO_TIMEOUT):
        """A plain TCP socket to the TLS port (what a client without `tls: {}` does)."""
        return socket.create_connection((self.host, self.port), timeout=timeout)


# ---- engines, seen from behind the endpoint (white-box checks only) --------------------------


class Threads:
    """A group of load threads: started on entering the with-block; on leaving, self.stop is
    set and each thread is joined (30 s at most)."""

    stop = False
    threads = ()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        for t in self.threads:
            t.join(30)


def engine_clients(data_dir, ping=True, root=None):
    """redis-py clients straight to each engine, from the configs under caches/default/engines
    (or under root: an agent's <dir>/default).

    Clients never do this; tests use it only to check where keys landed (and, with ping=False,
    to look at engines that may be down). Raises pytest.skip.Exception if the engines' configs
    cannot be read this way.
    """
    root = Path(root) if root else Path(data_dir) / "caches" / "default" / "engines"
    if not root.is_dir():
        pytest.skip(f"no engine directory at {root}")
    out = {}
    for node in sorted(p for p in root.iterdir() if p.is_dir()):
        confs = sorted(node.glob("*.conf"))
        conf, acl_users = {}, []
        for c in confs:
            for line in c.read_text(errors="replace").splitlines():
                parts = line.strip().split(None, 1)
                if len(parts) == 2 and not parts[0].startswith("#"):
                    conf.setdefault(parts[0].lower(), parts[1].strip().strip('"'))
                    if parts[0].lower() == "user":
                        acl_users.append(parts[1].split())
        password = conf.get("requirepass") or conf.get("masterauth")
        user = conf.get("masteruser")
        for words in acl_users:
            secrets_ = [w[1:] for w in words[1:] if w.startswith(">")]
            if "on" in words and secrets_ and "+@all" in words and not any(
                    w.startswith("-") for w in words):
                user, password = words[0], secrets_[0]
                break
        kw = dict(password=password, username=user, socket_timeout=IO_TIMEOUT, decode_responses=True)
        if conf.get("unixsocket"):
            sock = conf["unixsocket"]
            if not os.path.isabs(sock):
                sock = str(node / sock)
            out[node.name] = redis.Redis(unix_socket_path=sock, **kw)
        elif conf.get("port") and conf["port"] != "0":
            host = conf.get("bind", "127.0.0.1").split()[0]  # a zone's own address, if any
            out[node.name] = redis.Redis(host=host, port=int(conf["port"]), **kw)
        else:
            pytest.skip(f"cannot tell how to reach engine {node.name} from {confs}")
    if not out:
        pytest.skip(f"no engines found under {root}")
    try:
        for c in out.values() if ping else ():
            c.ping()
    except redis.RedisError as e:
        pytest.skip(f"cannot talk to the engines directly: {e}")
    return out


# ---- RESP over raw sockets ---------------------------------------------------------------


class RespError(Exception):
    """An error reply (-ERR ..., or RESP3 !<len>)."""


def encode(*args):
    """Encodes a command as a RESP multibulk."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Push(list):
    """A RESP3 push frame (>)."""


class Attr(dict):
    """A RESP3 attribute frame (|)."""


class RawConn:
    """A minimal RESP2/RESP3 client over any socket, for byte-exact tests."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def call(self, *args):
        """Sends one command and returns its reply; an error reply is returned as RespError."""
        self.send(encode(*args))
        return self.read_reply()

    def auth(self, user, password):
        r = self.call("AUTH", user, password)
        assert r == "OK", f"AUTH failed: {r!r}"

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2 :]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def read_reply(self):
        """Reads one reply: str for simple strings, bytes for bulk, int, list, dict, None."""
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*" or t == b">" or t == b"~":
            n = int(rest)
            if n < 0:
                return None
            items = [self.read_reply() for _ in range(n)]
            if t == b">":
                return Push(items)
            return set(map(_hashable, items)) if t == b"~" else items
        if t == b"%":
            n = int(rest)
            d = {}
            for _ in range(n):
                k = self.read_reply()
                d[_hashable(k)] = self.read_reply()
            return d
        if t == b"|":
            # An attribute: kept in last_attr (Stratus's receipts), then the reply it annotates.
            n = int(rest)
            attr = {}
            for _ in range(n):
                k = self.read_reply()
                attr[_hashable(k)] = self.read_reply()
            self.last_attr = attr
            return self.read_reply()
        if t == b"_":
            return None
        if t == b"#":
            return rest == b"t"
        if t == b",":
            return float(rest)
        if t == b"(":
            return int(rest)
        if t == b"=" or t == b"!":
            n = int(rest)
            data = self._exact(n)
            if t == b"!":
                return RespError(data.decode(errors="replace"))
            return data
        raise AssertionError(f"unparseable reply line {line!r}")

    def read_until_eof(self, timeout=IO_TIMEOUT):
        """Reads everything until the peer closes; returns (bytes, True) or (bytes, False) on timeout."""
        end = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return data, False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return data, False
            except (ConnectionResetError, BrokenPipeError):
                return data, True
            except ssl.SSLError as e:
                # A TLS peer that closes without close_notify is still a close.
                if "EOF" in str(e) or "UNEXPECTED_EOF" in str(e):
                    return data, True
                raise
            if not chunk:
                return data, True
            data += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _hashable(x):
    if isinstance(x, bytes):
        return x.decode(errors="replace")
    if isinstance(x, list):
        return tuple(_hashable(i) for i in x)
    return x


# ---- CRC16 (the Redis Cluster key slot), to check CLUSTER KEYSLOT independently ------------


def _crc16_table():
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC16 = _crc16_table()


def key_slot(key):
    if isinstance(key, str):
        key = key.encode()
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1 : e]
    crc = 0
    for b in key:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ b) & 0xFF]
    return crc % 16384


def keys_in_distinct_slots(n, prefix="k"):
    """n keys, each in a different hash slot."""
    keys, slots, i = [], set(), 0
    while len(keys) < n:
        k = f"{prefix}:{i}"
        s = key_slot(k)
        if s not in slots:
            slots.add(s)
            keys.append(k)
        i += 1
    return keys


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def stratus_factory(tmp_path):
    """start(*args, data_dir=None, env=None, plaintext=True) -> a ready Stratus; all torn down."""
    started = []
    counter = [0]

    def start(*args, data_dir=None, env=None, plaintext=True, name=None, timeout=READY_TIMEOUT,
              prefix=()):
        counter[0] += 1
        inst = Stratus(
            tmp_path / f"s{counter[0]}",
            data_dir=data_dir,
            args=args,
            env=env,
            plaintext=plaintext,
            name=name or f"stratus{counter[0]}",
            prefix=prefix,
        )
        started.append(inst)
        try:
            return inst.start(timeout=timeout)
        except Exception:
            inst.teardown()
            raise

    yield start
    # Newest first: a restarted instance shares its data dir with the one it replaced.
    for inst in reversed(started):
        inst.teardown()


@pytest.fixture
def stratus(stratus_factory):
    """One default `stratus up` (1 shard, 1 replica) with TLS and plaintext ports."""
    return stratus_factory()


def _module_instance(tmp_path_factory, args, kw):
    """Starts one instance for a module-scoped fixture, yields it, tears it down."""
    inst = Stratus(tmp_path_factory.mktemp("stratus"), args=args, **kw)
    try:
        inst.start()
    except Exception:
        inst.teardown()
        raise
    yield inst
    inst.teardown()


def module_stratus(*args, **kw):
    """Declares a module-scoped instance: `srv = module_stratus("--shards", "2")` in a test file."""

    @pytest.fixture(scope="module")
    def _fixture(tmp_path_factory):
        yield from _module_instance(tmp_path_factory, args, kw)

    return _fixture


def module_stratus_each_size(*args, sizes=("1", "3"), **kw):
    """A module-scoped instance per cache size: every test of the module runs on a cache of 1
    and of 3 shards (`srv = module_stratus_each_size("--replicas", "0")`)."""

    @pytest.fixture(scope="module", params=sizes, ids=[f"{n}-shard" for n in sizes])
    def _fixture(request, tmp_path_factory):
        yield from _module_instance(tmp_path_factory, ("--shards", request.param) + args, kw)

    return _fixture


@pytest.fixture
def r(srv):
    """A TLS redis-py client of the test module's `srv` instance, closed after the test."""
    c = srv.client()
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _watchdog():
    """Fails a test that runs longer than TEST_TIMEOUT instead of hanging the whole run."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded the {TEST_TIMEOUT}s watchdog")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for inst in list(_LIVE):
            text = inst.log_tail()
            if text:
                rep.sections.append((f"stratus log: {inst.log_path}", text))


def pytest_report_header(config):
    return f"stratus binary: {STRATUS_BIN}"


def pytest_sessionfinish(session, exitstatus):
    """Safety net: nothing started under this run's temp dirs may outlive it."""
    try:
        base = session.config._tmp_path_factory.getbasetemp()
    except Exception:  # noqa: BLE001 - private API; the per-test teardown is the real guard
        return
    leaked = processes_under(base)
    for pid in leaked:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if leaked:
        print(f"\nWARNING: killed {len(leaked)} leaked process(es) under {base}: {leaked}")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A plain redis-server 7.0 on a unix socket in a temp dir; stopped by its pid."""
    d = tmp_path_factory.mktemp("redis")
    sock = str(d / "redis.sock")
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no",
         "--dir", str(d), "--logfile", str(d / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline_poll(lambda: redis.Redis(unix_socket_path=sock, socket_timeout=1).ping(), 10,
                      what="redis-server to answer PING")
        version = redis.Redis(unix_socket_path=sock).info("server")["redis_version"]
        if not version.startswith("7.0."):
            pytest.skip(f"the reference is Redis 7.0, this redis-server is {version}")
        yield sock
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
