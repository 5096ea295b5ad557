/**
 * The batch the eBPF collector posts: the schema shared with `collector-native` (see ../../../EVENTS.md in
 * the design notes). OpenTelemetry semantic-convention names where they exist, `aiops.*` for the rest; every
 * event carries the collector's monotonic `aiops.seq`, so loss shows as gaps.
 */
import { Type, type Static } from '@sinclair/typebox';

export const EVENT_NAMES = [
  'aiops.tcp.connection',
  'aiops.tcp.listen',
  'aiops.http.request',
  'aiops.process.exec',
  'aiops.process.exit',
  'aiops.process.sample',
  'aiops.security.alert',
] as const;

const Scalar = Type.Union([Type.String({ maxLength: 8192 }), Type.Number(), Type.Boolean()]);
const Uint64 = Type.Union([Type.String({ pattern: '^[0-9]{1,20}$' }), Type.Integer({ minimum: 0 })]);

export const CollectorEvent = Type.Object(
  {
    'event.name': Type.Union(EVENT_NAMES.map((n) => Type.Literal(n))),
    time_unix_nano: Uint64,
    'aiops.seq': Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: Scalar, maxProperties: 128 },
);

export const CollectorBatch = Type.Object(
  {
    collector: Type.Object(
      {
        'host.name': Type.String({ minLength: 1, maxLength: 255 }),
        'host.id': Type.Optional(Type.String({ maxLength: 255 })),
        'aiops.collector.version': Type.Optional(Type.String({ maxLength: 64 })),
      },
      { additionalProperties: false },
    ),
    dropped: Type.Optional(
      Type.Object(
        {
          ring_full: Type.Optional(Type.Integer({ minimum: 0 })),
          send_failed: Type.Optional(Type.Integer({ minimum: 0 })),
          buffer_full: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false, description: 'Cumulative drop counters since the collector started' },
      ),
    ),
    events: Type.Array(CollectorEvent, { maxItems: 20_000 }),
  },
  { additionalProperties: false },
);
export type CollectorBatch = Static<typeof CollectorBatch>;

export const CollectorAccepted = Type.Object({
  accepted: Type.Integer(),
  gaps: Type.Integer({ description: 'Sequence numbers missing before this batch, for this collector' }),
});
