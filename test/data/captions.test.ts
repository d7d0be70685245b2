// Captioned datasets: mnist-captions and emoji-captions resolve by name, hold one caption per example,
// name the example's digit or emoji, carry captions in batches and subsets, and are deterministic per
// (seed, index).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDataset, subsetDataset, BatchIterator } from '../../src/data/dataset.js';
import {
  captionedDataset,
  DIGIT_WORDS,
  emojiCaption,
  emojiNames,
  MNIST_CAPTION_TEMPLATES,
  mnistCaption,
} from '../../src/data/captions.js';
import { emojiCatalogue } from '../../src/data/emoji.js';
import { TensorDataset } from '../../src/data/dataset.js';
import { ShapeError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

/** The digit a caption names, by word or by numeral; -1 if none or several. */
function digitNamed(caption: string): number {
  const found = new Set<number>();
  DIGIT_WORDS.forEach((word, d) => {
    if (new RegExp(`\\b${word}\\b`).test(caption)) found.add(d);
  });
  for (const match of caption.matchAll(/\b\d\b/g)) found.add(Number(match[0]));
  return found.size === 1 ? [...found][0] : -1;
}

describe('mnist-captions', () => {
  it('captions every digit with a template that names its label, deterministically per seed', async () => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test' });
    assert.equal(dataset.size, 1000);
    assert.equal(dataset.name, 'mnist-captions:test');
    assert.equal(dataset.captions!.length, 1000);
    const batch = dataset.batch(Int32Array.from({ length: 1000 }, (_, i) => i));
    batch.labels!.forEach((label, i) => {
      assert.equal(
        digitNamed(batch.captions![i]),
        label,
        `caption '${batch.captions![i]}' for label ${label}`,
      );
    });
    const used = new Set(
      dataset.captions!.map((c) =>
        c.replace(/\b(\d|zero|one|two|three|four|five|six|seven|eight|nine)\b/g, '#'),
      ),
    );
    assert.ok(used.size >= MNIST_CAPTION_TEMPLATES.length, `${used.size} distinct templates used`);
    const again = await resolveDataset('mnist-captions', { split: 'test' });
    assert.deepEqual(again.captions, dataset.captions);
    const reseeded = await resolveDataset('mnist-captions', { split: 'test', seed: 1 });
    const differing = reseeded.captions!.filter((c, i) => c !== dataset.captions![i]).length;
    assert.ok(differing > 700, `${differing} of 1000 captions change with the seed`);
    assert.equal(mnistCaption(7, 0, 0), mnistCaption(7, 0, 0));
    assert.ok(MNIST_CAPTION_TEMPLATES.some((t) => t('seven', 7) === 'a handwritten seven'));
    assert.ok(MNIST_CAPTION_TEMPLATES.some((t) => t('eight', 8) === 'a sketch of an eight'));
    // The article follows the sound: "a one", never "an one".
    assert.ok(MNIST_CAPTION_TEMPLATES.some((t) => t('one', 1) === 'a sketch of a one'));
    assert.ok(MNIST_CAPTION_TEMPLATES.every((t) => !t('one', 1).includes('an one')));
  });

  it('hands captions out with batches, subsets and the batch iterator, and rejects unknown options', async () => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test', imageSize: 32 });
    assert.deepEqual(dataset.shape, [1, 32, 32]);
    const batch = dataset.batch([5, 2]);
    assert.deepEqual(batch.captions, [dataset.captions![5], dataset.captions![2]]);
    const subset = subsetDataset(dataset, Int32Array.from([9, 4]), 'few');
    assert.deepEqual(subset.captions, [dataset.captions![9], dataset.captions![4]]);
    assert.deepEqual(subset.batch([1]).captions, [dataset.captions![4]]);
    const iterator = new BatchIterator(dataset, { batchSize: 4, random: new Random(0) });
    const served = iterator.next()!;
    assert.deepEqual(
      served.captions,
      Array.from(served.indices, (i) => dataset.captions![i]),
    );
    await assert.rejects(resolveDataset('mnist-captions', { colour: true }), UsageError);
    await assert.rejects(resolveDataset('mnist-captions', { seed: 0.5 }), UsageError);
  });
});

describe('emoji-captions', () => {
  it('captions each emoji with one of its names; labels stay the categories', async () => {
    const dataset = await resolveDataset('emoji-captions', { imageSize: 16 });
    const catalogue = emojiCatalogue();
    assert.equal(dataset.size, catalogue.length);
    assert.equal(dataset.captions!.length, dataset.size);
    const categories = dataset.classNames!;
    const batch = dataset.batch(Int32Array.from({ length: dataset.size }, (_, i) => i));
    catalogue.forEach((entry, i) => {
      const caption = batch.captions![i];
      assert.ok(
        emojiNames(entry).some((name) => caption.includes(name)),
        `caption '${caption}' does not name ${entry.shortName}`,
      );
      assert.equal(categories[batch.labels![i]], entry.category);
    });
    assert.equal(dataset.captions![0].includes('grinning'), true);
    assert.deepEqual(emojiNames(catalogue[0]), ['grinning face', 'grinning']);
    const again = await resolveDataset('emoji-captions', { imageSize: 16 });
    assert.deepEqual(again.captions, dataset.captions);
    assert.equal(emojiCaption(catalogue[3], 3, 5), emojiCaption(catalogue[3], 3, 5));
  });
});

describe('captionedDataset', () => {
  it('needs exactly one caption per example', () => {
    const base = new TensorDataset({
      name: 'points',
      shape: [2],
      data: new Float32Array(6),
      description: 'p',
    });
    assert.throws(() => captionedDataset(base, ['a', 'b']), ShapeError);
    const captioned = captionedDataset(base, ['a', 'b', 'c']);
    assert.deepEqual(captioned.batch([2, 0]).captions, ['c', 'a']);
    assert.throws(() => captioned.batch([3]), ShapeError);
  });
});
