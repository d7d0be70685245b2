// MLPDenoiser: config validation, parameter names and shapes, deterministic PyTorch-default init, the
// sinusoidal time embedding against a direct formula, class conditioning, and a finite-difference
// gradient check through the engine on a tiny network.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/index.js';
import { ndarray, OrtNodeRuntime, trace } from '../../src/engine/index.js';
import { MLPDenoiser, mlpConfig } from '../../src/models/mlp.js';
import type { Params } from '../../src/models/types.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { checkVjp, randomArray } from '../engine/check.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const i64 = (shape: number[]) => ({ shape, dtype: 'int64' as const });

async function runNetwork(
  net: MLPDenoiser,
  params: Params,
  sample: Float32Array,
  timestep: Float32Array,
  labels?: BigInt64Array,
): Promise<Float32Array> {
  const batch = timestep.length;
  const types = {
    params: net.paramTypes(),
    sample: f32([batch, net.config.in_features]),
    timestep: f32([batch]),
    ...(labels ? { classLabels: i64([batch]) } : {}),
  };
  const compiled = new OrtNodeRuntime().compile(
    (x: { params: Record<string, Tensor>; sample: Tensor; timestep: Tensor; classLabels?: Tensor }) =>
      net.apply(x.params, x),
    types as never,
  );
  try {
    const out = (await compiled.run({
      params,
      sample,
      timestep,
      ...(labels ? { classLabels: labels } : {}),
    } as never)) as {
      data: Float32Array;
    };
    return out.data;
  } finally {
    await compiled.dispose();
  }
}

describe('MLPDenoiser config', () => {
  it('fills small defaults for 2-D data and names itself', () => {
    const config = mlpConfig();
    assert.equal(config._class_name, 'MLPDenoiser');
    assert.equal(config.in_features, 2);
    assert.equal(config.hidden_size, 128);
    assert.equal(config.num_layers, 3);
    assert.equal(config.num_class_embeds, null);
  });

  it('rejects bad values with a ConfigError naming the key', () => {
    assert.throws(
      () => mlpConfig({ hidden_size: -4 }),
      (e: Error) => e instanceof ConfigError && /hidden_size/.test(e.message),
    );
    assert.throws(() => mlpConfig({ time_embedding_dim: 7 }), /time_embedding_dim must be even/);
    assert.throws(() => mlpConfig({ hiden_size: 64 }), /MLPDenoiser config: Unrecognized key.*hiden_size/);
  });
});

describe('MLPDenoiser parameters', () => {
  it('has diffusers-style names and PyTorch layouts', () => {
    const net = new MLPDenoiser({
      in_features: 3,
      hidden_size: 16,
      num_layers: 2,
      time_embedding_dim: 8,
      num_class_embeds: 5,
    });
    const types = net.paramTypes();
    assert.deepEqual(types['time_embedding.linear_1.weight'].shape, [16, 8]);
    assert.deepEqual(types['class_embedding.weight'].shape, [5, 16]);
    assert.deepEqual(types['input_proj.weight'].shape, [16, 3]);
    assert.deepEqual(types['blocks.1.time_emb_proj.bias'].shape, [16]);
    assert.deepEqual(types['output_proj.weight'].shape, [3, 16]);
    assert.equal(Object.keys(types).length, 4 + 1 + 2 + 2 * 6 + 2);
    assert.deepEqual(net.sampleShape, [3]);
    assert.equal(net.numClassEmbeds, 5);
  });

  it('initialises deterministically from the seed within PyTorch default bounds', () => {
    const net = new MLPDenoiser({ hidden_size: 32, num_class_embeds: 3 });
    const a = net.init(new Random(1));
    const b = net.init(new Random(1));
    const c = net.init(new Random(2));
    for (const name of Object.keys(a)) assert.deepEqual(a[name].data, b[name].data, name);
    assert.notDeepEqual(a['input_proj.weight'].data, c['input_proj.weight'].data);
    const w = a['blocks.0.linear_1.weight'].data as Float32Array;
    const bound = 1 / Math.sqrt(32);
    assert.ok(w.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...w) > 0.9 * bound, 'uniform fills the range');
    const e = a['class_embedding.weight'].data as Float32Array;
    const variance = e.reduce((s, v) => s + v * v, 0) / e.length;
    assert.ok(variance > 0.2 && variance < 3, `embedding variance ${variance}`);
  });
});

describe('MLPDenoiser forward', () => {
  it('maps [batch, 2] to [batch, 2] and depends on t', async () => {
    const net = new MLPDenoiser({ hidden_size: 32, num_layers: 2 });
    const params = net.init(new Random(0));
    const sample = Float32Array.from([0.5, -1, 2, 0.25, 0.5, -1]);
    const out = await runNetwork(net, params, sample, Float32Array.from([10, 500, 10]));
    assert.equal(out.length, 6);
    assert.ok(out.every(Number.isFinite));
    // Rows 0 and 2 share x and t, so they agree; changing only row 0's t changes its output.
    assert.deepEqual([out[0], out[1]], [out[4], out[5]]);
    const later = await runNetwork(net, params, sample, Float32Array.from([900, 500, 10]));
    assert.ok(Math.abs(later[0] - out[0]) > 1e-4);
  });

  it('matches a float64 re-implementation of the forward pass (sinusoidal features, blocks, read-out)', async () => {
    const net = new MLPDenoiser({ hidden_size: 4, num_layers: 1, time_embedding_dim: 6 });
    const p = net.init(new Random(3));
    const x = [0.3, -0.7];
    const t = 37.5;
    const got = await runNetwork(net, p, Float32Array.from(x), Float32Array.from([t]));
    const lin = (name: string, v: number[]) => {
      const w = p[`${name}.weight`];
      const [out, inn] = w.shape;
      return Array.from({ length: out }, (_, o) => {
        let s = Number(p[`${name}.bias`].data[o]);
        for (let i = 0; i < inn; i++) s += Number(w.data[o * inn + i]) * v[i];
        return s;
      });
    };
    const silu = (v: number[]) => v.map((z) => z / (1 + Math.exp(-z)));
    const freqs = [0, 1, 2].map((i) => Math.exp((-Math.log(10000) * i) / 3));
    const features = [...freqs.map((f) => Math.cos(t * f)), ...freqs.map((f) => Math.sin(t * f))];
    const emb = lin('time_embedding.linear_2', silu(lin('time_embedding.linear_1', features)));
    let h = lin(
      'input_proj',
      x.map((v) => v * net.config.input_scale),
    );
    const inner = lin('blocks.0.linear_1', silu(h)).map(
      (v, i) => v + lin('blocks.0.time_emb_proj', silu(emb))[i],
    );
    h = h.map((v, i) => v + lin('blocks.0.linear_2', silu(inner))[i]);
    const expected = lin('output_proj', silu(h));
    expected.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-5, `output ${i}: ${got[i]} vs ${v}`));
  });

  it('class conditioning changes the output, and labels are required exactly when conditional', async () => {
    const net = new MLPDenoiser({ hidden_size: 16, num_layers: 1, num_class_embeds: 4 });
    const params = net.init(new Random(5));
    const sample = Float32Array.from([0.1, 0.2, 0.1, 0.2]);
    const t = Float32Array.from([100, 100]);
    const out = await runNetwork(net, params, sample, t, BigInt64Array.from([0n, 3n]));
    assert.ok(Math.abs(out[0] - out[2]) + Math.abs(out[1] - out[3]) > 1e-3);
    const same = await runNetwork(net, params, sample, t, BigInt64Array.from([2n, 2n]));
    assert.deepEqual([same[0], same[1]], [same[2], same[3]]);
    await assert.rejects(runNetwork(net, params, sample, t), ShapeError);
    const uncond = new MLPDenoiser({ hidden_size: 16, num_layers: 1 });
    await assert.rejects(
      runNetwork(uncond, uncond.init(new Random(0)), sample, t, BigInt64Array.from([0n, 1n])),
      /unconditional/,
    );
  });

  it('rejects a sample of the wrong width', () => {
    const net = new MLPDenoiser({ in_features: 3, hidden_size: 8, num_layers: 1 });
    const types = { params: net.paramTypes(), sample: f32([2, 2]), timestep: f32([2]) };
    assert.throws(
      () =>
        trace(
          (x) => net.apply(x.params as Record<string, Tensor>, x as { sample: Tensor; timestep: Tensor }),
          types,
        ),
      /sample must be \[batch, 3\], got \[2, 2\]/,
    );
  });
});

describe('MLPDenoiser gradients', () => {
  it('match finite differences (float64 reference interpreter) for every parameter', async () => {
    const net = new MLPDenoiser({
      hidden_size: 5,
      num_layers: 2,
      time_embedding_dim: 4,
      num_class_embeds: 3,
    });
    const init = net.init(new Random(11));
    const given: Record<string, ReturnType<typeof ndarray>> = {};
    for (const [name, p] of Object.entries(init))
      given[`p.${name}`] = ndarray(p.shape, 'float32', Array.from(p.data as Float32Array));
    given.sample = randomArray([3, 2], 4);
    given.timestep = ndarray([3], 'float32', [3, 250, 999]);
    given.labels = ndarray([3], 'int64', [0, 2, 1]);
    const wrt = Object.keys(given).filter((k) => k.startsWith('p.') || k === 'sample');
    const worst = await checkVjp(
      (x) => {
        const params = Object.fromEntries(Object.keys(init).map((k) => [k, x[`p.${k}`]]));
        return net.apply(params, { sample: x.sample, timestep: x.timestep, classLabels: x.labels });
      },
      given,
      1e-6,
      { wrt },
    );
    assert.ok(worst < 1e-6);
  });
});
