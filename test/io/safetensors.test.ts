import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  getFloatTensor,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  writeSafetensorsFile,
  type TensorToWrite,
} from '../../src/io/safetensors.js';
import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from '../../src/io/float16.js';
import { FormatError, ShapeError, UsageError } from '../../src/util/errors.js';

const UNET = fileURLToPath(
  new URL('../../../shared/reference/unet_small/diffusion_pytorch_model.safetensors', import.meta.url),
);

/** The JSON header and the data start of a safetensors byte string. */
function headerOf(bytes: Uint8Array): { text: string; dataStart: number } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { text: new TextDecoder().decode(bytes.subarray(8, 8 + length)), dataStart: 8 + length };
}

/** A file made of a hand-written header and `dataBytes` zero bytes. */
function fileWithHeader(header: string, dataBytes: number, claimedLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('write → read round-trips every dtype bit for bit, and re-serialising gives the same bytes', () => {
  const f32 = new Float32Array([1.5, -0, NaN, Infinity, 1e-45, 3.4028234663852886e38]);
  // A NaN with a payload must survive as its exact bit pattern.
  new Uint32Array(f32.buffer)[2] = 0x7fa00001;
  const tensors: Record<string, TensorToWrite> = {
    'w.f32': { shape: [2, 3], data: f32, dtype: 'F32' },
    'w.f16': { shape: [3], data: new Float32Array([1, 65504, -(2 ** -24)]), dtype: 'F16' },
    'w.bf16': { shape: [1, 2], data: new Float32Array([0.5, -3.0e38]), dtype: 'BF16' },
    'w.f64': { shape: [2], data: new Float64Array([0.25, -8]) },
    ids: { shape: [2], data: new BigInt64Array([-(2n ** 62n), 7n]) },
    i32: { shape: [2], data: new Int32Array([-2147483648, 5]) },
    i16: { shape: [1], data: new Int16Array([-32768]) },
    i8: { shape: [2, 1], data: new Int8Array([-128, 127]) },
    u8: { shape: [], data: new Uint8Array([255]) },
    mask: { shape: [3], data: new Uint8Array([1, 0, 1]), dtype: 'BOOL' },
    empty: { shape: [0, 4], data: new Float32Array(0) },
  };
  const bytes = serializeSafetensors(tensors, { format: 'pt', note: 'é' }, { floatDType: 'F64' });
  const file = parseSafetensors(bytes);
  assert.deepEqual(file.metadata, { format: 'pt', note: 'é' });
  assert.deepEqual(
    new Uint32Array((file.tensors.get('w.f32')!.data as Float32Array).buffer),
    new Uint32Array(f32.buffer),
  );
  assert.equal(file.tensors.get('w.f32')!.dtype, 'F32');
  assert.deepEqual([...(file.tensors.get('w.f16')!.data as Float32Array)], [1, 65504, -(2 ** -24)]);
  assert.deepEqual(file.tensors.get('w.bf16')!.shape, [1, 2]);
  assert.deepEqual([...(file.tensors.get('w.bf16')!.data as Float32Array)], [0.5, -3.00405527047391e38]);
  assert.equal(file.tensors.get('w.f64')!.dtype, 'F64'); // floatDType applies to data that names none
  assert.deepEqual([...file.tensors.get('ids')!.data], [-(2n ** 62n), 7n]);
  assert.deepEqual([...file.tensors.get('i32')!.data], [-2147483648, 5]);
  assert.deepEqual([...file.tensors.get('i16')!.data], [-32768]);
  assert.deepEqual([...file.tensors.get('i8')!.data], [-128, 127]);
  assert.deepEqual(file.tensors.get('u8')!.shape, []);
  assert.deepEqual(file.tensors.get('mask')!, { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) });
  assert.equal(file.tensors.get('empty')!.data.length, 0);
  // What was read, written again, is the same file byte for byte.
  assert.deepEqual(serializeSafetensors(file.tensors, file.metadata), bytes);
});

test('the layout follows the reference writer: space padding to 8 bytes, aligned tensors', () => {
  const bytes = serializeSafetensors({
    a: { shape: [3], data: new Uint8Array([1, 2, 3]) },
    b: { shape: [1], data: new Float32Array([1]), dtype: 'F16' },
    c: { shape: [1], data: new Float32Array([2]) },
    d: { shape: [1], data: new BigInt64Array([3n]) },
  });
  const { text, dataStart } = headerOf(bytes);
  assert.equal(dataStart % 8, 0);
  assert.match(text, /^\{[^ ]*\} *$/);
  assert.equal(text.length - text.trimEnd().length, (8 - (text.trimEnd().length % 8)) % 8);
  const header = JSON.parse(text);
  // Largest elements first: I64 at 0, F32 at 8, F16 at 12, U8 at 14.
  assert.deepEqual(header.d, { dtype: 'I64', shape: [1], data_offsets: [0, 8] });
  assert.deepEqual(header.c.data_offsets, [8, 12]);
  assert.deepEqual(header.b.data_offsets, [12, 14]);
  assert.deepEqual(header.a.data_offsets, [14, 17]);
  assert.equal(bytes.length, dataStart + 17);
  assert.equal(Object.keys(header)[0], 'd'); // no metadata given → no __metadata__ entry
});

test('reads a real diffusers UNet2DModel file and writes it back with identical tensors', () => {
  const file = readSafetensorsFile(UNET);
  assert.equal(file.tensors.size, 144);
  assert.deepEqual(file.metadata, { format: 'pt' });
  const params = [...file.tensors.values()].reduce((n, t) => n + t.data.length, 0);
  assert.equal(params, 702_499);
  const convIn = getFloatTensor(file, 'conv_in.weight');
  assert.deepEqual(convIn.shape, [32, 3, 3, 3]);
  assert.deepEqual(getFloatTensor(file, 'conv_out.bias').shape, [3]);
  // The first weight, read independently from the raw bytes.
  const raw = readFileSync(UNET);
  const { text, dataStart } = headerOf(raw);
  const begin = JSON.parse(text)['conv_in.weight'].data_offsets[0];
  assert.equal(convIn.data[0], raw.readFloatLE(dataStart + begin));
  const dir = mkdtempSync(join(tmpdir(), 'dts-st-'));
  const out = join(dir, 'copy.safetensors');
  writeSafetensorsFile(out, file.tensors, file.metadata);
  const copy = readSafetensorsFile(out);
  for (const [name, tensor] of file.tensors) assert.deepEqual(copy.tensors.get(name), tensor, name);
  const copied = readFileSync(out);
  assert.equal(copied.length - headerOf(copied).dataStart, raw.length - dataStart); // no gaps, no extras
  assert.deepEqual(readdirSync(dir), ['copy.safetensors']);
});

/** A float32 value from its bit pattern. */
const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];

test('F16 encoding rounds to nearest even, with subnormals, overflow, infinities and NaN', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [-0, 0x8000],
    [65504, 0x7bff], // largest finite
    [65519.99, 0x7bff],
    [65520, 0x7c00], // halfway to 65536: ties to even → overflow
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and 2^-24 → even (0)
    [3 * 2 ** -26, 0x0001],
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [1023.5 * 2 ** -24, 0x0400], // tie → rounds up into the smallest normal
    [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00], // tie, even mantissa below
    [1 + 3 * 2 ** -11, 0x3c02], // tie, odd mantissa below → up
    [2049, 0x6800],
    [2051, 0x6802],
    // Slightly above a tie: correct rounding goes up; a detour through float32 would round to the tie
    // and then down.
    [1 + 2 ** -11 + 2 ** -40, 0x3c01],
  ];
  const bits = floatToHalf(cases.map(([v]) => v));
  cases.forEach(([v, expected], i) => assert.equal(bits[i], expected, `${v} → ${bits[i].toString(16)}`));
  assert.equal(floatToHalf([NaN])[0] & 0x7e00, 0x7e00);
  assert.ok(Number.isNaN(halfToFloat(floatToHalf([NaN]))[0]));
  // Every finite F16 value survives decode → encode.
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = floatToHalf(halfToFloat(all));
  for (let i = 0; i < 65536; i++) if ((i & 0x7c00) !== 0x7c00) assert.equal(back[i], i);
});

test('BF16 encoding rounds to nearest even instead of truncating', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3f80],
    [0.1, 0x3dcd], // float32 0x3dcccccd: truncation would give 0x3dcc
    [f32(0x3f808000), 0x3f80], // tie, even below
    [f32(0x3f818000), 0x3f82], // tie, odd below → up
    [f32(0x3f808001), 0x3f81],
    [f32(0x7f7fffff), 0x7f80], // float32 max rounds past bf16 max → Infinity
    [f32(0x7f7f7fff), 0x7f7f],
    [f32(0x00010000), 0x0001], // smallest subnormal
    [f32(0x00008000), 0x0000], // tie → even (0)
    [f32(0x00018000), 0x0002], // tie → even (2)
    [-Infinity, 0xff80],
    [-0, 0x8000],
  ];
  const bits = floatToBfloat16(cases.map(([v]) => v));
  cases.forEach(([v, expected], i) => assert.equal(bits[i], expected, `${v} → ${bits[i].toString(16)}`));
  assert.ok(Number.isNaN(bfloat16ToFloat(floatToBfloat16([NaN]))[0]));
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = floatToBfloat16(bfloat16ToFloat(all));
  for (let i = 0; i < 65536; i++) if ((i & 0x7f80) !== 0x7f80) assert.equal(back[i], i);
});

test('F16 and BF16 output: half the bytes, values within half an ulp', () => {
  const data = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10);
  for (const dtype of ['F16', 'BF16'] as const) {
    const bytes = serializeSafetensors({ w: { shape: [1000], data } }, {}, { floatDType: dtype });
    assert.equal(bytes.length - headerOf(bytes).dataStart, 2000);
    const back = getFloatTensor(parseSafetensors(bytes), 'w').data;
    const ulpBits = dtype === 'F16' ? 10 : 7;
    for (let i = 0; i < data.length; i++) {
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(data[i]))) - ulpBits);
      assert.ok(Math.abs(back[i] - data[i]) <= ulp / 2, `${dtype} ${data[i]} → ${back[i]}`);
    }
  }
});

test('writing refuses inconsistent tensors with typed errors naming the tensor', () => {
  const bad = (
    tensors: Record<string, TensorToWrite>,
    type: new (...args: never[]) => Error,
    pattern: RegExp,
  ) =>
    assert.throws(
      () => serializeSafetensors(tensors),
      (e: unknown) => e instanceof type && pattern.test((e as Error).message),
    );
  bad(
    { w: { shape: [2, 2], data: new Float32Array(3) } },
    ShapeError,
    /'w': shape \[2,2\] has 4 elements, data has 3/,
  );
  bad(
    { w: { shape: [2], data: new Int32Array(2), dtype: 'F16' } },
    ShapeError,
    /Int32Array data cannot be stored as F16/,
  );
  bad({ w: { shape: [1], data: [1] as unknown as Float32Array } }, ShapeError, /cannot store a Array/);
  bad({ w: { shape: [-1], data: new Float32Array(0) } }, ShapeError, /non-negative integers/);
  bad({ m: { shape: [1], data: new Uint8Array([2]), dtype: 'BOOL' } }, ShapeError, /only 0 and 1/);
  bad({ __metadata__: { shape: [0], data: new Float32Array(0) } }, UsageError, /reserved/);
  assert.throws(() => serializeSafetensors({}, { n: 1 as unknown as string }), UsageError);
});

test('hostile or corrupt files are FormatErrors with clear messages, before any large allocation', () => {
  const good = serializeSafetensors({ w: { shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['too short', good.subarray(0, 5), /need at least 8/],
    [
      'truncated data',
      good.subarray(0, good.length - 1),
      /data ends at byte 16 but the data section has 15 bytes/,
    ],
    ['truncated header', good.subarray(0, 20), /header claims \d+ bytes but the file has 20/],
    ['header length 2^40', fileWithHeader('{}', 0, 2n ** 40n), /header claims 1099511627776 bytes/],
    [
      'shape [1e12]',
      fileWithHeader('{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}', 8),
      /data ends at byte 4000000000000 but the data section has 8 bytes/,
    ],
    [
      'shape [1e12] inside small offsets',
      fileWithHeader('{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,8]}}', 8),
      /shape \[1000000,1000000\] is larger than the file/,
    ],
    [
      'overlapping offsets',
      fileWithHeader(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
        12,
      ),
      /tensors 'a' and 'b' overlap/,
    ],
    [
      'bad dtype',
      fileWithHeader('{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16),
      /tensor 'w': unsupported dtype "F128"; supported: F64, F32/,
    ],
    [
      'size mismatch',
      fileWithHeader('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8),
      /needs 12 bytes, offsets give 8/,
    ],
    ['non-JSON header', fileWithHeader('{"w": nope}', 0), /header is not valid UTF-8 JSON/],
    ['header not an object', fileWithHeader('[1,2]', 0), /header must be a JSON object/],
    ['bad metadata', fileWithHeader('{"__metadata__":{"a":1}}', 0), /__metadata__ 'a' must be a string/],
  ];
  for (const [what, bytes, pattern] of cases) {
    assert.throws(
      () => parseSafetensors(bytes),
      (e: unknown) => e instanceof FormatError && pattern.test(e.message),
      what,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'dts-st-'));
  const path = join(dir, 'bad.safetensors');
  writeFileSync(path, good.subarray(0, good.length - 1));
  assert.throws(
    () => readSafetensorsFile(path),
    (e: unknown) => e instanceof FormatError && e.message.startsWith(`${path}: `),
  );
});
