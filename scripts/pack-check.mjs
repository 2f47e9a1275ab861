// Proves that the npm package is the runtime, whole and alone: packs the current build, checks the file
// list, installs the tarball into an empty folder (only its dependencies, no dev tools, no build), then
// runs the installed `pushgate`: --help, a gateway that takes one push and delivers it to a client, the
// static pages it serves. Every step is bounded in time; the gateway is stopped by its PID.
//
//   npm run pack:check                      # builds, then checks (a temp folder, removed at the end)
//   node scripts/pack-check.mjs --dir DIR   # checks the current build in DIR (the caller removes DIR)
//
// `npm pack` runs with --ignore-scripts: its `prepare` would rebuild, i.e. empty dist/ under whatever
// runs from it (the test suite). The file list check catches a stale build instead. Installing a tarball
// runs no `prepare` (npm runs it for git and folder dependencies only); were it run, it would fail, as
// the package holds neither sources nor tsc, so a successful install shows that it needs no build.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { dir: { type: 'string' } }, strict: true });
const ownDir = values.dir === undefined;
const work = ownDir ? mkdtempSync(join(tmpdir(), 'pushgate-pack-')) : resolve(values.dir);
const started = Date.now();
/** Processes this script started and has not seen exit, by PID: stopped on failure or interruption. */
const running = new Map();

function step(line) {
  process.stdout.write(`ok ${line} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

/** A failed check: reported by its message alone. */
class CheckError extends Error {}

/** Resolves when the callback given to `register` is called, or after `ms`; leaves no timer behind. */
function wakeUp(register, ms) {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    register(() => {
      clearTimeout(timer);
      done();
    });
  });
}

function check(condition, message) {
  if (!condition) throw new CheckError(message);
}

// Run from `npm test` or `npm run`, the environment holds the outer npm's settings (npm_config_local_prefix
// names this checkout): the npm commands here get none of them, as if typed in a shell in their folder.
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))), NO_COLOR: '1' };

/** Starts `command args` in its own process group (npx runs pushgate in a child of its own). */
function start(command, args, cwd) {
  const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  running.set(child.pid, child);
  let output = '';
  let stdout = '';
  let notify = null;
  const onData = (chunk) => {
    output += chunk.toString();
    notify?.();
  };
  child.stdout.on('data', (chunk) => {
    stdout += chunk.toString();
    onData(chunk);
  });
  child.stderr.on('data', onData);
  const exited = new Promise((done) =>
    child.once('close', (code, signal) => {
      running.delete(child.pid);
      done(code ?? signal);
      notify?.();
    }),
  );
  return {
    pid: child.pid,
    exited,
    output: () => output,
    stdout: () => stdout,
    /** Waits for a match in the output, at most `ms`. */
    async waitFor(pattern, ms, what) {
      const deadline = Date.now() + ms;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        check(running.has(child.pid), `${what}: exited before printing ${pattern}:\n${output}`);
        const left = deadline - Date.now();
        check(left > 0, `${what}: nothing matching ${pattern} within ${ms} ms:\n${output}`);
        await wakeUp((done) => (notify = done), left);
        notify = null;
      }
    },
  };
}

/** Signals the process group of `pid` (only ever one this script started). */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if (error.code !== 'ESRCH') throw error;
  }
}

/** Resolves with the exit code, or fails after `ms` (the process group is then killed). */
async function exitWithin(proc, ms, what) {
  let timer;
  const late = new Promise((done) => (timer = setTimeout(() => done('late'), ms)));
  const result = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  if (result === 'late') {
    signalGroup(proc.pid, 'SIGKILL');
    throw new CheckError(`${what}: still running after ${ms} ms (killed):\n${proc.output()}`);
  }
  return result;
}

/** Runs a command to the end within `ms`; its exit code and output. */
async function run(command, args, cwd, ms) {
  const proc = start(command, args, cwd);
  return { code: await exitWithin(proc, ms, `${command} ${args.join(' ')}`), output: proc.output(), stdout: proc.stdout() };
}

async function fetchWithin(url, init, ms) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

/** The packed file list: only the runtime, all of it, and nothing left from an older build. */
function checkFiles(files) {
  const paths = files.map((file) => file.path);
  const top = new Set(['package.json', 'README.md', 'SECURITY.md', 'LICENSE']);
  for (const path of paths) {
    check(top.has(path) || path.startsWith('dist/src/'), `not runtime, yet packed: ${path}`);
    check(!path.endsWith('.map'), `source map packed (its sources are not): ${path}`);
    if (path.startsWith('dist/src/web/static/')) {
      check(existsSync(join(ROOT, path.slice('dist/'.length))), `stale build output packed: ${path} (npm run build empties dist/ first)`);
    } else if (path.startsWith('dist/src/')) {
      const source = path.slice('dist/'.length).replace(/(\.d\.ts|\.js)$/, '.ts');
      check(existsSync(join(ROOT, source)), `stale build output packed: ${path} has no ${source} (npm run build empties dist/ first)`);
    }
  }
  const required = [
    ...top,
    'dist/src/cli/main.js',
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'dist/src/client/client.js',
    'dist/src/client/node.js',
    'dist/src/client/node.d.ts',
    'dist/src/web/static/console.html',
    'dist/src/web/static/dashboard.html',
  ];
  for (const path of required) check(paths.includes(path), `missing from the package: ${path}`);
}

/** Joins `room` with a ws client of the installed package's own dependencies; resolves once acknowledged. */
async function joinedClient(WebSocket, url, room) {
  const ws = new WebSocket(url);
  const frames = [];
  let notify = null;
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()));
    notify?.();
  });
  const next = async (predicate, ms, what) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = frames.find(predicate);
      if (frame) return frame;
      const left = deadline - Date.now();
      check(left > 0, `no ${what} within ${ms} ms; frames: ${JSON.stringify(frames)}`);
      await wakeUp((done) => (notify = done), left);
      notify = null;
    }
  };
  await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new CheckError(`no WebSocket connection to ${url} within 5000 ms`)), 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      done();
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
  });
  ws.send(JSON.stringify({ type: 'JOIN', id: 1, data: { room } }));
  await next((frame) => frame.type === 'ACK' && frame.id === 1, 5000, 'ACK of JOIN');
  return { ws, next };
}

async function main() {
  check(existsSync(join(ROOT, 'dist/src/cli/main.js')), 'no build: run npm run build first');

  // 1. Pack the current build.
  const packDir = join(work, 'pack');
  mkdirSync(packDir, { recursive: true });
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT, 60000);
  check(packed.code === 0, `npm pack failed:\n${packed.output}`);
  const [info] = JSON.parse(packed.stdout);
  checkFiles(info.files);
  step(
    `packed ${info.filename}: ${info.entryCount} files, ${(info.size / 1000).toFixed(1)} kB (${(info.unpackedSize / 1000).toFixed(1)} kB unpacked), runtime only`,
  );

  // 2. Install the tarball into an empty folder: its dependencies only, and no build step.
  const app = join(work, 'app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'pushgate-pack-check', version: '0.0.0', private: true }, null, 2)}\n`);
  const installed = await run(
    'npm',
    ['install', join(packDir, info.filename), '--no-audit', '--no-fund', '--prefer-offline', '--loglevel', 'error'],
    app,
    120000,
  );
  check(installed.code === 0, `npm install of the tarball failed:\n${installed.output}`);
  check(existsSync(join(app, 'node_modules/pushgate/dist/src/cli/main.js')), 'the installed package has no dist/src/cli/main.js');
  check(!existsSync(join(app, 'node_modules/typescript')), 'typescript was installed with the package: it must not need a build');
  step('installed the tarball into an empty folder (its dependencies only: no typescript, no build)');

  // 3. The installed bin (npx --no: never fetched from the registry).
  const help = await run('npx', ['--no', '--', 'pushgate', '--help'], app, 30000);
  check(help.code === 0, `npx pushgate --help exited ${help.code}:\n${help.output}`);
  check(/Usage: pushgate/.test(help.output) && help.output.includes('--api-port'), `npx pushgate --help printed no usage:\n${help.output}`);
  step('npx pushgate --help: exit 0, usage printed');

  // 4. A gateway from the installed package: one push, delivered to a client in the room.
  const gateway = start(
    'npx',
    ['--no', '--', 'pushgate', '--workers', '1', '--port', '0', '--api-port', '0', '--host', '127.0.0.1', '--api-host', '127.0.0.1'],
    app,
  );
  const [, ws, api] = await gateway.waitFor(/listening ws=(\S+) api=(\S+)/, 30000, 'npx pushgate');
  step(`npx pushgate: listening ws=${ws} api=${api}`);
  const { WebSocket } = createRequire(join(app, 'package.json'))('ws');
  const client = await joinedClient(WebSocket, `ws://${ws}/connect`, 'pack-check');
  try {
    const response = await fetchWithin(
      `http://${api}/push/room`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: 'pack-check', items: [{ from: 'the package' }] }),
      },
      5000,
    );
    const body = await response.json();
    check(response.status === 200 && body.ok === true && body.recipients === 1, `push answered ${response.status} ${JSON.stringify(body)}`);
    const push = await client.next((frame) => frame.type === 'PUSH', 5000, 'PUSH');
    check(push.data.room === 'pack-check' && JSON.stringify(push.data.items) === '[{"from":"the package"}]', `unexpected PUSH ${JSON.stringify(push)}`);
    step('POST /push/room: 200, delivered to the client in the room');
  } finally {
    client.ws.terminate();
  }

  // 5. The static pages and the client SDK, served from the installed package.
  for (const [path, type, marker] of [
    ['/client.js', 'text/javascript', 'export'],
    ['/dashboard', 'text/html', '<html'],
    ['/', 'text/html', '<html'],
  ]) {
    const response = await fetchWithin(`http://${ws}${path}`, {}, 5000);
    const text = await response.text();
    check(
      response.status === 200 && (response.headers.get('content-type') ?? '').startsWith(type) && text.includes(marker),
      `GET ${path}: ${response.status} ${response.headers.get('content-type')} ${text.slice(0, 200)}`,
    );
  }
  step('GET /client.js, /dashboard, /: served from the installed package');

  // 6. Stop it by its PID (npx's own PID would not do: npm exits on SIGTERM and leaves its child running).
  const pid = gatewayPid(gateway.pid, join(app, 'node_modules/.bin/pushgate'));
  process.kill(pid, 'SIGTERM');
  const code = await exitWithin(gateway, 20000, `pushgate (PID ${pid}) after SIGTERM`);
  check(code === 0 && /\bstopped\b/.test(gateway.output()), `npx pushgate exited ${code} after SIGTERM to PID ${pid}:\n${gateway.output()}`);
  check(!groupAlive(gateway.pid), `processes of npx pushgate's group still running after it exited`);
  step(`stopped by SIGTERM to PID ${pid}: exit 0, nothing left running`);
}

/** The PID of the node process running the installed `bin` in the process group `group` (npx, sh, node). */
function gatewayPid(group, bin) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    let cmdline;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the parenthesised command name: state, ppid, pgrp.
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    if (pgrp === group && cmdline.includes(bin)) return Number(entry);
  }
  throw new CheckError(`no process running ${bin} in process group ${group}`);
}

function groupAlive(group) {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops whatever is still running (by its PID's group), and removes the folder made here. */
function cleanUp() {
  for (const pid of running.keys()) signalGroup(pid, 'SIGKILL');
  if (ownDir) rmSync(work, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanUp();
    process.exit(1);
  });
}

try {
  await main();
  process.stdout.write(`pack check passed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
} catch (error) {
  process.stderr.write(`pack check FAILED: ${error instanceof CheckError ? error.message : error.stack}\n`);
  process.exitCode = 1;
} finally {
  cleanUp();
}
