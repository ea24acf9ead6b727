'use strict';
// ioredis against `stratus up`: the seed's client (`tls: { ca }`), ioredis Cluster through the one
// endpoint, and a client that forgot TLS getting a quick error instead of a freeze.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const Redis = require('ioredis');
const { startStratus, withLog, within, keySlot, keysInDistinctSlots } = require('./stratus');

describe('ioredis through the stratus endpoint', () => {
  let srv;
  const clients = [];
  const track = (c) => {
    clients.push(c);
    return c;
  };
  const logged = (fn) => withLog(() => srv, fn);

  before(async () => {
    srv = await startStratus();
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    if (srv) await srv.stop();
  });

  it('the ioredis line of the ready block works as printed', logged(async () => {
    // The exact expression stratus prints, evaluated with Redis and fs in scope.
    const make = new Function('Redis', 'fs', `return ${srv.fields.ioredis};`);
    const client = track(make(Redis, fs));
    assert.equal(await client.ping(), 'PONG');
    assert.equal(await client.set('session:seed', 'user-1', 'EX', 3600), 'OK');
    assert.equal(await client.get('session:seed'), 'user-1');
    const ttl = await client.ttl('session:seed');
    assert.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl}`);
  }));

  it('new Redis(url, { tls: { ca } }) like the seed client', logged(async () => {
    const client = track(new Redis(srv.url, { tls: { ca: srv.caPem } }));
    await client.set('seed:k', 'v');
    assert.equal(await client.get('seed:k'), 'v');
    await client.hset('seed:h', { a: '1', b: '2' });
    assert.deepEqual(await client.hgetall('seed:h'), { a: '1', b: '2' });
    const keys = keysInDistinctSlots(100, 'io');
    await client.mset(Object.fromEntries(keys.map((k) => [k, k.toUpperCase()])));
    assert.deepEqual(await client.mget(...keys, 'io:missing'), [...keys.map((k) => k.toUpperCase()), null]);
    assert.equal(await client.del(...keys), 100);
  }));

  it('auto-pipelined concurrent commands keep their order', logged(async () => {
    const client = track(new Redis(srv.url, { tls: { ca: srv.caPem }, enableAutoPipelining: true }));
    const keys = keysInDistinctSlots(500, 'ap');
    await Promise.all(keys.map((k, i) => client.set(k, String(i))));
    const got = await Promise.all(keys.map((k) => client.get(k)));
    assert.deepEqual(got, keys.map((_, i) => String(i)));
  }));

  it('a wrong password is rejected with WRONGPASS', logged(async () => {
    const bad = new URL(srv.url);
    bad.password = 'not-the-password';
    const errors = [];
    const client = track(new Redis(bad.toString(), {
      tls: { ca: srv.caPem }, maxRetriesPerRequest: 0, retryStrategy: () => null,
    }));
    client.on('error', (e) => errors.push(e));
    await assert.rejects(within(5000, client.ping(), 'ping with a wrong password'));
    assert.ok(errors.some((e) => /WRONGPASS/.test(e.message)),
      `no WRONGPASS among: ${errors.map((e) => e.message).join(' | ')}`);
  }));

  it('tls: {} without the CA fails fast on the certificate, never hangs', logged(async () => {
    const errors = [];
    const client = track(new Redis(srv.url, { tls: {}, maxRetriesPerRequest: 0, retryStrategy: () => null }));
    client.on('error', (e) => errors.push(e));
    await assert.rejects(within(5000, client.ping(), 'ping with an untrusted certificate'));
    assert.ok(errors.some((e) => /certificate|self[- ]signed/i.test(e.message)),
      `no certificate error among: ${errors.map((e) => e.message).join(' | ')}`);
  }));

  for (const withPassword of [true, false]) {
    it(`plaintext client on the TLS port gets an error naming TLS within 2 s (${withPassword ? 'AUTH first' : 'no password'})`,
      logged(async () => {
        const errors = [];
        const url = withPassword
          ? `redis://default:${encodeURIComponent(srv.password)}@127.0.0.1:${srv.port}`
          : `redis://127.0.0.1:${srv.port}`;
        const client = track(new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null }));
        client.on('error', (e) => errors.push(e));
        const t0 = Date.now();
        let rejection;
        await assert.rejects(within(2000, client.ping(), 'ping over plaintext to the TLS port').catch((e) => {
          rejection = e;
          throw e;
        }));
        const ms = Date.now() - t0;
        assert.ok(!/did not settle/.test(rejection.message), rejection.message);
        const all = errors.concat([rejection]).map((e) => e.message);
        assert.ok(all.some((m) => /TLS/.test(m)), `no error names TLS: ${all.join(' | ')}`);
        console.log(`plaintext ioredis on the TLS port: rejected after ${ms} ms: ${all.join(' | ')}`);
      }));
  }

  it('multi().exec() runs atomically on one slot; a cross-slot one is refused', logged(async () => {
    const client = track(new Redis(srv.url, { tls: { ca: srv.caPem } }));
    await client.del('{io}:a', '{io}:n');
    const res = await client.multi().set('{io}:a', 'x').incr('{io}:n').get('{io}:a').exec();
    assert.deepEqual(res, [[null, 'OK'], [null, 1], [null, 'x']]);
    await assert.rejects(client.multi().set('{io1}:a', '1').set('{io2}:b', '2').exec(), /EXECABORT/);
    assert.equal(await client.exists('{io1}:a'), 0);
  }));

  it('BLPOP waits for a push from another client (queue worker)', logged(async () => {
    const worker = track(new Redis(srv.url, { tls: { ca: srv.caPem } }));
    const producer = track(new Redis(srv.url, { tls: { ca: srv.caPem } }));
    await producer.del('io:jobs');
    const waiting = worker.blpop('io:jobs', 5);
    setTimeout(() => producer.rpush('io:jobs', 'job-1'), 200);
    assert.deepEqual(await waiting, ['io:jobs', 'job-1']);
    assert.equal(await worker.blpop('io:jobs', 0.2), null);
  }));

  it('plaintext port with redis:// works (local development)', logged(async () => {
    assert.ok(srv.plaintextUrl, 'started with --plaintext-port 0');
    const client = track(new Redis(srv.plaintextUrl));
    assert.equal(await client.set('plain:k', '1'), 'OK');
    assert.equal(await client.get('plain:k'), '1');
  }));

  describe('ioredis Cluster', () => {
    let cluster;
    before(() => {
      cluster = new Redis.Cluster([{ host: srv.host, port: srv.port }], {
        redisOptions: { tls: { ca: srv.caPem }, username: 'default', password: srv.password },
      });
      track(cluster);
    });

    it('sees one node owning every slot at the address dialled', logged(async () => {
      await cluster.ping();
      const nodes = cluster.nodes('all');
      assert.equal(nodes.length, 1);
      assert.equal(nodes[0].options.host, '127.0.0.1');
      assert.equal(nodes[0].options.port, srv.port);
    }));

    it('set/get over many slots', logged(async () => {
      const keys = keysInDistinctSlots(300, 'cl');
      for (const [i, k] of keys.entries()) assert.equal(await cluster.set(k, `v${i}`), 'OK');
      const got = await Promise.all(keys.map((k) => cluster.get(k)));
      assert.deepEqual(got, keys.map((_, i) => `v${i}`));
    }));

    it('mget with a hash tag and across slots', logged(async () => {
      const tagged = Array.from({ length: 20 }, (_, i) => `{user42}:f${i}`);
      assert.equal(new Set(tagged.map(keySlot)).size, 1);
      await cluster.mset(Object.fromEntries(tagged.map((k, i) => [k, String(i)])));
      assert.deepEqual(await cluster.mget(...tagged), tagged.map((_, i) => String(i)));
      // ioredis sends a multi-key command to the node of its first key; the endpoint splits it.
      const spread = keysInDistinctSlots(100, 'clx');
      await cluster.mset(Object.fromEntries(spread.map((k) => [k, k])));
      assert.deepEqual(await cluster.mget(...spread, 'clx:none'), [...spread, null]);
    }));

    it('a pipeline across slots works (every slot is on the one node)', logged(async () => {
      const keys = keysInDistinctSlots(100, 'clp');
      const p = cluster.pipeline();
      keys.forEach((k, i) => p.set(k, String(i)));
      keys.forEach((k) => p.get(k));
      const res = await p.exec();
      assert.ok(res.every(([err]) => err === null), JSON.stringify(res.filter(([e]) => e).slice(0, 3)));
      assert.deepEqual(res.slice(100).map(([, v]) => v), keys.map((_, i) => String(i)));
    }));
  });
});
