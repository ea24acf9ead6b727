#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora (tests/fuzz/corpus/*), reconstructed from Redis's
documented protocol behaviour and its protocol tests (negative and huge multibulk/bulk lengths,
non-digits, bare CR, NUL bytes, 64 KB inline lines, unbalanced quotes), the limits before
AUTH, every RESP3 reply type, and the API's and config's inputs. Run after changing it; the
files are committed."""
import os
import shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")

AUTHED, NOAUTH = b"\x00", b"\x01"  # first byte of a resp_req seed: limits, and bytes per read

REQ = [
    b"*1\r\n$4\r\nPING\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
    b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    b"PING\r\n", b"PING\n", b"SET \"a b\" 'c d'\r\n", b"SET \"\\x41\\n\\t\" v\r\n",
    b"\r\n", b"   \r\n", b"*0\r\n", b"*-1\r\n",
    b"*-10\r\n", b"*3000000000\r\n", b"*20000000\r\n", b"*1048577\r\n",
    b"*1\r\n$-10\r\n", b"*1\r\n$2000000000\r\n", b"*1\r\n$536870913\r\n",
    b"*1x\r\n", b"*1\r\n$3x\r\n", b"*\r\n", b"*1\r\n$\r\n", b"$3\r\nfoo\r\n",
    b"*1\r$3\r\nfoo\r\n", b"*1\r\n$3\rfoo\r\n", b"*1\n$3\nfoo\n",
    b"*1\r\n$3\r\nf\x00o\r\n", b"PING\x00\r\n", b"\x00\x00\x00\r\n",
    b"A" * 65536 + b"\r\n", b"A" * 70000, b"*" + b"9" * 100 + b"\r\n",
    b"SET \"abc\r\n", b"SET 'abc\r\n", b"\"a\"b\r\n", b"'a'b\r\n",
    b"*2\r\n$1\r\na\r\n", b"*1\r\n$1\r\nab\r\n", b"*1\r\n$1\r\na", b"*1\r\n$1\r\nab",
    b"*2\r\n$3\r\nGET\r\n:1\r\n", b"*1\r\n+PING\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
]
NOAUTH_REQ = [b"*11\r\n", b"*10\r\n" + b"$1\r\na\r\n" * 10, b"*1\r\n$16385\r\n",
              b"*1\r\n$16384\r\n" + b"x" * 16384 + b"\r\n", b"*2\r\n$4\r\nAUTH\r\n$3\r\npwd\r\n"]

REPLY = [
    b"+OK\r\n", b"-ERR x\r\n", b":1\r\n", b":-9223372036854775808\r\n", b"$3\r\nfoo\r\n",
    b"$0\r\n\r\n", b"$-1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n", b"*-1\r\n", b"*0\r\n",
    b"%1\r\n+a\r\n:1\r\n", b"~1\r\n+a\r\n", b">2\r\n+message\r\n+x\r\n", b",1.5\r\n",
    b",inf\r\n", b"#t\r\n", b"#f\r\n", b"(123456789012345678901234567890\r\n",
    b"=7\r\ntxt:abc\r\n", b"!3\r\nerr\r\n", b"|1\r\n+ecpu\r\n,1\r\n+OK\r\n", b"_\r\n",
    b"*1\r\n" * 200 + b":1\r\n", b"*1\r\n" * 127 + b":1\r\n", b"$5\r\nab\r\n", b"*3\r\n:1\r\n",
    b"$-2\r\n", b"*1x\r\n", b"+OK\n", b"?\r\n", b"$3\r\nabcde", b"%-1\r\n",
    b"+OK\r\n:2\r\n$1\r\nz\r\n",
]

KEYS = [
    b"SET\nk\nv", b"GET\nk", b"MSET\na\n1\nb\n2", b"MGET\na\nb\nc", b"BLPOP\nq1\nq2\n5",
    b"XREADGROUP\nGROUP\ng\nc\nBLOCK\n100\nSTREAMS\ns\n>", b"XREAD\nCOUNT\n1\nSTREAMS\na\nb\n0\n0",
    b"EVAL\nreturn 1\n2\nk1\nk2\na", b"EVALSHA\nabc\n-1\nk", b"FCALL\nf\n1\nk\nx",
    b"ZUNIONSTORE\nd\n2\na\nb\nWEIGHTS\n1\n2", b"ZINTER\n99\na", b"SORT\nk\nBY\nw_*\nGET\no_*\nSTORE\nd",
    b"MIGRATE\nh\n1\n\n0\n100\nKEYS\na\nb", b"CLIENT\nKILL\nID\n1", b"OBJECT\nENCODING\nk",
    b"GEORADIUS\nk\n0\n0\n1\nkm\nSTORE\nd", b"LMPOP\n2\na\nb\nLEFT", b"BZMPOP\n1\n2\na\nb\nMIN",
    b"BLMPOP\n0.5\n1\na\nRIGHT", b"XADD\ns\n*\nf\nv", b"BITFIELD\nk\nGET\nu8\n0", b"SINTERCARD\n2\na\nb",
    b"WAIT\n1\n0", b"DEL\n" + b"k\n" * 300, b"BRPOPLPUSH\na\nb\n1", b"SUBSCRIBE\nc",
    b"SPUBLISH\nc\nm", b"MEMORY\nUSAGE\nk", b"COMMAND\nGETKEYS\nSET\nk\nv", b"STRATUS\nCOST\nGET\nk",
]

CONFIG = [
    b"port 6380\nshards 2\n", b"# comment\nmax-storage 10gb\n", b"bogus 1\n", b"port 99999\n",
    b"data-dir\n", b"shard-memory 1.5gb\n", b"replicas -1\n", b"port\t6380\n",
    b"durability sync\nreplicas 0\n", b"x" * 5000 + b" 1\n", b"hibernate-after 600\napi-port off\n",
    b"zones a,b,c\npreferred-zone d\n", b"\x00port 1\n", b"max-storage 0x10\n",
]

JSON = [
    b'{"name":"a"}',
    b'{"name":"orders","description":"d","usage_limits":{"max_ecpu_per_second":5,'
    b'"max_storage":"1gb"},"zones":["a","b"],"preferred_zone":"a","shards":2,"replicas":1,'
    b'"durability":"sync","hibernate_after_seconds":60,"daily_snapshot_time":"03:30",'
    b'"snapshot_retention_limit":3}',
    b'{"shards":"x"}', b"[]", b"{", b'{"name":"a","color":1}', b'{"usage_limits":[]}',
    b'{"daily_snapshot_time":"25:61"}', b'{"name":"' + b"x" * 50 + b'"}', b'{"zones":[1]}',
    b'{"name":"a","user_group_id":"g"}', b'{"shards":1e400}', b'{"name":"\\u0000"}', b"null",
    b'{"name":"a","name":"b"}', b'{"description":"' + b"d" * 300 + b'"}',
]


def write(name, seeds):
    d = os.path.join(ROOT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i, s in enumerate(seeds):
        with open(os.path.join(d, f"seed-{i:03d}"), "wb") as f:
            f.write(s)


def main():
    write("resp_req", [AUTHED + s for s in REQ] + [b"\x40" + s for s in REQ[:12]] +
          [NOAUTH + s for s in NOAUTH_REQ + REQ[:6]])
    write("resp_reply", REPLY)
    write("cmd_keys", KEYS)
    write("config", CONFIG)
    write("api_json", JSON)


if __name__ == "__main__":
    main()
