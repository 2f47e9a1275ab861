// Empties dist/ before a build: tsc never deletes the output of a source file that was moved or removed,
// and `npm pack` ships whatever dist/src holds, so a stale module would otherwise reach the package.
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
