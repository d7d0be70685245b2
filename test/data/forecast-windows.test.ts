import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  firstTestRow,
  forecastTable,
  forecastTrainingWindows,
  heldOutWindows,
  tableSeries,
} from '../../src/data/forecast-windows.js';

test('the weather windows come from the training rows only, standardised with their statistics', () => {
  const table = forecastTable();
  assert.equal(table.rows, 1461);
  assert.deepEqual(table.header, ['temp_max', 'temp_min', 'precipitation', 'wind']);
  const testFrom = firstTestRow(table.rows, 0.2);
  assert.equal(testFrom, 1168);
  const dataset = forecastTrainingWindows();
  assert.deepEqual(dataset.shape, [4, 32]);
  assert.equal(dataset.size, testFrom - 32 + 1);
  const series = tableSeries(table);
  const mean = series[0].subarray(0, testFrom).reduce((a, b) => a + b, 0) / testFrom;
  assert.ok(Math.abs(dataset.normalization.mean[0] - mean) < 1e-9);
  // The last training window ends on the last training row.
  assert.equal(dataset.windowStarts[dataset.size - 1] + 32, testFrom);
});

test('held-out windows: futures wholly in the tail, pasts the rows just before, values copied exactly', () => {
  const series = [
    Float64Array.from({ length: 50 }, (_, t) => t + 0.1),
    Float64Array.from({ length: 50 }, (_, t) => -t),
  ];
  const windows = heldOutWindows(series, 40, 6, 3, 2);
  assert.deepEqual([...windows.origins], [40, 42, 44, 46]);
  // Window 1 (origin 42): channel 0's past is rows 36..41 (+0.1), channel 1's future rows 42..44 (negated).
  assert.deepEqual(
    [...windows.past.subarray(12, 18)],
    [36, 37, 38, 39, 40, 41].map((t) => t + 0.1),
  );
  assert.deepEqual([...windows.past.subarray(18, 24)], [-36, -37, -38, -39, -40, -41]);
  assert.deepEqual([...windows.future.subarray(9, 12)], [-42, -43, -44]);
  assert.throws(() => heldOutWindows(series, 49, 6, 3), /no held-out window fits/);
});
