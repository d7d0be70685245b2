import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNumericCsv, readNumericCsv, tableColumn } from '../../src/io/csv.js';
import { FormatError, NotFoundError, UsageError } from '../../src/util/errors.js';

test('a header row is recognised and values come back row-major', () => {
  const table = parseNumericCsv('time,"value, in V"\r\n0,1.5\r\n0.5,-2e-3\r\n1,.25\r\n', 'x.csv');
  assert.deepEqual(table.header, ['time', 'value, in V']);
  assert.equal(table.rows, 3);
  assert.equal(table.columns, 2);
  assert.deepEqual([...table.values], [0, 1.5, 0.5, -0.002, 1, 0.25]);
  assert.deepEqual([...tableColumn(table, 'value, in V')], [1.5, -0.002, 0.25]);
  assert.deepEqual([...tableColumn(table, 0)], [0, 0.5, 1]);
  assert.throws(
    () => tableColumn(table, 'voltage'),
    (e: unknown) => e instanceof UsageError && /columns: time, value, in V/.test(e.message),
  );
});

test('no header, comments, blank lines, NumPy special values, quotes and other delimiters', () => {
  // What numpy.savetxt(delimiter=' ', header='x y') writes, plus a quoted cell and a BOM.
  const text = '\ufeff# x y\n1.000000000000000000e+00 nan\n\n-inf inf\n"3" +4\n';
  const table = parseNumericCsv(text, 'np.txt', { delimiter: ' ' });
  assert.equal(table.header, null);
  assert.equal(table.rows, 3);
  assert.deepEqual(
    [...table.values].map((v) => (Number.isNaN(v) ? 'nan' : v)),
    [1, 'nan', -Infinity, Infinity, 3, 4],
  );
  const tabs = parseNumericCsv('1\t2\n3\t4', 't.tsv', { delimiter: '\t' });
  assert.deepEqual([...tabs.values], [1, 2, 3, 4]);
  const forced = parseNumericCsv('1,2\n3,4', 'h.csv', { header: true });
  assert.deepEqual(forced.header, ['1', '2']);
  assert.equal(forced.rows, 1);
  // A quoted field may span lines; line numbers in errors still count real lines.
  assert.throws(
    () => parseNumericCsv('a,b\n"x\ny",1\n2,zz\n', 'q.csv'),
    (e: unknown) =>
      e instanceof FormatError && /line 2 \(data row 1\), column 1 'a': "x\\ny"/.test(e.message),
  );
});

test('non-numeric cells name their line, row and column', () => {
  const cases: Array<[string, RegExp]> = [
    ['x,y\n1,2\n3,abc\n', /bad\.csv: line 3 \(data row 2\), column 2 'y': "abc" is not a number/],
    ['1,2\n3,\n', /line 2 \(data row 2\), column 2: "" is not a number/], // empty is not 0
    ['1,2\n0x10,4\n', /line 2 \(data row 2\), column 1: "0x10" is not a number/],
    ['1,2\n1 2,3\n', /"1 2" is not a number/],
    ['1,2\n3,4,5\n', /line 2 has 3 cells, expected 2 like line 1/],
    ['1,"2\n', /line 1 opens a quoted field that never closes/],
    ['# only a comment\n\n', /holds no rows/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseNumericCsv(text, 'bad.csv'),
      (e: unknown) => e instanceof FormatError && pattern.test(e.message),
      text,
    );
  }
  assert.throws(() => parseNumericCsv('1', 'x', { delimiter: '"' }), UsageError);
});

test('readNumericCsv reads files and names missing ones', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-csv-'));
  const path = join(dir, 'points.csv');
  writeFileSync(path, 'x,y\n0.1,0.2\n-1,3\n');
  const table = readNumericCsv(path);
  assert.deepEqual([...tableColumn(table, 'y')], [0.2, 3]);
  writeFileSync(path, 'x,y\n0.1,oops\n');
  assert.throws(
    () => readNumericCsv(path),
    (e: unknown) => e instanceof FormatError && e.message.startsWith(`'${path}': line 2`),
  );
  assert.throws(() => readNumericCsv(join(dir, 'missing.csv')), NotFoundError);
});
