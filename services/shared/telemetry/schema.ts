/**
 * ClickHouse tables for telemetry. Column names follow OpenTelemetry semantic conventions with dots turned
 * into underscores; the entity keys (service, host, pod, container, process) are promoted to columns on every
 * table so any signal joins any other, and everything else stays in attribute maps.
 *
 * Ordering keys serve the reads that topology and RCA make: "this service's spans/logs/metrics in [t1, t2]".
 * Trace and span ids get bloom-filter skip indexes for trace lookups. Partitions are daily so TTL drops whole
 * parts. `non_replicated_deduplication_window` lets the WAL flusher replay a batch after a crash with the same
 * `insert_deduplication_token` without storing it twice.
 */

/** Entity key columns, in the order rows list them. Shared by every telemetry table. */
export const ENTITY_COLUMNS = [
  'service_name',
  'service_namespace',
  'service_instance_id',
  'service_version',
  'host_name',
  'k8s_cluster_name',
  'k8s_node_name',
  'k8s_namespace_name',
  'k8s_pod_name',
  'container_id',
  'process_pid',
] as const;

const ENTITY_DDL = `
  service_name LowCardinality(String),
  service_namespace LowCardinality(String),
  service_instance_id String,
  service_version LowCardinality(String),
  host_name LowCardinality(String),
  k8s_cluster_name LowCardinality(String),
  k8s_node_name LowCardinality(String),
  k8s_namespace_name LowCardinality(String),
  k8s_pod_name LowCardinality(String),
  container_id String,
  process_pid UInt32`;

/** Column order of each table as written by the row builders (TabSeparated, no header). */
export const TABLE_COLUMNS = {
  spans: [
    'timestamp', 'trace_id', 'span_id', 'parent_span_id', 'trace_state', 'name', 'kind', 'duration_ns',
    'status_code', 'status_message', ...ENTITY_COLUMNS, 'http_request_method', 'http_route',
    'http_response_status_code', 'server_address', 'server_port', 'scope_name', 'scope_version',
    'resource_attributes', 'attributes', 'events_time', 'events_name', 'events_attributes', 'links_trace_id',
    'links_span_id',
  ],
  metric_points: [
    'timestamp', 'start_timestamp', 'metric_name', 'metric_type', 'unit', 'temporality', 'is_monotonic', 'value',
    'count', 'sum', 'min', 'max', 'bucket_counts', 'explicit_bounds', 'quantiles', 'quantile_values',
    ...ENTITY_COLUMNS, 'scope_name', 'resource_attributes', 'attributes',
  ],
  logs: [
    'timestamp', 'observed_timestamp', 'severity_number', 'severity_text', 'body', 'trace_id', 'span_id', 'flags',
    'event_name', ...ENTITY_COLUMNS, 'scope_name', 'resource_attributes', 'attributes',
  ],
  collector_events: [
    'timestamp', 'event_name', 'collector_id', 'seq', ...ENTITY_COLUMNS, 'process_executable_name', 'cgroup_id',
    'attributes',
  ],
} as const;

export const WAL_TABLES = ['spans', 'metric_points', 'logs', 'collector_events'] as const;
export type WalTable = (typeof WAL_TABLES)[number];

const MERGE_SETTINGS = 'SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000';

/** DDL for every table in `db`; idempotent. `ttlDays` 0 means no TTL. */
export function tableDdl(db: string, ttlDays: number): string[] {
  const ttl = (col: string) => (ttlDays > 0 ? `TTL toDateTime(${col}) + INTERVAL ${Math.floor(ttlDays)} DAY DELETE` : '');
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.spans (
      timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
      trace_id String CODEC(ZSTD(1)),
      span_id String CODEC(ZSTD(1)),
      parent_span_id String CODEC(ZSTD(1)),
      trace_state String CODEC(ZSTD(1)),
      name LowCardinality(String),
      kind LowCardinality(String),
      duration_ns UInt64 CODEC(ZSTD(1)),
      status_code LowCardinality(String),
      status_message String CODEC(ZSTD(1)),${ENTITY_DDL},
      http_request_method LowCardinality(String),
      http_route LowCardinality(String),
      http_response_status_code UInt16,
      server_address LowCardinality(String),
      server_port UInt16,
      scope_name LowCardinality(String),
      scope_version LowCardinality(String),
      resource_attributes Map(String, String) CODEC(ZSTD(1)),
      attributes Map(String, String) CODEC(ZSTD(1)),
      events_time Array(DateTime64(9)),
      events_name Array(String),
      events_attributes Array(Map(String, String)) CODEC(ZSTD(1)),
      links_trace_id Array(String),
      links_span_id Array(String),
      INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
    ) ENGINE = MergeTree
    PARTITION BY toDate(timestamp)
    ORDER BY (service_name, name, timestamp)
    ${ttl('timestamp')}
    ${MERGE_SETTINGS}`,
    `CREATE TABLE IF NOT EXISTS ${db}.metric_points (
      timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
      start_timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
      metric_name LowCardinality(String),
      metric_type LowCardinality(String),
      unit LowCardinality(String),
      temporality LowCardinality(String),
      is_monotonic Bool,
      value Float64 CODEC(ZSTD(1)),
      count UInt64,
      sum Float64,
      min Float64,
      max Float64,
      bucket_counts Array(UInt64),
      explicit_bounds Array(Float64),
      quantiles Array(Float64),
      quantile_values Array(Float64),${ENTITY_DDL},
      scope_name LowCardinality(String),
      resource_attributes Map(String, String) CODEC(ZSTD(1)),
      attributes Map(String, String) CODEC(ZSTD(1))
    ) ENGINE = MergeTree
    PARTITION BY toDate(timestamp)
    ORDER BY (metric_name, service_name, k8s_pod_name, timestamp)
    ${ttl('timestamp')}
    ${MERGE_SETTINGS}`,
    `CREATE TABLE IF NOT EXISTS ${db}.logs (
      timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
      observed_timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
      severity_number UInt8,
      severity_text LowCardinality(String),
      body String CODEC(ZSTD(1)),
      trace_id String CODEC(ZSTD(1)),
      span_id String CODEC(ZSTD(1)),
      flags UInt32,
      event_name LowCardinality(String),${ENTITY_DDL},
      scope_name LowCardinality(String),
      resource_attributes Map(String, String) CODEC(ZSTD(1)),
      attributes Map(String, String) CODEC(ZSTD(1)),
      INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
    ) ENGINE = MergeTree
    PARTITION BY toDate(timestamp)
    ORDER BY (service_name, timestamp)
    ${ttl('timestamp')}
    ${MERGE_SETTINGS}`,
    `CREATE TABLE IF NOT EXISTS ${db}.collector_events (
      timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
      event_name LowCardinality(String),
      collector_id LowCardinality(String),
      seq UInt64,${ENTITY_DDL},
      process_executable_name LowCardinality(String),
      cgroup_id UInt64,
      attributes Map(String, String) CODEC(ZSTD(1)),
      inserted_at DateTime64(3) DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
      INDEX idx_inserted_at inserted_at TYPE minmax GRANULARITY 1
    ) ENGINE = MergeTree
    PARTITION BY toDate(timestamp)
    ORDER BY (event_name, host_name, timestamp)
    ${ttl('timestamp')}
    ${MERGE_SETTINGS}`,
    // Tables made before the security watch: when a row landed is the watch's cursor (event time is not:
    // a collector that was cut off from ingest delivers old events late).
    `ALTER TABLE ${db}.collector_events ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3) DEFAULT now64(3) CODEC(Delta, ZSTD(1))`,
    `CREATE TABLE IF NOT EXISTS ${db}.alerts (
      received_at DateTime64(3),
      tenant LowCardinality(String),
      source LowCardinality(String),
      fingerprint String,
      status LowCardinality(String),
      alertname LowCardinality(String),
      severity LowCardinality(String),
      starts_at DateTime64(3),
      ends_at DateTime64(3),
      labels Map(String, String),
      annotations Map(String, String),
      generator_url String,${ENTITY_DDL}
    ) ENGINE = MergeTree
    PARTITION BY toDate(received_at)
    ORDER BY (tenant, fingerprint, received_at)
    ${ttl('received_at')}
    ${MERGE_SETTINGS}`,
    // Per-edge statistics at one-minute resolution, computed by the topology extractor with INSERT … SELECT.
    // ReplacingMergeTree keyed by (edge, minute): re-extracting a minute (late data, replays) replaces it.
    `CREATE TABLE IF NOT EXISTS ${db}.edge_stats (
      minute DateTime,
      edge_id String,
      edge_type LowCardinality(String),
      source String,
      target String,
      calls UInt64,
      errors UInt64,
      latency_p50_ms Float64,
      latency_p90_ms Float64,
      latency_p99_ms Float64,
      bytes UInt64,
      last_seen DateTime64(3),
      version UInt64
    ) ENGINE = ReplacingMergeTree(version)
    PARTITION BY toDate(minute)
    ORDER BY (edge_id, minute)
    ${ttl('minute')}`,
  ];
}
