// CLIPTextModel: transformers' parameter names and config keys; outputs equal a plain-PyTorch statement
// of transformers' modeling_clip on a committed tiny fixture (float16 token embedding, position_ids
// buffer, padding mask, clip_skip); causality; finite-difference gradients; ORT against the reference
// runtime; text_encoder/ folder save → load bit for bit; bad configs and files named in the error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostTensor, Tensor } from '../../src/engine/index.js';
import { ndarray, OrtNodeRuntime, ReferenceRuntime, trace } from '../../src/engine/index.js';
import {
  CLIPTextModel,
  clipTextConfig,
  loadClipTextModel,
  saveClipTextModel,
} from '../../src/models/clip-text.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../../src/io/safetensors.js';
import { ConfigError, FormatError, NotFoundError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { checkVjp, relativeError } from '../engine/check.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/clip-text-tiny/', import.meta.url));
const ids = (shape: number[]) => ({ shape, dtype: 'int64' as const });

const tiny = {
  vocab_size: 11,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  max_position_embeddings: 6,
  bos_token_id: 9,
  eos_token_id: 10,
  pad_token_id: 10,
};

type Outputs = Record<string, HostTensor>;

/** Runs the encoder on host params and ids [B, S] and returns the named outputs. */
async function runEncoder(
  model: CLIPTextModel,
  params: Record<string, HostTensor>,
  inputIds: number[][],
  runtime: 'ort' | 'reference' = 'ort',
  mask?: number[][],
): Promise<Outputs> {
  const shape = [inputIds.length, inputIds[0].length];
  const types = {
    params: model.paramTypes(),
    ids: ids(shape),
    ...(mask ? { mask: ids(shape) } : {}),
  };
  const fn = (x: { params: Record<string, Tensor>; ids: Tensor; mask?: Tensor }) => {
    const out = model.encode(x.params, x.ids, x.mask ? { attentionMask: x.mask } : {});
    return {
      last: out.lastHiddenState,
      pooled: out.pooledOutput,
      skip1: model.promptEmbeddings(x.params, x.ids, 1),
      first: out.hiddenStates[0],
    };
  };
  const compiled = (runtime === 'ort' ? new OrtNodeRuntime() : new ReferenceRuntime()).compile(fn as never, types);
  try {
    const feeds = {
      params,
      ids: BigInt64Array.from(inputIds.flat(), BigInt),
      ...(mask ? { mask: BigInt64Array.from(mask.flat(), BigInt) } : {}),
    };
    return (await compiled.run(feeds as never)) as unknown as Outputs;
  } finally {
    await compiled.dispose();
  }
}

function rows(data: ArrayLike<number | bigint>, width: number): number[][] {
  const flat = Array.from(data, Number);
  return Array.from({ length: flat.length / width }, (_, i) => flat.slice(i * width, (i + 1) * width));
}

describe('CLIPTextModel parameters and config', () => {
  it("uses transformers' CLIPTextModel state_dict names and shapes", () => {
    const types = new CLIPTextModel(tiny).paramTypes();
    const layer = (i: number) =>
      [
        ...['q_proj', 'k_proj', 'v_proj', 'out_proj'].flatMap((p) => [`self_attn.${p}.weight`, `self_attn.${p}.bias`]),
        ...['layer_norm1', 'layer_norm2', 'mlp.fc1', 'mlp.fc2'].flatMap((p) => [`${p}.weight`, `${p}.bias`]),
      ].map((n) => `text_model.encoder.layers.${i}.${n}`);
    const expected = [
      'text_model.embeddings.token_embedding.weight',
      'text_model.embeddings.position_embedding.weight',
      ...layer(0),
      ...layer(1),
      'text_model.final_layer_norm.weight',
      'text_model.final_layer_norm.bias',
    ].sort();
    assert.deepEqual(Object.keys(types).sort(), expected);
    assert.deepEqual(types['text_model.embeddings.token_embedding.weight'].shape, [11, 8]);
    assert.deepEqual(types['text_model.embeddings.position_embedding.weight'].shape, [6, 8]);
    assert.deepEqual(types['text_model.encoder.layers.1.mlp.fc1.weight'].shape, [12, 8]);
    assert.deepEqual(types['text_model.encoder.layers.1.mlp.fc2.weight'].shape, [8, 12]);
  });

  it("takes CLIPTextConfig's defaults, ignores transformers' extra keys and names bad keys", () => {
    const config = clipTextConfig({ _name_or_path: 'openai/clip-vit-large-patch14', architectures: ['x'] });
    assert.equal(config.vocab_size, 49408);
    assert.equal(config.max_position_embeddings, 77);
    assert.equal(config.hidden_act, 'quick_gelu');
    assert.equal(config.eos_token_id, 49407);
    assert.throws(
      () => clipTextConfig({ hidden_act: 'relu' }),
      (e: Error) => e instanceof ConfigError && e.message.includes("'hidden_act'"),
    );
    assert.throws(
      () => clipTextConfig({ hidden_size: 30, num_attention_heads: 4 }),
      (e: Error) => e instanceof ConfigError && /hidden_size 30 does not split into 4 heads/.test(e.message),
    );
  });

  it('initialises as transformers: embeddings N(0, 0.02²), projection biases 0, layer norms 1 and 0', () => {
    const params = new CLIPTextModel({ ...tiny, vocab_size: 400, hidden_size: 32, num_attention_heads: 4 }).init(
      new Random(0),
    );
    const token = params['text_model.embeddings.token_embedding.weight'].data as Float32Array;
    const std = Math.sqrt(token.reduce((s, v) => s + v * v, 0) / token.length);
    assert.ok(Math.abs(std - 0.02) < 0.001, `token embedding std ${std}`);
    assert.ok((params['text_model.encoder.layers.0.self_attn.q_proj.bias'].data as Float32Array).every((v) => v === 0));
    assert.ok((params['text_model.final_layer_norm.weight'].data as Float32Array).every((v) => v === 1));
  });

  it('rejects ids longer than max_position_embeddings and float ids', () => {
    const model = new CLIPTextModel(tiny);
    for (const input of [ids([1, 7]), { shape: [1, 4], dtype: 'float32' as const }]) {
      assert.throws(
        () =>
          trace((x: { p: Record<string, Tensor>; ids: Tensor }) => model.encode(x.p, x.ids).lastHiddenState, {
            p: model.paramTypes(),
            ids: input,
          }),
        (e: Error) => e instanceof ShapeError && /input ids must be int64 \[batch, ≤ 6\]/.test(e.message),
      );
    }
  });
});

describe('CLIPTextModel against PyTorch (test/fixtures/clip-text-tiny)', () => {
  it('loads the text_encoder folder and matches last_hidden_state, pooled output, clip_skip and padding mask to 1e-5', async (t) => {
    const { model, params } = loadClipTextModel(FIXTURE);
    assert.equal(model.config.num_hidden_layers, 2);
    const io = readSafetensorsFile(join(FIXTURE, 'io.safetensors')).tensors;
    const inputIds = rows(io.get('input_ids')!.data as BigInt64Array, 12);
    const mask = rows(io.get('attention_mask')!.data as BigInt64Array, 12);
    for (const runtime of ['ort', 'reference'] as const) {
      const out = await runEncoder(model, params, inputIds, runtime);
      const masked = await runEncoder(model, params, inputIds, runtime, mask);
      const errors = {
        last: relativeError(out.last.data as Float32Array, io.get('last_hidden_state')!.data as Float32Array),
        pooled: relativeError(out.pooled.data as Float32Array, io.get('pooled_output')!.data as Float32Array),
        skip1: relativeError(out.skip1.data as Float32Array, io.get('clip_skip_1')!.data as Float32Array),
        embeddings: relativeError(out.first.data as Float32Array, io.get('hidden_state_0')!.data as Float32Array),
        masked: relativeError(
          masked.last.data as Float32Array,
          io.get('last_hidden_state_masked')!.data as Float32Array,
        ),
      };
      t.diagnostic(`${runtime}: ${JSON.stringify(Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, v.toExponential(1)])))}`);
      for (const [name, error] of Object.entries(errors)) assert.ok(error < 1e-5, `${runtime} ${name}: ${error}`);
    }
  });
});

describe('CLIPTextModel behaviour', () => {
  const model = new CLIPTextModel(tiny);
  const params = model.init(new Random(3));
  // Larger weights than the init, so every position's output depends visibly on the earlier tokens.
  for (const p of Object.values(params)) {
    const data = p.data as Float32Array;
    const rng = new Random(data.length);
    for (let i = 0; i < data.length; i++) data[i] += 0.3 * rng.normal();
  }

  it('is causal: changing token j changes no output before j and changes every output from j on', async () => {
    const base = [9, 1, 2, 3, 4, 10];
    for (const j of [1, 3, 4]) {
      const changed = [...base];
      changed[j] = 7;
      const out = await runEncoder(model, params, [base, changed], 'reference');
      const last = out.last.data as Float32Array;
      const d = tiny.hidden_size;
      const span = 6 * d;
      for (let pos = 0; pos < 6; pos++) {
        let diff = 0;
        for (let c = 0; c < d; c++) diff = Math.max(diff, Math.abs(last[pos * d + c] - last[span + pos * d + c]));
        if (pos < j) assert.equal(diff, 0, `position ${pos} moved when token ${j} changed`);
        else assert.ok(diff > 1e-3, `position ${pos} did not respond to token ${j} (${diff})`);
      }
    }
  });

  it('pools at the first EOS id, or at the largest id for legacy configs (eos_token_id 2)', async () => {
    const row = [9, 10, 3, 10, 2, 1];
    const out = await runEncoder(model, params, [row], 'reference');
    const last = out.last.data as Float32Array;
    assert.deepEqual([...(out.pooled.data as Float32Array)], [...last.subarray(8, 16)]);
    const legacy = new CLIPTextModel({ ...tiny, eos_token_id: 2 });
    const legacyOut = await runEncoder(legacy, params, [[9, 1, 3, 8, 2, 1]], 'reference');
    const legacyLast = legacyOut.last.data as Float32Array;
    assert.deepEqual([...(legacyOut.pooled.data as Float32Array)], [...legacyLast.subarray(0, 8)]);
  });

  it('adds text_projection of the pooled output for CLIPTextModelWithProjection', async () => {
    const withProjection = new CLIPTextModel({
      ...tiny,
      architectures: ['CLIPTextModelWithProjection'],
      projection_dim: 3,
    });
    const types = withProjection.paramTypes();
    assert.deepEqual(types['text_projection.weight'].shape, [3, 8]);
    assert.ok(!('text_projection.bias' in types));
    assert.ok(!('text_projection.weight' in model.paramTypes()));
    const projection = new Random(4).normals(24);
    const all = { ...params, 'text_projection.weight': { data: projection, shape: [3, 8], dtype: 'float32' as const } };
    const compiled = new ReferenceRuntime().compile(
      (x: { params: Record<string, Tensor>; ids: Tensor }) => {
        const out = withProjection.encode(x.params, x.ids);
        return { pooled: out.pooledOutput, embeds: out.textEmbeds! };
      },
      { params: types, ids: ids([1, 6]) },
    );
    const out = (await compiled.run({ params: all, ids: BigInt64Array.from([9n, 1n, 2n, 10n, 10n, 10n]) } as never)) as unknown as Outputs;
    const pooled = out.pooled.data as Float32Array;
    const embeds = out.embeds.data as Float32Array;
    for (let o = 0; o < 3; o++) {
      let expected = 0;
      for (let c = 0; c < 8; c++) expected += projection[o * 8 + c] * pooled[c];
      assert.ok(Math.abs(embeds[o] - expected) < 1e-5, `text_embeds[${o}] ${embeds[o]} vs ${expected}`);
    }
  });

  it('runs the same in onnxruntime (float32) as in the reference interpreter (float64)', async (t) => {
    const input = [
      [9, 1, 2, 3, 10, 10],
      [9, 5, 6, 10, 10, 10],
    ];
    const ort = await runEncoder(model, params, input, 'ort');
    const ref = await runEncoder(model, params, input, 'reference');
    for (const name of ['last', 'pooled', 'skip1']) {
      const error = relativeError(ort[name].data as Float32Array, ref[name].data as Float32Array);
      t.diagnostic(`${name}: ${error.toExponential(2)}`);
      assert.ok(error < 1e-5, `${name}: ${error}`);
    }
  });

  it('has exact gradients: the VJP of every parameter matches central finite differences', async () => {
    const small = new CLIPTextModel({ ...tiny, num_hidden_layers: 1, max_position_embeddings: 4 });
    const host = small.init(new Random(5));
    const inputs: Record<string, ReturnType<typeof ndarray>> = {
      ids: ndarray([1, 4], 'int64', [9, 3, 4, 10]),
    };
    const rng = new Random(9);
    for (const [name, p] of Object.entries(host)) {
      inputs[name] = ndarray(
        p.shape,
        'float32',
        Array.from(p.data as Float32Array, (v) => Math.fround(v + 0.3 * rng.normal())),
      );
    }
    // The key bias adds q·b to every score of a row, which softmax ignores: its gradient is exactly 0,
    // so its finite differences are pure rounding noise and a relative comparison means nothing.
    const wrt = Object.keys(host).filter((name) => !name.endsWith('k_proj.bias'));
    const error = await checkVjp(
      (x) => {
        const out = small.encode(x, x.ids);
        return { last: out.lastHiddenState, pooled: out.pooledOutput };
      },
      inputs,
      1e-6,
      { wrt },
    );
    assert.ok(error < 1e-6, `worst VJP error ${error}`);
  });
});

describe('text_encoder/ folder', () => {
  it('saves config.json + model.safetensors and loads them back bit for bit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'text-encoder-'));
    try {
      const model = new CLIPTextModel({ ...tiny, hidden_act: 'gelu' });
      const params = model.init(new Random(1));
      saveClipTextModel(join(dir, 'text_encoder'), model, params);
      const config = JSON.parse(readFileSync(join(dir, 'text_encoder', 'config.json'), 'utf8'));
      assert.deepEqual(config.architectures, ['CLIPTextModel']);
      assert.equal(config.model_type, 'clip_text_model');
      assert.equal(config.hidden_act, 'gelu');
      assert.equal(config._class_name, undefined);
      const loaded = loadClipTextModel(join(dir, 'text_encoder'));
      assert.deepEqual(loaded.model.config, model.config);
      assert.deepEqual(Object.keys(loaded.params).sort(), Object.keys(params).sort());
      for (const [name, p] of Object.entries(params)) {
        const a = new Uint8Array((p.data as Float32Array).buffer);
        const b = loaded.params[name].data as Float32Array;
        assert.deepEqual(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), a, name);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the file when weights are missing or hold an unexpected tensor', () => {
    const dir = mkdtempSync(join(tmpdir(), 'text-encoder-'));
    try {
      const model = new CLIPTextModel(tiny);
      const params = model.init(new Random(1));
      saveClipTextModel(dir, model, params);
      assert.throws(
        () => loadClipTextModel(dir, 'fp16'),
        (e: Error) => e instanceof NotFoundError && e.message.includes('model.fp16.safetensors'),
      );
      const tensors = Object.fromEntries(
        Object.entries(params).map(([n, p]) => [n, { shape: p.shape, data: p.data as Float32Array }]),
      );
      writeSafetensorsFile(join(dir, 'model.safetensors'), {
        ...tensors,
        'text_projection.weight': { shape: [2, 8], data: new Float32Array(16) },
      });
      assert.throws(
        () => loadClipTextModel(dir),
        (e: Error) =>
          e instanceof FormatError && e.message.includes('model.safetensors') && e.message.includes('text_projection'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
