/**
 * Reading a container log line: the text inside Docker's json-file wrapper, and its severity. Log formats
 * differ per service (JSON with a `severity` field, a Java clock-then-level line, .NET lines with no level at
 * all), so the rules are ordered from most to least explicit and never look at a service name.
 */

/** Level words to OTLP severity numbers (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21). */
const LEVELS: Readonly<Record<string, readonly [number, string]>> = {
  TRACE: [1, 'TRACE'],
  TRCE: [1, 'TRACE'],
  DEBUG: [5, 'DEBUG'],
  DBUG: [5, 'DEBUG'],
  INFO: [9, 'INFO'],
  INFORMATION: [9, 'INFO'],
  NOTICE: [10, 'NOTICE'],
  WARN: [13, 'WARN'],
  WARNING: [13, 'WARN'],
  ERROR: [17, 'ERROR'],
  ERR: [17, 'ERROR'],
  FAIL: [17, 'ERROR'],
  SEVERE: [17, 'ERROR'],
  FATAL: [21, 'FATAL'],
  CRITICAL: [21, 'FATAL'],
  CRIT: [21, 'FATAL'],
  PANIC: [21, 'FATAL'],
};
/** pino/bunyan numeric levels. */
const NUMERIC_LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const JSON_LEVEL_KEYS = ['severity', 'level', 'levelname', 'log.level', 'loglevel', 'lvl', '@l'];
// An application clock (optionally after a date) and then the level word: "16:48:42.424 INFO  t.s.Travel…".
// The clock is not used for time (it is UTC+8 in Train Ticket but UTC in Online Boutique's adservice).
const CLOCK_THEN_LEVEL = /^\s*\[?(?:\d{4}-\d{2}-\d{2}[T ])?\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?\]?\s+\[?([A-Za-z]+)\]?/;
// A line that starts with the level: "ERROR something", "[WARN] …", .NET's "fail: …".
const LEADING_LEVEL = /^\s*\[?([A-Z]{3,11}|trce|dbug|info|warn|fail|crit)\]?[\s:]/;

/**
 * The severity of a log line's text: the level field of a JSON line, else the level word after a leading
 * application clock, else a leading level word. Unknown → severity 0 (UNSPECIFIED), text ''.
 */
export function parseSeverity(text: string): { number: number; text: string } {
  let word: string | undefined;
  if (text.trimStart().startsWith('{')) {
    try {
      const obj = JSON.parse(text) as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!JSON_LEVEL_KEYS.includes(k.toLowerCase())) continue;
        const v = obj[k];
        word = typeof v === 'number' ? NUMERIC_LEVELS[v] : typeof v === 'string' ? v : undefined;
        if (word) break;
      }
    } catch {
      // Not JSON after all: fall through to the text patterns.
    }
  }
  word ??= CLOCK_THEN_LEVEL.exec(text)?.[1] ?? LEADING_LEVEL.exec(text)?.[1];
  const level = word ? LEVELS[word.toUpperCase()] : undefined;
  return level ? { number: level[0], text: level[1] } : { number: 0, text: '' };
}

/**
 * The inner text of a Docker json-file line (`{"log":"…\n","stream":"stdout","time":"…"}`) without its
 * trailing line break, and the stream; the line itself when it is not in that format.
 */
export function dockerLogText(line: string): { text: string; stream?: string } {
  if (line.trimStart().startsWith('{')) {
    try {
      const obj = JSON.parse(line) as { log?: unknown; stream?: unknown };
      if (typeof obj.log === 'string') {
        return { text: obj.log.replace(/\r?\n$/, ''), ...(typeof obj.stream === 'string' ? { stream: obj.stream } : {}) };
      }
    } catch {
      // A plain-text line that happens to start with a brace.
    }
  }
  return { text: line };
}
