import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Child, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

/**
 * A short run of `npm run soak` (scripts/soak.mjs): a real gateway process under connect, join, push
 * and disconnect churn, which must come back to its baseline (no connections, rooms, queued items or
 * extra handles; RSS and heap growth within bounds) and shut down cleanly. The full run is
 * `npm run soak` (5 minutes by default).
 */
const SOAK = fileURLToPath(new URL('../../../scripts/soak.mjs', import.meta.url));
const DURATION = 60;

describe('soak', () => {
  let soak: Child | undefined;
  after(async () => {
    await soak?.stop(20000).catch(() => undefined);
  });

  it(`returns to baseline after ${DURATION} s of churn`, { timeout: (DURATION + 45) * 1000 }, async () => {
    soak = startNode(SOAK, ['--duration', String(DURATION), '--clients', '100']);
    const code = await withTimeout(soak.exited, (DURATION + 40) * 1000, 'the soak run to finish');
    const output = soak.output();
    assert.equal(code, 0, `soak failed:\n${output}`);
    assert.match(output, /soak passed/);
    assert.match(output, /clients \d+, online \d+/, 'progress lines were printed');
  });
});
