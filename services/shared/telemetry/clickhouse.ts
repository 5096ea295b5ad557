/**
 * The TelemetryStore on ClickHouse through the official @clickhouse/client: a server when a URL is given,
 * otherwise chDB in-process through `createChdbConnection` (same client, same SQL).
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { mkdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tableDdl, TABLE_COLUMNS, type WalTable } from './schema.ts';
import type { TelemetryStore } from './store.ts';

export interface ClickHouseStoreOptions {
  /** ClickHouse server URL; chDB in-process is used if not set. */
  url?: string;
  user?: string;
  password?: string;
  database?: string;
  /** chDB data directory (embedded mode only). */
  path?: string;
  /** TTL on event time in days; 0 keeps data forever. */
  retentionDays?: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function createClickHouseStore(opts: ClickHouseStoreOptions): Promise<TelemetryStore> {
  const database = opts.database ?? 'rootline';
  if (!IDENT.test(database)) throw new Error(`database name "${database}" must be a plain identifier`);
  let client: ClickHouseClient;
  let kind: 'chdb' | 'server';
  if (opts.url) {
    client = createClient({
      url: opts.url,
      username: opts.user ?? 'default',
      password: opts.password ?? '',
      request_timeout: 60_000,
      // Large inserts are already batched by the WAL flusher; compression saves loopback/network bytes.
      compression: { request: false, response: true },
    });
    kind = 'server';
  } else {
    const path = opts.path ?? './data/chdb';
    mkdirSync(path, { recursive: true });
    // Loaded lazily: the native engine (~500 MB) is only needed in embedded mode.
    const { createChdbConnection } = await import('chdb/connection');
    client = createClient({ connection: createChdbConnection({ path }) } as Parameters<typeof createClient>[0]);
    kind = 'chdb';
  }
  const retentionDays = opts.retentionDays ?? 7;

  return {
    kind,
    database,
    async migrate() {
      await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
      for (const ddl of tableDdl(database, retentionDays)) await client.command({ query: ddl });
    },
    async insertTsv(table: WalTable, chunks: readonly Uint8Array[], dedupToken: string) {
      if (chunks.length === 0) return;
      await client.insert({
        table: `${database}.${table}`,
        columns: [...TABLE_COLUMNS[table]],
        values: Readable.from(chunks, { objectMode: false }),
        format: 'TabSeparated',
        clickhouse_settings: { insert_deduplication_token: dedupToken, async_insert: 0 },
      });
    },
    async query<T>(sql: string, params?: Record<string, unknown>) {
      const rs = await client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
      return (await rs.json()) as T[];
    },
    async command(sql: string, params?: Record<string, unknown>) {
      await client.command({ query: sql, query_params: params });
    },
    async ping() {
      const r = await client.ping();
      return r.success;
    },
    async close() {
      await client.close();
    },
  };
}
