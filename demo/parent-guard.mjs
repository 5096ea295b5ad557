// Preloaded (node --import) into the demo's Rootline child: when the runner's end of stdin closes, because the
// runner stopped or died, this process shuts down cleanly (SIGTERM), so it never outlives the demo. Worker
// threads load preloads too; only the main thread watches stdin.
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  process.stdin.on('error', () => {});
  process.stdin.on('close', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
}
