/** Child-process chores shared by the helpers that start real servers for tests. */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The first executable `name` in `dirs` (PATH by default), or undefined. */
export function findOnPath(name: string, dirs: string[] = (process.env.PATH ?? '').split(delimiter)): string | undefined {
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  // Unref'd so a prompt exit does not leave the test process waiting out the grace period.
  const gone = await Promise.race([exited(child).then(() => true), sleep(graceMs, false, { ref: false })]);
  if (!gone) {
    child.kill('SIGKILL');
    await exited(child);
  }
}
