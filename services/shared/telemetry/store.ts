import type { WalTable } from './schema.ts';

/**
 * The telemetry store port: ClickHouse, embedded (chDB) or a server, behind the same SQL.
 * Writers hand it pre-encoded TabSeparated rows; readers run parameterized SQL.
 */
export interface TelemetryStore {
  /** Which engine answers: `chdb` in-process or a ClickHouse `server`. */
  readonly kind: 'chdb' | 'server';
  /** The database holding the telemetry tables. */
  readonly database: string;
  /** Creates the database and tables if missing; safe to call on every start. */
  migrate(): Promise<void>;
  /** Appends TabSeparated rows (the table's column order); a repeated `dedupToken` is stored once. */
  insertTsv(table: WalTable, chunks: readonly Uint8Array[], dedupToken: string): Promise<void>;
  /** Runs one parameterized read (`{name:Type}` placeholders) and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /** Runs one parameterized statement that returns no rows. */
  command(sql: string, params?: Record<string, unknown>): Promise<void>;
  /** True when the engine answers. */
  ping(): Promise<boolean>;
  /** Releases the engine or connection. */
  close(): Promise<void>;
}
