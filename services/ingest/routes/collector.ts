/** The collector-native receiver: batched eBPF events in the shared schema, with sequence-gap accounting. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Counter, type Registry } from 'prom-client';
import { CollectorAccepted, CollectorBatch } from '../collector/schema.ts';
import { collectorRows, SequenceTracker } from '../collector/rows.ts';
import type { IngestPipeline } from '../pipeline.ts';
import { timeBounds } from '../rows/time.ts';
import { InvalidInputError } from '../rows/errors.ts';
import { isUtf8 } from 'node:buffer';

export interface CollectorRoutesOptions {
  pipeline: IngestPipeline;
  registry: Registry;
  maxFutureSkewMs: number;
}

export const collectorRoutes: FastifyPluginAsyncTypebox<CollectorRoutesOptions> = async (app, opts) => {
  const seqs = new SequenceTracker();
  const gaps = new Counter({ name: 'rootline_collector_seq_gaps_total', help: 'Collector events lost in transit (sequence gaps)', labelNames: ['collector'], registers: [opts.registry] });
  const dropped = new Counter({ name: 'rootline_collector_dropped_total', help: 'Events the collector reports it dropped', labelNames: ['collector', 'reason'], registers: [opts.registry] });
  const lastDropped = new Map<string, number>();

  // JSON only, and strict about its bytes: fastify's default parser would replace invalid UTF-8 silently.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    if (!isUtf8(body)) return done(new InvalidInputError('body is not valid UTF-8'));
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch (err) {
      done(new InvalidInputError(`malformed JSON: ${(err as Error).message}`));
    }
  });

  app.post(
    '/v1/collector/events',
    {
      schema: {
        tags: ['collector'],
        summary: 'Batched events from collector-native (shared schema, sequence-numbered)',
        security: [{ bearer: [] }],
        body: CollectorBatch,
        response: { 200: CollectorAccepted },
      },
    },
    async (req) => {
      const batch = req.body;
      opts.pipeline.admit(Number(req.headers['content-length'] ?? 0));
      const { tsv, count, minMs, maxMs } = collectorRows(batch, timeBounds(opts.maxFutureSkewMs));
      if (count > 0) await opts.pipeline.appendRows('collector_events', Buffer.from(tsv, 'utf8'), count, minMs, maxMs);
      const id = batch.collector['host.id'] || batch.collector['host.name'];
      const missing = seqs.observe(id, batch.events.map((e) => e['aiops.seq']));
      if (missing > 0) gaps.inc({ collector: id }, missing);
      for (const [reason, total] of Object.entries(batch.dropped ?? {})) {
        const key = `${id}\0${reason}`;
        const delta = total - (lastDropped.get(key) ?? 0);
        if (delta > 0) dropped.inc({ collector: id, reason }, delta);
        lastDropped.set(key, total);
      }
      return { accepted: count, gaps: missing };
    },
  );
};
