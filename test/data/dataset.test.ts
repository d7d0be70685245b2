import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchIterator,
  ByteImageDataset,
  datasetNames,
  exampleAt,
  resolveDataset,
  subsetDataset,
  TensorDataset,
  type BatchIteratorState,
  type IteratedBatch,
} from '../../src/data/dataset.js';
import { ConfigError, NotFoundError, ShapeError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

/** A dataset whose example i is [i, 10·i] with label i mod 3. */
function countingDataset(size: number): TensorDataset {
  const data = new Float32Array(size * 2);
  for (let i = 0; i < size; i++) data.set([i, 10 * i], 2 * i);
  const labels = Int32Array.from({ length: size }, (_, i) => i % 3);
  return new TensorDataset({
    name: 'counting',
    shape: [2],
    data,
    labels,
    numClasses: 3,
    description: 'test',
  });
}

function take(iterator: BatchIterator, count: number): IteratedBatch[] {
  return Array.from({ length: count }, () => iterator.next()!);
}

test('TensorDataset gathers rows and labels in index order', () => {
  const dataset = countingDataset(7);
  assert.equal(dataset.size, 7);
  const batch = dataset.batch([5, 0, 5]);
  assert.deepEqual([...batch.x], [5, 50, 0, 0, 5, 50]);
  assert.deepEqual([...batch.labels!], [2, 0, 2]);
  assert.deepEqual([...exampleAt(dataset, 3).x], [3, 30]);
  assert.throws(() => dataset.batch([7]), ShapeError);
  assert.throws(() => dataset.batch([1.5]), ShapeError);
});

test('TensorDataset rejects data that does not split into examples and labels out of range', () => {
  assert.throws(
    () => new TensorDataset({ name: 'bad', shape: [3], data: new Float32Array(7), description: '' }),
    ShapeError,
  );
  assert.throws(
    () =>
      new TensorDataset({
        name: 'bad',
        shape: [1],
        data: new Float32Array(2),
        labels: Int32Array.from([0, 3]),
        numClasses: 3,
        description: '',
      }),
    /label 3 outside 0..2/,
  );
});

test('the iterator serves each index exactly once per epoch, in a new order each epoch', () => {
  const dataset = countingDataset(23);
  const iterator = new BatchIterator(dataset, { batchSize: 5, random: new Random(1), dropLast: false });
  assert.equal(iterator.batchesPerEpoch, 5);
  const orders: number[][] = [];
  for (let epoch = 0; epoch < 3; epoch++) {
    const batches = take(iterator, 5);
    assert.deepEqual(
      batches.map((b) => b.indices.length),
      [5, 5, 5, 5, 3],
    );
    assert.ok(batches.every((b) => b.epoch === epoch));
    const order = batches.flatMap((b) => [...b.indices]);
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      [...Array(23).keys()],
    );
    orders.push(order);
    // The data matches the indices.
    for (const b of batches)
      assert.deepEqual(
        [...b.x].filter((_, j) => j % 2 === 0),
        [...b.indices],
      );
  }
  assert.notDeepEqual(orders[0], orders[1]);
  assert.notDeepEqual(orders[1], orders[2]);
});

test('dropLast skips the incomplete batch; every batch has batchSize distinct examples', () => {
  const iterator = new BatchIterator(countingDataset(23), { batchSize: 5, random: new Random(2) });
  assert.equal(iterator.batchesPerEpoch, 4);
  const batches = take(iterator, 8);
  assert.ok(batches.every((b) => b.indices.length === 5));
  assert.deepEqual(
    batches.map((b) => b.epoch),
    [0, 0, 0, 0, 1, 1, 1, 1],
  );
  const firstEpoch = new Set(batches.slice(0, 4).flatMap((b) => [...b.indices]));
  assert.equal(firstEpoch.size, 20);
});

test('the same seed gives the same batches; shuffle: false serves 0..n-1', () => {
  const a = take(new BatchIterator(countingDataset(50), { batchSize: 8, random: new Random(9) }), 12);
  const b = take(new BatchIterator(countingDataset(50), { batchSize: 8, random: new Random(9) }), 12);
  assert.deepEqual(
    a.map((x) => [...x.indices]),
    b.map((x) => [...x.indices]),
  );
  const c = take(new BatchIterator(countingDataset(50), { batchSize: 8, random: new Random(10) }), 1);
  assert.notDeepEqual([...a[0].indices], [...c[0].indices]);
  const ordered = new BatchIterator(countingDataset(10), {
    batchSize: 4,
    random: new Random(0),
    shuffle: false,
  });
  assert.deepEqual([...ordered.next()!.indices], [0, 1, 2, 3]);
});

test('epochs limits the run; the iterator is iterable', () => {
  const iterator = new BatchIterator(countingDataset(10), {
    batchSize: 3,
    random: new Random(3),
    dropLast: false,
    epochs: 2,
  });
  const all = [...iterator];
  assert.equal(all.length, 8);
  assert.equal(iterator.next(), null);
  assert.equal(iterator.next(), null);
});

/** Images whose pixels encode (image, row, col), flipped at random when gathered. */
function flippingImages(): ByteImageDataset {
  const size = 12;
  const pixels = new Uint8Array(size * 1 * 2 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = i % 251;
  return new ByteImageDataset({ name: 'flip', shape: [1, 2, 3], pixels, description: 'test', flip: true });
}

test('a resumed iterator continues exactly, mid-epoch and at an epoch boundary, augmentation included', () => {
  const dataset = flippingImages();
  for (const stopAfter of [3, 4, 5, 9]) {
    const reference = new BatchIterator(dataset, { batchSize: 3, random: new Random(77) });
    const expected = take(reference, 14);
    const first = new BatchIterator(dataset, { batchSize: 3, random: new Random(77) });
    take(first, stopAfter);
    const saved = JSON.parse(JSON.stringify(first.state())) as BatchIteratorState;
    const resumed = new BatchIterator(dataset, { batchSize: 3, resumeFrom: saved });
    const rest = take(resumed, 14 - stopAfter);
    rest.forEach((batch, k) => {
      const want = expected[stopAfter + k];
      assert.deepEqual(
        [...batch.indices],
        [...want.indices],
        `batch ${stopAfter + k} after resume at ${stopAfter}`,
      );
      assert.equal(batch.epoch, want.epoch);
      assert.deepEqual(batch.x, want.x);
    });
  }
});

test('a resume state from another dataset size is rejected', () => {
  const iterator = new BatchIterator(countingDataset(10), { batchSize: 2, random: new Random(0) });
  take(iterator, 4);
  assert.throws(
    () =>
      new BatchIterator(countingDataset(5), {
        batchSize: 2,
        random: new Random(0),
        resumeFrom: iterator.state(),
      }),
    ConfigError,
  );
});

test('iterator options are validated', () => {
  const dataset = countingDataset(4);
  assert.throws(() => new BatchIterator(dataset, { batchSize: 0, random: new Random(0) }), ConfigError);
  assert.throws(
    () => new BatchIterator(dataset, { batchSize: 5, random: new Random(0) }),
    /larger than dataset/,
  );
  assert.doesNotThrow(
    () => new BatchIterator(dataset, { batchSize: 5, random: new Random(0), dropLast: false }),
  );
  assert.throws(
    () => new BatchIterator(dataset, { batchSize: 2, random: new Random(0), epochs: 0 }),
    ConfigError,
  );
  assert.throws(() => new BatchIterator(dataset, { batchSize: 2 }), /needs a Random/);
});

test('ByteImageDataset maps bytes to [-1, 1] and a flip mirrors each row', () => {
  const pixels = Uint8Array.from([0, 255, 51, 102, 153, 204]);
  const plain = new ByteImageDataset({ name: 'p', shape: [1, 2, 3], pixels, description: '' });
  const expected = [...plain.batch([0], new Random(0)).x];
  [...pixels].forEach((b, i) => assert.ok(Math.abs(expected[i] - (b / 127.5 - 1)) < 1e-7));
  assert.deepEqual([expected[0], expected[1]], [-1, 1]);
  const flipped = new ByteImageDataset({ name: 'f', shape: [1, 2, 3], pixels, description: '', flip: true });
  const mirrored = [expected[2], expected[1], expected[0], expected[5], expected[4], expected[3]];
  const seen = new Set<string>();
  const random = new Random(4);
  for (let i = 0; i < 20; i++) seen.add(JSON.stringify([...flipped.batch([0], random).x]));
  assert.deepEqual([...seen].sort(), [JSON.stringify(expected), JSON.stringify(mirrored)].sort());
  // Without a generator there is no augmentation.
  assert.deepEqual([...flipped.batch([0]).x], expected);
});

test('subsetDataset re-indexes another dataset', () => {
  const subset = subsetDataset(countingDataset(10), Int32Array.from([7, 2, 9]), 'counting:subset');
  assert.equal(subset.size, 3);
  assert.deepEqual([...subset.batch([2, 0]).x], [9, 90, 7, 70]);
  assert.deepEqual([...subset.batch([1]).labels!], [2]);
  assert.throws(() => subset.batch([3]), ShapeError);
});

test('resolveDataset builds a named dataset and names the valid choices otherwise', async () => {
  const moons = await resolveDataset('moons', { size: 100, seed: 1 });
  assert.equal(moons.size, 100);
  assert.deepEqual(moons.shape, [2]);
  assert.equal(moons.numClasses, 2);
  await assert.rejects(resolveDataset('mnsit'), (error: unknown) => {
    assert.ok(error instanceof NotFoundError);
    assert.match(error.message, /unknown dataset 'mnsit'/);
    for (const name of ['mnist', 'moons', 'emoji', 'image-folder', 'timeseries', 'audio-folder']) {
      assert.ok(error.message.includes(name), name);
    }
    return true;
  });
  assert.ok(datasetNames().includes('gaussian-mixture'));
  await assert.rejects(resolveDataset('moons', { sise: 10 }), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /unknown option\(s\) 'sise'/);
    return true;
  });
  await assert.rejects(resolveDataset('moons', { size: -3 }), /option 'size'/);
});
