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

type RawInsert = (p: {
  table: string;
  columns: string[];
  values: Uint8Array;
  format: 'TabSeparated';
  settings: Record<string, string>;
}) => Promise<unknown>;

export async function createClickHouseStore(opts: ClickHouseStoreOptions): Promise<TelemetryStore> {
  const database = opts.database ?? 'rootline';
  if (!IDENT.test(database)) throw new Error(`database name "${database}" must be a plain identifier`);
  let client: ClickHouseClient;
  let kind: 'chdb' | 'server';
  let rawInsert: RawInsert | undefined;
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
    const connection = createChdbConnection({ path });
    client = createClient({ connection } as Parameters<typeof createClient>[0]);
    // The generic Connection.insert turns the body into one JS string and back (three copies on the event
    // loop); the connection's own zero-copy raw insert hands the Buffer to chDB's parser as it is.
    rawInsert = (p) => connection.chdb.rawInsert(p);
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
      if (rawInsert) {
        await rawInsert({
          table: `${database}.${table}`,
          columns: [...TABLE_COLUMNS[table]],
          values: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
          format: 'TabSeparated',
          settings: { insert_deduplication_token: dedupToken },
        });
        return;
      }
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
