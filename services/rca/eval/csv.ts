/**
 * A small streaming CSV reader (RFC 4180): quoted fields may hold the delimiter, doubled quotes and line breaks.
 *
 * Written here rather than taken from a library because the data sets we replay are plain CSV and no CSV
 * package is a dependency. The parser is incremental: it keeps its state between chunks, so a quoted field
 * that spans a chunk boundary (the Nezha log CSVs hold whole Docker json-file lines, quotes and commas
 * included) costs nothing extra, and a file never has to fit in memory.
 */
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** A malformed CSV input: an unterminated quote, or a row whose field count differs from the header's. */
export class CsvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvError';
  }
}

// Parser states (plain numbers: a `const enum` does not survive per-file transpilers such as tsx).
// After a closing quote we are back in an unquoted field, so `"a"b` reads as `ab`: lenient, like most readers.
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTE_IN_QUOTED = 3;
type State = typeof FIELD_START | typeof UNQUOTED | typeof QUOTED | typeof QUOTE_IN_QUOTED;

/**
 * Incremental RFC 4180 parser: feed text with {@link CsvParser.push}, call {@link CsvParser.end} once; each
 * returns the records completed so far. Accepts LF or CRLF line ends and skips blank lines.
 */
export class CsvParser {
  private readonly delim: number;
  private state: State = FIELD_START;
  private field = '';
  private fields: string[] = [];
  private quotedInRecord = false;
  // A CR ends a record; a LF right after it (possibly in the next chunk) belongs to the same line end.
  private afterCR = false;
  private line = 1;
  private recordLine = 1;

  constructor(delimiter = ',') {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new Error(`CSV delimiter must be one character other than a quote or line break, got ${JSON.stringify(delimiter)}`);
    }
    this.delim = delimiter.charCodeAt(0);
  }

  /** The 1-based line at which the record being parsed (or the last one completed) starts. */
  get currentRecordLine(): number {
    return this.recordLine;
  }

  /** Parses a chunk of text; returns the records it completed. */
  push(s: string): string[][] {
    const out: string[][] = [];
    const n = s.length;
    let i = 0;
    if (this.afterCR && n > 0) {
      this.afterCR = false;
      if (s.charCodeAt(0) === LF) i = 1;
    }
    while (i < n) {
      switch (this.state) {
        case FIELD_START:
          if (s.charCodeAt(i) === QUOTE) {
            this.quotedInRecord = true;
            this.state = QUOTED;
            i++;
          } else {
            this.state = UNQUOTED; // the same character is read again as the start of an unquoted field
          }
          break;
        case UNQUOTED: {
          let j = i;
          let c = 0;
          // Scan to the next delimiter or line end in one slice: most fields hold neither.
          while (j < n) {
            c = s.charCodeAt(j);
            if (c === this.delim || c === LF || c === CR) break;
            j++;
          }
          if (j > i) this.field += s.slice(i, j);
          if (j === n) {
            i = n;
            break;
          }
          i = j + 1;
          this.fields.push(this.field);
          this.field = '';
          if (c === this.delim) {
            this.state = FIELD_START;
            break;
          }
          this.endRecord(out);
          if (c === CR) {
            if (i < n) {
              if (s.charCodeAt(i) === LF) i++;
            } else {
              this.afterCR = true;
            }
          }
          break;
        }
        case QUOTED: {
          const j = s.indexOf('"', i);
          const stop = j < 0 ? n : j;
          const part = s.slice(i, stop);
          // Line breaks inside quotes still advance the line count used in error messages.
          for (let k = part.indexOf('\n'); k >= 0; k = part.indexOf('\n', k + 1)) this.line++;
          this.field += part;
          if (j < 0) {
            i = n;
          } else {
            i = j + 1;
            this.state = QUOTE_IN_QUOTED;
          }
          break;
        }
        case QUOTE_IN_QUOTED:
          if (s.charCodeAt(i) === QUOTE) {
            this.field += '"';
            this.state = QUOTED;
            i++;
          } else {
            this.state = UNQUOTED;
          }
          break;
      }
    }
    return out;
  }

  /** Ends the input; returns the last record if the text did not end with a line break. */
  end(): string[][] {
    if (this.state === QUOTED) throw new CsvError(`unterminated quoted field in the record starting on line ${this.recordLine}`);
    const out: string[][] = [];
    if (this.state !== FIELD_START || this.fields.length > 0) {
      this.fields.push(this.field);
      this.field = '';
      this.endRecord(out);
    }
    this.state = FIELD_START;
    return out;
  }

  private endRecord(out: string[][]): void {
    const rec = this.fields;
    this.fields = [];
    this.state = FIELD_START;
    // A blank line is no record; a lone quoted empty field ("") is.
    if (!(rec.length === 1 && rec[0] === '' && !this.quotedInRecord)) out.push(rec);
    this.quotedInRecord = false;
    this.line++;
    this.recordLine = this.line;
  }
}

/** Options for {@link readCsv}, {@link parseCsv} and their batch forms. */
export interface CsvOptions {
  /** Field separator, one character; `,` by default. */
  delimiter?: string;
  /** Column names for a file without a header row (e.g. Nezha's `traceid` lists); the first row is then data. */
  columns?: readonly string[];
  /**
   * What to do with a row whose field count differs from the header: `error` (default) throws a
   * {@link CsvError}; `pad` fills missing fields with '' and drops extra ones.
   */
  columnMismatch?: 'error' | 'pad';
}

type Source = AsyncIterable<string | Buffer> | Iterable<string | Buffer>;

/**
 * Parses CSV text arriving in chunks (strings or UTF-8 bytes) into raw records, header included, one array of
 * records per chunk. Batches exist for speed: every `await` of an async iterator costs a promise round-trip
 * (more under async hooks, e.g. inside node:test), so per-chunk iteration is several times faster per row.
 */
export async function* parseCsvRecordBatches(source: Source, delimiter = ','): AsyncGenerator<string[][]> {
  const parser = new CsvParser(delimiter);
  // A StringDecoder keeps a multi-byte UTF-8 character that straddles two chunks whole.
  const decoder = new StringDecoder('utf8');
  let first = true;
  for await (const chunk of source) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (first && text.length > 0) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte-order mark is not data
    }
    const recs = parser.push(text);
    if (recs.length > 0) yield recs;
  }
  const tail = [...parser.push(decoder.end()), ...parser.end()];
  if (tail.length > 0) yield tail;
}

/** Parses CSV text arriving in chunks into raw records, header included. */
export async function* parseCsvRecords(source: Source, delimiter = ','): AsyncGenerator<string[]> {
  for await (const batch of parseCsvRecordBatches(source, delimiter)) yield* batch;
}

/** {@link parseCsv}, one array of row objects per input chunk: the fast path for large files. */
export async function* parseCsvBatches(source: Source, options: CsvOptions = {}): AsyncGenerator<Record<string, string>[]> {
  let header: readonly string[] | undefined = options.columns;
  let row = header ? 0 : -1;
  for await (const recs of parseCsvRecordBatches(source, options.delimiter)) {
    const out: Record<string, string>[] = [];
    for (const rec of recs) {
      row++;
      if (!header) {
        header = rec.map((h) => h.trim());
        continue;
      }
      if (rec.length !== header.length && options.columnMismatch !== 'pad') {
        throw new CsvError(`data row ${row} has ${rec.length} fields, the header has ${header.length}`);
      }
      const obj: Record<string, string> = {};
      for (let k = 0; k < header.length; k++) obj[header[k]!] = rec[k] ?? '';
      out.push(obj);
    }
    if (out.length > 0) yield out;
  }
}

/**
 * Parses CSV from chunks into objects keyed by the header row (or `options.columns`). Values stay strings:
 * the caller knows which columns are numbers and how to treat `NaN` or empty cells.
 */
export async function* parseCsv(source: Source, options: CsvOptions = {}): AsyncGenerator<Record<string, string>> {
  for await (const batch of parseCsvBatches(source, options)) yield* batch;
}

const CHUNK_BYTES = 256 * 1024;

/**
 * Streams a CSV file as objects keyed by its header row. The file is read in 256 KiB chunks, so memory stays
 * flat however large the file is.
 */
export function readCsv(path: string, options: CsvOptions = {}): AsyncGenerator<Record<string, string>> {
  return parseCsv(createReadStream(path, { highWaterMark: CHUNK_BYTES }), options);
}

/** {@link readCsv}, one array of row objects per 256 KiB chunk. */
export function readCsvBatches(path: string, options: CsvOptions = {}): AsyncGenerator<Record<string, string>[]> {
  return parseCsvBatches(createReadStream(path, { highWaterMark: CHUNK_BYTES }), options);
}
