'use strict';
// Test harness: starts the real `stratus up` in a temp dir on free ports, parses its ready block,
// and stops it (SIGTERM, then SIGKILL, then any engine left running from its data dir).

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const REPO = path.resolve(__dirname, '..', '..');
const STRATUS_BIN = process.env.STRATUS_BIN || path.join(REPO, 'build', 'stratus');
const READY_TIMEOUT_MS = 30000;
const STOP_TIMEOUT_MS = 30000;
const READY_LINE = 'Press Ctrl-C to stop.';
const HEADER_RE =
  /^Stratus (\S+) is up: cache "([^"]+)", (\d+) shard\(s\) x (\d+) engine\(s\)$/;
const FIELD_RES = {
  url: /^\s+url\s+(\S+)$/,
  ca: /^\s+ca\s+(\S.*?)\s*$/,
  plaintext: /^\s+plaintext\s+(\S+)$/,
  'redis-cli': /^\s+redis-cli\s+(redis-cli\s.*?)\s*$/,
  ioredis: /^\s+ioredis\s+(\S.*?)\s*$/,
  'redis-py': /^\s+redis-py\s+(\S.*?)\s*$/,
};

function childPids(pid, name = 'redis-server') {
  try {
    const out = execFileSync('pgrep', ['-P', String(pid), name], { encoding: 'utf8' });
    return out.split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return '';
  }
}

function alive(pid) {
  const s = procState(pid);
  return s !== '' && s !== 'Z' && s !== 'X';
}

// Live processes whose cwd or command line is inside dir.
function processesUnder(dir) {
  const found = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cwd = '';
    let cmd = '';
    try {
      cwd = fs.readlinkSync(`/proc/${name}/cwd`);
    } catch {}
    try {
      cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {}
    if ((cwd === dir || cwd.startsWith(dir + '/') || cmd.includes(dir)) && alive(Number(name))) {
      found.push(Number(name));
    }
  }
  return found;
}

class Stratus {
  constructor({ args = [], env = {}, plaintext = true, dataDir = null } = {}) {
    this.workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-node-'));
    this.dataDir = dataDir || path.join(this.workdir, 'data');
    this.args = args;
    this.env = env;
    this.plaintext = plaintext;
    this.seenChildren = new Set();
    this.lines = [];
  }

  command() {
    const argv = ['up', '--data-dir', this.dataDir, '--port', '0'];
    if (this.plaintext) argv.push('--plaintext-port', '0');
    return argv.concat(this.args);
  }

  async start() {
    this.logPath = path.join(this.workdir, 'stratus.log');
    const logFd = fs.openSync(this.logPath, 'w');
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STRATUS_')) env[k] = v;
    env.STRATUS_API_PORT = '0'; // each instance's control-plane API on a free port
    Object.assign(env, this.env);
    this.proc = spawn(STRATUS_BIN, this.command(), {
      cwd: this.workdir,
      env,
      stdio: ['ignore', 'pipe', logFd],
    });
    fs.closeSync(logFd);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, sig) => resolve({ code, sig })));
    this.watch = setInterval(() => {
      for (const pid of childPids(this.proc.pid)) this.seenChildren.add(pid);
    }, 200);
    this.watch.unref();

    const rl = readline.createInterface({ input: this.proc.stdout });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`stratus not ready after ${READY_TIMEOUT_MS} ms\nstdout:\n${this.lines.join('\n')}\n` +
          `log:\n${this.logTail()}`));
      }, READY_TIMEOUT_MS);
      rl.on('line', (line) => {
        this.lines.push(line);
        if (line === READY_LINE) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.exited.then(({ code, sig }) => {
        clearTimeout(timer);
        reject(new Error(`stratus exited (${code ?? sig}) before it was ready\n` +
          `stdout:\n${this.lines.join('\n')}\nlog:\n${this.logTail()}`));
      });
    });
    this.parse();
    return this;
  }

  parse() {
    const fields = {};
    for (const line of this.lines) {
      const h = HEADER_RE.exec(line);
      if (h) {
        this.version = h[1];
        this.shards = Number(h[3]);
        this.enginesPerShard = Number(h[4]);
        continue;
      }
      for (const [k, re] of Object.entries(FIELD_RES)) {
        const m = re.exec(line);
        if (m && !(k in fields)) fields[k] = m[1];
      }
    }
    for (const k of ['url', 'ca', 'ioredis']) {
      if (!fields[k]) throw new Error(`ready block lacks "${k}":\n${this.lines.join('\n')}`);
    }
    this.fields = fields;
    this.url = fields.url;
    this.ca = fields.ca;
    this.caPem = fs.readFileSync(this.ca);
    const u = new URL(this.url);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.username = decodeURIComponent(u.username);
    this.password = decodeURIComponent(u.password);
    this.plaintextUrl = fields.plaintext || null;
    this.plaintextPort = this.plaintextUrl ? Number(new URL(this.plaintextUrl).port) : null;
  }

  engines() {
    return this.proc ? childPids(this.proc.pid) : [];
  }

  logTail(n = 80) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  }

  // Stops stratus and everything it started; returns its exit code (or signal name).
  async stop(signal = 'SIGTERM') {
    if (!this.proc) return null;
    let result;
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill(signal);
      const timeout = new Promise((r) => setTimeout(() => r(null), STOP_TIMEOUT_MS).unref());
      result = await Promise.race([this.exited, timeout]);
      if (result === null) {
        this.proc.kill('SIGKILL');
        result = await this.exited;
      }
    } else {
      result = await this.exited;
    }
    clearInterval(this.watch);
    for (const pid of this.seenChildren) {
      if (alive(pid)) {
        try { process.kill(pid, 'SIGKILL'); } catch {}
      }
    }
    for (const pid of processesUnder(this.dataDir)) {
      try { process.kill(pid, 'SIGKILL'); } catch {}
    }
    this.proc = null;
    return result.code ?? result.sig;
  }
}

async function startStratus(opts) {
  const s = new Stratus(opts);
  try {
    return await s.start();
  } catch (e) {
    await s.stop();
    throw e;
  }
}

// Wraps a test body so a failure carries the tail of the stratus log.
function withLog(getServer, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      const srv = getServer();
      if (srv) e.message += `\n--- stratus log (${srv.logPath}) ---\n${srv.logTail()}`;
      throw e;
    }
  };
}

// Rejects if promise takes longer than ms.
function within(ms, promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// Redis Cluster hash slot (CRC16/XMODEM of the key or its {hash tag}, mod 16384).
function keySlot(key) {
  let k = Buffer.from(key);
  const s = k.indexOf('{');
  if (s >= 0) {
    const e = k.indexOf('}', s + 1);
    if (e > s + 1) k = k.subarray(s + 1, e);
  }
  let crc = 0;
  for (const b of k) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

function keysInDistinctSlots(n, prefix) {
  const keys = [];
  const slots = new Set();
  for (let i = 0; keys.length < n; i++) {
    const k = `${prefix}:${i}`;
    const s = keySlot(k);
    if (!slots.has(s)) {
      slots.add(s);
      keys.push(k);
    }
  }
  return keys;
}

module.exports = { startStratus, withLog, within, keySlot, keysInDistinctSlots, processesUnder, STRATUS_BIN };
