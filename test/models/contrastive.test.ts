// ContrastiveModel (CLIP-style text + image towers): config validation, shapes and unit norms, the
// symmetric cross-entropy against a host re-computation (clamped logit scale included), the loss
// preferring the aligned pairing, gradients against float64 finite differences, folder round trip and
// folder errors, and the host embedding helpers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor, Tensor } from '../../src/engine/index.js';
import { interpret, ndarray, ReferenceRuntime, trace, valueAndGrad } from '../../src/engine/index.js';
import { serializeSafetensors } from '../../src/io/safetensors-bytes.js';
import {
  ContrastiveModel,
  contrastiveLoss,
  embedImages,
  embedTexts,
  loadContrastiveModel,
  saveContrastiveModel,
} from '../../src/models/contrastive.js';
import type { Params, ParamTensors } from '../../src/models/types.js';
import { trainClipTokenizer } from '../../src/text/index.js';
import { ConfigError, FormatError, NotFoundError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const TEXT = {
  vocab_size: 20,
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  max_position_embeddings: 6,
  bos_token_id: 18,
  eos_token_id: 19,
  pad_token_id: 0,
};
const TINY = { embed_dim: 4, image_channels: 1, image_size: 8, vision_channels: [4, 8], norm_num_groups: 2, text: TEXT };
const B = 4;

/** B rows of [BOS, a, b, EOS, pad, pad] with distinct a, b. */
const IDS = BigInt64Array.from([18, 3, 4, 19, 0, 0, 18, 5, 6, 19, 0, 0, 18, 7, 8, 19, 0, 0, 18, 9, 2, 19, 0, 0].map(BigInt));

function tiny(): { model: ContrastiveModel; params: Params; images: Float32Array } {
  const model = new ContrastiveModel(TINY);
  const random = new Random(3);
  return { model, params: model.init(random), images: random.normals(B * 64) };
}

const types = (model: ContrastiveModel) => ({
  params: model.paramTypes(),
  images: { shape: [B, 1, 8, 8], dtype: 'float32' as const },
  ids: { shape: [B, 6], dtype: 'int64' as const },
});

type Inputs = { params: ParamTensors; images: Tensor; ids: Tensor };

async function reference<O>(model: ContrastiveModel, fn: (x: Inputs) => O, feeds: object): Promise<O> {
  const compiled = new ReferenceRuntime().compile(fn as never, types(model) as never);
  return (await compiled.run(feeds as never)) as unknown as O;
}

function dot(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[i * d + k] * b[j * d + k];
  return s;
}

/** CLIP's loss recomputed on the host from the embeddings: mean of row and column cross-entropies. */
function hostLoss(image: ArrayLike<number>, text: ArrayLike<number>, scale: number, b: number, d: number): number {
  const logits = Array.from({ length: b }, (_, i) => Array.from({ length: b }, (_, j) => scale * dot(image, i, text, j, d)));
  const lse = (xs: number[]) => {
    const m = Math.max(...xs);
    return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
  };
  let total = 0;
  for (let i = 0; i < b; i++) total += lse(logits[i]) - logits[i][i];
  for (let j = 0; j < b; j++) total += lse(logits.map((row) => row[j])) - logits[j][j];
  return total / (2 * b);
}

describe('ContrastiveModel config', () => {
  it('fills defaults, sets the text projection to embed_dim and names bad keys', () => {
    const model = new ContrastiveModel({ text: TEXT });
    assert.equal(model.embedDim, 32);
    assert.deepEqual(model.config.vision_channels, [16, 32, 64]);
    assert.equal(model.config.logit_scale_init_value, 2.6592);
    assert.equal(model.config._class_name, 'ContrastiveModel');
    assert.deepEqual(model.textModel.config.architectures, ['CLIPTextModelWithProjection']);
    assert.equal(model.textModel.config.projection_dim, 32);
    const types = model.paramTypes();
    assert.deepEqual(types['text_projection.weight'].shape, [32, 8]);
    assert.deepEqual(types['visual_projection.weight'].shape, [32, 64]);
    assert.deepEqual(types['vision_model.conv_in.weight'].shape, [16, 1, 3, 3]);
    assert.deepEqual(types['vision_model.blocks.1.conv.weight'].shape, [64, 32, 3, 3]);
    assert.deepEqual(types.logit_scale.shape, []);
    assert.ok('text_model.encoder.layers.0.self_attn.q_proj.weight' in types);
    assert.throws(() => new ContrastiveModel({ embed_dim: 0 }), (e: Error) => e instanceof ConfigError && /'embed_dim'/.test(e.message));
    assert.throws(() => new ContrastiveModel({ vision_channels: [] }), (e: Error) => e instanceof ConfigError && /'vision_channels'/.test(e.message));
    assert.throws(() => new ContrastiveModel({ embeddim: 4 }), (e: Error) => e instanceof ConfigError && /embeddim/.test(e.message));
    assert.throws(
      () => new ContrastiveModel({ vision_channels: [6, 12], norm_num_groups: 4 }),
      (e: Error) => e instanceof ConfigError && /'norm_num_groups'/.test(e.message),
    );
    assert.throws(
      () => new ContrastiveModel({ text: { ...TEXT, num_attention_heads: 3 } }),
      (e: Error) => e instanceof ConfigError && /'text'/.test(e.message),
    );
    assert.throws(
      () => new ContrastiveModel({ embed_dim: 4, text: { ...TEXT, projection_dim: 8 } }),
      (e: Error) => e instanceof ConfigError && /text\.projection_dim/.test(e.message),
    );
  });
});

describe('ContrastiveModel forward', () => {
  it('embeds images and texts as unit vectors [B, D], initialises logit_scale to ln(1/0.07)', async () => {
    const { model, params, images } = tiny();
    assert.ok(Math.abs((params.logit_scale.data[0] as number) - 2.6592) < 1e-6);
    const out = await reference(
      model,
      (x) => ({ image: model.encodeImages(x.params, x.images), text: model.encodeText(x.params, x.ids) }),
      { params, images, ids: IDS },
    ) as unknown as { image: HostTensor; text: HostTensor };
    for (const e of [out.image, out.text]) {
      assert.deepEqual(e.shape, [B, 4]);
      for (let i = 0; i < B; i++) assert.ok(Math.abs(dot(e.data as Float32Array, i, e.data as Float32Array, i, 4) - 1) < 1e-5);
    }
    // Different captions and images give different embeddings.
    assert.ok(dot(out.text.data as Float32Array, 0, out.text.data as Float32Array, 1, 4) < 0.9999);
    assert.ok(dot(out.image.data as Float32Array, 0, out.image.data as Float32Array, 1, 4) < 0.9999);
  });

  it('computes CLIP symmetric cross-entropy with the logit scale clamped at 100', async () => {
    const { model, params, images } = tiny();
    for (const s of [2.6592, 1, 10]) {
      const p = { ...params, logit_scale: { ...params.logit_scale, data: Float32Array.of(s) } };
      const out = await reference(
        model,
        (x) => ({
          loss: contrastiveLoss(model, x.params, x.images, x.ids),
          image: model.encodeImages(x.params, x.images),
          text: model.encodeText(x.params, x.ids),
        }),
        { params: p, images, ids: IDS },
      ) as unknown as { loss: HostTensor; image: HostTensor; text: HostTensor };
      const expected = hostLoss(out.image.data as Float32Array, out.text.data as Float32Array, Math.min(Math.exp(s), 100), B, 4);
      assert.ok(Math.abs((out.loss.data[0] as number) - expected) < 1e-4 * expected, `scale ${s}: ${out.loss.data[0]} vs ${expected}`);
    }
  });

  it('gives an aligned pairing a lower loss than a shuffled one', async (t) => {
    const { model, params, images } = tiny();
    const p = { ...params, logit_scale: { ...params.logit_scale, data: Float32Array.of(Math.log(100)) } };
    const emb = await reference(
      model,
      (x) => ({ image: model.encodeImages(x.params, x.images), text: model.encodeText(x.params, x.ids) }),
      { params: p, images, ids: IDS },
    ) as unknown as { image: HostTensor; text: HostTensor };
    // The aligned batch pairs image i with the caption whose embedding matches it best overall
    // (the permutation maximising Σ cos(image_i, text_π(i))); the shuffled one with the worst.
    const perms = (n: number): number[][] =>
      n === 0 ? [[]] : perms(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
    const score = (perm: number[]) => perm.reduce((s, j, i) => s + dot(emb.image.data as Float32Array, i, emb.text.data as Float32Array, j, 4), 0);
    const ranked = perms(B).sort((a, b) => score(b) - score(a));
    const permuted = (perm: number[]) => BigInt64Array.from(perm.flatMap((j) => Array.from(IDS.subarray(j * 6, j * 6 + 6))));
    const lossOf = async (perm: number[]) =>
      ((await reference(model, (x) => contrastiveLoss(model, x.params, x.images, x.ids), { params: p, images, ids: permuted(perm) })) as unknown as HostTensor).data[0] as number;
    const aligned = await lossOf(ranked[0]);
    const shuffled = await lossOf(ranked[ranked.length - 1]);
    t.diagnostic(`loss: aligned ${aligned.toFixed(4)}, shuffled ${shuffled.toFixed(4)}`);
    assert.ok(aligned < shuffled - 0.1, `aligned ${aligned} vs shuffled ${shuffled}`);
  });
});

describe('contrastiveLoss gradients', () => {
  it('match central finite differences in float64 along random directions', (t) => {
    const { model, params, images } = tiny();
    const traced = trace(
      (x: Inputs) =>
        valueAndGrad((inputs: { p: ParamTensors; images: Tensor }) => contrastiveLoss(model, inputs.p, inputs.images, x.ids))({
          p: x.params,
          images: x.images,
        }),
      types(model),
    );
    const feeds: Record<string, ReturnType<typeof ndarray>> = {};
    for (const { name, tensor } of traced.inputList) {
      const [root, ...rest] = name.split('.');
      const key = rest.join('.');
      const data = root === 'params' ? params[key].data : root === 'images' ? images : IDS;
      feeds[name] = ndarray(tensor.shape, tensor.dtype, Array.from(data as ArrayLike<number | bigint>, Number));
    }
    const outputs = traced.outputList;
    const valueIndex = outputs.findIndex((o) => o.name === 'value');
    const all = interpret(outputs.map((o) => o.tensor), feeds);
    const gradOf = new Map(outputs.map((o, i) => [o.name.replace(/^grad\.p\./, 'params.').replace(/^grad\./, ''), all[i].data]));
    const differentiable = traced.inputList.filter((i) => i.tensor.dtype === 'float32').map((i) => i.name);
    const valueAt = (shifted: Record<string, ReturnType<typeof ndarray>>) =>
      interpret([outputs[valueIndex].tensor], shifted)[0].data[0];
    for (const seed of [1, 2, 3]) {
      const random = new Random(50 + seed);
      const direction = Object.fromEntries(differentiable.map((name) => [name, random.normals(feeds[name].data.length)]));
      const norm = Math.sqrt(Object.values(direction).reduce((t, d) => t + d.reduce((a, v) => a + v * v, 0), 0));
      const h = 1e-5;
      const shifted = (sign: number) => ({
        ...feeds,
        ...Object.fromEntries(
          differentiable.map((name) => [name, { ...feeds[name], data: feeds[name].data.map((v, i) => v + sign * h * direction[name][i] / norm) }]),
        ),
      });
      const numeric = (valueAt(shifted(1)) - valueAt(shifted(-1))) / (2 * h);
      let analytic = 0;
      for (const name of differentiable) {
        const g = gradOf.get(name);
        assert.ok(g, `no gradient for ${name}`);
        g.forEach((v, i) => (analytic += (v * direction[name][i]) / norm));
      }
      t.diagnostic(`direction ${seed}: finite difference ${numeric.toExponential(8)}, gradient ${analytic.toExponential(8)}`);
      assert.ok(Math.abs(analytic) > 1e-4, `direction ${seed}: gradient ${analytic} too small to test`);
      assert.ok(Math.abs(numeric - analytic) < 1e-6 * Math.abs(analytic) + 1e-9, `direction ${seed}: finite difference ${numeric}, gradient ${analytic}`);
    }
  });
});

describe('ContrastiveModel folders', () => {
  const captions = ['a red circle', 'a blue square', 'a green circle', 'a red square'];
  const tokenizer = trainClipTokenizer(captions, { vocabSize: 530, modelMaxLength: 8 });
  const model = new ContrastiveModel({
    ...TINY,
    text: { ...TEXT, vocab_size: tokenizer.vocabSize, max_position_embeddings: 8, bos_token_id: tokenizer.bosTokenId, eos_token_id: tokenizer.eosTokenId, pad_token_id: tokenizer.padTokenId },
  });
  const params = model.init(new Random(9));

  it('round-trips config, weights (bit-identical) and tokenizer; embeddings agree', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'contrastive-'));
    try {
      saveContrastiveModel(join(dir, 'm'), { model, params, tokenizer });
      const loaded = loadContrastiveModel(join(dir, 'm'));
      assert.deepEqual(loaded.model.config, model.config);
      assert.deepEqual(Object.keys(loaded.params).sort(), Object.keys(params).sort());
      for (const [name, p] of Object.entries(params)) {
        assert.deepEqual(loaded.params[name].shape, p.shape, name);
        assert.deepEqual(Buffer.from((loaded.params[name].data as Float32Array).buffer), Buffer.from((p.data as Float32Array).buffer), name);
      }
      assert.deepEqual(loaded.tokenizer.encode('a red square'), tokenizer.encode('a red square'));
      const config = JSON.parse(readFileSync(join(dir, 'm', 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(config._class_name, 'ContrastiveModel');
      // Host helpers: chunked, padded runs agree with one traced run of the same inputs.
      const images = new Random(4).normals(B * 64);
      const embeddedImages = await embedImages(loaded, images, B);
      const embeddedTexts = await embedTexts(loaded, captions);
      const ids = tokenizer.encodeBatch(captions, { maxLength: 8 }).inputIds;
      const direct = (await new ReferenceRuntime()
        .compile(
          ((x: Inputs) => ({ image: model.encodeImages(x.params, x.images), text: model.encodeText(x.params, x.ids) })) as never,
          { ...types(model), ids: { shape: [B, 8], dtype: 'int64' } } as never,
        )
        .run({ params, images, ids } as never)) as unknown as { image: HostTensor; text: HostTensor };
      assert.equal(embeddedImages.length, B * 4);
      assert.equal(embeddedTexts.length, B * 4);
      embeddedImages.forEach((v, i) => assert.ok(Math.abs(v - (direct.image.data[i] as number)) < 1e-5));
      embeddedTexts.forEach((v, i) => assert.ok(Math.abs(v - (direct.text.data[i] as number)) < 1e-5));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad folders with errors naming the problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'contrastive-bad-'));
    try {
      const m = join(dir, 'm');
      assert.throws(() => loadContrastiveModel(join(dir, 'none')), NotFoundError);
      saveContrastiveModel(m, { model, params, tokenizer });
      const weights = join(m, 'model.safetensors');
      const good = readFileSync(weights);
      const { logit_scale: _dropped, ...rest } = params;
      assert.throws(
        () => saveContrastiveModel(join(dir, 'partial'), { model, params: rest, tokenizer }),
        (e: Error) => e instanceof ShapeError && /logit_scale/.test(e.message),
      );
      assert.equal(existsSync(join(dir, 'partial')), false);
      writeFileSync(weights, serializeSafetensors(Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, { dtype: 'F32', shape: v.shape, data: v.data as Float32Array }]))));
      assert.throws(() => loadContrastiveModel(m), (e: Error) => e instanceof FormatError && /logit_scale/.test(e.message));
      const bent = { ...params, 'visual_projection.weight': { ...params['visual_projection.weight'], shape: [8, 4] } };
      writeFileSync(weights, serializeSafetensors(Object.fromEntries(Object.entries(bent).map(([k, v]) => [k, { dtype: 'F32', shape: v.shape, data: v.data as Float32Array }]))));
      assert.throws(() => loadContrastiveModel(m), (e: Error) => e instanceof FormatError && /visual_projection\.weight.*shape/.test(e.message));
      writeFileSync(weights, good);
      assert.doesNotThrow(() => loadContrastiveModel(m));
      rmSync(join(m, 'tokenizer'), { recursive: true });
      assert.throws(() => loadContrastiveModel(m), (e: Error) => e instanceof NotFoundError && /tokenizer/.test(e.message));
      rmSync(weights);
      assert.throws(() => loadContrastiveModel(m), (e: Error) => e instanceof NotFoundError && /model\.safetensors/.test(e.message));
      const configPath = join(m, 'config.json');
      const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      writeFileSync(configPath, JSON.stringify({ ...config, _class_name: 'UNet2DModel' }));
      assert.throws(() => loadContrastiveModel(m), (e: Error) => e instanceof ConfigError && /UNet2DModel/.test(e.message));
      rmSync(configPath);
      assert.throws(() => loadContrastiveModel(m), (e: Error) => e instanceof NotFoundError && /config\.json/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
