'use strict';
// ioredis through the one TLS endpoint, one describe per command family, on a cache of 1 shard
// and on a cache of 3 shards (both started at once). Every wait is on an event, a reply or a
// bounded poll of a condition; nothing sleeps a guessed time.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const Redis = require('ioredis');
const { startStratus, withLog, within, keySlot, keysInDistinctSlots } = require('./stratus');

// Polls fn (sync or async) every 25 ms until it returns a truthy value, for at most ms.
async function until(ms, what, fn) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`${what}: not true within ${ms} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// Resolves with the first n values pushed through `push`, or rejects after ms.
function collector(n, ms, what) {
  const got = [];
  let done;
  const full = new Promise((resolve) => { done = resolve; });
  return {
    got,
    push(v) {
      got.push(v);
      if (got.length >= n) done(got);
    },
    wait: () => within(ms, full, `${what} (${got.length}/${n} so far: ${JSON.stringify(got.slice(0, 5))})`),
  };
}

// Clients straight to the primary engines, through their unix sockets, only to see whether a
// client is blocked in an engine (the endpoint does not report blocked clients). Never used to
// send a command a client could send.
function primaryEngines(srv) {
  const root = path.join(srv.dataDir, 'caches', 'default', 'engines');
  const out = [];
  for (const line of fs.readFileSync(path.join(root, 'manifest'), 'utf8').split('\n')) {
    const w = line.trim().split(/\s+/);
    if (line.startsWith('#') || w.length < 5 || w[4] !== 'primary') continue;
    const conf = fs.readFileSync(path.join(root, w[0], 'redis.conf'), 'utf8');
    const m = /^requirepass\s+"?([^"\s]+)"?\s*$/m.exec(conf);
    out.push(new Redis({ path: path.join(root, w[0], 'redis.sock'), password: m ? m[1] : undefined }));
  }
  assert.equal(out.length, srv.shards, 'one primary engine per shard in the manifest');
  return out;
}

// assert.rejects validator on the error's message alone (a RegExp there sees "ReplyError: ...").
const message = (re) => (e) => {
  assert.match(e.message, re);
  return true;
};

async function blockedClients(engines) {
  let n = 0;
  for (const e of engines) n += Number(/blocked_clients:(\d+)/.exec(await e.info('clients'))[1]);
  return n;
}

const CACHES = [1, 3];
const servers = {};

before(async () => {
  const started = await Promise.allSettled(
    CACHES.map((n) => startStratus({ args: ['--shards', String(n)], plaintext: false })));
  started.forEach((r, i) => { if (r.status === 'fulfilled') servers[CACHES[i]] = r.value; });
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  for (const n of CACHES) assert.equal(servers[n].shards, n);
});

after(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
});

for (const shards of CACHES) {
  describe(`command families on a cache of ${shards} shard(s)`, () => {
    const clients = [];
    const track = (c) => {
      clients.push(c);
      return c;
    };
    const srv = () => servers[shards];
    const logged = (fn) => withLog(srv, fn);
    const connect = (opts = {}) => track(new Redis(srv().url, { tls: { ca: srv().caPem }, ...opts }));
    // A user of one's own: the url's user and password would win over options, so no url.
    const connectAs = (username, password, opts = {}) => track(new Redis({
      host: srv().host, port: srv().port, tls: { ca: srv().caPem }, username, password, ...opts,
    }));
    let r;

    before(() => {
      r = connect();
    });

    after(() => {
      for (const c of clients) c.disconnect();
    });

    describe('strings, hashes, lists, sets, sorted sets, streams, TTLs', () => {
      it('strings', logged(async () => {
        assert.equal(await r.set('s:str', 'hello'), 'OK');
        assert.equal(await r.append('s:str', ' world'), 11);
        assert.equal(await r.get('s:str'), 'hello world');
        assert.equal(await r.getrange('s:str', 0, 4), 'hello');
        assert.equal(await r.strlen('s:str'), 11);
        await r.del('s:n');
        assert.equal(await r.incrby('s:n', 5), 5);
        assert.equal(await r.incrbyfloat('s:n', 0.5), '5.5');
        assert.equal(await r.setnx('s:str', 'other'), 0);
        assert.equal(await r.getdel('s:str'), 'hello world');
        assert.equal(await r.get('s:str'), null);
      }));

      it('hashes', logged(async () => {
        await r.del('s:h');
        assert.equal(await r.hset('s:h', { a: '1', b: '2', c: '3' }), 3);
        assert.equal(await r.hget('s:h', 'b'), '2');
        assert.equal(await r.hincrby('s:h', 'a', 10), 11);
        assert.equal(await r.hdel('s:h', 'c', 'zz'), 1);
        assert.deepEqual(await r.hgetall('s:h'), { a: '11', b: '2' });
        assert.deepEqual(await r.hmget('s:h', 'b', 'none'), ['2', null]);
        assert.equal(await r.hlen('s:h'), 2);
      }));

      it('lists', logged(async () => {
        await r.del('s:l');
        assert.equal(await r.rpush('s:l', 'b', 'c'), 2);
        assert.equal(await r.lpush('s:l', 'a'), 3);
        assert.deepEqual(await r.lrange('s:l', 0, -1), ['a', 'b', 'c']);
        assert.equal(await r.lpop('s:l'), 'a');
        assert.equal(await r.rpop('s:l'), 'c');
        assert.equal(await r.llen('s:l'), 1);
        assert.equal(await r.lindex('s:l', 0), 'b');
      }));

      it('sets (SINTER on one hash tag)', logged(async () => {
        await r.del('{s}:x', '{s}:y');
        assert.equal(await r.sadd('{s}:x', 'a', 'b', 'c', 'a'), 3);
        assert.equal(await r.sadd('{s}:y', 'b', 'c', 'd'), 3);
        assert.equal(await r.sismember('{s}:x', 'a'), 1);
        assert.equal(await r.sismember('{s}:y', 'a'), 0);
        assert.equal(await r.scard('{s}:x'), 3);
        assert.deepEqual((await r.sinter('{s}:x', '{s}:y')).sort(), ['b', 'c']);
        assert.deepEqual((await r.smembers('{s}:x')).sort(), ['a', 'b', 'c']);
      }));

      it('sorted sets', logged(async () => {
        await r.del('s:z');
        assert.equal(await r.zadd('s:z', 3, 'c', 1, 'a', 2, 'b'), 3);
        assert.deepEqual(await r.zrange('s:z', 0, -1, 'WITHSCORES'), ['a', '1', 'b', '2', 'c', '3']);
        assert.equal(await r.zincrby('s:z', 5, 'a'), '6');
        assert.equal(await r.zrank('s:z', 'a'), 2);
        assert.deepEqual(await r.zrangebyscore('s:z', 2, 3), ['b', 'c']);
        assert.equal(await r.zscore('s:z', 'none'), null);
        assert.equal(await r.zcard('s:z'), 3);
      }));

      it('streams', logged(async () => {
        await r.del('s:st');
        const id1 = await r.xadd('s:st', '*', 'f', '1');
        const id2 = await r.xadd('s:st', '*', 'f', '2');
        assert.match(id1, /^\d+-\d+$/);
        assert.notEqual(id1, id2);
        assert.equal(await r.xlen('s:st'), 2);
        assert.deepEqual(await r.xrange('s:st', '-', '+'), [[id1, ['f', '1']], [id2, ['f', '2']]]);
        assert.deepEqual(await r.xrevrange('s:st', '+', '-', 'COUNT', 1), [[id2, ['f', '2']]]);
        assert.equal(await r.xtrim('s:st', 'MAXLEN', 1), 1);
        assert.deepEqual(await r.xrange('s:st', '-', '+'), [[id2, ['f', '2']]]);
      }));

      it('TTLs: SET EX, EXPIRE, PERSIST, TTL, PX expiry', logged(async () => {
        assert.equal(await r.set('s:ttl', 'v', 'EX', 100), 'OK');
        const t1 = await r.ttl('s:ttl');
        assert.ok(t1 > 95 && t1 <= 100, `ttl after SET EX 100: ${t1}`);
        assert.equal(await r.expire('s:ttl', 500), 1);
        const t2 = await r.ttl('s:ttl');
        assert.ok(t2 > 495 && t2 <= 500, `ttl after EXPIRE 500: ${t2}`);
        assert.equal(await r.persist('s:ttl'), 1);
        assert.equal(await r.ttl('s:ttl'), -1);
        assert.equal(await r.ttl('s:no-such-key'), -2);
        assert.equal(await r.expire('s:no-such-key', 10), 0);
        assert.equal(await r.set('s:short', 'v', 'PX', 100), 'OK');
        assert.equal(await r.exists('s:short'), 1);
        await until(5000, 's:short expiring after PX 100', async () => (await r.exists('s:short')) === 0);
      }));
    });

    describe('multi-key commands across slots', () => {
      it('MSET/MGET/EXISTS/DEL over 60 slots, merged in key order', logged(async () => {
        const keys = keysInDistinctSlots(60, 'mk');
        await r.del(...keys);
        assert.equal(await r.mset(Object.fromEntries(keys.map((k, i) => [k, `v${i}`]))), 'OK');
        // a missing key in the middle and a repeated key keep their places
        const asked = [...keys.slice(0, 30), 'mk:missing', keys[3], ...keys.slice(30)];
        const want = [...keys.slice(0, 30).map((_, i) => `v${i}`), null, 'v3', ...keys.slice(30).map((_, i) => `v${i + 30}`)];
        assert.deepEqual(await r.mget(...asked), want);
        assert.equal(await r.exists(...keys, 'mk:missing', keys[0]), 61);
        assert.equal(await r.del(...keys.slice(0, 20), 'mk:missing'), 20);
        assert.equal(await r.exists(...keys), 40);
        assert.deepEqual(await r.mget(keys[0], keys[59]), [null, 'v59']);
        assert.equal(await r.del(...keys), 40);
      }));

      it('RENAME in one slot works; across slots gets CROSSSLOT with the hash-tag hint', logged(async () => {
        await r.del('{rn}:a', '{rn}:b');
        await r.set('{rn}:a', 'x');
        assert.equal(await r.rename('{rn}:a', '{rn}:b'), 'OK');
        assert.deepEqual(await r.mget('{rn}:a', '{rn}:b'), [null, 'x']);
        const [a, b] = ['rn:a', 'rn:b'];
        assert.notEqual(keySlot(a), keySlot(b));
        await r.set(a, 'y');
        await assert.rejects(r.rename(a, b), (e) => {
          assert.match(e.message, /^CROSSSLOT/);
          assert.match(e.message, /hash tag/);
          assert.match(e.message, /\{user\}:1/);
          return true;
        });
        assert.deepEqual(await r.mget(a, b), ['y', null]);
      }));
    });

    describe('transactions', () => {
      it('multi().set().incr().exec() returns every result', logged(async () => {
        await r.del('{tx}:a', '{tx}:n');
        await r.set('{tx}:n', '41');
        const res = await r.multi().set('{tx}:a', 'x').incr('{tx}:n').get('{tx}:a').exec();
        assert.deepEqual(res, [[null, 'OK'], [null, 42], [null, 'x']]);
      }));

      it('WATCH: unchanged key commits; a concurrent change makes exec return null', logged(async () => {
        const a = connect();
        const b = connect();
        await a.set('{w}:k', 'orig');
        assert.equal(await a.watch('{w}:k'), 'OK');
        assert.deepEqual(await a.multi().set('{w}:k', 'mine').exec(), [[null, 'OK']]);
        assert.equal(await a.watch('{w}:k'), 'OK');
        assert.equal(await b.set('{w}:k', 'theirs'), 'OK');
        assert.equal(await a.multi().set('{w}:k', 'mine2').incr('{w}:n').exec(), null);
        assert.equal(await a.get('{w}:k'), 'theirs');
        assert.equal(await a.exists('{w}:n'), 0);
      }));

      it('an error while queueing aborts the transaction with EXECABORT', logged(async () => {
        await r.del('{ea}:a');
        await assert.rejects(
          r.multi().set('{ea}:a', '1').set('{ea}:b').exec(), // SET with one argument
          (e) => {
            assert.match(e.message, /EXECABORT/);
            return true;
          });
        assert.equal(await r.exists('{ea}:a'), 0);
        assert.equal(await r.ping(), 'PONG'); // the connection left the transaction
      }));
    });

    describe('blocking commands', () => {
      let engines;
      before(() => {
        engines = primaryEngines(srv()).map(track);
      });

      it('BLPOP is woken by another client\'s RPUSH', logged(async () => {
        const worker = connect();
        const producer = connect();
        await producer.del('bl:jobs');
        assert.equal(await blockedClients(engines), 0);
        let settled = false;
        const waiting = worker.blpop('bl:jobs', 10).finally(() => { settled = true; });
        await until(10000, 'BLPOP to block in an engine', async () => (await blockedClients(engines)) === 1);
        assert.equal(settled, false);
        assert.equal(await producer.rpush('bl:jobs', 'job-1', 'job-2'), 2);
        assert.deepEqual(await within(5000, waiting, 'BLPOP after RPUSH'), ['bl:jobs', 'job-1']);
        assert.equal(await producer.lrange('bl:jobs', 0, -1).then((l) => l.join()), 'job-2');
        await until(5000, 'no client left blocked', async () => (await blockedClients(engines)) === 0);
      }));

      it('BLPOP times out with null after about its timeout', logged(async () => {
        const worker = connect();
        await worker.del('bl:empty');
        const t0 = Date.now();
        assert.equal(await within(5000, worker.blpop('bl:empty', 0.5), 'BLPOP 0.5'), null);
        const ms = Date.now() - t0;
        assert.ok(ms >= 450 && ms < 2500, `BLPOP 0.5 returned after ${ms} ms`);
      }));

      it('XREADGROUP BLOCK with two consumers, XACK, XAUTOCLAIM', logged(async () => {
        const s = 'bl:stream';
        await r.del(s);
        assert.equal(await r.xgroup('CREATE', s, 'g', '$', 'MKSTREAM'), 'OK');
        const c1 = connect();
        const c2 = connect();
        const read = (c, name) => c.xreadgroup('GROUP', 'g', name, 'COUNT', 1, 'BLOCK', 10000, 'STREAMS', s, '>');
        const p1 = read(c1, 'c1');
        const p2 = read(c2, 'c2');
        await until(10000, 'both consumers blocked', async () => (await blockedClients(engines)) === 2);
        const idA = await r.xadd(s, '*', 'job', 'a');
        const idB = await r.xadd(s, '*', 'job', 'b');
        const [r1, r2] = await within(5000, Promise.all([p1, p2]), 'both XREADGROUPs');
        assert.equal(r1.length, 1);
        assert.equal(r1[0][0], s);
        assert.equal(r1[0][1].length, 1);
        assert.equal(r2[0][1].length, 1);
        const e1 = r1[0][1][0];
        const e2 = r2[0][1][0];
        assert.deepEqual([e1[0], e2[0]].sort(), [idA, idB].sort(), 'each entry delivered to exactly one consumer');
        const pending = await r.xpending(s, 'g');
        assert.equal(pending[0], 2);
        assert.deepEqual(pending[3].sort(), [['c1', '1'], ['c2', '1']]);

        assert.equal(await c1.xack(s, 'g', e1[0]), 1);
        assert.equal(await c1.xack(s, 'g', e1[0]), 0);
        // c2 "crashed": c3 claims what it left pending
        const claimed = await r.xautoclaim(s, 'g', 'c3', 0, '0-0');
        assert.equal(claimed[0], '0-0');
        assert.deepEqual(claimed[1], [e2]);
        const after = await r.xpending(s, 'g');
        assert.equal(after[0], 1);
        assert.deepEqual(after[3], [['c3', '1']]);
      }));
    });

    describe('pub/sub', () => {
      it('SUBSCRIBE to channels on every shard; PUBLISH from another client', logged(async () => {
        const sub = connect();
        const pub = connect();
        const channels = keysInDistinctSlots(9, 'news');
        assert.equal(await sub.subscribe(...channels), channels.length);
        const msgs = collector(channels.length * 3, 10000, 'messages');
        sub.on('message', (ch, m) => msgs.push(`${ch}=${m}`));
        for (const ch of channels) {
          assert.equal(await pub.publish(ch, `hello ${ch}`), 1);
          assert.equal(await pub.publish(ch, `bye ${ch}`), 1);
        }
        assert.equal(await pub.publish('news:nobody', 'x'), 0);
        for (const ch of channels) assert.equal(await pub.publish(ch, 'end'), 1); // barrier
        const got = await msgs.wait();
        for (const ch of channels) {
          assert.deepEqual(got.filter((m) => m.startsWith(`${ch}=`)),
            [`${ch}=hello ${ch}`, `${ch}=bye ${ch}`, `${ch}=end`], `in order, once, on ${ch}`);
        }
        assert.equal(got.length, channels.length * 3);
      }));

      it('PSUBSCRIBE gets matching channels only', logged(async () => {
        const sub = connect();
        const pub = connect();
        assert.equal(await sub.psubscribe('alerts:*'), 1);
        const msgs = collector(3, 10000, 'pmessages');
        sub.on('pmessage', (pattern, ch, m) => msgs.push([pattern, ch, m]));
        const channels = keysInDistinctSlots(2, 'alerts');
        assert.equal(await pub.publish(channels[0], 'disk'), 1);
        assert.equal(await pub.publish('other:disk', 'ignored'), 0);
        assert.equal(await pub.publish(channels[1], 'cpu'), 1);
        assert.equal(await pub.publish('alerts:end', 'end'), 1);
        assert.deepEqual((await msgs.wait()).sort(), [
          ['alerts:*', 'alerts:end', 'end'],
          ['alerts:*', channels[0], 'disk'],
          ['alerts:*', channels[1], 'cpu'],
        ].sort());
      }));

      it('SSUBSCRIBE/SPUBLISH on shard channels of every shard; PUBSUB SHARDCHANNELS/SHARDNUMSUB',
        logged(async () => {
          const sub = connect();
          const pub = connect();
          const channels = keysInDistinctSlots(6, 'orders');
          const counts = []; // the client's shard-channel count after each (un)subscribe
          for (const ch of channels) counts.push(await sub.ssubscribe(ch));
          const msgs = collector(channels.length, 10000, 'smessages');
          sub.on('smessage', (ch, m) => msgs.push(`${ch}=${m}`));
          for (const ch of channels) assert.equal(await pub.spublish(ch, `new ${ch}`), 1);
          assert.equal(await pub.spublish('orders:nobody', 'x'), 0);
          assert.deepEqual((await msgs.wait()).sort(), channels.map((ch) => `${ch}=new ${ch}`).sort());
          assert.deepEqual((await pub.pubsub('SHARDCHANNELS', 'orders:*')).sort(), [...channels].sort());
          assert.deepEqual(await pub.pubsub('SHARDNUMSUB', channels[0], channels[5], 'orders:nobody'),
            [channels[0], 1, channels[5], 1, 'orders:nobody', 0]);
          // one slot per SUNSUBSCRIBE, as Redis Cluster requires; the counts are the client's
          for (const ch of channels.slice(0, 4)) counts.push(await sub.sunsubscribe(ch));
          assert.deepEqual((await pub.pubsub('SHARDCHANNELS', 'orders:*')).sort(), channels.slice(4).sort());
          // still subscribed to the other two: their messages keep coming
          const more = collector(2, 5000, 'smessages after SUNSUBSCRIBE of four channels');
          sub.on('smessage', (ch, m) => more.push(`${ch}=${m}`));
          for (const ch of channels.slice(4)) assert.equal(await pub.spublish(ch, 'again'), 1);
          assert.deepEqual((await more.wait()).sort(), channels.slice(4).map((ch) => `${ch}=again`).sort());
          assert.deepEqual(counts, [1, 2, 3, 4, 5, 6, 5, 4, 3, 2]);
        }));
    });

    describe('keyspace notifications', () => {
      it('psubscribe __keyspace@0__:* gets one set event per key, from every shard', logged(async () => {
        assert.equal(await r.config('SET', 'notify-keyspace-events', 'KEA'), 'OK');
        try {
          const sub = connect();
          assert.equal(await sub.psubscribe('__keyspace@0__:*'), 1);
          const keys = Array.from({ length: 20 }, (_, i) => `ks:{${i}}`);
          assert.ok(new Set(keys.map(keySlot)).size === 20);
          const events = [];
          const sentinels = collector(keys.length, 10000, 'sentinel events');
          sub.on('pmessage', (pattern, ch, m) => {
            if (pattern !== '__keyspace@0__:*') return;
            const key = ch.slice('__keyspace@0__:'.length);
            if (key.endsWith(':end')) sentinels.push(key);
            else if (key.startsWith('ks:')) events.push(`${key} ${m}`);
          });
          for (const k of keys) assert.equal(await r.set(k, 'v'), 'OK');
          // A later write in the same slot is a barrier: any duplicate of the events above
          // comes from the same engine before it.
          for (const k of keys) await r.set(`${k}:end`, 'v');
          await sentinels.wait();
          assert.deepEqual(events.sort(), keys.map((k) => `${k} set`).sort());
          await r.del(...keys, ...keys.map((k) => `${k}:end`));
        } finally {
          await r.config('SET', 'notify-keyspace-events', '');
        }
      }));
    });

    describe('scripts and functions', () => {
      it('defineCommand (EVALSHA, falling back to EVAL) on keys of every shard', logged(async () => {
        const lua = `-- families ${process.pid} ${Date.now()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`;
        r.defineCommand('famIncr', { numberOfKeys: 1, lua });
        const sha = require('node:crypto').createHash('sha1').update(lua).digest('hex');
        assert.deepEqual(await r.script('EXISTS', sha), [0]);
        const keys = keysInDistinctSlots(12, 'sc');
        await r.del(...keys);
        for (const k of keys) assert.equal(await r.famIncr(k, 7), 7);
        for (const k of keys) assert.equal(await r.famIncr(k, 1), 8);
        assert.deepEqual(await r.mget(...keys), keys.map(() => '8'));
      }));

      it('a keyless EVAL', logged(async () => {
        assert.equal(await r.eval('return 1', 0), 1);
        assert.deepEqual(await r.eval("return {ARGV[1], 'b'}", 0, 'a'), ['a', 'b']);
      }));

      it('FCALL after FUNCTION LOAD, on keys of every shard', logged(async () => {
        const code = "#!lua name=famlib\n" +
          "redis.register_function('fam_incr', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)\n" +
          "redis.register_function{function_name='fam_get', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
        assert.equal(await r.function('LOAD', 'REPLACE', code), 'famlib');
        const keys = keysInDistinctSlots(12, 'fn');
        await r.del(...keys);
        for (const k of keys) assert.equal(await r.fcall('fam_incr', 1, k, 3), 3);
        for (const k of keys) assert.equal(await r.fcall_ro('fam_get', 1, k), '3');
        await assert.rejects(r.fcall('fam_none', 0), /function/i);
      }));
    });

    describe('ACL users', () => {
      it('a least-privilege user: allowed commands work, other keys get NOPERM', logged(async () => {
        assert.equal(await r.acl('SETUSER', 'app', 'on', '>pw', '~app:*', '+@read', '+@write',
          '-@dangerous', '+acl|whoami'), 'OK');
        const app = connectAs('app', 'pw', { enableReadyCheck: false });
        assert.equal(await app.acl('WHOAMI'), 'app');
        const keys = keysInDistinctSlots(10, 'app');
        for (const k of keys) assert.equal(await app.set(k, 'v'), 'OK');
        assert.deepEqual(await app.mget(...keys), keys.map(() => 'v'));
        await assert.rejects(app.get('other:1'), message(/^NOPERM/));
        await assert.rejects(app.mget(keys[0], 'other:1'), message(/^NOPERM/));
        await assert.rejects(app.flushall(), message(/^NOPERM/));
        await assert.rejects(app.config('GET', 'maxmemory'), message(/^NOPERM/));
        assert.equal(await app.del(...keys), keys.length);
        const bad = connectAs('app', 'wrong', { maxRetriesPerRequest: 0, retryStrategy: () => null });
        const errors = [];
        bad.on('error', (e) => errors.push(e.message));
        await assert.rejects(within(5000, bad.ping(), 'ping with a wrong password'));
        assert.ok(errors.some((m) => /WRONGPASS/.test(m)), errors.join(' | '));
      }));
    });

    describe('CONFIG', () => {
      it('CONFIG GET * hides requirepass, dir and port', logged(async () => {
        const flat = await r.config('GET', '*');
        const names = flat.filter((_, i) => i % 2 === 0);
        assert.ok(names.includes('maxmemory-policy'), 'CONFIG GET * lists maxmemory-policy');
        assert.ok(names.includes('notify-keyspace-events'));
        for (const hidden of ['requirepass', 'dir', 'port']) assert.ok(!names.includes(hidden), hidden);
        assert.deepEqual(await r.config('GET', 'requirepass'), []);
      }));

      it('CONFIG SET maxmemory is refused: managed by the service', logged(async () => {
        await assert.rejects(r.config('SET', 'maxmemory', '10mb'), /managed by the service/);
        assert.equal(await r.config('SET', 'maxmemory-policy', 'allkeys-lru'), 'OK');
        assert.deepEqual(await r.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'allkeys-lru']);
        assert.equal(await r.config('SET', 'maxmemory-policy', 'noeviction'), 'OK');
      }));
    });

    describe('WAIT', () => {
      it('wait(1, 2000) counts the one replica of every shard', logged(async () => {
        await until(30000, 'replicas in sync (WAIT 1 200 answering 1)', async () =>
          (await r.set('w:probe', '1')) === 'OK' && (await r.wait(1, 200)) === 1);
        for (const k of keysInDistinctSlots(12, 'w')) await r.set(k, 'v');
        const t0 = Date.now();
        assert.equal(await r.wait(1, 2000), 1);
        assert.ok(Date.now() - t0 < 1500, `WAIT 1 2000 took ${Date.now() - t0} ms`);
        const t1 = Date.now();
        assert.equal(await r.wait(2, 300), 1); // only one replica exists: the timeout holds
        const ms = Date.now() - t1;
        assert.ok(ms >= 250 && ms < 3000, `WAIT 2 300 took ${ms} ms`);
      }));
    });

    describe('ioredis Redis.Cluster through the endpoint', () => {
      let cluster;
      before(() => {
        cluster = track(new Redis.Cluster([{ host: srv().host, port: srv().port }], {
          redisOptions: { tls: { ca: srv().caPem }, username: 'default', password: srv().password },
        }));
      });

      it('a transaction on one hash tag', logged(async () => {
        await cluster.del('{cart}:items', '{cart}:n');
        const res = await cluster.multi().rpush('{cart}:items', 'a', 'b').incr('{cart}:n')
          .lrange('{cart}:items', 0, -1).exec();
        assert.deepEqual(res, [[null, 2], [null, 1], [null, ['a', 'b']]]);
        assert.equal(cluster.nodes('all').length, 1);
      }));

      it('a pipeline across slots', logged(async () => {
        const keys = keysInDistinctSlots(50, 'cp');
        const p = cluster.pipeline();
        keys.forEach((k, i) => p.set(k, String(i)));
        keys.forEach((k) => p.incr(k));
        const res = await p.exec();
        assert.deepEqual(res.filter(([e]) => e), []);
        assert.deepEqual(res.slice(50).map(([, v]) => v), keys.map((_, i) => i + 1));
        assert.deepEqual(await cluster.mget(...keys), keys.map((_, i) => String(i + 1)));
      }));
    });
  });
}
