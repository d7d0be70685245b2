import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGif, writeGif, type RgbaImage } from '../../src/io/images.js';
import { ShapeError } from '../../src/util/errors.js';

interface ParsedGif {
  width: number;
  height: number;
  globalPalette: number[][];
  loopCount: number | undefined;
  frames: Array<{ delayCs: number; indices: Uint8Array; width: number; height: number }>;
}

/** A small independent GIF reader: block structure, NETSCAPE loop, delays and LZW pixel data. */
function parseGif(bytes: Uint8Array): ParsedGif {
  let p = 0;
  const u8 = () => bytes[p++];
  const u16 = () => bytes[p++] | (bytes[p++] << 8);
  const subBlocks = () => {
    const parts: number[] = [];
    for (let size = u8(); size !== 0; size = u8()) for (let i = 0; i < size; i++) parts.push(u8());
    return parts;
  };
  const signature = String.fromCharCode(...bytes.subarray(0, 6));
  assert.equal(signature, 'GIF89a');
  p = 6;
  const width = u16();
  const height = u16();
  const packed = u8();
  p += 2; // background index, aspect ratio
  const table = (flags: number) => Array.from({ length: 2 << (flags & 7) }, () => [u8(), u8(), u8()]);
  const globalPalette = packed & 0x80 ? table(packed) : [];
  const frames: ParsedGif['frames'] = [];
  let loopCount: number | undefined;
  let delayCs = 0;
  while (true) {
    const block = u8();
    if (block === 0x3b) break; // trailer
    if (block === 0x21) {
      const label = u8();
      const data = subBlocks();
      if (label === 0xf9) delayCs = data[1] | (data[2] << 8);
      if (label === 0xff && String.fromCharCode(...data.slice(0, 11)) === 'NETSCAPE2.0') {
        loopCount = data[12] | (data[13] << 8);
      }
    } else if (block === 0x2c) {
      p += 4; // left, top
      const w = u16();
      const h = u16();
      const flags = u8();
      if (flags & 0x80) table(flags);
      const minCodeSize = u8();
      frames.push({ delayCs, width: w, height: h, indices: lzwDecode(minCodeSize, subBlocks(), w * h) });
    } else {
      throw new Error(`unknown GIF block 0x${block.toString(16)} at ${p - 1}`);
    }
  }
  assert.equal(p, bytes.length, 'nothing after the trailer');
  return { width, height, globalPalette, loopCount, frames };
}

function lzwDecode(minCodeSize: number, data: number[], count: number): Uint8Array {
  const clear = 1 << minCodeSize;
  let codeSize = minCodeSize + 1;
  let table: number[][] = [];
  const reset = () => {
    table = Array.from({ length: clear + 2 }, (_, i) => [i]);
    codeSize = minCodeSize + 1;
  };
  reset();
  const out: number[] = [];
  let bit = 0;
  let previous: number[] | null = null;
  while (bit + codeSize <= data.length * 8) {
    let code = 0;
    for (let i = 0; i < codeSize; i++, bit++) code |= ((data[bit >> 3] >> (bit & 7)) & 1) << i;
    if (code === clear) {
      reset();
      previous = null;
      continue;
    }
    if (code === clear + 1) break;
    const entry: number[] = code < table.length ? table[code] : [...previous!, previous![0]];
    out.push(...entry);
    if (previous) table.push([...previous, entry[0]]);
    if (table.length === 1 << codeSize && codeSize < 12) codeSize++;
    previous = entry;
  }
  assert.equal(out.length, count, 'pixel count');
  return Uint8Array.from(out);
}

function solid(width: number, height: number, pick: (x: number, y: number) => number[]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pick(x, y), (y * width + x) * 4);
  return { width, height, data };
}

test('an animated GIF parses back: size, frame count, delays, loop and pixel colours', () => {
  const red = [255, 0, 0, 255];
  const frames = [
    solid(5, 3, () => red),
    solid(5, 3, (x) => (x < 2 ? [0, 0, 255, 255] : [0, 200, 0, 255])),
    solid(5, 3, (x, y) => ((x + y) % 2 ? [0, 0, 0, 255] : [255, 255, 255, 255])),
    solid(5, 3, () => [0, 0, 0, 0]), // transparent → white
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dts-gif-'));
  const path = join(dir, 'trajectory.gif');
  writeGif(path, frames, { delayMs: 80, lastFrameDelayMs: 920 });
  const gif = parseGif(new Uint8Array(readFileSync(path)));
  assert.deepEqual([gif.width, gif.height], [5, 3]);
  assert.equal(gif.frames.length, 4);
  assert.deepEqual(
    gif.frames.map((f) => f.delayCs),
    [8, 8, 8, 100],
  );
  assert.equal(gif.loopCount, 0); // forever
  frames.forEach((frame, k) => {
    const indices = gif.frames[k].indices;
    for (let i = 0; i < 15; i++) {
      const alpha = frame.data[i * 4 + 3] / 255;
      const want = [0, 1, 2].map((c) => frame.data[i * 4 + c] * alpha + 255 * (1 - alpha));
      const got = gif.globalPalette[indices[i]];
      // The palette is quantised in 5-6-5 bits: each channel lands within 8 levels.
      want.forEach((v, c) =>
        assert.ok(Math.abs(got[c] - v) <= 8, `frame ${k} pixel ${i}: ${got} vs ${want}`),
      );
    }
  });
});

test('loop options and a small palette', () => {
  const frames = [solid(2, 2, () => [10, 20, 30, 255]), solid(2, 2, () => [200, 100, 0, 255])];
  assert.equal(parseGif(encodeGif(frames, { loop: 3 })).loopCount, 3);
  assert.equal(parseGif(encodeGif(frames, { loop: false })).loopCount, undefined); // plays once
  const two = parseGif(encodeGif(frames, { colors: 2 }));
  assert.equal(two.globalPalette.length, 2);
  assert.equal(new Set([...two.frames[0].indices, ...two.frames[1].indices]).size, 2);
});

test('bad GIF requests are ShapeErrors', () => {
  assert.throws(() => encodeGif([]), ShapeError);
  assert.throws(
    () => encodeGif([solid(2, 2, () => [0, 0, 0, 255]), solid(3, 2, () => [0, 0, 0, 255])]),
    /frame 1 is 3×2/,
  );
  assert.throws(() => encodeGif([solid(2, 2, () => [0, 0, 0, 255])], { colors: 1 }), ShapeError);
  assert.throws(() => encodeGif([solid(2, 2, () => [0, 0, 0, 255])], { loop: -2 }), ShapeError);
});
