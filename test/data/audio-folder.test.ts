import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { audioFolderDataset } from '../../src/data/audio-folder.js';
import { BatchIterator } from '../../src/data/dataset.js';
import { writeWav } from '../../src/io/audio.js';
import { FormatError, NotFoundError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const scratch = mkdtempSync(join(tmpdir(), 'audio-folder-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A ramp k/1024 for k = start .. start + count − 1 (exact in 16-bit PCM). */
function ramp(start: number, count: number): Float32Array {
  return Float32Array.from({ length: count }, (_, k) => (start + k) / 1024);
}

test('clips become mono, fixed length: cropped from the start or centre, padded with silence', () => {
  const root = join(scratch, 'basic');
  writeWav(join(root, 'drums', 'long.wav'), ramp(0, 12), 8000);
  writeWav(join(root, 'voice', 'short.wav'), ramp(100, 3), 8000);
  // Stereo: mono is the average of the channels.
  writeWav(join(root, 'voice', 'stereo.wav'), [ramp(0, 8), ramp(8, 8)], 8000);
  const dataset = audioFolderDataset({ path: root, length: 8 });
  assert.deepEqual(dataset.shape, [1, 8]);
  assert.equal(dataset.sampleRate, 8000);
  assert.deepEqual(dataset.files, ['drums/long.wav', 'voice/short.wav', 'voice/stereo.wav']);
  assert.deepEqual(dataset.classNames, ['drums', 'voice']);
  const { x, labels } = dataset.batch([0, 1, 2]);
  assert.deepEqual([...labels!], [0, 1, 1]);
  assert.deepEqual([...x.subarray(0, 8)], [...ramp(0, 8)]);
  assert.deepEqual([...x.subarray(8, 16)], [...ramp(100, 3), 0, 0, 0, 0, 0]);
  assert.deepEqual([...x.subarray(16, 24)], [...ramp(4, 8)]);
  const centred = audioFolderDataset({ path: root, length: 8, crop: 'center' });
  assert.deepEqual([...centred.batch([0]).x], [...ramp(2, 8)]);
});

test('random crops are drawn at batch time and reproducible for a seed', () => {
  const root = join(scratch, 'random');
  writeWav(join(root, 'a.wav'), ramp(0, 40), 16000);
  const dataset = audioFolderDataset({ path: root, length: 4, crop: 'random' });
  const offsets = (seed: number) => {
    const iterator = new BatchIterator(dataset, { batchSize: 1, random: new Random(seed) });
    return Array.from({ length: 30 }, () => iterator.next()!.x[0] * 1024);
  };
  const first = offsets(8);
  assert.deepEqual(first, offsets(8));
  assert.ok(new Set(first).size > 10, 'many different offsets');
  assert.ok(first.every((o) => Number.isInteger(o) && o >= 0 && o <= 36));
  for (let i = 0; i < 30; i++) {
    const window = dataset.batch([0], new Random(i)).x;
    assert.deepEqual([...window], [...ramp(window[0] * 1024, 4)], 'a contiguous crop');
  }
  assert.equal(dataset.batch([0]).x[0], 18 / 1024, 'no generator: centre crop');
});

test('sample rates must agree: the option, or the first file; errors name the file', () => {
  const root = join(scratch, 'rates');
  writeWav(join(root, 'a.wav'), ramp(0, 4), 16000);
  writeWav(join(root, 'b.wav'), ramp(0, 4), 22050);
  assert.throws(
    () => audioFolderDataset({ path: root, length: 4 }),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /b\.wav' is sampled at 22050 Hz, expected 16000 Hz/);
      return true;
    },
  );
  assert.throws(
    () => audioFolderDataset({ path: root, length: 4, sampleRate: 22050 }),
    /a\.wav' is sampled at 16000/,
  );
});

test('errors: empty folder, corrupt WAV, files directly in the root with labels: folders', () => {
  const empty = join(scratch, 'empty');
  writeWav(join(empty, 'nested', '.hidden.wav'), ramp(0, 4), 8000);
  assert.throws(
    () => audioFolderDataset({ path: empty }),
    (error: unknown) => {
      assert.ok(error instanceof NotFoundError);
      assert.match(error.message, /holds no WAV files/);
      return true;
    },
  );
  const corrupt = join(scratch, 'corrupt');
  writeWav(join(corrupt, 'ok.wav'), ramp(0, 4), 8000);
  writeFileSync(join(corrupt, 'broken.wav'), 'RIFF....not audio');
  assert.throws(
    () => audioFolderDataset({ path: corrupt, length: 4 }),
    (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.ok(error.message.includes('broken.wav'), error.message);
      return true;
    },
  );
  const loose = join(scratch, 'loose');
  writeWav(join(loose, 'x.wav'), ramp(0, 4), 8000);
  assert.equal(audioFolderDataset({ path: loose, length: 4 }).numClasses, undefined);
  assert.throws(
    () => audioFolderDataset({ path: loose, length: 4, labels: 'folders' }),
    /x\.wav' lies directly/,
  );
});
