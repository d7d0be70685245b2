import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { columnStatistics, timeSeriesDataset, timeSeriesFromTable } from '../../src/data/timeseries.js';
import { resolveDataset } from '../../src/data/dataset.js';
import { parseNumericCsv } from '../../src/io/csv.js';
import { ConfigError, FormatError, UsageError } from '../../src/util/errors.js';

const scratch = mkdtempSync(join(tmpdir(), 'timeseries-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** 20 rows: t = 0..19, a = t, b = 100 + 2t, c = 7 (constant). */
function csvText(): string {
  const rows = Array.from({ length: 20 }, (_, t) => `${t},${100 + 2 * t},7`);
  return ['a,b,c', ...rows].join('\n');
}

test('sliding windows: count, channel-first layout, standardisation with returned statistics', async () => {
  const path = join(scratch, 'series.csv');
  writeFileSync(path, csvText());
  const dataset = (await resolveDataset('timeseries', { path, windowLength: 5, stride: 3 })) as ReturnType<
    typeof timeSeriesDataset
  >;
  // ⌊(20 − 5)/3⌋ + 1 = 6 windows starting at rows 0, 3, …, 15.
  assert.equal(dataset.size, 6);
  assert.deepEqual(dataset.shape, [3, 5]);
  assert.deepEqual([...dataset.windowStarts], [0, 3, 6, 9, 12, 15]);
  const meanA = 9.5;
  const stdA = Math.sqrt((20 * 20 - 1) / 12); // population std of 0..19
  assert.deepEqual(dataset.normalization.columns, ['a', 'b', 'c']);
  assert.ok(Math.abs(dataset.normalization.mean[0] - meanA) < 1e-12);
  assert.ok(Math.abs(dataset.normalization.std[0] - stdA) < 1e-12);
  assert.ok(Math.abs(dataset.normalization.std[1] - 2 * stdA) < 1e-12);
  assert.deepEqual([dataset.normalization.mean[2], dataset.normalization.std[2]], [7, 1], 'constant column');
  const { x } = dataset.batch([1]); // window starting at row 3
  for (let i = 0; i < 5; i++) {
    const t = 3 + i;
    assert.ok(Math.abs(x[i] - (t - meanA) / stdA) < 1e-6, 'channel a');
    assert.ok(Math.abs(x[5 + i] - (t - meanA) / stdA) < 1e-6, 'channel b standardises to the same');
    assert.equal(x[10 + i], 0, 'channel c centred');
  }
  const restored = dataset.denormalize(x.slice());
  assert.ok(Math.abs(restored[5] - 106) < 1e-4 && Math.abs(restored[14] - 7) < 1e-6);
  // The whole dataset has mean 0 and std 1 per standardised channel (windows cover all rows evenly
  // enough with stride 1).
  const full = timeSeriesDataset({ path, windowLength: 1, columns: ['b'] });
  const values = [...full.batch([...full.windowStarts.keys()]).x];
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  assert.ok(Math.abs(mean) < 1e-6 && Math.abs(std - 1) < 1e-6);
});

test('chronological split: statistics from the training rows only; stored statistics are reused', () => {
  const table = parseNumericCsv(csvText(), 'test table');
  const options = { columns: ['a'], windowLength: 2, stride: 2, testFraction: 0.25 };
  const train = timeSeriesFromTable(table, { ...options, split: 'train' });
  const held = timeSeriesFromTable(table, { ...options, split: 'test' });
  // 15 training rows (0..14), 5 test rows (15..19).
  assert.deepEqual([...train.windowStarts], [0, 2, 4, 6, 8, 10, 12]);
  assert.deepEqual([...held.windowStarts], [15, 17]);
  assert.equal(train.normalization.mean[0], 7);
  assert.deepEqual(held.normalization, train.normalization, 'test part uses the training statistics');
  const reused = timeSeriesFromTable(table, {
    columns: ['a'],
    windowLength: 2,
    normalization: train.normalization,
  });
  assert.ok(Math.abs(reused.batch([0]).x[0] - (0 - 7) / train.normalization.std[0]) < 1e-6);
  assert.throws(
    () => timeSeriesFromTable(table, { columns: ['b'], windowLength: 2, normalization: train.normalization }),
    (error: unknown) =>
      error instanceof UsageError && /stored normalisation is for columns \[a\]/.test(error.message),
  );
  const raw = timeSeriesFromTable(table, { columns: [1], windowLength: 3, normalize: 'none' });
  assert.deepEqual([...raw.batch([2]).x], [104, 106, 108]);
});

test('errors: window longer than the series, missing values, unknown column', () => {
  const table = parseNumericCsv(csvText(), 'test table');
  assert.throws(() => timeSeriesFromTable(table, { windowLength: 21 }), ConfigError);
  assert.throws(
    () => timeSeriesFromTable(table, { windowLength: 5, split: 'test' }),
    /'test' part has 2 rows/,
  );
  const gappy = parseNumericCsv('a,b\n1,2\n3,nan\n5,6', 'gappy.csv');
  assert.throws(
    () => timeSeriesFromTable(gappy, { windowLength: 2 }),
    (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.match(error.message, /column 'b' is NaN in data row 2/);
      return true;
    },
  );
  assert.throws(() => timeSeriesFromTable(table, { columns: ['z'], windowLength: 2 }), /no column "z"/);
  assert.throws(() => timeSeriesFromTable(table, { windowLength: 0 }), /option 'windowLength'/);
  assert.deepEqual(columnStatistics([Float64Array.from([1, 3])], 2), { mean: [2], std: [1] });
});
