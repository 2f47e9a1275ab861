// Runs the compiled tests under dist/test with node's own test runner: every *.test.js (`npm test`), or
// with --unit only the unit layer, *.unit.test.js (`npm run test:unit`): tests of one module against fakes,
// with no port, child process, broker or browser, that run in seconds.
// Node 20's runner does not take globs, so the files are found here; other arguments pass through
// (e.g. `npm test -- --test-name-pattern=merge`).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const passThrough = args.filter((arg) => arg !== '--unit');
const suffix = unitOnly ? '.unit.test.js' : '.test.js';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith(suffix) ? [path] : [];
  });
}

// tsc never deletes output: a compiled test whose source was renamed or removed would still run here.
const hasSource = (file) => existsSync(relative('dist', file).replace(/\.js$/, '.ts'));
const files = find('dist/test').filter(hasSource).sort();
// A hung test fails after two minutes instead of holding CI until its deadline.
const result = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...passThrough, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
