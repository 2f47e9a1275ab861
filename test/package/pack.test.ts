import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Child, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

const CHECK = 'scripts/pack-check.mjs';

// The npm package, as a user gets it: scripts/pack-check.mjs packs the current build, installs the tarball
// into an empty folder (npm install from the cache: 5–30 s here) and runs the installed pushgate.
describe('the npm package', () => {
  const dirs: string[] = [];
  const children: Child[] = [];
  const stale = 'dist/src/stale-module-from-an-older-build.js';
  after(async () => {
    await Promise.all(children.map((child) => child.stop(30000)));
    rmSync(stale, { force: true });
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  function check(): Child {
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-pack-test-'));
    dirs.push(dir);
    const child = startNode(CHECK, ['--dir', dir]);
    children.push(child);
    return child;
  }

  it('holds the runtime only, installs without a build, and the installed pushgate serves, takes a push and delivers it', async () => {
    const child = check();
    assert.equal(await withTimeout(child.exited, 90000, 'the pack check'), 0, child.output());
    const output = child.output();
    const [, files] = /ok packed pushgate-[\d.]+\.tgz: (\d+) files/.exec(output) ?? [];
    assert.ok(Number(files) > 0 && Number(files) < 400, `a runtime-sized package (no tests, bench or sources): ${files} files`);
    for (const line of [
      /ok installed the tarball/,
      /ok npx pushgate --help: exit 0/,
      /ok npx pushgate: listening/,
      /ok POST \/push\/room: 200, delivered/,
      /ok GET \/client\.js, \/dashboard/,
      /ok stopped by SIGTERM to PID \d+: exit 0, nothing left running/,
    ]) {
      assert.match(output, line);
    }
  });

  it('refuses a build holding output of a source that no longer exists', async () => {
    writeFileSync(stale, 'export {};\n');
    const child = check();
    assert.equal(await withTimeout(child.exited, 60000, 'the pack check'), 1, child.output());
    assert.match(child.output(), /stale build output packed: dist\/src\/stale-module-from-an-older-build\.js/);
    assert.doesNotMatch(child.output(), /ok installed/);
  });
});
