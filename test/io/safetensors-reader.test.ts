// Reading safetensors files tensor by tensor through the file descriptor: the header is validated
// before any data is read, each tensor is upcast on its own, and the results equal a whole-file parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openSafetensorsFile,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
} from '../../src/io/safetensors.js';
import { halfToFloat, floatToHalf } from '../../src/io/float16.js';
import { loadWeights } from '../../src/models/weights.js';
import { FormatError, NotFoundError } from '../../src/util/errors.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'st-reader-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const values = Float32Array.from({ length: 12 }, (_, i) => (i - 5) * 0.3171);

test('reads the header first, then each tensor on demand, upcasting F16 and BF16', () => {
  withDir((dir) => {
    const path = join(dir, 'w.safetensors');
    const bytes = serializeSafetensors({
      half: { shape: [3, 4], data: values, dtype: 'F16' },
      brain: { shape: [12], data: values, dtype: 'BF16' },
      full: { shape: [2, 6], data: values },
      ids: { shape: [2], data: BigInt64Array.of(7n, -1n) },
    });
    writeFileSync(path, bytes);
    const reader = openSafetensorsFile(path);
    try {
      assert.deepEqual([...reader.entries.keys()].sort(), ['brain', 'full', 'half', 'ids']);
      assert.deepEqual(reader.entries.get('half')?.shape, [3, 4]);
      assert.equal(reader.entries.get('brain')?.dtype, 'BF16');
      const half = reader.read('half');
      assert.ok(half.data instanceof Float32Array);
      assert.deepEqual(half.data, halfToFloat(floatToHalf(values)));
      assert.deepEqual(reader.read('full').data, values);
      assert.deepEqual(reader.read('ids').data, BigInt64Array.of(7n, -1n));
      const brain = reader.read('brain').data as Float32Array;
      brain.forEach((v, i) => assert.ok(Math.abs(v - values[i]) <= Math.abs(values[i]) / 128));
      assert.throws(() => reader.read('absent'), FormatError);
    } finally {
      reader.close();
    }
    assert.deepEqual(readSafetensorsFile(path), parseSafetensors(bytes));
  });
});

test('a truncated file fails on the header check, naming the path, before reading data', () => {
  withDir((dir) => {
    const path = join(dir, 'w.safetensors');
    writeFileSync(path, serializeSafetensors({ a: { shape: [64], data: new Float32Array(64) } }));
    truncateSync(path, readFileSync(path).length - 4);
    assert.throws(
      () => openSafetensorsFile(path),
      (e: unknown) =>
        e instanceof FormatError && e.message.startsWith(path) && /data ends at byte 256/.test(e.message),
    );
    assert.throws(() => openSafetensorsFile(join(dir, 'missing.safetensors')), NotFoundError);
    assert.throws(() => openSafetensorsFile(dir), NotFoundError);
  });
});

test('loadWeights takes F16 files and rejects a mismatch from the header alone', () => {
  withDir((dir) => {
    const path = join(dir, 'w.safetensors');
    writeFileSync(
      path,
      serializeSafetensors({ 'conv.weight': { shape: [3, 4], data: values } }, {}, { floatDType: 'F16' }),
    );
    const params = loadWeights(path, { 'conv.weight': { shape: [3, 4], dtype: 'float32' } });
    assert.deepEqual(params['conv.weight'].data, halfToFloat(floatToHalf(values)));
    assert.throws(
      () => loadWeights(path, { 'conv.weight': { shape: [4, 3], dtype: 'float32' } }),
      /'conv.weight' has shape \[3, 4\], expected \[4, 3\]/,
    );
  });
});
