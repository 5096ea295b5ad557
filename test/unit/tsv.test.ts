import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tsvMap, tsvString } from '../../services/ingest/rows/tsv.ts';
import { nsToTsv, toNanos } from '../../services/ingest/rows/time.ts';

describe('TabSeparated encoding', () => {
  it('escapes the characters that would break a row or a quoted literal', () => {
    assert.equal(tsvString('a\tb\nc\\d'), 'a\\tb\\nc\\\\d');
    assert.equal(tsvString('plain'), 'plain');
    assert.equal(tsvMap(["it's"], ['x\ty']), "{'it\\'s':'x\\ty'}");
    assert.equal(tsvMap([], []), '{}');
  });

  it('writes nanosecond timestamps as exact decimal seconds', () => {
    assert.equal(nsToTsv(1_700_000_000_000_000_001n), '1700000000.000000001');
    assert.equal(nsToTsv(toNanos({ low: 0x4a817c80, high: 0x1798cc9d }, 't')), nsToTsv((0x1798cc9dn << 32n) | 0x4a817c80n));
    assert.equal(toNanos('1700000000123456789', 't'), 1_700_000_000_123_456_789n);
    assert.throws(() => toNanos('12e9', 't'), /not an unsigned integer/);
  });
});
