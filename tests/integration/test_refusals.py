"""Every command docs/commands.md lists as refused is refused by the endpoint with its reason
(the table and the server come from the same generated command table, so this checks both),
and nothing else happens: the connection keeps working."""

import json
import re
from pathlib import Path

import pytest
import redis

from conftest import REPO, module_stratus

srv = module_stratus()

ROWS = re.compile(r"^\| (?P<cmd>[A-Z0-9_ |-]+?) \| refused \| (?P<why>.+) \|$")


def refused_rows():
    out = []
    for line in (REPO / "docs" / "commands.md").read_text().splitlines():
        m = ROWS.match(line)
        if m:
            out.append((m["cmd"], m["why"]))
    return out


def arity(name):
    data = json.loads((REPO / "scripts" / "redis-7.0-commands.json").read_text())
    parts = name.lower().split()
    for c in data["commands"]:
        if c["name"] == parts[0]:
            if len(parts) == 1:
                return c["arity"]
            for s in c["subcommands"]:
                if s["name"] == f"{parts[0]}|{parts[1]}":
                    return s["arity"]
    raise KeyError(name)


ROWS_NOW = refused_rows()


def test_the_table_lists_refusals():
    assert len(ROWS_NOW) >= 30


@pytest.mark.parametrize("cmd,why", ROWS_NOW, ids=[c for c, _ in ROWS_NOW])
def test_refused_with_its_reason(r, cmd, why):
    args = cmd.split()
    args += ["0"] * max(0, abs(arity(cmd)) - len(args))
    with pytest.raises(redis.exceptions.ResponseError) as e:
        r.execute_command(*args)
    msg = str(e.value)
    assert "is not available on Stratus" in msg, msg
    assert why.replace("\\|", "|") in msg, (msg, why)
    assert r.ping()


@pytest.mark.parametrize("call", [
    "redis.call('CLUSTER', 'SETSLOT', '1', 'STABLE')",
    "redis.call('CLUSTER', 'FORGET', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')",
    "redis.call('CLUSTER', 'MEET', '127.0.0.1', '1')",
    "redis.call('MIGRATE', '127.0.0.1', '1', 'k', '0', '100')",
    "redis.call('SWAPDB', '0', '1')",
    "redis.call('PFDEBUG', 'GETREG', 'k')",
])
def test_scripts_cannot_reach_what_is_refused(r, call):
    """The engines' user for the endpoint's links denies what a script could otherwise call."""
    r.set("k", "v")
    with pytest.raises(redis.exceptions.ResponseError, match="can't run this command"):
        r.eval(f"return {call}", 0)
    assert r.eval("return redis.call('GET', KEYS[1])", 1, "k") == "v"
    assert r.execute_command("CLUSTER", "COUNTKEYSINSLOT", "0") >= 0
