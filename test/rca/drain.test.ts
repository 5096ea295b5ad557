import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Drain, groupingAccuracy } from '../../services/rca/logs/drain.ts';
import { readCsv } from '../../services/rca/eval/csv.ts';

const DIR = fileURLToPath(new URL('../../../shared/datasets/loghub-2k/', import.meta.url));

async function accuracy(name: string): Promise<{ acc: number; groups: number; truthGroups: number }> {
  const contents: string[] = [];
  const truth: string[] = [];
  for await (const row of readCsv(`${DIR}${name}_2k.log_structured.csv`)) {
    contents.push(row.Content!);
    truth.push(row.EventId!);
  }
  const drain = new Drain();
  const predicted = contents.map((c) => drain.add(c).id);
  return { acc: groupingAccuracy(truth, predicted), groups: drain.templates().length, truthGroups: new Set(truth).size };
}

describe('Drain log template mining', () => {
  it('merges variable positions into <*> and keeps different events apart', () => {
    const d = new Drain();
    const a = d.add('Connection to 10.0.0.5:6379 refused after 3 retries');
    const b = d.add('Connection to 10.0.0.9:6379 refused after 5 retries');
    const c = d.add('Payment declined for order 8812');
    assert.equal(a.id, b.id);
    assert.notEqual(a.id, c.id);
    assert.equal(d.templates()[0]!.template, 'Connection to <*> refused after <*> retries');
  });

  it('scores loghub grouping accuracy exactly (a wrong split or merge costs every line of the group)', () => {
    assert.equal(groupingAccuracy(['a', 'a', 'b'], [1, 1, 2]), 1);
    assert.equal(groupingAccuracy(['a', 'a', 'b'], [1, 1, 1]), 0);
    assert.equal(groupingAccuracy(['a', 'a', 'b'], [1, 2, 3]), 1 / 3);
  });

  for (const [name, floor] of [['HDFS', 0.95], ['BGL', 0.9]] as const) {
    it(`groups loghub ${name}_2k with accuracy ≥ ${floor}`, async (t) => {
      if (!existsSync(`${DIR}${name}_2k.log_structured.csv`)) {
        if (process.env.CI === 'true') assert.fail(`missing ${DIR}`);
        return t.skip(`loghub data not found at ${DIR}`);
      }
      const r = await accuracy(name);
      t.diagnostic(`${name}: accuracy ${r.acc.toFixed(3)}, ${r.groups} groups (truth ${r.truthGroups})`);
      assert.ok(r.acc >= floor, `${name} accuracy ${r.acc}`);
    });
  }
});
