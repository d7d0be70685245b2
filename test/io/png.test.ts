import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import {
  decodeImage,
  decodeJpeg,
  decodePng,
  encodePng,
  readImage,
  readPng,
  writePng,
  type RgbaImage,
} from '../../src/io/images.js';
import { FormatError, NotFoundError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

/** Fixtures written by Pillow 9.4 (libpng / libjpeg-turbo), so decoding is checked against other encoders. */
const PILLOW_GREY16 =
  'iVBORw0KGgoAAAANSUhEUgAAAAMAAAABEAAAAABuG5crAAAAD0lEQVR4nGNgYEhJ+f8fAAXAAscdOXl0AAAAAElFTkSuQmCC';
const PILLOW_PALETTE =
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACAgMAAAAP2OW3AAAADFBMVEX/AAAA/wAAAP8KFB4iiCkEAAAABHRSTlP///8AQCqp9AAAAAxJREFUeJxjEGDYAAAA5ADBJ6joVwAAAABJRU5ErkJggg==';
const PILLOW_JPEG =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wAARCAAIABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD5HqxRRX7V9Ej/AJnX/ct/7nP0z6dn/NPf9zf/ALrH/9k=';

const bytesOf = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const pixel = (image: RgbaImage, x: number, y: number) => [
  ...image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 4),
];

function randomImage(width: number, height: number, kind: 'rgba' | 'rgb' | 'grey' | 'grey-alpha'): RgbaImage {
  const rng = new Random(width * 1000 + height);
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [rng.int(256), rng.int(256), rng.int(256), rng.int(256)];
    const grey = kind === 'grey' || kind === 'grey-alpha';
    data.set([r, grey ? r : g, grey ? r : b, kind === 'rgb' || kind === 'grey' ? 255 : a], i);
  }
  return { width, height, data };
}

test('PNG round trip is exact for 8-bit data and picks the smallest lossless colour type', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-png-'));
  const expectedColorType = { rgba: 6, rgb: 2, grey: 0, 'grey-alpha': 4 } as const;
  for (const kind of ['rgba', 'rgb', 'grey', 'grey-alpha'] as const) {
    const image = randomImage(37, 11, kind);
    const path = join(dir, `${kind}.png`);
    writePng(path, image);
    const back = readPng(path);
    assert.equal(back.width, 37);
    assert.equal(back.height, 11);
    assert.deepEqual(back.data, image.data, kind);
    assert.equal(encodePng(image)[25], expectedColorType[kind], `${kind} colour type`); // IHDR byte
  }
  assert.equal(readdirSync(dir).length, 4); // no temporary files left behind
});

test('PNGs from another encoder decode: 16-bit grey and palette with transparency', () => {
  const grey = decodePng(bytesOf(PILLOW_GREY16));
  assert.equal(grey.width, 3);
  // 16-bit samples scale to 8 bits: 0 → 0, 25700 = 100·257 → 100, 65535 → 255.
  assert.deepEqual(
    [pixel(grey, 0, 0), pixel(grey, 1, 0), pixel(grey, 2, 0)],
    [
      [0, 0, 0, 255],
      [100, 100, 100, 255],
      [255, 255, 255, 255],
    ],
  );
  const palette = decodePng(bytesOf(PILLOW_PALETTE));
  assert.deepEqual(
    [pixel(palette, 0, 0), pixel(palette, 1, 0), pixel(palette, 0, 1), pixel(palette, 1, 1)],
    [
      [255, 0, 0, 255],
      [0, 255, 0, 255],
      [0, 0, 255, 255],
      [10, 20, 30, 0],
    ],
  );
});

test('a real emoji PNG from a data-set package decodes to its declared size', () => {
  const require = createRequire(import.meta.url);
  const dir = join(require.resolve('emoji-datasource-google/package.json'), '..', 'img', 'google', '64');
  const image = readImage(join(dir, readdirSync(dir).sort()[0]));
  assert.equal(image.width, 64);
  assert.equal(image.height, 64);
  assert.equal(image.data.length, 64 * 64 * 4);
  assert.equal(pixel(image, 0, 0)[3], 0); // emoji corners are transparent
  assert.ok(image.data.some((v, i) => i % 4 === 3 && v === 255));
});

test('JPEG from libjpeg decodes within 2 levels of libjpeg, and readImage sniffs the format', () => {
  const jpeg = bytesOf(PILLOW_JPEG);
  const image = decodeJpeg(jpeg);
  assert.equal(image.width, 16);
  assert.equal(image.height, 8);
  // Pillow (libjpeg-turbo) decodes these pixels to the values below.
  const expected: Array<[number, number, number[]]> = [
    [0, 0, [200, 30, 39]],
    [15, 0, [20, 90, 220]],
    [3, 7, [200, 30, 39]],
    [12, 4, [20, 90, 220]],
  ];
  for (const [x, y, rgb] of expected) {
    const got = pixel(image, x, y);
    rgb.forEach((v, c) => assert.ok(Math.abs(got[c] - v) <= 2, `(${x},${y}) ${got} vs ${rgb}`));
    assert.equal(got[3], 255);
  }
  const dir = mkdtempSync(join(tmpdir(), 'dts-jpg-'));
  writeFileSync(join(dir, 'photo.png'), jpeg); // a misleading name: content decides
  assert.deepEqual(readImage(join(dir, 'photo.png')), image);
});

test('corrupt or hostile images are FormatErrors naming the file, before large allocations', () => {
  const good = encodePng(randomImage(8, 8, 'rgb'));
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(16, 100_000); // IHDR width
  new DataView(huge.buffer).setUint32(20, 100_000); // IHDR height
  const badCrc = good.slice();
  badCrc[good.length - 20] ^= 0xff;
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['not an image', new TextEncoder().encode('hello world'), /neither a PNG nor a JPEG/],
    ['truncated PNG', good.subarray(0, 20), /truncated or lacks its IHDR/],
    ['cut PNG', good.subarray(0, good.length - 30), /not a valid PNG/],
    ['huge PNG', huge, /100000×100000 pixels exceeds the limit/],
    ['damaged PNG', badCrc, /not a valid PNG/],
    ['cut JPEG', bytesOf(PILLOW_JPEG).subarray(0, 300), /not a valid JPEG/],
  ];
  for (const [what, bytes, pattern] of cases) {
    assert.throws(
      () => decodeImage(bytes, 'upload.bin'),
      (e: unknown) =>
        e instanceof FormatError && e.message.startsWith('upload.bin') && pattern.test(e.message),
      what,
    );
  }
  assert.throws(() => readImage('/nonexistent/x.png'), NotFoundError);
});
