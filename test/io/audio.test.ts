import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav, encodeWav, mixToMono, readWav, readWavMono, writeWav } from '../../src/io/audio.js';
import { FormatError, NumericError, ShapeError, UsageError } from '../../src/util/errors.js';

/** Written by Python's `wave` module: stereo, 16-bit, 22050 Hz, frames (16384, −16384), (32767, −32768), (0, 100). */
const PYTHON_WAVE = 'UklGRjAAAABXQVZFZm10IBAAAAABAAIAIlYAAIhYAQAEABAAZGF0YQwAAAAAQADA/38AgAAAZAA=';

/** A RIFF/WAVE file from raw chunks, built independently of the code under test. */
function riff(chunks: Array<[string, Uint8Array]>, riffSizeDelta = 0): Uint8Array {
  const parts = chunks.map(([id, body]) => {
    const out = new Uint8Array(8 + body.length + (body.length % 2));
    out.set(Buffer.from(id, 'latin1'));
    new DataView(out.buffer).setUint32(4, body.length, true);
    out.set(body, 8);
    return out;
  });
  const size = 4 + parts.reduce((n, p) => n + p.length, 0);
  const file = new Uint8Array(8 + size);
  file.set(Buffer.from('RIFF'));
  new DataView(file.buffer).setUint32(4, size + riffSizeDelta, true);
  file.set(Buffer.from('WAVE'), 8);
  let offset = 12;
  for (const p of parts) {
    file.set(p, offset);
    offset += p.length;
  }
  return file;
}

function fmt(
  code: number,
  channels: number,
  rate: number,
  bits: number,
  extensibleCode?: number,
): Uint8Array {
  const body = new Uint8Array(extensibleCode === undefined ? 16 : 40);
  const v = new DataView(body.buffer);
  const align = (channels * bits) / 8;
  v.setUint16(0, code, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * align, true);
  v.setUint16(12, align, true);
  v.setUint16(14, bits, true);
  if (extensibleCode !== undefined) {
    v.setUint16(16, 22, true); // cbSize
    v.setUint16(18, bits, true); // valid bits
    v.setUint16(24, extensibleCode, true); // SubFormat GUID starts with the format code
  }
  return body;
}

test('reads a WAV written by Python, and mixes stereo to mono', () => {
  const audio = decodeWav(new Uint8Array(Buffer.from(PYTHON_WAVE, 'base64')));
  assert.equal(audio.sampleRate, 22050);
  assert.equal(audio.channels.length, 2);
  assert.deepEqual([...audio.channels[0]], [0.5, 32767 / 32768, 0]);
  assert.deepEqual([...audio.channels[1]], [-0.5, -1, 100 / 32768]);
  const mono = mixToMono(audio.channels);
  assert.deepEqual([...mono], [0, Math.fround((32767 / 32768 - 1) / 2), Math.fround(50 / 32768)]);
});

test('every PCM depth and float decode to the expected values, plain and extensible', () => {
  const u8 = new Uint8Array([0, 128, 255]);
  const i24 = new Uint8Array([0x00, 0x00, 0x80, 0xff, 0xff, 0x7f, 0x01, 0x00, 0x00]); // −2^23, 2^23−1, 1
  const i32 = new Uint8Array(new Int32Array([-(2 ** 31), 2 ** 30]).buffer);
  const f32 = new Uint8Array(new Float32Array([0.25, -1.5]).buffer);
  const f64 = new Uint8Array(new Float64Array([0.125]).buffer);
  const cases: Array<[Uint8Array, Uint8Array, number[]]> = [
    [fmt(1, 1, 8000, 8), u8, [-1, 0, 127 / 128]],
    [fmt(1, 1, 8000, 24), i24, [-1, Math.fround(8388607 / 8388608), Math.fround(1 / 8388608)]],
    [fmt(0xfffe, 1, 8000, 24, 1), i24, [-1, Math.fround(8388607 / 8388608), Math.fround(1 / 8388608)]],
    [fmt(1, 1, 8000, 32), i32, [-1, 0.5]],
    [fmt(3, 1, 8000, 32), f32, [0.25, -1.5]],
    [fmt(0xfffe, 1, 8000, 32, 3), f32, [0.25, -1.5]],
    [fmt(3, 1, 8000, 64), f64, [0.125]],
  ];
  for (const [format, data, expected] of cases) {
    // An unknown chunk with an odd size (so a pad byte) before the data must be skipped.
    const bytes = riff([
      ['fmt ', format],
      ['LIST', new Uint8Array(3)],
      ['data', data],
    ]);
    assert.deepEqual([...decodeWav(bytes).channels[0]], expected);
  }
});

test('16-bit and float WAV round trips are exact, through files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-wav-'));
  const pcm = Float32Array.from({ length: 1001 }, (_, i) => Math.round(Math.sin(i) * 30000) / 32768);
  pcm[0] = -1;
  pcm[1] = 32767 / 32768;
  writeWav(join(dir, 'a.wav'), pcm, 16000);
  const a = readWav(join(dir, 'a.wav'), { expectedSampleRate: 16000 });
  assert.deepEqual(a.channels[0], pcm);
  const left = Float32Array.from({ length: 333 }, (_, i) => Math.cos(i * 0.37) * 1.7); // float keeps > 1
  const right = Float32Array.from({ length: 333 }, (_, i) => i / 1000);
  writeWav(join(dir, 'b.wav'), [left, right], 44100, 'float32');
  const b = readWav(join(dir, 'b.wav'));
  assert.equal(b.sampleRate, 44100);
  assert.deepEqual(b.channels, [left, right]);
  assert.deepEqual(readWavMono(join(dir, 'b.wav')).samples, mixToMono([left, right]));
  // 16-bit output clips to the int16 range: 1.0 → 32767, −2 → −32768.
  const clipped = decodeWav(encodeWav(new Float32Array([1, -2, 0.5]), 8000)).channels[0];
  assert.deepEqual([...clipped], [32767 / 32768, -1, 0.5]);
  // Header fields a strict reader checks: RIFF size, byte rate, block align.
  const bytes = encodeWav([left, right], 44100, 'pcm16');
  const v = new DataView(bytes.buffer);
  assert.equal(v.getUint32(4, true), bytes.length - 8);
  assert.equal(v.getUint32(28, true), 44100 * 4);
  assert.equal(v.getUint16(32, true), 4);
  assert.equal(bytes.length, 44 + 333 * 4);
});

test('a sample-rate mismatch is refused with the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-wav-'));
  writeWav(join(dir, 'c.wav'), new Float32Array(4), 22050);
  assert.throws(
    () => readWav(join(dir, 'c.wav'), { expectedSampleRate: 16000 }),
    (e: unknown) => e instanceof UsageError && /22050 Hz, expected 16000 Hz.*resample/.test(e.message),
  );
});

test('corrupt WAV headers are FormatErrors naming the problem', () => {
  const data = new Uint8Array(8);
  const good = riff([
    ['fmt ', fmt(1, 2, 8000, 16)],
    ['data', data],
  ]);
  const overlong = good.slice();
  new DataView(overlong.buffer).setUint32(40, 1_000_000, true); // data chunk size
  const badAlign = fmt(1, 2, 8000, 16);
  new DataView(badAlign.buffer).setUint16(12, 3, true);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['not RIFF', new TextEncoder().encode('ID3 something else'), /not a WAV file/],
    ['truncated', good.subarray(0, good.length - 4), /RIFF header claims 52 bytes but the file has 48/],
    ['chunk past end', overlong, /chunk 'data' at byte 36 claims 1000000 bytes, past the end/],
    ['no fmt', riff([['data', data]]), /no 'fmt ' chunk/],
    ['no data', riff([['fmt ', fmt(1, 1, 8000, 16)]]), /no 'data' chunk/],
    [
      '12-bit',
      riff([
        ['fmt ', fmt(1, 1, 8000, 12)],
        ['data', data],
      ]),
      /unsupported sample format \(code 1, 12 bits\)/,
    ],
    [
      'mu-law',
      riff([
        ['fmt ', fmt(7, 1, 8000, 8)],
        ['data', data],
      ]),
      /unsupported sample format \(code 7/,
    ],
    [
      'zero rate',
      riff([
        ['fmt ', fmt(1, 1, 0, 16)],
        ['data', data],
      ]),
      /sample rate 0 Hz/,
    ],
    [
      'bad align',
      riff([
        ['fmt ', badAlign],
        ['data', data],
      ]),
      /block align 3 does not match 2 channels of 16 bits/,
    ],
    [
      'partial frame',
      riff([
        ['fmt ', fmt(1, 2, 8000, 16)],
        ['data', new Uint8Array(6)],
      ]),
      /not a whole number of 4-byte frames/,
    ],
    [
      'short fmt',
      riff([
        ['fmt ', new Uint8Array(10)],
        ['data', data],
      ]),
      /needs at least 16/,
    ],
  ];
  for (const [what, bytes, pattern] of cases) {
    assert.throws(
      () => decodeWav(bytes, 'clip.wav'),
      (e: unknown) => e instanceof FormatError && e.message.startsWith('clip.wav') && pattern.test(e.message),
      what,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'dts-wav-'));
  writeFileSync(join(dir, 'bad.wav'), overlong);
  assert.throws(
    () => readWav(join(dir, 'bad.wav')),
    (e: unknown) => e instanceof FormatError && e.message.includes('bad.wav'),
  );
});

test('writing refuses NaN, ragged channels and bad rates', () => {
  assert.throws(
    () => encodeWav(new Float32Array([0, NaN]), 8000),
    (e: unknown) => e instanceof NumericError && /sample 1 is NaN/.test(e.message),
  );
  assert.throws(() => encodeWav([new Float32Array(2), new Float32Array(3)], 8000), ShapeError);
  assert.throws(() => encodeWav(new Float32Array(2), 44100.5), UsageError);
  assert.throws(() => encodeWav(new Float32Array(2), 8000, 'pcm24' as 'pcm16'), UsageError);
});
