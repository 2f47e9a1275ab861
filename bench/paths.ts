/**
 * Where the bench finds what it starts: the scripts of the compiled tree it runs from (`dist/`, or any
 * other `tsc --outDir`), and the versions of the packages it measures. Relative to this file, not to
 * the working directory, so that a build elsewhere runs its own server and not `dist/`'s.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled tree's root: this file is `<root>/bench/paths.js`. */
const BUILD_ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * A script of the compiled tree, e.g. `src/cli/main.js`: relative to the working directory when under
 * it (so that recorded commands read `node dist/src/cli/main.js`), else absolute.
 */
export function builtScript(path: string): string {
  const absolute = join(BUILD_ROOT, path);
  const fromCwd = relative(process.cwd(), absolute);
  return fromCwd.startsWith('..') ? absolute : fromCwd;
}

/**
 * The version in `<dir>/package.json` of the nearest ancestor of the compiled tree that has one: `.` is
 * pushgate's own (the checkout), `node_modules/ws` a dependency's.
 */
export function packageVersion(dir: string): string {
  for (let at = BUILD_ROOT; ; at = dirname(at)) {
    const file = join(at, dir, 'package.json');
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')).version;
    if (dirname(at) === at) return 'unknown';
  }
}
