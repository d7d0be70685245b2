import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { imageFolderDataset } from '../../src/data/image-folder.js';
import { BatchIterator, resolveDataset } from '../../src/data/dataset.js';
import { blankImage, writePng, type RgbaImage } from '../../src/io/images.js';
import { FormatError, NotFoundError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const scratch = mkdtempSync(join(tmpdir(), 'image-folder-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function folder(name: string): string {
  const path = join(scratch, name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** A width×height image: left half `left`, right half `right` (RGBA). */
function halves(width: number, height: number, left: number[], right: number[]): RgbaImage {
  const image = blankImage(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) image.data.set(x < width / 2 ? left : right, (y * width + x) * 4);
  }
  return image;
}

const RED = [255, 0, 0, 255];
const BLUE = [0, 0, 255, 255];

test('a folder of class sub-folders: shape, range, sorted labels, resize + centre crop', () => {
  const root = folder('classes');
  // 'dogs' sorts before 'zebras': labels 0 and 1.
  writePng(join(root, 'zebras', 'a.png'), halves(16, 8, RED, BLUE)); // 16×8 → 8×8 after resize
  writePng(join(root, 'zebras', 'deep', 'b.png'), halves(8, 8, BLUE, RED));
  writePng(join(root, 'dogs', 'c.png'), halves(4, 4, BLUE, BLUE)); // enlarged 4 → 8
  writePng(join(root, '.hidden', 'd.png'), halves(4, 4, RED, RED));
  writeFileSync(join(root, 'dogs', 'notes.txt'), 'not an image');
  const dataset = imageFolderDataset({ path: root, imageSize: 8 });
  assert.deepEqual(dataset.shape, [3, 8, 8]);
  assert.equal(dataset.size, 3);
  assert.deepEqual(dataset.classNames, ['dogs', 'zebras']);
  assert.deepEqual(dataset.files, ['dogs/c.png', 'zebras/a.png', 'zebras/deep/b.png']);
  const batch = dataset.batch([0, 1, 2]);
  assert.deepEqual([...batch.labels!], [0, 1, 1]);
  assert.ok(batch.x.every((v) => v >= -1 && v <= 1));
  const plane = 64;
  // Example 0 is all blue: R = -1, B = +1 everywhere.
  assert.ok(batch.x.subarray(0, plane).every((v) => v === -1));
  assert.ok(batch.x.subarray(2 * plane, 3 * plane).every((v) => v === 1));
  // Example 1 is 16×8 (red | blue): its shorter side is already 8, so only the centre crop (columns
  // 4..11) applies — the left half of the crop is red, the right half blue.
  const red1 = batch.x.subarray(3 * plane, 4 * plane);
  assert.equal(red1[0], 1); // row 0, col 0: red
  assert.equal(red1[7], -1); // row 0, col 7: blue
});

test('loose images mean no labels; labels: folders then refuses them by name', () => {
  const root = folder('loose');
  writePng(join(root, 'one.png'), halves(8, 8, RED, RED));
  writePng(join(root, 'sub', 'two.png'), halves(8, 8, BLUE, BLUE));
  const dataset = imageFolderDataset({ path: root, imageSize: 4 });
  assert.equal(dataset.numClasses, undefined);
  assert.equal(dataset.batch([0, 1]).labels, undefined);
  assert.throws(
    () => imageFolderDataset({ path: root, labels: 'folders' }),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /one\.png' lies directly in/);
      return true;
    },
  );
});

test('grey images give one channel; a grey/colour mix is an error naming both files', () => {
  const grey = folder('grey');
  writePng(join(grey, 'a.png'), halves(4, 4, [10, 10, 10, 255], [200, 200, 200, 255]));
  writePng(join(grey, 'b.png'), halves(4, 4, [0, 0, 0, 255], [255, 255, 255, 255]));
  const dataset = imageFolderDataset({ path: grey, imageSize: 4 });
  assert.deepEqual(dataset.shape, [1, 4, 4]);
  assert.ok(Math.abs(dataset.batch([0]).x[0] - (2 * 10) / 255 + 1) < 1e-6);
  writePng(join(grey, 'c.png'), halves(4, 4, RED, BLUE));
  assert.throws(
    () => imageFolderDataset({ path: grey, imageSize: 4 }),
    (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.match(error.message, /'a\.png' is grey.*'c\.png' is colour/);
      assert.match(error.message, /channels: 3/);
      return true;
    },
  );
  const forced = imageFolderDataset({ path: grey, imageSize: 4, channels: 3 });
  assert.deepEqual(forced.shape, [3, 4, 4]);
  const asGrey = imageFolderDataset({ path: grey, imageSize: 4, channels: 1 });
  // Red through PIL's luma: (255·19595 + 32768) >> 16 = 76.
  assert.ok(Math.abs(asGrey.batch([2]).x[0] - ((2 * 76) / 255 - 1)) < 1e-6);
});

test('transparency is composited on white; JPEG files are read too', () => {
  const root = folder('mixed-formats');
  writePng(join(root, 'clear.png'), halves(4, 4, [0, 0, 0, 0], [255, 0, 0, 255]));
  const pixels = Buffer.alloc(8 * 8 * 4, 255);
  writeFileSync(join(root, 'white.jpg'), jpeg.encode({ data: pixels, width: 8, height: 8 }, 95).data);
  const dataset = imageFolderDataset({ path: root, imageSize: 4, channels: 3 });
  assert.deepEqual(dataset.files, ['clear.png', 'white.jpg']);
  const { x } = dataset.batch([0, 1]);
  assert.deepEqual([x[0], x[16], x[32]], [1, 1, 1], 'transparent → white');
  assert.deepEqual([x[3], x[19], x[35]], [1, -1, -1], 'opaque red stays red');
  assert.ok(
    x.subarray(48).every((v) => v > 0.98),
    'white JPEG',
  );
});

test('flip mirrors at batch time, reproducibly for a seed', () => {
  const root = folder('flip');
  writePng(join(root, 'a.png'), halves(4, 4, RED, BLUE));
  const dataset = imageFolderDataset({ path: root, imageSize: 4, flip: true });
  const run = (seed: number) => {
    const iterator = new BatchIterator(dataset, { batchSize: 1, random: new Random(seed) });
    return Array.from({ length: 16 }, () => iterator.next()!.x[0]);
  };
  const firstPixels = run(3);
  assert.deepEqual(firstPixels, run(3));
  assert.ok(firstPixels.includes(1) && firstPixels.includes(-1), 'both orientations occur');
  assert.ok(imageFolderDataset({ path: root, imageSize: 4 }).batch([0], new Random(0)).x[0] === 1);
});

test('clear errors: missing folder, empty folder, a file instead of a folder, a corrupt image', async () => {
  await assert.rejects(resolveDataset('image-folder', { path: join(scratch, 'nope') }), NotFoundError);
  const empty = folder('empty');
  writeFileSync(join(empty, 'readme.txt'), 'no images here');
  assert.throws(() => imageFolderDataset({ path: empty }), /holds no PNG or JPEG images/);
  assert.throws(() => imageFolderDataset({ path: join(empty, 'readme.txt') }), /is a file, not a folder/);
  const corrupt = folder('corrupt');
  writePng(join(corrupt, 'good.png'), halves(4, 4, RED, RED));
  writeFileSync(join(corrupt, 'bad.png'), 'this is not a PNG');
  assert.throws(
    () => imageFolderDataset({ path: corrupt }),
    (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.ok(error.message.includes(join(corrupt, 'bad.png')), error.message);
      return true;
    },
  );
  assert.throws(() => imageFolderDataset({}), /option 'path'/);
});
