/** OTLP metrics to `metric_points` rows: one row per data point, every metric type. */
import { noteTime, flattenAttributes, resourceContext, type WalkState } from './attributes.ts';
import { InvalidInputError } from './errors.ts';
import { list } from './wire.ts';
import { checkOptionalTime, checkTime, nsToTsv, toNanos, type TimeBounds, type WireUint64 } from './time.ts';
import { tsvFloat, tsvMap, tsvNumberArray, tsvString } from './tsv.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- wire objects from protobufjs or JSON, checked as read */
const TEMPORALITY = ['UNSPECIFIED', 'DELTA', 'CUMULATIVE'];
const TYPES = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;


function num(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (['NaN', 'Infinity', '-Infinity'].includes(v)) return Number(v);
    const n = Number(v);
    if (v.trim() === '' || Number.isNaN(n)) throw new InvalidInputError(`${what}: "${v.slice(0, 40)}" is not a number`);
    return n;
  }
  if (typeof v === 'object' && typeof (v as { low?: unknown }).low === 'number') {
    return Number(BigInt.asIntN((v as { unsigned?: boolean }).unsigned === false ? 64 : 65, toNanos(v as WireUint64, what))); // fixed64 counts, signed sfixed64 asInt
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new InvalidInputError(`${what}: not a number`);
}

function uintString(v: WireUint64, what: string): string {
  return toNanos(v, what).toString();
}

function temporality(v: unknown): string {
  if (typeof v === 'number') return TEMPORALITY[v] ?? 'UNSPECIFIED';
  if (typeof v === 'string') return v.replace('AGGREGATION_TEMPORALITY_', '');
  return 'UNSPECIFIED';
}

/** Boundaries of base-2 exponential buckets: bucket i covers (base^(offset+i), base^(offset+i+1)]. */
function exponentialBounds(scale: number, offset: number, n: number): number[] {
  const base = 2 ** (2 ** -scale);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(base ** (offset + i + 1));
  return out;
}

export function metricRows(req: any, state: WalkState, bounds: TimeBounds): { tsv: string; count: number } {
  let out = '';
  let count = 0;
  const rms = list(req?.resourceMetrics, 'resourceMetrics');
  for (let r = 0; r < rms.length; r++) {
    const rm = rms[r];
    const res = resourceContext(rm?.resource, state, `resourceMetrics[${r}]`);
    const sms = list(rm?.scopeMetrics, `resourceMetrics[${r}].scopeMetrics`);
    for (let s = 0; s < sms.length; s++) {
      const sm = sms[s];
      const scopeName = tsvString(String(sm?.scope?.name ?? ''));
      const metrics = list(sm?.metrics, `resourceMetrics[${r}].scopeMetrics[${s}].metrics`);
      for (let m = 0; m < metrics.length; m++) {
        const metric = metrics[m];
        const what = `resourceMetrics[${r}].scopeMetrics[${s}].metrics[${m}]`;
        const name = String(metric?.name ?? '');
        if (!name) throw new InvalidInputError(`${what}: name is required`);
        const type = TYPES.find((t) => metric[t] !== undefined && metric[t] !== null && (metric.data === undefined || metric.data === t));
        if (!type) throw new InvalidInputError(`${what}: no data (gauge, sum, histogram, exponentialHistogram or summary)`);
        const data = metric[type];
        const head = `${tsvString(name)}\t${type === 'exponentialHistogram' ? 'exponential_histogram' : type}\t${tsvString(String(metric.unit ?? ''))}\t${temporality(data.aggregationTemporality)}\t${data.isMonotonic ? 'true' : 'false'}\t`;
        const points = list(data.dataPoints, `${what}.dataPoints`);
        for (let p = 0; p < points.length; p++) {
          const dp = points[p];
          const pw = `${what}.dataPoints[${p}]`;
          const t = toNanos(dp.timeUnixNano, `${pw}.timeUnixNano`);
          checkTime(t, bounds, `${pw}.timeUnixNano`);
          noteTime(state, t);
          const start = checkOptionalTime(toNanos(dp.startTimeUnixNano, `${pw}.startTimeUnixNano`), bounds, `${pw}.startTimeUnixNano`);
          const { keys, values } = flattenAttributes(dp.attributes, state, pw);
          let value: number;
          let cnt = '0';
          let sum = 0;
          let min = 0;
          let max = 0;
          let buckets: (number | string)[] = [];
          let boundsArr: number[] = [];
          const quantiles: number[] = [];
          const qvalues: number[] = [];
          if (type === 'gauge' || type === 'sum') {
            value = dp.asDouble !== undefined && dp.asDouble !== null && (dp.value === undefined || dp.value === 'asDouble')
              ? num(dp.asDouble, pw)
              : num(dp.asInt, pw);
          } else {
            cnt = uintString(dp.count, `${pw}.count`);
            sum = num(dp.sum, pw);
            min = num(dp.min, pw);
            max = num(dp.max, pw);
            if (type === 'histogram') {
              buckets = list(dp.bucketCounts, `${pw}.bucketCounts`).map((b) => uintString(b, pw));
              boundsArr = list(dp.explicitBounds, `${pw}.explicitBounds`).map((b) => num(b, pw));
            } else if (type === 'exponentialHistogram') {
              const pos = list(dp.positive?.bucketCounts, `${pw}.positive`).map((b) => uintString(b, pw));
              buckets = pos;
              boundsArr = exponentialBounds(num(dp.scale, pw), num(dp.positive?.offset, pw), pos.length);
            } else {
              for (const q of list(dp.quantileValues, `${pw}.quantileValues`)) {
                quantiles.push(num(q?.quantile, pw));
                qvalues.push(num(q?.value, pw));
              }
            }
            value = sum;
          }
          out +=
            nsToTsv(t) + '\t' + nsToTsv(start) + '\t' + head +
            tsvFloat(value) + '\t' + cnt + '\t' + tsvFloat(sum) + '\t' + tsvFloat(min) + '\t' + tsvFloat(max) + '\t' +
            tsvNumberArray(buckets) + '\t' + tsvNumberArray(boundsArr) + '\t' + tsvNumberArray(quantiles) + '\t' +
            tsvNumberArray(qvalues) + '\t' + res.entity + '\t' + scopeName + '\t' + res.attrsTsv + '\t' +
            tsvMap(keys, values) + '\n';
          count++;
        }
      }
    }
  }
  return { tsv: out, count };
}
