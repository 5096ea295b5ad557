/** OTLP traces to `spans` rows (TabSeparated, TABLE_COLUMNS.spans order). */
import { noteTime, flattenAttributes, lookup, resourceContext, type WalkState } from './attributes.ts';
import { InvalidInputError } from './errors.ts';
import { list } from './wire.ts';
import { idToHex } from './ids.ts';
import { checkOptionalTime, checkTime, nsToTsv, toNanos, type TimeBounds } from './time.ts';
import { tsvMap, tsvQuoted, tsvString, tsvStringArray } from './tsv.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- wire objects from protobufjs or JSON, checked as read */
const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS = ['UNSET', 'OK', 'ERROR'];

function enumName(v: unknown, names: string[], prefix: string, what: string): string {
  if (v === undefined || v === null) return names[0]!;
  if (typeof v === 'number' && names[v] !== undefined) return names[v]!;
  if (typeof v === 'string') {
    const short = v.startsWith(prefix) ? v.slice(prefix.length) : v;
    if (names.includes(short)) return short;
  }
  throw new InvalidInputError(`${what}: unknown value ${JSON.stringify(v)}`);
}


function port(s: string): string {
  const n = Number(s);
  return Number.isInteger(n) && n > 0 && n < 65536 ? String(n) : '0';
}

function statusCode(s: string): string {
  const n = Number(s);
  return Number.isInteger(n) && n >= 100 && n < 1000 ? String(n) : '0';
}

/** Builds span rows; returns the TSV text and the span count. Throws InvalidInputError on any bad span. */
export function traceRows(req: any, state: WalkState, bounds: TimeBounds): { tsv: string; count: number } {
  let out = '';
  let count = 0;
  const rss = list(req?.resourceSpans, 'resourceSpans');
  for (let r = 0; r < rss.length; r++) {
    const rs = rss[r];
    const res = resourceContext(rs?.resource, state, `resourceSpans[${r}]`);
    const sss = list(rs?.scopeSpans, `resourceSpans[${r}].scopeSpans`);
    for (let s = 0; s < sss.length; s++) {
      const ss = sss[s];
      const scopeName = tsvString(String(ss?.scope?.name ?? ''));
      const scopeVersion = tsvString(String(ss?.scope?.version ?? ''));
      const spans = list(ss?.spans, `resourceSpans[${r}].scopeSpans[${s}].spans`);
      for (let i = 0; i < spans.length; i++) {
        const sp = spans[i];
        const what = `resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`;
        const traceId = idToHex(sp.traceId, 16, `${what}.traceId`);
        const spanId = idToHex(sp.spanId, 8, `${what}.spanId`);
        if (!traceId || !spanId) throw new InvalidInputError(`${what}: traceId and spanId are required`);
        const start = toNanos(sp.startTimeUnixNano, `${what}.startTimeUnixNano`);
        const end = toNanos(sp.endTimeUnixNano, `${what}.endTimeUnixNano`);
        checkTime(start, bounds, `${what}.startTimeUnixNano`);
        noteTime(state, start);
        checkOptionalTime(end, bounds, `${what}.endTimeUnixNano`);
        const duration = end >= start ? end - start : 0n;
        const name = String(sp.name ?? '');
        const { keys, values } = flattenAttributes(sp.attributes, state, what);
        const statusMessage = String(sp.status?.message ?? '');
        const events = list(sp.events, `${what}.events`);
        const evTimes: string[] = [];
        const evNames: string[] = [];
        const evAttrs: string[] = [];
        for (let e = 0; e < events.length; e++) {
          const ev = events[e];
          const evWhat = `${what}.events[${e}].timeUnixNano`;
          evTimes.push(nsToTsv(checkOptionalTime(toNanos(ev?.timeUnixNano, evWhat), bounds, evWhat)));
          evNames.push(String(ev?.name ?? ''));
          const a = flattenAttributes(ev?.attributes, state, `${what}.events[${e}]`);
          evAttrs.push(tsvMap(a.keys, a.values));
        }
        const links = list(sp.links, `${what}.links`);
        const linkTrace = links.map((l, k) => idToHex(l?.traceId, 16, `${what}.links[${k}]`));
        const linkSpan = links.map((l, k) => idToHex(l?.spanId, 8, `${what}.links[${k}]`));
        out +=
          nsToTsv(start) + '\t' +
          traceId + '\t' +
          spanId + '\t' +
          idToHex(sp.parentSpanId, 8, `${what}.parentSpanId`) + '\t' +
          tsvString(String(sp.traceState ?? '')) + '\t' +
          tsvString(name) + '\t' +
          enumName(sp.kind, KINDS, 'SPAN_KIND_', `${what}.kind`) + '\t' +
          duration.toString() + '\t' +
          enumName(sp.status?.code, STATUS, 'STATUS_CODE_', `${what}.status.code`) + '\t' +
          tsvString(statusMessage) + '\t' +
          res.entity + '\t' +
          tsvString(lookup(keys, values, 'http.request.method', 'http.method')) + '\t' +
          tsvString(lookup(keys, values, 'http.route')) + '\t' +
          statusCode(lookup(keys, values, 'http.response.status_code', 'http.status_code')) + '\t' +
          tsvString(lookup(keys, values, 'server.address', 'net.peer.name')) + '\t' +
          port(lookup(keys, values, 'server.port', 'net.peer.port')) + '\t' +
          scopeName + '\t' +
          scopeVersion + '\t' +
          res.attrsTsv + '\t' +
          tsvMap(keys, values) + '\t' +
          `[${evTimes.map((t) => `'${t}'`).join(',')}]` + '\t' +
          tsvStringArray(evNames) + '\t' +
          `[${evAttrs.join(',')}]` + '\t' +
          `[${linkTrace.map(tsvQuoted).join(',')}]` + '\t' +
          `[${linkSpan.map(tsvQuoted).join(',')}]` + '\n';
        count++;
      }
    }
  }
  return { tsv: out, count };
}
