// AutoencoderKL: diffusers' parameter layout for a small config, encode/decode shapes, the posterior
// (clamped logvar, reparameterised sample), KL = 0 for a standard-normal posterior and its closed
// form otherwise, latent scaling, and a few training steps on MNIST digits that cut the reconstruction loss.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostTensor, Tensor } from '../../src/engine/index.js';
import {
  adamw,
  hostZeros,
  interpret,
  ndarray,
  OrtNodeRuntime,
  trace,
  trainStep,
  trainStepTypes,
} from '../../src/engine/index.js';
import {
  AutoencoderKL,
  autoencoderKLConfig,
  diagonalGaussian,
  klDivergence,
} from '../../src/models/autoencoder-kl.js';
import { loadMnistBytes } from '../../src/data/mnist.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const small = {
  in_channels: 1,
  out_channels: 1,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
  block_out_channels: [8, 16],
  layers_per_block: 1,
  latent_channels: 2,
  norm_num_groups: 4,
  sample_size: 28,
};

/** The state_dict keys diffusers' AutoencoderKL(**small) has (one name per weight/bias pair). */
function diffusersNames(): string[] {
  const resnet = (p: string, shortcut = false) =>
    ['norm1', 'conv1', 'norm2', 'conv2', ...(shortcut ? ['conv_shortcut'] : [])].map((l) => `${p}.${l}`);
  const mid = (p: string) => [
    ...resnet(`${p}.resnets.0`),
    ...['group_norm', 'to_q', 'to_k', 'to_v', 'to_out.0'].map((l) => `${p}.attentions.0.${l}`),
    ...resnet(`${p}.resnets.1`),
  ];
  const layers = [
    'encoder.conv_in',
    ...resnet('encoder.down_blocks.0.resnets.0'),
    'encoder.down_blocks.0.downsamplers.0.conv',
    ...resnet('encoder.down_blocks.1.resnets.0', true),
    ...mid('encoder.mid_block'),
    'encoder.conv_norm_out',
    'encoder.conv_out',
    'decoder.conv_in',
    ...mid('decoder.mid_block'),
    ...resnet('decoder.up_blocks.0.resnets.0'),
    ...resnet('decoder.up_blocks.0.resnets.1'),
    'decoder.up_blocks.0.upsamplers.0.conv',
    ...resnet('decoder.up_blocks.1.resnets.0', true),
    ...resnet('decoder.up_blocks.1.resnets.1'),
    'decoder.conv_norm_out',
    'decoder.conv_out',
    'quant_conv',
    'post_quant_conv',
  ];
  return layers.flatMap((l) => [`${l}.weight`, `${l}.bias`]).sort();
}

describe('AutoencoderKL config', () => {
  it("takes diffusers' defaults and validates block lists", () => {
    const config = autoencoderKLConfig();
    assert.equal(config.scaling_factor, 0.18215);
    assert.equal(config.latent_channels, 4);
    assert.throws(
      () => autoencoderKLConfig({ ...small, up_block_types: ['UpDecoderBlock2D'] }),
      (e: Error) => e instanceof ConfigError && /up_block_types has 1 entries/.test(e.message),
    );
    assert.throws(
      () => autoencoderKLConfig({ ...small, norm_num_groups: 3 }),
      /does not divide block width 8/,
    );
    assert.throws(() => autoencoderKLConfig({ down_block_types: ['AttnDownBlock2D'] }), /down_block_types/);
  });
});

describe('AutoencoderKL parameters', () => {
  it("follow diffusers' state_dict layout for a small config", () => {
    const types = new AutoencoderKL(small).paramTypes();
    assert.deepEqual(Object.keys(types).sort(), diffusersNames());
    assert.deepEqual(types['encoder.conv_in.weight'].shape, [8, 1, 3, 3]);
    assert.deepEqual(types['encoder.conv_out.weight'].shape, [4, 16, 3, 3]);
    assert.deepEqual(types['quant_conv.weight'].shape, [4, 4, 1, 1]);
    assert.deepEqual(types['post_quant_conv.weight'].shape, [2, 2, 1, 1]);
    assert.deepEqual(types['decoder.conv_in.weight'].shape, [16, 2, 3, 3]);
    assert.deepEqual(types['decoder.up_blocks.1.resnets.0.conv_shortcut.weight'].shape, [8, 16, 1, 1]);
    assert.deepEqual(types['encoder.mid_block.attentions.0.to_q.weight'].shape, [16, 16]);
    assert.deepEqual(types['decoder.conv_out.weight'].shape, [1, 8, 3, 3]);
  });

  it('leaves out quant convs and attention when the config says so', () => {
    const types = new AutoencoderKL({
      ...small,
      use_quant_conv: false,
      use_post_quant_conv: false,
      mid_block_add_attention: false,
    }).paramTypes();
    assert.ok(!('quant_conv.weight' in types) && !('post_quant_conv.weight' in types));
    assert.ok(!Object.keys(types).some((k) => k.includes('attentions')));
  });
});

describe('AutoencoderKL posterior', () => {
  it('KL of a standard-normal posterior is 0, and matches ½Σ(μ² + σ² − 1 − log σ²) otherwise', () => {
    const traced = trace(
      (x) => ({
        standard: klDivergence({ mean: x.zeros, logvar: x.zeros }),
        other: klDivergence({ mean: x.mu, logvar: x.logvar }),
      }),
      { zeros: f32([2, 1, 1, 2]), mu: f32([1, 1, 1, 2]), logvar: f32([1, 1, 1, 2]) },
    );
    const [standard, other] = interpret(
      traced.outputList.map((o) => o.tensor),
      {
        zeros: ndarray([2, 1, 1, 2], 'float32', [0, 0, 0, 0]),
        mu: ndarray([1, 1, 1, 2], 'float32', [1, -2]),
        logvar: ndarray([1, 1, 1, 2], 'float32', [0.5, -1]),
      },
    );
    assert.deepEqual([...standard.data], [0, 0]);
    const expected = 0.5 * (1 + Math.exp(0.5) - 1 - 0.5 + (4 + Math.exp(-1) - 1 + 1));
    assert.ok(Math.abs(other.data[0] - expected) < 1e-12);
  });

  it('splits moments into mean and logvar and clamps logvar to [−30, 20]', () => {
    const traced = trace(
      (x: { m: Tensor }) => {
        const p = diagonalGaussian(x.m);
        return { mean: p.mean, logvar: p.logvar };
      },
      { m: f32([1, 2, 1, 2]) },
    );
    const [mu, logvar] = interpret(
      traced.outputList.map((o) => o.tensor),
      { m: ndarray([1, 2, 1, 2], 'float32', [1, 2, -50, 40]) },
    );
    assert.deepEqual([...mu.data], [1, 2]);
    assert.deepEqual([...logvar.data], [-30, 20]);
  });
});

describe('AutoencoderKL encode/decode', () => {
  it('maps [B, 1, 28, 28] to latents [B, 2, 14, 14] and back, scaling by scaling_factor', async () => {
    const vae = new AutoencoderKL(small);
    assert.deepEqual(vae.latentShape(28, 28), [2, 14, 14]);
    const params = vae.init(new Random(0));
    const compiled = new OrtNodeRuntime().compile(
      (x: { params: Record<string, Tensor>; images: Tensor }) => {
        const posterior = vae.encode(x.params, x.images);
        const latents = vae.scaleLatents(posterior.mean);
        return { latents, images: vae.decode(x.params, vae.unscaleLatents(latents)), mean: posterior.mean };
      },
      { params: vae.paramTypes(), images: f32([2, 1, 28, 28]) },
    );
    try {
      const rng = new Random(1);
      const images = Float32Array.from({ length: 2 * 784 }, () => rng.normal());
      const out = (await compiled.run({ params, images } as never)) as unknown as Record<string, HostTensor>;
      assert.deepEqual(out.latents.shape, [2, 2, 14, 14]);
      assert.deepEqual(out.images.shape, [2, 1, 28, 28]);
      const ratio = (out.latents.data[5] as number) / (out.mean.data[5] as number);
      assert.ok(Math.abs(ratio - 0.18215) < 1e-5);
    } finally {
      await compiled.dispose();
    }
  });

  it('rejects images whose size the encoder cannot halve', () => {
    const vae = new AutoencoderKL(small);
    assert.throws(
      () =>
        trace((x: { p: Record<string, Tensor>; x: Tensor }) => vae.encode(x.p, x.x).mean, {
          p: vae.paramTypes(),
          x: f32([1, 1, 27, 28]),
        }),
      (e: Error) => e instanceof ShapeError && /27×28 is not divisible by 2/.test(e.message),
    );
  });
});

describe('AutoencoderKL training', () => {
  it('a few AdamW steps on MNIST digits cut the reconstruction loss', async (t) => {
    const vae = new AutoencoderKL({ ...small, block_out_channels: [8, 8], mid_block_add_attention: false });
    const batchSize = 8;
    const { pixels } = loadMnistBytes();
    const images = Float32Array.from({ length: batchSize * 784 }, (_, i) => (2 * pixels[i]) / 255 - 1);
    const optimizer = adamw({ weightDecay: 0 });
    const step = trainStep({
      loss: (p, batch: { images: Tensor; noise: Tensor }) =>
        vae.loss(p as Record<string, Tensor>, batch.images, batch.noise).loss,
      optimizer,
      clipNorm: 1,
    });
    const types = trainStepTypes(
      vae.paramTypes(),
      { images: f32([batchSize, 1, 28, 28]), noise: f32([batchSize, 2, 14, 14]) },
      optimizer,
    );
    const evaluate = new OrtNodeRuntime().compile(
      (x: { params: Record<string, Tensor>; images: Tensor; noise: Tensor }) =>
        vae.loss(x.params, x.images, x.noise).reconstruction,
      { params: vae.paramTypes(), images: f32([batchSize, 1, 28, 28]), noise: f32([batchSize, 2, 14, 14]) },
    );
    const compiled = new OrtNodeRuntime().compile(step as never, types);
    try {
      const rng = new Random(2);
      let params = vae.init(new Random(0)) as unknown;
      let opt = hostZeros(optimizer.stateTypes(vae.paramTypes())) as unknown;
      const noise = () => Float32Array.from({ length: batchSize * 2 * 196 }, () => rng.normal());
      const fixedNoise = noise();
      const reconstruction = async () =>
        ((await evaluate.run({ params, images, noise: fixedNoise } as never)) as unknown as HostTensor)
          .data[0] as number;
      const before = await reconstruction();
      for (let t = 1; t <= 40; t++) {
        const out = (await compiled.run({
          params,
          opt,
          batch: { images, noise: noise() },
          step: t,
          lr: 3e-3,
        } as never)) as {
          params: unknown;
          opt: unknown;
        };
        ({ params, opt } = out);
      }
      const after = await reconstruction();
      t.diagnostic(`reconstruction MSE ${before.toFixed(4)} → ${after.toFixed(4)} after 40 steps`);
      assert.ok(after < 0.6 * before, `reconstruction MSE ${before.toFixed(4)} → ${after.toFixed(4)}`);
    } finally {
      await compiled.dispose();
      await evaluate.dispose();
    }
  });
});
