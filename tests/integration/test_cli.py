"""The `stratus` command line: help, version, settings from flags, env and a config file."""

import os
import re
import signal
import socket
import subprocess

import pytest

from conftest import STRATUS_BIN, deadline_poll, encode, keys_in_distinct_slots, processes_under

VERSION_RE = re.compile(r"^stratus (\S+)$")


def run(args, tmp_path, env=None, timeout=10):
    """Runs stratus to completion; one that is still running after `timeout` fails the test."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUS_")}
    full_env.update(env or {})
    p = subprocess.Popen([STRATUS_BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=str(tmp_path), env=full_env, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        stdout, stderr = p.communicate()
        for pid in processes_under(tmp_path):
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"`stratus {' '.join(args)}` still running after {timeout} s "
                    f"(it should have exited)\nstdout: {stdout[-1500:]}\nstderr: {stderr[-1500:]}")
    return subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)


def test_help(tmp_path):
    out = run(["--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    for word in ("up", "version", "--data-dir", "--port", "--plaintext-port", "--shards",
                 "--replicas", "--threads", "--config"):
        assert word in text, f"{word!r} missing from --help:\n{text}"


def test_version(tmp_path):
    out = run(["version"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert VERSION_RE.match(out.stdout.strip()), out.stdout


def test_unknown_subcommand(tmp_path):
    out = run(["frobnicate"], tmp_path)
    assert out.returncode == 2
    assert "frobnicate" in out.stderr


BAD_FLAGS = [
    (["--shards", "zero"], "--shards"),
    (["--shards", "0"], "--shards"),
    (["--shards", "65"], "--shards"),
    (["--shards", ""], "--shards"),
    (["--replicas", "-1"], "--replicas"),
    (["--replicas", "many"], "--replicas"),
    (["--port", "70000"], "--port"),
    (["--port", "http"], "--port"),
    (["--plaintext-port", "nope"], "--plaintext-port"),
    (["--threads", "x"], "--threads"),
    (["--log-level", "loud"], "--log-level"),
    (["--bogus-flag", "1"], "--bogus-flag"),
    (["--shards"], "--shards"),
    (["--config", "/nonexistent/stratus.conf"], "/nonexistent/stratus.conf"),
]


def _assert_setting_error(out, name, tmp_path):
    assert out.returncode == 2, f"exit {out.returncode}, stderr: {out.stderr!r}"
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {out.stderr!r}"
    assert name.lower() in lines[0].lower(), f"{name!r} not named in {lines[0]!r}"
    assert not processes_under(tmp_path), "a bad setting left processes behind"
    assert "Press Ctrl-C" not in out.stdout


@pytest.mark.parametrize("args,name", BAD_FLAGS, ids=[" ".join(a) or "empty" for a, _ in BAD_FLAGS])
def test_bad_flag_exits_2_naming_it(tmp_path, args, name):
    out = run(["up", "--data-dir", str(tmp_path / "data"), "--port", "0"] + args, tmp_path)
    _assert_setting_error(out, name, tmp_path)


def test_bad_env_exits_2_naming_it(tmp_path):
    out = run(["up", "--data-dir", str(tmp_path / "data"), "--port", "0"], tmp_path,
              env={"STRATUS_SHARDS": "zero"})
    _assert_setting_error(out, "shards", tmp_path)


def test_bad_config_value_exits_2_naming_it(tmp_path):
    conf = tmp_path / "stratus.conf"
    conf.write_text("# a comment\nreplicas 0\nshards zero\n")
    out = run(["up", "--config", str(conf), "--data-dir", str(tmp_path / "data"), "--port", "0"],
              tmp_path)
    _assert_setting_error(out, "shards", tmp_path)


def test_unknown_config_key_exits_2_naming_it(tmp_path):
    conf = tmp_path / "stratus.conf"
    conf.write_text("shardz 2\n")
    out = run(["up", "--config", str(conf), "--data-dir", str(tmp_path / "data"), "--port", "0"],
              tmp_path)
    _assert_setting_error(out, "shardz", tmp_path)


def test_flag_overrides_env(stratus_factory):
    inst = stratus_factory("--shards", "1", "--replicas", "0", env={"STRATUS_SHARDS": "3"})
    assert (inst.shards, inst.engines_per_shard) == (1, 1)


def test_env_vars_honoured(stratus_factory):
    inst = stratus_factory(plaintext=False, env={"STRATUS_SHARDS": "2", "STRATUS_REPLICAS": "0",
                                                 "STRATUS_PLAINTEXT_PORT": "0"})
    assert (inst.shards, inst.engines_per_shard) == (2, 1)
    assert len(inst.engine_pids()) == 2
    assert inst.plaintext_url, "STRATUS_PLAINTEXT_PORT=0 did not enable the plaintext port"
    assert inst.plain_client().ping()


def test_config_file_honoured_below_env(tmp_path, stratus_factory):
    conf = tmp_path / "stratus.conf"
    conf.write_text(
        "# Stratus settings\n"
        "shards 3\n"
        "\n"
        "replicas 0   \n"
        "threads 1\n"
        "log-level warn\n"
        "bind 127.0.0.1\n"
    )
    inst = stratus_factory("--config", str(conf), env={"STRATUS_SHARDS": "2"})
    # shards: env (2) beats the file (3); replicas, threads, log-level: from the file.
    assert (inst.shards, inst.engines_per_shard) == (2, 1)
    r = inst.client()
    r.set("conf", "ok")
    assert r.get("conf") == "ok"


def test_plaintext_port_off_by_default(stratus_factory):
    inst = stratus_factory(plaintext=False)
    assert inst.plaintext_url is None
    assert not any(ln.strip().startswith("plaintext") for ln in inst.ready_block)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_explicit_port(stratus_factory):
    port = _free_port()
    inst = stratus_factory("--port", str(port), plaintext=False)
    assert inst.port == port
    assert inst.client().ping()


def test_port_in_use_fails_clearly_and_cleans_up(tmp_path):
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        out = run(["up", "--data-dir", str(tmp_path / "data"), "--port", str(port)], tmp_path,
                  timeout=30)
        assert out.returncode != 0
        assert str(port) in out.stderr, out.stderr[-2000:]
        deadline_poll(lambda: not processes_under(tmp_path), 10,
                      what="engines started before the failure to be gone")
    finally:
        busy.close()


def test_ready_within_two_seconds(stratus_factory):
    inst = stratus_factory()
    print(f"fresh `stratus up` ready after {inst.ready_after * 1000:.0f} ms")
    assert inst.ready_after < 2.0, f"ready after {inst.ready_after:.2f} s"


def test_version_in_ready_line_matches(stratus_factory, tmp_path):
    inst = stratus_factory("--replicas", "0")
    out = run(["version"], tmp_path)
    assert VERSION_RE.match(out.stdout.strip()).group(1) == inst.version


def test_serves_every_slot_right_after_ready(stratus_factory):
    """The ready block means the cluster is healthy: the first requests already see every write."""
    inst = stratus_factory("--shards", "2")
    c = inst.raw_tls()
    keys = keys_in_distinct_slots(2000, "early")
    c.send(b"".join(encode("SET", k, k) + encode("GET", k) + encode("MGET", k, "nope", k)
                    for k in keys))
    bad = []
    for k in keys:
        got = (c.read_reply(), c.read_reply(), c.read_reply())
        want = ("OK", k.encode(), [k.encode(), None, k.encode()])
        if got != want and len(bad) < 5:
            bad.append(f"{k}: got {got!r}")
    c.close()
    assert not bad, f"wrong replies right after the ready block: {bad}"


def test_missing_redis_server_is_one_clear_line(tmp_path, stratus_factory):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    try:
        stratus_factory(env={"PATH": str(empty)})
    except Exception as e:  # noqa: BLE001 - StratusStartError carries the log
        assert "exited with status" in str(e), str(e)
        assert "apt-get install redis-server" in str(e), str(e)
        return
    # It looks outside PATH too (/usr/bin); name a missing engine explicitly instead.
    with pytest.raises(Exception) as e:
        stratus_factory("--engine-binary", "/nonexistent/redis-server")
    msg = str(e.value)
    assert "exited with status" in msg, msg
    assert "/nonexistent/redis-server" in msg or "apt-get install redis-server" in msg, msg


def test_second_stratus_on_the_same_data_dir_refuses(stratus_factory, tmp_path):
    """A second `stratus up` on a data dir in use must not touch the first one's engines."""
    first = stratus_factory()
    engines = sorted(first.engine_pids())
    out = run(["up", "--data-dir", str(first.data_dir), "--port", "0"], tmp_path)
    assert out.returncode != 0
    assert "--data-dir" in out.stderr and "in use by another stratus" in out.stderr, out.stderr
    assert sorted(first.engine_pids()) == engines
    r = first.client()
    assert r.set("still:serving", "1") and r.get("still:serving") == "1"
