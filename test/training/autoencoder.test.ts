// AutoencoderKL training: a short seeded run on MNIST training digits drives the loss down and the
// reconstruction PSNR on held-out test digits well above the constant-image baseline; bad configs and
// datasets the autoencoder cannot take fail with ConfigError before anything compiles.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { subsetDataset } from '../../src/data/dataset.js';
import { mnistDataset } from '../../src/data/mnist.js';
import { psnr } from '../../src/metrics/image.js';
import { AutoencoderKL } from '../../src/models/autoencoder-kl.js';
import { reconstructImages } from '../../src/pipelines/latent.js';
import {
  autoencoderTrainConfig,
  trainAutoencoder,
  type AutoencoderTrainResult,
} from '../../src/training/autoencoder.js';
import { ConfigError } from '../../src/util/errors.js';

/** Two levels of 8 and 16 channels, latents 2×14×14: trains in seconds on a CPU. */
const tinyConfig = {
  in_channels: 1,
  out_channels: 1,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
  block_out_channels: [8, 16],
  latent_channels: 2,
  norm_num_groups: 4,
  sample_size: 28,
};

/** Stated PSNR for 30 steps (measured 15.1 dB; a constant grey image gives ≈ 10.3 dB). */
const MIN_PSNR_DB = 14;

describe('trainAutoencoder', () => {
  const model = new AutoencoderKL(tinyConfig);
  const train = mnistDataset({ split: 'train' });
  let result: AutoencoderTrainResult;
  before(async () => {
    const subset = subsetDataset(
      train,
      Int32Array.from({ length: 2000 }, (_, i) => i * 4),
      'mnist:subset',
    );
    result = await trainAutoencoder({
      model,
      dataset: subset,
      config: { steps: 30, batchSize: 32, lr: 3e-3, seed: 1 },
    });
  });

  it('lowers the training loss', () => {
    assert.equal(result.losses.length, 30);
    assert.ok(result.losses.every(Number.isFinite));
    const first = result.losses[0];
    const last = result.losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    assert.ok(last < 0.3 * first, `loss ${first} → ${last}`);
  });

  it(`reconstructs held-out test digits above ${MIN_PSNR_DB} dB PSNR`, async () => {
    const test = mnistDataset({ split: 'test' });
    const x = test.batch(Int32Array.from({ length: 200 }, (_, i) => i * 5)).x;
    const reconstructed = await reconstructImages({ model, params: result.params }, x, test.shape);
    const quality = psnr(x, reconstructed);
    const constant = psnr(x, new Float32Array(x.length).fill(-0.75));
    assert.ok(quality > MIN_PSNR_DB, `PSNR ${quality.toFixed(2)} dB`);
    assert.ok(
      quality > constant + 3,
      `PSNR ${quality.toFixed(2)} dB vs constant image ${constant.toFixed(2)} dB`,
    );
  });

  it('rejects bad configs and datasets the autoencoder cannot take', async () => {
    assert.throws(() => autoencoderTrainConfig({ steps: 0, batchSize: 4 }), ConfigError);
    assert.throws(() => autoencoderTrainConfig({ steps: 1, batchSize: 4, klWeight: -1 }), /klWeight/);
    const threeChannel = new AutoencoderKL({ ...tinyConfig, in_channels: 3, out_channels: 3 });
    await assert.rejects(
      trainAutoencoder({ model: threeChannel, dataset: train, config: { steps: 1, batchSize: 4 } }),
      (error: unknown) => error instanceof ConfigError && /\[3, H, W\]/.test(error.message),
    );
  });
});
