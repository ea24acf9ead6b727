'use strict';
// The web console in headless Chromium against the real `stratus serve`: a cache created through
// the API shows in the table as available, and its charts fill with the plane's samples.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const Redis = require('ioredis');
const { chromium } = require('playwright-core');
const { STRATUS_BIN, processesUnder } = require('./stratus');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const READY_TIMEOUT_MS = 60000;
const STOP_TIMEOUT_MS = 30000;
const CHART_TIMEOUT_MS = 20000;
const API_RE = /^\s+api\s+(http:\/\/\S+\/v1)(\s|$)/;
const CONSOLE_RE = /^\s+console\s+(http:\/\/\S+\/)(\s|$)/;

// `stratus serve` on a throwaway data dir and free ports; resolves once it printed the API and
// console addresses.
class Serve {
  constructor() {
    this.workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-console-'));
    this.dataDir = path.join(this.workdir, 'data');
    this.logPath = path.join(this.workdir, 'serve.log');
    this.lines = [];
  }

  async start() {
    const logFd = fs.openSync(this.logPath, 'w');
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STRATUS_')) env[k] = v;
    this.proc = spawn(STRATUS_BIN,
      ['serve', '--data-dir', this.dataDir, '--api-port', '0', '--bind', '127.0.0.1'],
      { cwd: this.workdir, env, stdio: ['ignore', 'pipe', logFd] });
    fs.closeSync(logFd);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, sig) => resolve(code ?? sig)));
    const rl = readline.createInterface({ input: this.proc.stdout });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `stratus serve printed no api and console lines within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS);
      rl.on('line', (line) => {
        this.lines.push(line);
        const a = API_RE.exec(line);
        const c = CONSOLE_RE.exec(line);
        if (a) this.api = a[1];
        if (c) this.console = c[1];
        if (this.api && this.console) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.exited.then((how) => {
        clearTimeout(timer);
        reject(new Error(`stratus serve exited (${how}) before it was ready`));
      });
    });
    this.token = fs.readFileSync(path.join(this.dataDir, 'admin-token'), 'utf8').trim();
    return this;
  }

  output() {
    let log = '';
    try {
      log = fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-60).join('\n');
    } catch {}
    return `--- stdout ---\n${this.lines.join('\n')}\n--- log (${this.logPath}) ---\n${log}`;
  }

  // A call to the API with the admin token: { status, body }.
  async call(method, route, body) {
    const res = await fetch(this.api + route, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(READY_TIMEOUT_MS),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, body: json, text };
  }

  // SIGTERM, then wait for the exit; SIGKILL (and a failure) only when it hangs. Returns how it
  // exited.
  async stop() {
    if (!this.proc) return null;
    let how = null;
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const timeout = new Promise((r) => setTimeout(() => r(undefined), STOP_TIMEOUT_MS).unref());
      how = await Promise.race([this.exited, timeout]);
      if (how === undefined) {
        this.proc.kill('SIGKILL');
        await this.exited;
        how = `hung: killed after ${STOP_TIMEOUT_MS} ms`;
      }
    } else {
      how = await this.exited;
    }
    // Nothing may outlive the test: children left over from a failed stop are killed.
    for (const pid of processesUnder(this.dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    this.proc = null;
    return how;
  }

  remove() {
    fs.rmSync(this.workdir, { recursive: true, force: true });
  }
}

describe('the web console', () => {
  let serve;
  let browser;
  let redis;

  // A failure carries what stratus serve printed.
  const logged = (fn) => async () => {
    try {
      await fn();
    } catch (e) {
      if (serve) e.message += `\n${serve.output()}`;
      throw e;
    }
  };

  after(async () => {
    if (redis) redis.disconnect();
    if (browser) await browser.close();
    if (serve) {
      const how = await serve.stop();
      serve.remove();
      assert.equal(how, 0, `stratus serve should exit 0 on SIGTERM, exited ${how}`);
    }
  });

  it('shows a new cache as available and charts its samples', logged(async () => {
    // Never a silent skip: a machine without Chromium fails here, saying what to install.
    assert.ok(fs.existsSync(CHROMIUM), `the console test needs Chromium at ${CHROMIUM} and it is ` +
      'missing: install it with `apt-get install chromium` (scripts/deps.sh does), or set CHROMIUM_BIN');
    serve = new Serve();
    await serve.start();

    const created = await serve.call('POST', '/caches', { name: 'web1' });
    assert.equal(created.status, 201, `POST /v1/caches: ${created.status} ${created.text}`);
    const endpoint = created.body.endpoint;
    assert.ok(endpoint && endpoint.url && endpoint.ca, `reply lacks endpoint url and ca: ${created.text}`);

    redis = new Redis(endpoint.url, { tls: { ca: fs.readFileSync(endpoint.ca) }, maxRetriesPerRequest: 1 });
    for (let i = 0; i < 20; i++) assert.equal(await redis.set(`console:${i}`, 'v'.repeat(100 * i)), 'OK');
    assert.equal(await redis.get('console:3'), 'v'.repeat(300));

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    const res = await page.goto(`${serve.console}#token=${serve.token}`);
    assert.equal(res.status(), 200, `GET ${serve.console}`);
    assert.equal(await page.title(), 'Stratus console');
    // The token leaves the address bar at once (it stays in the tab's sessionStorage).
    await page.waitForFunction(() => !location.hash.includes('token='));

    const row = page.locator('#cache-table tr[data-cache="web1"]');
    await row.waitFor({ timeout: 10000 });
    await page.waitForFunction(
      () => document.querySelector('#cache-table tr[data-cache="web1"] td.status')?.textContent === 'available',
      null, { timeout: 10000 });
    assert.match(await row.locator('td.endpoint').textContent(), /^rediss:\/\//);
    assert.equal(await page.locator('#error').isHidden(), true,
      `console shows an error: ${await page.locator('#error').textContent()}`);

    await row.locator('button').click();
    await page.locator('#detail').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#detail-name').textContent(), 'web1');
    for (const id of ['chart-ecpu', 'chart-storage', 'chart-latency', 'chart-shards']) {
      assert.equal(await page.locator(`#${id}`).isVisible(), true, `#${id} is not shown`);
    }
    // The plane samples every 2 s: two points within a few samples.
    await page.waitForFunction(
      () => Number(document.getElementById('chart-ecpu').dataset.points) >= 2,
      null, { timeout: CHART_TIMEOUT_MS, polling: 200 });
    assert.ok(Number(await page.locator('#chart-storage').getAttribute('data-points')) >= 2);
    assert.deepEqual(pageErrors, []);
  }));
});
