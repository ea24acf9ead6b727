'use strict';
// BullMQ, a real queue framework from npm, unchanged, through the one TLS endpoint of a
// 3-shard cache: its Lua scripts (EVALSHA), transactions (MULTI), blocking markers and streams
// all run through Stratus. Keys use the `{bull}` prefix so each queue lives in one slot.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Queue, Worker, QueueEvents } = require('bullmq');
const { startStratus, withLog, within } = require('./stratus');

describe('BullMQ through the stratus endpoint', () => {
  let srv;
  const closers = [];
  const logged = (fn) => withLog(() => srv, fn);

  before(async () => {
    srv = await startStratus({ args: ['--shards', '3'] });
  });

  after(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
    if (srv) await srv.stop();
  });

  const connection = () => {
    const u = new URL(srv.url);
    return {
      host: u.hostname,
      port: Number(u.port),
      username: 'default',
      password: decodeURIComponent(u.password),
      tls: { ca: srv.caPem },
      maxRetriesPerRequest: null,
    };
  };

  it('jobs added to a queue are processed by a worker, with results and events', logged(async () => {
    const name = `orders-${process.pid}`;
    const queue = new Queue(name, { connection: connection(), prefix: '{bull}' });
    closers.push(queue);
    const events = new QueueEvents(name, { connection: connection(), prefix: '{bull}' });
    closers.push(events);
    await events.waitUntilReady();

    const seen = [];
    const worker = new Worker(name, async (job) => {
      seen.push(job.data.n);
      if (job.data.n === 3) throw new Error('boom');
      return job.data.n * 10;
    }, { connection: connection(), prefix: '{bull}', concurrency: 4 });
    closers.push(worker);
    await worker.waitUntilReady();

    const completed = new Promise((resolve) => {
      let n = 0;
      events.on('completed', () => { if (++n === 9) resolve(); });
    });
    const jobs = await queue.addBulk(
      Array.from({ length: 10 }, (_, i) => ({ name: 'order', data: { n: i }, opts: { attempts: 1 } })));
    assert.equal(jobs.length, 10);
    await within(20000, completed, '9 jobs to complete');

    const job0 = await queue.getJob(jobs[0].id);
    assert.equal(job0.returnvalue, 0);
    const job5 = await queue.getJob(jobs[5].id);
    assert.equal(job5.returnvalue, 50);
    const failed = await queue.getJob(jobs[3].id);
    assert.equal(await failed.getState(), 'failed');
    assert.equal(failed.failedReason, 'boom');
    const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active');
    assert.deepEqual([counts.completed, counts.failed, counts.waiting, counts.active], [9, 1, 0, 0]);
    assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }));

  it('a delayed job runs after its delay', logged(async () => {
    const name = `delayed-${process.pid}`;
    const queue = new Queue(name, { connection: connection(), prefix: '{bull}' });
    closers.push(queue);
    const done = new Promise((resolve) => {
      const worker = new Worker(name, async (job) => job.data.v, { connection: connection(), prefix: '{bull}' });
      closers.push(worker);
      worker.on('completed', (job, value) => resolve({ value, at: Date.now() }));
    });
    const t0 = Date.now();
    await queue.add('later', { v: 'ok' }, { delay: 500 });
    const r = await within(15000, done, 'the delayed job to complete');
    assert.equal(r.value, 'ok');
    assert.ok(r.at - t0 >= 450, `ran after ${r.at - t0} ms, before its 500 ms delay`);
  }));
});
