// EmbeddingPrior: config validation, parameter names, output shape and dependence on the condition,
// the classEmbeds checks, registry construction, and a finite-difference gradient check through the
// float64 reference interpreter on a tiny network.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/index.js';
import { ndarray, OrtNodeRuntime, trace } from '../../src/engine/index.js';
import { EmbeddingPrior, embeddingPriorConfig } from '../../src/models/embedding-prior.js';
import { buildNetwork } from '../../src/models/registry.js';
import type { Params } from '../../src/models/types.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { checkVjp, randomArray } from '../engine/check.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

async function runPrior(
  net: EmbeddingPrior,
  params: Params,
  sample: Float32Array,
  timestep: Float32Array,
  condition: Float32Array,
): Promise<Float32Array> {
  const batch = timestep.length;
  const compiled = new OrtNodeRuntime().compile(
    (x: { params: Record<string, Tensor>; sample: Tensor; timestep: Tensor; condition: Tensor }) =>
      net.apply(x.params, { sample: x.sample, timestep: x.timestep, classEmbeds: x.condition }),
    {
      params: net.paramTypes(),
      sample: f32([batch, net.config.embedding_dim]),
      timestep: f32([batch]),
      condition: f32([batch, net.config.condition_dim]),
    } as never,
  );
  try {
    const out = (await compiled.run({ params, sample, timestep, condition } as never)) as {
      data: Float32Array;
      shape: readonly number[];
    };
    assert.deepEqual(out.shape, [batch, net.config.embedding_dim]);
    return out.data;
  } finally {
    await compiled.dispose();
  }
}

describe('EmbeddingPrior config', () => {
  it('fills the defaults and names itself', () => {
    const config = embeddingPriorConfig({ embedding_dim: 8, condition_dim: 5 });
    assert.equal(config._class_name, 'EmbeddingPrior');
    assert.equal(config.hidden_dim, 256);
    assert.equal(config.num_layers, 4);
    assert.equal(config.time_embedding_dim, 64);
  });

  it('rejects missing, bad and unknown keys with a ConfigError naming the key', () => {
    const names = (key: string) => (e: Error) => e instanceof ConfigError && e.message.includes(key);
    assert.throws(() => embeddingPriorConfig({ condition_dim: 4 }), names('embedding_dim'));
    assert.throws(() => embeddingPriorConfig({ embedding_dim: 4, condition_dim: 0 }), names('condition_dim'));
    assert.throws(
      () => embeddingPriorConfig({ embedding_dim: 4, condition_dim: 4, hidden_dim: 2.5 }),
      names('hidden_dim'),
    );
    assert.throws(
      () => embeddingPriorConfig({ embedding_dim: 4, condition_dim: 4, time_embedding_dim: 7 }),
      names('time_embedding_dim'),
    );
    assert.throws(
      () => embeddingPriorConfig({ embedding_dim: 4, condition_dim: 4, num_layer: 2 }),
      names('num_layer'),
    );
  });

  it('is built by the network registry from its saved config', () => {
    const net = new EmbeddingPrior({ embedding_dim: 6, condition_dim: 3, hidden_dim: 8, num_layers: 1 });
    const rebuilt = buildNetwork(JSON.parse(JSON.stringify(net.config)));
    assert.ok(rebuilt instanceof EmbeddingPrior);
    assert.deepEqual(rebuilt.config, net.config);
  });
});

describe('EmbeddingPrior parameters', () => {
  it('has diffusers-style names and PyTorch layouts', () => {
    const net = new EmbeddingPrior({
      embedding_dim: 6,
      condition_dim: 3,
      hidden_dim: 16,
      num_layers: 2,
      time_embedding_dim: 8,
    });
    const types = net.paramTypes();
    assert.deepEqual(types['time_embedding.linear_1.weight'].shape, [16, 8]);
    assert.deepEqual(types['condition_proj.weight'].shape, [16, 3]);
    assert.deepEqual(types['input_proj.weight'].shape, [16, 6]);
    assert.deepEqual(types['blocks.1.norm.weight'].shape, [16]);
    assert.deepEqual(types['blocks.1.emb_proj.weight'].shape, [16, 16]);
    assert.deepEqual(types['norm_out.bias'].shape, [16]);
    assert.deepEqual(types['output_proj.weight'].shape, [6, 16]);
    // time MLP 4, condition 2, input 2, per block (norm 2 + three linears 6) × 2, norm_out 2, output 2.
    assert.equal(Object.keys(types).length, 4 + 2 + 2 + 8 * 2 + 2 + 2);
    assert.deepEqual(net.sampleShape, [6]);
    assert.equal(net.numClassEmbeds, null);
    assert.equal(net.classEmbedsWidth, 3);
    const a = net.init(new Random(1));
    const b = net.init(new Random(1));
    for (const name of Object.keys(a)) assert.deepEqual(a[name].data, b[name].data, name);
    assert.ok((a['blocks.0.norm.weight'].data as Float32Array).every((v) => v === 1));
  });
});

describe('EmbeddingPrior forward', () => {
  const net = new EmbeddingPrior({ embedding_dim: 5, condition_dim: 3, hidden_dim: 16, num_layers: 2 });
  const params = net.init(new Random(4));

  it('maps [B, D] to [B, D] and depends on the condition and on t', async () => {
    const x = Float32Array.from({ length: 15 }, (_, i) => Math.sin(i));
    const row = [0.2, -0.4, 0.1, 0.3, 0.5];
    x.set(row, 10);
    x.set(row, 0);
    const cond = Float32Array.from([1, 0, 0, 0, 1, 0, 1, 0, 0]);
    const t = Float32Array.from([40, 500, 40]);
    const out = await runPrior(net, params, x, t, cond);
    assert.equal(out.length, 15);
    assert.ok(out.every(Number.isFinite));
    // Rows 0 and 2 share x, t and c, so they agree.
    assert.deepEqual(out.subarray(0, 5), out.subarray(10, 15));
    const otherCondition = await runPrior(net, params, x, t, Float32Array.from([0, 0, 1, 0, 1, 0, 1, 0, 0]));
    assert.ok(Math.abs(otherCondition[0] - out[0]) > 1e-4, 'the condition changes row 0');
    assert.deepEqual(otherCondition.subarray(5), out.subarray(5));
    const later = await runPrior(net, params, x, Float32Array.from([900, 500, 40]), cond);
    assert.ok(Math.abs(later[0] - out[0]) > 1e-4, 't changes row 0');
  });

  it('needs classEmbeds of shape [batch, condition_dim]: a ShapeError names it and the shape', () => {
    const types = { params: net.paramTypes(), sample: f32([2, 5]), timestep: f32([2]), condition: f32([2, 4]) };
    type X = { params: Record<string, Tensor>; sample: Tensor; timestep: Tensor; condition: Tensor };
    const is = (pattern: RegExp) => (e: Error) => e instanceof ShapeError && pattern.test(e.message);
    assert.throws(
      () => trace((x: X) => net.apply(x.params, { sample: x.sample, timestep: x.timestep }), types as never),
      is(/classEmbeds.*\[2, 3\]/),
    );
    assert.throws(
      () =>
        trace(
          (x: X) => net.apply(x.params, { sample: x.sample, timestep: x.timestep, classEmbeds: x.condition }),
          types as never,
        ),
      is(/classEmbeds must be \[2, 3\], got \[2, 4\]/),
    );
    const wide = { ...types, sample: f32([2, 6]) };
    assert.throws(
      () =>
        trace(
          (x: X) => net.apply(x.params, { sample: x.sample, timestep: x.timestep, classEmbeds: x.condition }),
          wide as never,
        ),
      is(/sample must be \[batch, 5\], got \[2, 6\]/),
    );
  });
});

describe('EmbeddingPrior gradients', () => {
  it('match finite differences (float64 reference interpreter) for every parameter and input', async () => {
    const net = new EmbeddingPrior({
      embedding_dim: 3,
      condition_dim: 2,
      hidden_dim: 5,
      num_layers: 2,
      time_embedding_dim: 4,
    });
    const init = net.init(new Random(11));
    const given: Record<string, ReturnType<typeof ndarray>> = {};
    for (const [name, p] of Object.entries(init))
      given[`p.${name}`] = ndarray(p.shape, 'float32', Array.from(p.data as Float32Array));
    given.sample = randomArray([3, 3], 4);
    given.timestep = ndarray([3], 'float32', [3, 250, 999]);
    given.condition = randomArray([3, 2], 5);
    const wrt = Object.keys(given).filter((k) => k !== 'timestep');
    const worst = await checkVjp(
      (x) => {
        const params = Object.fromEntries(Object.keys(init).map((k) => [k, x[`p.${k}`]]));
        return net.apply(params, { sample: x.sample, timestep: x.timestep, classEmbeds: x.condition });
      },
      given,
      1e-6,
      { wrt },
    );
    assert.ok(worst < 1e-6, `worst relative error ${worst}`);
  });
});
