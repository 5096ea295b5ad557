/** OTLP logs to `logs` rows, keeping trace and span ids so logs join traces. */
import { anyValueToString, noteTime, flattenAttributes, resourceContext, type WalkState } from './attributes.ts';
import { InvalidInputError } from './errors.ts';
import { list } from './wire.ts';
import { idToHex } from './ids.ts';
import { checkOptionalTime, checkTime, nsToTsv, toNanos, type TimeBounds } from './time.ts';
import { tsvMap, tsvString } from './tsv.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- wire objects from protobufjs or JSON, checked as read */

function severity(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' ? Number(v.replace(/^SEVERITY_NUMBER_/, '')) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 24) throw new InvalidInputError(`${what}: severityNumber ${String(v)} is not 0–24`);
  return n;
}

export function logRows(req: any, state: WalkState, bounds: TimeBounds): { tsv: string; count: number } {
  let out = '';
  let count = 0;
  const rls = list(req?.resourceLogs, 'resourceLogs');
  for (let r = 0; r < rls.length; r++) {
    const rl = rls[r];
    const res = resourceContext(rl?.resource, state, `resourceLogs[${r}]`);
    const sls = list(rl?.scopeLogs, `resourceLogs[${r}].scopeLogs`);
    for (let s = 0; s < sls.length; s++) {
      const sl = sls[s];
      const scopeName = tsvString(String(sl?.scope?.name ?? ''));
      const records = list(sl?.logRecords, `resourceLogs[${r}].scopeLogs[${s}].logRecords`);
      for (let i = 0; i < records.length; i++) {
        const lr = records[i];
        const what = `resourceLogs[${r}].scopeLogs[${s}].logRecords[${i}]`;
        const observed = checkOptionalTime(toNanos(lr.observedTimeUnixNano, `${what}.observedTimeUnixNano`), bounds, `${what}.observedTimeUnixNano`);
        let t = toNanos(lr.timeUnixNano, `${what}.timeUnixNano`);
        // The data model lets a source omit the event time; the observed time then stands in.
        if (t === 0n) t = observed;
        checkTime(t, bounds, `${what}.timeUnixNano`);
        noteTime(state, t);
        const { keys, values } = flattenAttributes(lr.attributes, state, what);
        const flags = Number(lr.flags ?? 0);
        out +=
          nsToTsv(t) + '\t' + nsToTsv(observed || t) + '\t' +
          severity(lr.severityNumber, what) + '\t' +
          tsvString(String(lr.severityText ?? '')) + '\t' +
          tsvString(anyValueToString(lr.body)) + '\t' +
          idToHex(lr.traceId, 16, `${what}.traceId`) + '\t' +
          idToHex(lr.spanId, 8, `${what}.spanId`) + '\t' +
          (Number.isInteger(flags) && flags >= 0 ? flags : 0) + '\t' +
          tsvString(String(lr.eventName ?? '')) + '\t' +
          res.entity + '\t' + scopeName + '\t' + res.attrsTsv + '\t' + tsvMap(keys, values) + '\n';
        count++;
      }
    }
  }
  return { tsv: out, count };
}
