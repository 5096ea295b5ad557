/**
 * Progress for long CLI stages (training epochs, scoring), always on stderr so stdout keeps only the
 * result JSON. On a terminal it is a cli-progress bar; redirected to a file or CI log, a bar would be
 * either silent or a wall of carriage returns, so each finished step is written as one plain line instead.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets the position (and the total, which may grow) with a short status text. */
  update(value: number, total: number, info?: string): void;
  /** A step worth a line of its own when there is no terminal (an epoch, a finished stage). */
  note(line: string): void;
  stop(): void;
}

export function progress(label: string, opts: { enabled?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.enabled === false) return { update() {}, note() {}, stop() {} };
  if (!stream.isTTY) {
    return {
      update() {},
      note: (line) => stream.write(`${label}: ${line}\n`),
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label.padEnd(9)} [{bar}] {percentage}% | {value}/{total} | {info}`, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(value, total, info = '') {
      if (!started) {
        bar.start(total, value, { info });
        started = true;
        return;
      }
      if (bar.getTotal() !== total) bar.setTotal(total);
      bar.update(value, { info });
    },
    note() {},
    stop() {
      if (started) bar.stop();
    },
  };
}
