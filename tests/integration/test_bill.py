"""`stratus bill` (issue 6): the recorded usage priced by a sheet, reproducible to the cent, with
a forecast and the fixed-node comparison; clear errors for bad input."""

import re
import sqlite3
import subprocess
from datetime import datetime, timezone

from conftest import STRATUS_BIN


def bill(data_dir, *args):
    p = subprocess.run([STRATUS_BIN, "bill", "--data-dir", str(data_dir), *args],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def recorded_day(tmp_path, ecpu_per_minute, storage_gib):
    """A data dir whose store holds one whole day (2026-11-02 UTC) of per-minute records."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "stratus.db").touch()
    rc, out = bill(tmp_path, "--since", "2026-11-02", "--until", "2026-11-03")
    assert rc == 1 and "No usage recorded" in out, out  # the store made its tables
    db = sqlite3.connect(tmp_path / "stratus.db")
    day = int(datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()) // 60
    rows = []
    for m in range(day, day + 1440):
        rows.append(("default", m, "get", 1000, ecpu_per_minute * 1000 * 3 // 4, 0, 0, 0, 0, 0, 0))
        rows.append(("default", m, "set", 500, ecpu_per_minute * 1000 // 4, 0, 0, 0, 0, 0, 0))
        rows.append(("default", m, "", 0, 0, 0, 0, storage_gib * 2**30 * 60, 3, 0, 0))
    db.executemany("INSERT INTO usage (cache, minute, cmd, calls, mecpu, bytes_in, bytes_out, "
                   "storage_byte_s, connections, throttled, rejected) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()
    return tmp_path


def test_a_recorded_day_is_priced_to_the_cent_and_reproducibly(tmp_path):
    d = recorded_day(tmp_path, ecpu_per_minute=5_000_000, storage_gib=2)
    args = ("--since", "2026-11-02", "--until", "2026-11-03")
    rc, out = bill(d, *args)
    assert rc == 0, out
    # 1,440 minutes x 5 M ECPU = 7.2 G ECPU at $0.0034 per million; 2 GB for 24 h at $0.125.
    ecpu_cost = 1440 * 5_000_000 / 1e6 * 0.0034
    storage_cost = 2 * 24 * 0.125
    assert "$     %.2f" % ecpu_cost in out, out
    assert "$      %.2f" % storage_cost in out, out
    assert "$     %.2f" % (ecpu_cost + storage_cost) in out, out
    assert "$%.2f" % ((ecpu_cost + storage_cost) / 24 * 730) in out, out
    assert "get" in out.split("Top command types")[1].splitlines()[1]  # 75% of the ECPU
    assert bill(d, *args) == (rc, out)  # the same records, the same bill
    # Valkey prices, and a sheet of your own.
    rc, out = bill(d, *args, "--prices", "valkey")
    assert rc == 0 and "$     %.2f" % (1440 * 5 * 0.0023) in out, out
    sheet = tmp_path / "sheet.txt"
    sheet.write_text("name my prices\nper_million_ecpu 1\nper_gb_hour 0\n"
                     "node big.node 10 100 1000000\n")
    rc, out = bill(d, *args, "--prices", str(sheet))
    assert rc == 0 and "$   %.2f" % (1440 * 5) in out and "big.node" in out, out


def test_fixed_nodes_and_a_plain_recommendation(tmp_path):
    # A busy, small cache: 200,000 ECPU/s all day on 1 GB. Fixed nodes win.
    d = recorded_day(tmp_path, ecpu_per_minute=12_000_000, storage_gib=1)
    rc, out = bill(d, "--since", "2026-11-02", "--until", "2026-11-03")
    assert rc == 0, out
    assert "200000.0 ECPU/s" in out, out
    assert "Recommendation: fixed nodes are cheaper" in out, out
    # An idle one: serverless wins.
    d2 = recorded_day(tmp_path / "idle", ecpu_per_minute=60, storage_gib=0)
    rc, out = bill(d2, "--since", "2026-11-02", "--until", "2026-11-03")
    assert rc == 0 and "serverless pricing is cheaper" in out, out


def test_bad_input_gets_a_clear_error(tmp_path):
    d = recorded_day(tmp_path, ecpu_per_minute=1, storage_gib=0)
    assert bill(d, "--prices", "nosuch")[0] == 2
    rc, out = bill(d, "--since", "yesterday")
    assert rc == 2 and "YYYY-MM-DD" in out
    bad = tmp_path / "bad.txt"
    bad.write_text("per_million_ecpu lots\n")
    rc, out = bill(d, "--prices", str(bad))
    assert rc == 2 and "line 1" in out, out
    rc, out = bill(tmp_path / "nowhere")
    assert rc == 1 and "no state" in out


def test_hibernated_minutes_are_billed_as_storage_at_rest(tmp_path):
    """A day asleep: no ECPU, no GB-hours in memory, its snapshot billed apart at the snapshot
    price; --min-storage does not apply to minutes asleep (ElastiCache's own minimum does, shown
    apart, since it has no scale to zero)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "stratus.db").touch()
    bill(tmp_path, "--since", "2026-11-02", "--until", "2026-11-03")
    db = sqlite3.connect(tmp_path / "stratus.db")
    day = int(datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()) // 60
    rest = 10 * 2**30 * 60  # 10 GiB at rest, every minute
    db.executemany("INSERT INTO usage (cache, minute, cmd, rest_byte_s) VALUES (?,?,?,?)",
                   [("default", m, "", rest) for m in range(day, day + 1440)])
    db.commit()
    db.close()
    rc, out = bill(tmp_path, "--since", "2026-11-02", "--until", "2026-11-03", "--min-storage",
                   "0.5")
    assert rc == 0, out
    # 10 GB x 24 h = 240 GB-h at rest, at $0.085 per GB-month of 730 h: $0.03.
    m = re.search(r"at rest\s+([\d.]+) GB-hours\s+\$\s*([\d.]+)", out)
    assert m and abs(float(m.group(1)) - 240.0) < 1e-6 and m.group(2) == "0.03", out
    m = re.search(r"storage\s+([\d.]+) GB-hours\s+\$\s*([\d.]+)", out)
    assert m and float(m.group(1)) == 0.0 and m.group(2) == "0.00", out
    m = re.search(r"total\s+\$\s*([\d.]+)", out)
    assert m and m.group(1) == "0.03", out
    # ElastiCache would bill its 1 GB minimum for all 24 hours: $3.00.
    assert "with the offer's own 1 GB minimum: $3.00 so far" in out, out
