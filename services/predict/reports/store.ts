/**
 * Durable report storage behind a small interface. The embedded implementation keeps one JSON file per
 * report under `<dataDir>/reports/`, written to a temporary file, fsynced and renamed into place, so a
 * crash leaves either the old file or the new one. Ids are derived from the period, so a repeated run for
 * the same period (at-least-once scheduling) replaces the report instead of adding a second one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from './model.ts';

export interface ReportStore {
  put(report: Report): Promise<void>;
  get(id: string): Promise<Report | null>;
  /** Newest first (by period end, then creation time). */
  list(limit: number): Promise<Report[]>;
}

const ID = /^[A-Za-z0-9_-]{1,128}$/;

export class FileReportStore implements ReportStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  put(report: Report): Promise<void> {
    if (!ID.test(report.id)) return Promise.reject(new RangeError(`bad report id ${report.id}`));
    const path = join(this.dir, `${report.id}.json`);
    const tmp = `${path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(report));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return Promise.resolve();
  }

  get(id: string): Promise<Report | null> {
    if (!ID.test(id)) return Promise.resolve(null);
    try {
      return Promise.resolve(JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as Report);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve(null);
      return Promise.reject(err as Error);
    }
  }

  async list(limit: number): Promise<Report[]> {
    const out: Report[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const r = await this.get(name.slice(0, -'.json'.length));
      if (r) out.push(r);
    }
    out.sort((a, b) => b.period.to - a.period.to || b.createdAt - a.createdAt);
    return out.slice(0, limit);
  }
}
