/** The shape of a prediction report, shared by the builder, the store, the routes and the HTML page. */
import { Type, type Static } from '@sinclair/typebox';

export const SIGNALS = ['rate', 'error_rate', 'p95_ms'] as const;
export type Signal = (typeof SIGNALS)[number];

const SignalT = Type.Union([Type.Literal('rate'), Type.Literal('error_rate'), Type.Literal('p95_ms')]);

export const ForecastSeries = Type.Object({
  service: Type.String(),
  signal: SignalT,
  /** Observed per-minute values: [epoch ms of the minute, value]. */
  observed: Type.Array(Type.Tuple([Type.Number(), Type.Number()])),
  /** Forecast per minute after the last observation: [epoch ms, value, lo80, hi80]. */
  forecast: Type.Array(Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()])),
  threshold: Type.Union([Type.Number(), Type.Null()]),
  method: Type.String(),
});

export const PredictedBreach = Type.Object({
  service: Type.String(),
  signal: SignalT,
  threshold: Type.Number(),
  /** Minutes from the end of the data until the forecast crosses the threshold (0: already above). */
  leadMinutes: Type.Number(),
  /** Estimated time of the crossing, epoch ms. */
  at: Type.Number(),
  predicted: Type.Number(),
  confidence: Type.Number(),
});

export const AnomalousSequence = Type.Object({
  traceId: Type.String(),
  calls: Type.Array(Type.String()),
  score: Type.Number(),
  misses: Type.Number(),
  unknown: Type.Number(),
});

export const DriftingEntity = Type.Object({
  service: Type.String(),
  signal: SignalT,
  previousMedian: Type.Number(),
  recentMean: Type.Number(),
  /** (recent mean − previous median) / robust sigma (1.4826 · MAD) of the previous window. */
  robustZ: Type.Number(),
});

export const SeriesAnomaly = Type.Object({
  service: Type.String(),
  signal: SignalT,
  /** The first minute of the recent (drift) window scored at or above the threshold, epoch ms. */
  at: Type.Number(),
  value: Type.Number(),
  /** The streaming detector's score there, in [0, 1] (the one `rootline eval nab` measures). */
  score: Type.Number(),
});

export const Report = Type.Object({
  id: Type.String(),
  period: Type.Object({ from: Type.Number(), to: Type.Number() }),
  createdAt: Type.Number(),
  trigger: Type.Union([Type.Literal('schedule'), Type.Literal('api')]),
  settings: Type.Object({
    historyMinutes: Type.Number(),
    horizonMinutes: Type.Number(),
    errorRateThreshold: Type.Number(),
    latencyFactor: Type.Number(),
    driftSigmas: Type.Number(),
    driftWindowMinutes: Type.Number(),
    anomalyScore: Type.Optional(Type.Number()),
  }),
  predictedBreaches: Type.Array(PredictedBreach),
  anomalousSequences: Type.Object({ available: Type.Boolean(), note: Type.String(), scored: Type.Number(), items: Type.Array(AnomalousSequence) }),
  driftingEntities: Type.Array(DriftingEntity),
  /** Absent from reports stored before series anomalies were detected. */
  seriesAnomalies: Type.Optional(Type.Array(SeriesAnomaly)),
  forecasts: Type.Array(ForecastSeries),
});
export type Report = Static<typeof Report>;
export type ForecastSeries = Static<typeof ForecastSeries>;
export type PredictedBreach = Static<typeof PredictedBreach>;
export type DriftingEntity = Static<typeof DriftingEntity>;
export type AnomalousSequence = Static<typeof AnomalousSequence>;
export type SeriesAnomaly = Static<typeof SeriesAnomaly>;

export const ReportSummary = Type.Object({
  id: Type.String(),
  period: Type.Object({ from: Type.Number(), to: Type.Number() }),
  createdAt: Type.Number(),
  trigger: Type.String(),
  predictedBreaches: Type.Number(),
  anomalousSequences: Type.Number(),
  driftingEntities: Type.Number(),
  seriesAnomalies: Type.Optional(Type.Number()),
});
export type ReportSummary = Static<typeof ReportSummary>;

export function summarize(r: Report): ReportSummary {
  return {
    id: r.id,
    period: r.period,
    createdAt: r.createdAt,
    trigger: r.trigger,
    predictedBreaches: r.predictedBreaches.length,
    anomalousSequences: r.anomalousSequences.items.length,
    driftingEntities: r.driftingEntities.length,
    seriesAnomalies: r.seriesAnomalies?.length ?? 0,
  };
}
