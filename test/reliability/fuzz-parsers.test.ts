// Parser fuzzing: every reader of untrusted bytes or JSON (safetensors, diffusers JSON, scheduler
// configs, PNG, JPEG, WAV, CSV, ONNX headers, network configs) gets random input and mutated valid
// input — bit flips, byte overwrites, truncation, 32-bit fields set to extremes, header numbers set to
// huge values. The property: it returns a result or throws a DiffusionError, never another exception,
// never takes longer than a per-case bound, and never allocates memory sized by a number it read
// (the peak of heap + array buffers over the whole file stays bounded). Seeds are fixed, so a failure
// reproduces; the number of runs per property is in RUNS below.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import jpeg from 'jpeg-js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { parseJson, stringifyJson, type JsonValue } from '../../src/io/json.js';
import {
  parseSchedulerConfig,
  schedulerConfig,
  schedulerConfigJson,
  SCHEDULER_CLASS_NAMES,
  type SchedulerConfig,
} from '../../src/diffusion/scheduler-config.js';
import { decodeImage, decodeJpeg, decodePng, encodePng } from '../../src/io/images.js';
import { decodeWav, encodeWav } from '../../src/io/audio.js';
import { parseNumericCsv } from '../../src/io/csv.js';
import { inspectOnnx } from '../../src/engine/onnx/inspect.js';
import { emitOnnx } from '../../src/engine/onnx/emit.js';
import { trace } from '../../src/engine/trace.js';
import { add, mul } from '../../src/engine/ops/elementwise.js';
import { linear } from '../../src/engine/ops/composite.js';
import type { Tensor } from '../../src/engine/graph.js';
import { buildNetwork, networkClassNames } from '../../src/models/registry.js';
import { DiffusionError } from '../../src/util/errors.js';

/** Cases per property; the whole file runs in a few seconds. */
const RUNS = {
  safetensorsRandom: 500,
  safetensorsMutated: 1000,
  safetensorsHeader: 500,
  jsonText: 1000,
  schedulerRandom: 500,
  schedulerMutated: 1000,
  png: 400,
  pngHeader: 300,
  jpeg: 300,
  wav: 1000,
  csv: 1000,
  onnx: 1000,
  network: 600,
};
const CASE_LIMIT_MS = 1000;
/** Peak growth of heap + array buffers allowed over the file; a 2^32-sized allocation would be 4 GiB. */
const MEMORY_LIMIT_BYTES = 256 * 2 ** 20;

const memoryInUse = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const baseline = memoryInUse();
let peak = baseline;

/** Runs one case: a result or a DiffusionError, inside the time bound; records peak memory. */
function resultOrDiffusionError<T>(run: () => T, what: string): T | DiffusionError {
  const start = performance.now();
  let outcome: T | DiffusionError;
  try {
    outcome = run();
  } catch (error) {
    if (!(error instanceof DiffusionError)) {
      throw new Error(`${what} threw ${String(error)} instead of a DiffusionError`, { cause: error });
    }
    outcome = error;
  }
  const ms = performance.now() - start;
  assert.ok(ms < CASE_LIMIT_MS, `${what} took ${ms.toFixed(0)} ms (bound ${CASE_LIMIT_MS} ms)`);
  peak = Math.max(peak, memoryInUse());
  return outcome;
}

const check = (property: fc.IProperty<never> | fc.IProperty<unknown[]>, seed: number, numRuns: number) =>
  fc.assert(property as fc.IProperty<unknown>, { seed, numRuns, endOnFailure: true });

/** A mutation of a byte string; `at` is taken modulo the length. */
type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x00ffffff, 0xfffffffe),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
);

function mutated(valid: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = new Uint8Array(valid);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    if (m.kind === 'flip') bytes[at] ^= 1 << m.bit;
    else if (m.kind === 'set') bytes[at] = m.value;
    else if (m.kind === 'u32' && at + 4 <= bytes.length) {
      new DataView(bytes.buffer).setUint32(at, m.value, at % 2 === 0);
    } else if (m.kind === 'truncate') bytes = bytes.slice(0, at);
    else if (m.kind === 'insert') {
      const next = new Uint8Array(bytes.length + m.bytes.length);
      next.set(bytes.subarray(0, at));
      next.set(m.bytes, at);
      next.set(bytes.subarray(at), at + m.bytes.length);
      bytes = next;
    }
  }
  return bytes;
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 6 });

/** Numbers a hostile header would carry in place of a shape or an offset. */
const hugeNumber = fc.constantFrom(
  '9007199254740993',
  '18446744073709551615',
  '4294967296',
  '2147483648',
  '1e308',
  '-1',
  '1.5',
  '0',
  '1e400',
  '-0',
);

after(() => {
  const growth = peak - baseline;
  assert.ok(
    growth < MEMORY_LIMIT_BYTES,
    `peak memory grew by ${(growth / 2 ** 20).toFixed(0)} MiB during fuzzing (bound ${MEMORY_LIMIT_BYTES / 2 ** 20} MiB)`,
  );
});

describe('safetensors', () => {
  const valid = serializeSafetensors(
    {
      'down.weight': { shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) },
      'down.bias': { shape: [3], data: new Float32Array([1, 2, 3]), dtype: 'F16' },
      steps: { shape: [2], data: new BigInt64Array([1n, 2n]) },
    },
    { format: 'pt' },
  );

  it(`random bytes (${RUNS.safetensorsRandom} cases) give a FormatError`, () => {
    check(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const out = resultOrDiffusionError(() => parseSafetensors(bytes), 'parseSafetensors');
        assert.ok(out instanceof DiffusionError, 'random bytes parsed as safetensors');
      }),
      101,
      RUNS.safetensorsRandom,
    );
  });

  it(`mutated valid files (${RUNS.safetensorsMutated} cases): a consistent result or a DiffusionError`, () => {
    check(
      fc.property(mutations, (ms) => {
        const out = resultOrDiffusionError(() => parseSafetensors(mutated(valid, ms)), 'parseSafetensors');
        if (out instanceof DiffusionError) return;
        for (const tensor of out.tensors.values()) {
          assert.equal(
            tensor.data.length,
            tensor.shape.reduce((a, b) => a * b, 1),
          );
        }
      }),
      102,
      RUNS.safetensorsMutated,
    );
  });

  it(`header numbers set to huge values (${RUNS.safetensorsHeader} cases) never allocate by them`, () => {
    const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(valid.subarray(8, 8 + headerLength));
    const data = valid.subarray(8 + headerLength);
    const numberCount = header.match(/\d+/g)!.length;
    check(
      fc.property(
        fc.array(fc.tuple(fc.nat(numberCount - 1), hugeNumber), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        (edits, keepLength) => {
          let text = header;
          for (const [index, value] of edits) {
            let seen = -1;
            text = text.replace(/\d+/g, (n) => (++seen === index ? value : n));
          }
          const encoded = new TextEncoder().encode(text);
          const bytes = new Uint8Array(8 + encoded.length + data.length);
          const claimed = keepLength ? encoded.length : encoded.length + 2 ** 20;
          new DataView(bytes.buffer).setBigUint64(0, BigInt(claimed), true);
          bytes.set(encoded, 8);
          bytes.set(data, 8 + encoded.length);
          resultOrDiffusionError(() => parseSafetensors(bytes), 'parseSafetensors');
        },
      ),
      103,
      RUNS.safetensorsHeader,
    );
  });
});

describe('diffusers JSON and scheduler configs', () => {
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

  it(`JSON text (${RUNS.jsonText} cases): random, mutated, Python literals, deep nesting`, () => {
    const base = stringifyJson({ a: [1, 2.5, -Infinity], b: { c: 'x', d: NaN, e: null } }, { indent: 2 });
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.json(),
      mutations.map((ms) => new TextDecoder().decode(mutated(new TextEncoder().encode(base), ms))),
      fc.integer({ min: 1, max: 200_000 }).map(nested),
      fc.integer({ min: 1, max: 200_000 }).map((d) => '['.repeat(d)),
      fc.integer({ min: 1, max: 200_000 }).map((d) => '{"a":'.repeat(d) + 'NaN' + '}'.repeat(d)),
    );
    check(
      fc.property(text, (t) => {
        resultOrDiffusionError(() => parseJson(t, 'fuzzed JSON'), 'parseJson');
      }),
      201,
      RUNS.jsonText,
    );
  });

  it('parses a deeply nested document with Python literals without exhausting the stack', () => {
    const depth = 100_000;
    const out = resultOrDiffusionError(
      () => parseJson(`${'['.repeat(depth)}NaN${']'.repeat(depth)}`, 'deep JSON'),
      'parseJson',
    );
    // Either a value (arrays all the way down to NaN) or a FormatError naming the nesting limit.
    if (!(out instanceof DiffusionError)) {
      let v: JsonValue = out;
      let d = 0;
      while (Array.isArray(v)) [v, d] = [v[0], d + 1];
      assert.equal(d, depth);
      assert.ok(Number.isNaN(v));
    } else assert.equal(out.code, 'format');
  });

  it(`random JSON values (${RUNS.schedulerRandom} cases) as scheduler configs`, () => {
    const value = fc.oneof(
      fc.jsonValue(),
      fc.dictionary(fc.string(), fc.jsonValue()).map((d) => ({
        ...d,
        _class_name: 'DDIMScheduler',
      })),
    );
    check(
      fc.property(value, (v) => {
        resultOrDiffusionError(() => parseSchedulerConfig(v as JsonValue), 'parseSchedulerConfig');
      }),
      202,
      RUNS.schedulerRandom,
    );
  });

  it(`mutated valid scheduler configs (${RUNS.schedulerMutated} cases) round-trip or give a DiffusionError`, () => {
    const valids = SCHEDULER_CLASS_NAMES.map((name) =>
      schedulerConfigJson(schedulerConfig(name, {}) as SchedulerConfig),
    );
    const edit = fc.tuple(
      fc.nat(valids.length - 1),
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.oneof(
            fc.jsonValue(),
            fc.constantFrom<JsonValue>(1e308, -1, 0, 2 ** 53, 1e9, 2 ** 31, 0.5, 'linear', 'nope', [], null),
          ),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    );
    check(
      fc.property(edit, ([which, edits]) => {
        const config: Record<string, JsonValue> = { ...valids[which] };
        const keys = Object.keys(config);
        for (const [k, v] of edits) config[keys[k % keys.length]] = v as JsonValue;
        const out = resultOrDiffusionError(() => parseSchedulerConfig(config), 'parseSchedulerConfig');
        if (out instanceof DiffusionError) return;
        // Sampling allocates schedule arrays of T entries: an accepted config keeps T bounded.
        assert.ok(out.numTrainTimesteps <= 1_000_000, `accepted T = ${out.numTrainTimesteps}`);
        // An accepted config writes back to JSON that parses to the same config.
        const again = parseSchedulerConfig(schedulerConfigJson(out));
        assert.deepEqual(schedulerConfigJson(again), schedulerConfigJson(out));
      }),
      203,
      RUNS.schedulerMutated,
    );
  });
});

describe('images', () => {
  const image = {
    width: 5,
    height: 4,
    data: Uint8Array.from({ length: 5 * 4 * 4 }, (_, i) => (i * 37) % 256),
  };
  const png = encodePng(image);
  const jpg = new Uint8Array(jpeg.encode({ ...image, data: Buffer.from(image.data) }, 90).data);

  it(`mutated PNG (${RUNS.png} cases): a well-formed image or a FormatError`, () => {
    check(
      fc.property(mutations, (ms) => {
        const out = resultOrDiffusionError(() => decodePng(mutated(png, ms)), 'decodePng');
        if (out instanceof DiffusionError) return;
        assert.equal(out.data.length, out.width * out.height * 4);
      }),
      301,
      RUNS.png,
    );
  });

  /** The PNG with its IHDR size set to width×height and the chunk's CRC fixed, so only the size is wrong. */
  function resized(width: number, height: number): Uint8Array {
    const bytes = new Uint8Array(png);
    const view = new DataView(bytes.buffer);
    view.setUint32(16, width);
    view.setUint32(20, height);
    view.setUint32(29, crc32(bytes.subarray(12, 29)));
    return bytes;
  }

  it('a 70-byte PNG whose header claims 8000×8000 pixels is a FormatError, not a 256 MB image', () => {
    const out = resultOrDiffusionError(() => decodePng(resized(8000, 8000)), 'decodePng');
    assert.ok(out instanceof DiffusionError);
    assert.match(out.message, /cannot hold the 8000×8000 pixels/);
  });

  it(`PNG headers with other sizes and valid CRCs (${RUNS.pngHeader} cases)`, () => {
    check(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 20_000 }), (w, h) => {
        const out = resultOrDiffusionError(() => decodePng(resized(w, h)), 'decodePng');
        if (out instanceof DiffusionError) return;
        assert.equal(out.data.length, w * h * 4);
        assert.ok(w * h <= 5 * 4 * 1032, `${w}×${h} decoded from ${png.length} bytes`);
      }),
      304,
      RUNS.pngHeader,
    );
  });

  it(`mutated JPEG (${RUNS.jpeg} cases): a well-formed image or a FormatError`, () => {
    check(
      fc.property(mutations, (ms) => {
        const out = resultOrDiffusionError(() => decodeJpeg(mutated(jpg, ms)), 'decodeJpeg');
        if (out instanceof DiffusionError) return;
        assert.equal(out.data.length, out.width * out.height * 4);
      }),
      302,
      RUNS.jpeg,
    );
  });

  it('random bytes are not an image', () => {
    check(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        assert.ok(resultOrDiffusionError(() => decodeImage(bytes), 'decodeImage') instanceof DiffusionError);
      }),
      303,
      200,
    );
  });
});

describe('WAV, CSV and ONNX', () => {
  const wavs = [
    encodeWav([Float32Array.from({ length: 20 }, (_, i) => Math.sin(i))], 8000, 'pcm16'),
    encodeWav([new Float32Array([0.5, -0.25, 0]), new Float32Array([0.1, 0.2, 0.3])], 44100, 'float32'),
  ];

  it(`mutated WAV (${RUNS.wav} cases): equal-length channels or a FormatError`, () => {
    check(
      fc.property(fc.nat(1), mutations, (which, ms) => {
        const out = resultOrDiffusionError(() => decodeWav(mutated(wavs[which], ms)), 'decodeWav');
        if (out instanceof DiffusionError) return;
        assert.ok(out.channels.length >= 1);
        assert.ok(out.channels.every((c) => c.length === out.channels[0].length));
      }),
      401,
      RUNS.wav,
    );
  });

  it(`CSV text (${RUNS.csv} cases): a rectangular table or a DiffusionError`, () => {
    const base = 'x,y,"label"\n1,2.5,3\n-1e3,NaN,0\r\n4,5,6\n';
    const text = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.stringMatching(/^[0-9,.\n"e+-]{0,60}$/),
      mutations.map((ms) => new TextDecoder().decode(mutated(new TextEncoder().encode(base), ms))),
    );
    check(
      fc.property(text, fc.constantFrom<boolean | 'auto'>(true, false, 'auto'), (t, header) => {
        const out = resultOrDiffusionError(
          () => parseNumericCsv(t, 'fuzzed CSV', { header }),
          'parseNumericCsv',
        );
        if (out instanceof DiffusionError) return;
        assert.equal(out.values.length, out.rows * out.columns);
      }),
      402,
      RUNS.csv,
    );
  });

  it(`ONNX headers (${RUNS.onnx} cases): random and mutated models`, () => {
    const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
    const traced = trace(({ w, x }: Record<string, Tensor>) => ({ y: add(mul(linear(x, w), 0.5), 0.5) }), {
      w: f32([4, 3]),
      x: f32([2, 3]),
    });
    const model = emitOnnx(traced.inputList, traced.outputList).bytes;
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 128 }),
      mutations.map((ms) => mutated(model, ms)),
    );
    check(
      fc.property(bytes, (b) => {
        const out = resultOrDiffusionError(() => inspectOnnx(b), 'inspectOnnx');
        if (out instanceof DiffusionError) return;
        assert.ok(Number.isFinite(out.irVersion));
        assert.ok(out.initializerCount >= 0);
      }),
      403,
      RUNS.onnx,
    );
  });
});

describe('network configs', () => {
  it(`random configs (${RUNS.network} cases) build a network or give a ConfigError`, () => {
    const keys = [
      'in_features',
      'out_features',
      'hidden_size',
      'num_layers',
      'time_embedding_dim',
      'num_class_embeds',
      'freq_shift',
      'sample_size',
      'in_channels',
      'out_channels',
      'block_out_channels',
      'layers_per_block',
      'norm_num_groups',
      'norm_eps',
      'down_block_types',
      'up_block_types',
      'attention_head_dim',
      'time_embedding_type',
      'flip_sin_to_cos',
    ];
    const fieldValue = fc.oneof(
      fc.integer({ min: -2, max: 64 }),
      fc.constantFrom<JsonValue>(2 ** 31, 2 ** 53, 1e308, 0.5, -0, null, 'default', true),
      fc.array(fc.integer({ min: -1, max: 64 }), { maxLength: 4 }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const config = fc.record({
      _class_name: fc.oneof(fc.constantFrom(...networkClassNames()), fc.jsonValue({ maxDepth: 1 })),
      fields: fc.dictionary(fc.constantFrom(...keys), fieldValue, { maxKeys: 5 }),
    });
    let built = 0;
    check(
      fc.property(config, ({ _class_name, fields }) => {
        const out = resultOrDiffusionError(() => {
          const network = buildNetwork({ ...fields, _class_name });
          // The parameter shapes follow from the config without allocating any tensor.
          const types = Object.values(network.paramTypes());
          return types.every((t) => t.shape.every((d) => Number.isSafeInteger(d) && d > 0));
        }, 'buildNetwork');
        if (out instanceof DiffusionError) return;
        built++;
        assert.equal(out, true, 'a built network has positive integer parameter shapes');
      }),
      501,
      RUNS.network,
    );
    assert.ok(built > 20, `only ${built} random configs built a network; the generator is too hostile`);
  });
});
