import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/transport: the repository root is three levels up.
const root = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the write path', () => {
  it("touches ws's private socket in src/transport/ws-transport.ts only", () => {
    const touching = sources(join(root, 'src'))
      .filter((file) => readFileSync(file, 'utf8').includes('_socket'))
      .map((file) => relative(root, file).split('\\').join('/'));
    assert.deepEqual(touching, ['src/transport/ws-transport.ts']);
  });
});
