import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emojiCatalogue, emojiCategories, emojiDataset } from '../../src/data/emoji.js';
import { UsageError } from '../../src/util/errors.js';

test('emoji: 3×32×32 in [-1, 1] on white, 9 categories, names kept (load time printed)', () => {
  const start = performance.now();
  const dataset = emojiDataset();
  console.log(`emoji sheet decoded and cut in ${(performance.now() - start).toFixed(0)} ms`);
  assert.deepEqual(dataset.shape, [3, 32, 32]);
  assert.ok(dataset.size > 1800 && dataset.size < 2000, `size ${dataset.size}`);
  assert.equal(dataset.numClasses, 9);
  assert.equal(dataset.classNames![0], 'Smileys & Emotion');
  assert.ok(!dataset.classNames!.includes('Component'));
  assert.equal(dataset.entries.length, dataset.size);
  // The catalogue's first emoji is the grinning face.
  assert.equal(dataset.entries[0].shortName, 'grinning');
  assert.equal(dataset.caption(0), 'grinning face (Smileys & Emotion)');

  const all = dataset.batch(Int32Array.from({ length: dataset.size }, (_, i) => i));
  const perClass = new Array<number>(9).fill(0);
  for (const label of all.labels!) perClass[label]++;
  assert.ok(
    perClass.every((n) => n >= 50),
    `every category is populated: ${perClass}`,
  );
  let min = Infinity;
  let max = -Infinity;
  for (const v of all.x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.equal(min, -1);
  assert.equal(max, 1);
  // Corners are the white background in nearly every glyph (flags and a few squares fill the tile).
  const plane = 32 * 32;
  let whiteCorners = 0;
  for (let i = 0; i < dataset.size; i++) {
    const base = i * 3 * plane;
    if ([0, 1, 2].every((c) => all.x[base + c * plane] === 1)) whiteCorners++;
  }
  assert.ok(whiteCorners / dataset.size > 0.9, `white corners ${whiteCorners}`);
  // The grinning face is yellow in its centre: red and green high, blue low.
  const centre = 16 * 32 + 16;
  const [r, g, b] = [0, 1, 2].map((c) => all.x[c * plane + centre]);
  assert.ok(r > 0.8 && g > 0.2 && b < -0.5, `grinning face centre ${[r, g, b]}`);
});

test('emoji: other sizes, category filters, determinism, errors', () => {
  const small = emojiDataset({ imageSize: 16, categories: ['Flags'] });
  assert.deepEqual(small.shape, [3, 16, 16]);
  const flagLabel = emojiCategories().indexOf('Flags');
  assert.ok(small.batch([0, 5, 9]).labels!.every((label) => label === flagLabel));
  assert.equal(small.size, emojiCatalogue().filter((e) => e.category === 'Flags').length);
  const again = emojiDataset({ imageSize: 16, categories: ['Flags'] });
  assert.deepEqual(again.batch([3]).x, small.batch([3]).x);
  const resized = emojiDataset({ imageSize: 24, categories: ['Smileys & Emotion'] });
  assert.deepEqual(resized.shape, [3, 24, 24]);
  assert.ok(resized.batch([0]).x.every((v) => v >= -1 && v <= 1));
  assert.throws(
    () => emojiDataset({ categories: ['Smileys'] }),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /unknown emoji category 'Smileys'.*Smileys & Emotion/);
      return true;
    },
  );
  assert.throws(() => emojiDataset({ imageSize: 100 }), /option 'imageSize'/);
});
