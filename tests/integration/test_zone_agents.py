"""A zone per host (issue 5): zone b is another "host" (a network namespace) where a
`stratus agent` runs its engines for the control plane, and where a zone endpoint
(`stratus up --follow`) serves zone b's clients. Zone a's engines run in their own namespace,
started by the control plane itself.

- the control plane and the agent authenticate each other with the shared token (a wrong token
  is refused, with an error that says so);
- the zone endpoint serves reads and writes through the same cluster;
- zone b cut off: the control plane fails the primary over to zone a (its kill cannot reach the
  agent: the agent's lease runs out and it pauses writes on its primary), the main endpoint keeps
  serving, zone b's endpoint refuses the writes it cannot place (errors, never a silent
  acknowledgement) and the writes it refused are nowhere afterwards; back on the network, the old
  primary rejoins as a replica and zone b's endpoint writes again.
Needs root and iproute2 (CI has both); skipped otherwise.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from conftest import SANITIZER_MARKERS, STRATUS_BIN, deadline_poll, engine_clients
from test_zone_netns import sh, zones  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="needs root and iproute2")


def start_agent(tmp_path, listen, token, prefix=(), name="agent"):
    """A `stratus agent` (in a namespace with prefix); waits for its ready line. Returns
    (process, log path, dir)."""
    log = tmp_path / f"{name}.log"
    adir = tmp_path / f"{name}-dir"
    proc = subprocess.Popen(list(prefix) + [STRATUS_BIN, "agent", "--listen", listen, "--dir",
                                            str(adir), "--token-file", str(token)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), start_new_session=True)
    deadline_poll(lambda: "(ready)" in log.read_text() or proc.poll() is not None, 10,
                  what="the agent's ready line")
    assert proc.poll() is None, log.read_text()
    return proc, log, adir


def stop_agent(proc, adir, log):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    text = log.read_text(errors="replace")
    assert not any(m in text for m in SANITIZER_MARKERS), text[-3000:]
    # Its engines outlive it on purpose (they hold data); the test stops them.
    for pidfile in Path(adir).glob("*/*/redis.pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def token_file(tmp_path, name="token", text=None):
    p = tmp_path / name
    p.write_text(text or os.urandom(32).hex() + "\n")
    p.chmod(0o600)
    return p


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_a_wrong_token_is_refused_and_a_right_one_runs_the_zone(stratus_factory, tmp_path):
    from conftest import StratusStartError

    good, bad = token_file(tmp_path, "good"), token_file(tmp_path, "bad")
    port = free_port()
    proc, log, adir = start_agent(tmp_path, f"127.0.0.1:{port}", good)
    try:
        with pytest.raises(StratusStartError) as e:
            stratus_factory("--autoscale", "off", "--replicas", "1", "--zones", "a,b",
                            "--preferred-zone", "a", "--zone-agents", f"b=127.0.0.1:{port}",
                            "--agent-token-file", str(bad), "--start-timeout", "3000")
        # Each side proves the token: here the agent's proof fails first, so the control plane
        # sends nothing (not even its own proof) and says why.
        assert "could not prove it holds the token" in str(e.value), e.value
        assert "exited with status 1 " in str(e.value), e.value  # an error, not a crash
        assert "control plane connected" not in log.read_text()
        srv = stratus_factory("--autoscale", "off", "--replicas", "1", "--zones", "a,b",
                              "--preferred-zone", "a", "--zone-agents", f"b=127.0.0.1:{port}",
                              "--agent-token-file", str(good))
        r = srv.client()
        r.set("agent:k", "v")
        assert r.get("agent:k") == "v"
        remote = engine_clients(srv.data_dir, root=adir / "default")
        assert len(remote) == 1
        ((eng_name, eng),) = remote.items()
        assert eng.info("replication")["role"] == "slave"
        deadline_poll(lambda: eng.execute_command("READONLY") and eng.get("agent:k") == "v", 10,
                      what="the agent's replica to have the key")
        # Connections that never authenticate (a port scan, a stalled handshake) neither replace
        # the control plane's nor hold the agent up.
        import socket
        strays = [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
        # The agent restarts nothing itself: the control plane asks it to.
        pid = int(next(adir.glob("default/*/redis.pid")).read_text())
        os.kill(pid, signal.SIGKILL)
        deadline_poll(lambda: any(p.read_text().strip() != str(pid)
                                  for p in adir.glob("default/*/redis.pid")), 20,
                      what="the engine restarted through the agent")
        # The zone's engine knows the cache's users, also once restarted there.
        r.acl_setuser("zoned", enabled=True, passwords=["+pw"], keys=["z:*"], commands=["+get"])
        deadline_poll(lambda: engine_clients(srv.data_dir, root=adir / "default",
                                             ping=False)[eng_name].acl_getuser("u:zoned"), 20,
                      what="the cache's users on the zone's restarted engine")
        for c in strays:
            c.close()
        srv.stop()
        assert not list(adir.glob("default/*/redis.pid")) or all(
            not Path(f"/proc/{p.read_text().strip()}").exists()
            for p in adir.glob("default/*/redis.pid")), "engine left running after stop"
    finally:
        stop_agent(proc, adir, log)


def netns_of(zones, z):
    return next(part.split(":")[1] for part in zones["netns"].split(",")
                if part.startswith(z + ":"))


def cli_in(ns, srv_ip, port, password, ca, *cmd, timeout=20):
    """redis-cli run inside namespace ns (a client of zone b). (exit code, output)."""
    p = subprocess.run(["ip", "netns", "exec", ns, "redis-cli", "--tls", "--cacert", str(ca),
                        "-h", srv_ip, "-p", str(port), "-a", password, "--no-auth-warning",
                        *cmd], capture_output=True, text=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).strip()


def test_a_zone_host_cut_off_refuses_writes_it_cannot_place(stratus_factory, zones, tmp_path):
    from test_failover import replicas_in_sync

    ns_a, ns_b, ip_a, ip_b = (netns_of(zones, "a"), netns_of(zones, "b"), zones["ip"]["a"],
                              zones["ip"]["b"])
    token = token_file(tmp_path)
    agent, alog, adir = start_agent(tmp_path, f"{ip_b}:7400", token,
                                    prefix=("ip", "netns", "exec", ns_b), name="agent-b")
    try:
        main = stratus_factory("--autoscale", "off", "--replicas", "1", "--zones", "a,b",
                               "--preferred-zone", "b", "--zone", "a",
                               "--zone-netns", f"a:{ns_a}:{ip_a}",
                               "--zone-agents", f"b={ip_b}:7400", "--agent-token-file", str(token),
                               "--failover-timeout", "600", "--failback-delay", "3600000")
        r = main.client()
        deadline_poll(lambda: "cluster healthy" in main.log_text(), 60, what="cluster healthy")
        for i in range(100):
            r.set(f"zb:{i}", i)
        deadline_poll(lambda: "cluster healthy" in main.log_text() and
                      replicas_in_sync(main.data_dir), 30, what="cluster settled")
        (b_eng,) = engine_clients(None, root=adir / "default").values()
        assert b_eng.info("replication")["role"] == "master"
        b_addr = f"{ip_b}:{b_eng.connection_pool.connection_kwargs['port']}"

        # Zone b's endpoint: its own data dir with the cache's secrets and certificate.
        fdir = tmp_path / "zone-b-endpoint"
        (fdir / "caches" / "default").mkdir(parents=True)
        for f in ("password", "internal-password", "proxy-password"):
            shutil.copy(main.data_dir / "caches" / "default" / f, fdir / "caches" / "default")
        shutil.copytree(main.data_dir / "tls", fdir / "tls")
        zb = stratus_factory("--bind", ip_b, "--follow", b_addr, "--zone", "b",
                             "--zone-agents", f"b={ip_b}:7400", "--zone-netns",
                             f"a:{ns_a}:{ip_a}", "--backend-timeout", "1500",
                             data_dir=fdir, prefix=("ip", "netns", "exec", ns_b), name="zone-b")
        rc, out = cli_in(ns_b, ip_b, zb.port, zb.password, zb.ca, "SET", "zb:via-b", "1")
        assert rc == 0 and out == "OK", out
        assert r.get("zb:via-b") == "1"
        rc, out = cli_in(ns_b, ip_b, zb.port, zb.password, zb.ca, "ACL", "SETUSER", "eve", "on")
        assert "zone endpoint" in out, out

        sh("ip", "link", "set", zones["link"]["b"], "down")
        try:
            # The rest of the cache: the replica in zone a takes over; writes go on.
            end = time.monotonic() + 30
            errors = []
            while time.monotonic() < end:
                try:
                    r.set("zb:main-after", "1")
                    break
                except redis.RedisError as e:
                    errors.append(str(e))
            assert r.get("zb:main-after") == "1" and len(errors) <= 1, errors
            assert all(r.get(f"zb:{i}") == str(i) for i in range(100))
            # Zone b: the control plane's lease ran out, the agent paused its primary.
            deadline_poll(lambda: "writes paused" in alog.read_text(), 10,
                          what="the agent to fence its primary")
            rc, out = cli_in(ns_b, ip_b, zb.port, zb.password, zb.ca, "SET", "zb:refused", "x")
            assert "OK" not in out and ("ERR" in out or "CLUSTERDOWN" in out), out
            rc, out = cli_in(ns_b, ip_b, zb.port, zb.password, zb.ca, "GET", "zb:7")
            assert out == "7", out  # reads of what zone b has go on
        finally:
            sh("ip", "link", "set", zones["link"]["b"], "up")
        # Back: the old primary follows the new one; zone b's endpoint writes again.
        deadline_poll(lambda: b_eng.info("replication")["role"] == "slave", 60,
                      what="zone b's engine back as a replica")
        deadline_poll(lambda: cli_in(ns_b, ip_b, zb.port, zb.password, zb.ca, "SET",
                                     "zb:b-after", "2")[1] == "OK", 60,
                      what="zone b's endpoint writing again", interval=0.5)
        assert r.get("zb:b-after") == "2"
        assert r.get("zb:refused") is None, "a write zone b refused was applied"
        # The control plane reconnects to the agent (once a second) and the fence lifts.
        deadline_poll(lambda: "writes resumed" in alog.read_text(), 15,
                      what="the agent to resume writes")
        zb.stop()
        main.stop()
    finally:
        stop_agent(agent, adir, alog)
