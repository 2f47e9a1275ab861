// Runs every compiled *.test.js under dist/test with node's own test runner.
// Node 20's runner does not take globs, so the files are found here; extra arguments pass through
// (e.g. `npm test -- --test-name-pattern=merge`).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const files = find('dist/test').sort();
// A hung test fails after two minutes instead of holding CI until its deadline.
const result = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...process.argv.slice(2), ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
