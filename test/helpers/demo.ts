/**
 * `rootline demo` for a test suite: started before its tests (load at 20 requests/s, the embedded Rootline's
 * data in a temporary dir, flushing every 200 ms) and stopped, its dir removed, after them.
 */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo, type Demo } from '../../demo/runner.ts';

export function demoForSuite(started: (demo: Demo) => void, rootlineEnv: Record<string, string> = {}): void {
  let demo: Demo | undefined;
  let dir: string | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rootline-demo-'));
    demo = await startDemo({ rate: 20, dataDir: dir, rootlineEnv: { ROOTLINE_FLUSH_INTERVAL_MS: '200', ...rootlineEnv } });
    started(demo);
  }, { timeout: 150_000 });
  after(async () => {
    try {
      await demo?.stop();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
}
