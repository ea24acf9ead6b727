'use strict';
// Live resharding seen from ioredis (issue 4): writers and readers keep running over TLS while
// STRATUS SCALE moves a 1-shard cache to 3 shards and back; every error is counted (must be 0)
// and every key written is read back exactly.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const Redis = require('ioredis');
const { startStratus, withLog } = require('./stratus');

async function until(ms, what, fn) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('ioredis through live resharding', () => {
  let srv;
  const clients = [];
  before(async () => {
    srv = await startStratus({ args: ['--autoscale', 'off'], plaintext: false });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    if (srv) await srv.stop();
  });

  it('1 -> 3 -> 1 shards: zero client errors, every key exact', withLog(() => srv, async () => {
    const connect = () => {
      const c = new Redis(srv.url, { tls: { ca: srv.caPem }, maxRetriesPerRequest: 0 });
      clients.push(c);
      return c;
    };
    const admin = connect();
    const errors = [];
    const written = new Map();
    let stop = false;
    const writer = async (n) => {
      const c = connect();
      for (let i = 0; !stop; i++) {
        const k = `ioload:${n}:${i}`;
        try {
          await c.set(k, `v${i}`);
          written.set(k, `v${i}`);
          const [got] = await c.pipeline().get(k).mget(k, `ioload:${n}:${Math.max(0, i - 3)}`).exec();
          if (got[1] !== `v${i}`) errors.push(`read-your-write ${k}: ${got[1]}`);
        } catch (e) {
          errors.push(`${k}: ${e.message}`);
        }
      }
    };
    const shards = async () => {
      const info = await admin.info('stratus');
      const m = /shards:(\d+)/.exec(info);
      const busy = /resharding:1/.test(info);
      return busy ? -1 : Number(m[1]);
    };
    const running = [0, 1, 2].map(writer);
    await until(5000, 'first writes', () => written.size > 100);
    assert.equal(await admin.call('STRATUS', 'SCALE', '3'), 'OK');
    await until(120000, '3 shards', async () => (await shards()) === 3);
    assert.equal(await admin.call('STRATUS', 'SCALE', '1'), 'OK');
    await until(120000, '1 shard', async () => (await shards()) === 1);
    stop = true;
    await Promise.all(running);
    assert.deepEqual(errors, []);
    assert.ok(written.size > 500, `only ${written.size} keys written`);
    const keys = [...written.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const vals = await admin.mget(...chunk);
      chunk.forEach((k, j) => assert.equal(vals[j], written.get(k), k));
    }
  }));
});
