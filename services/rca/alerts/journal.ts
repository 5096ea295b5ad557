/**
 * The alert journal: every input the engine acts on (notifications, acknowledgements, resolves, silences),
 * appended before it is applied and before the sender gets its 2xx, then the state changes it caused (the
 * append-only audit trail). On start the inputs are replayed in order, which rebuilds the same state.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { IncomingAlert } from './formats.ts';
import type { AlertChange, Silence } from './model.ts';

export type JournalEntry =
  | { kind: 'notify'; t: number; tenant: string; alerts: IncomingAlert[] }
  | { kind: 'ack' | 'resolve'; t: number; tenant: string; id: string; by: string }
  | { kind: 'silence'; t: number; silence: Silence }
  | { kind: 'unsilence'; t: number; tenant: string; id: string }
  | { kind: 'audit'; t: number; changes: AlertChange[] };

export class AlertJournal {
  constructor(private readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** Appends synchronously: when this returns, the entry survives a crash of the process. */
  append(entry: JournalEntry): void {
    appendFileSync(this.path, JSON.stringify(entry) + '\n');
  }

  /** Every entry in order; a torn last line (a crash mid-write, never acknowledged) is skipped. */
  read(): JournalEntry[] {
    if (!existsSync(this.path)) return [];
    const out: JournalEntry[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as JournalEntry);
      } catch {
        /* torn tail */
      }
    }
    return out;
  }
}
