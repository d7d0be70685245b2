// Latent diffusion end to end: `diffusion train-vae` writes a diffusers AutoencoderKL folder whose
// encode→decode reaches a stated PSNR on held-out MNIST digits and whose scaling_factor gives the
// latents unit variance; a pipeline folder with vae/ + unet/ round-trips and samples decode to images
// of the data shape; `train --vae` trains on latents and `sample` decodes them to a 28-px image grid.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mnistDataset } from '../../src/data/mnist.js';
import { readImage } from '../../src/io/images.js';
import { psnr } from '../../src/metrics/image.js';
import { loadPipeline, savePipeline, type VaeComponent } from '../../src/models/pipeline-folder.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { generate } from '../../src/pipelines/generate.js';
import {
  decodeScaledLatents,
  encodeImages,
  fitUNetLevels,
  generateLatent,
  loadVaeFolder,
  reconstructImages,
} from '../../src/pipelines/latent.js';
import { NotFoundError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

/** Stated PSNR of a 30-step CLI-trained VAE on test digits (measured 15.6 dB; constant image ≈ 10.3 dB). */
const MIN_PSNR_DB = 14;

const std = (values: Float32Array): number => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
};

describe('latent diffusion', () => {
  let dir = '';
  let vaeDir = '';
  let vae: VaeComponent;
  const test = mnistDataset({ split: 'test' });
  const digits = test.batch(Int32Array.from({ length: 200 }, (_, i) => i * 5)).x;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'latent-'));
    vaeDir = join(dir, 'vae');
    const result = run('train-vae', '--data', 'mnist', '--steps', '30', '--width', '8', '--out', vaeDir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /reconstruction PSNR/);
    vae = loadVaeFolder(vaeDir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`train-vae writes a diffusers VAE folder reaching ${MIN_PSNR_DB} dB on held-out digits`, async () => {
    const config = JSON.parse(readFileSync(join(vaeDir, 'config.json'), 'utf8'));
    assert.equal(config._class_name, 'AutoencoderKL');
    assert.deepEqual(config.block_out_channels, [8, 16]);
    assert.ok(existsSync(join(vaeDir, 'diffusion_pytorch_model.safetensors')));
    const quality = psnr(digits, await reconstructImages(vae, digits, test.shape));
    assert.ok(quality > MIN_PSNR_DB, `PSNR ${quality.toFixed(2)} dB`);
    // scaling_factor = 1/std measured on training digits: held-out latents come out near unit variance.
    const latents = await encodeImages(vae, digits, test.shape);
    const scaledStd = std(latents) * config.scaling_factor;
    assert.ok(scaledStd > 0.8 && scaledStd < 1.25, `scaled latent std ${scaledStd}`);
  });

  it('a pipeline folder with vae/ and unet/ round-trips and its samples decode to images', async () => {
    const unet = new UNet2DModel(
      fitUNetLevels(
        {
          sample_size: 14,
          in_channels: 2,
          out_channels: 2,
          block_out_channels: [8, 16, 16],
          down_block_types: ['DownBlock2D', 'DownBlock2D', 'DownBlock2D'],
          up_block_types: ['UpBlock2D', 'UpBlock2D', 'UpBlock2D'],
          layers_per_block: 1,
          norm_num_groups: 4,
        },
        14,
      ),
    );
    assert.deepEqual(unet.config.block_out_channels, [8, 16]);
    const scheduler = schedulerConfig('DDPMScheduler', { clipSample: false });
    const folder = join(dir, 'pipeline');
    savePipeline(folder, { network: unet, params: unet.init(new Random(3)), scheduler, vae });
    const loaded = loadPipeline(folder);
    assert.ok(loaded.vae);
    assert.deepEqual(loaded.vae.model.config, vae.model.config);
    const name = 'decoder.conv_out.weight';
    assert.deepEqual(loaded.vae.params[name].data, vae.params[name].data);
    const options = {
      network: loaded.network,
      params: loaded.params,
      schedulerConfig: loaded.schedulerConfig,
      numSteps: 3,
      numSamples: 3,
      seed: 5,
    };
    const { images, shape } = await generateLatent({ ...options, vae: loaded.vae });
    assert.deepEqual(shape, [1, 28, 28]);
    assert.equal(images.length, 3 * 28 * 28);
    assert.ok(images.every(Number.isFinite));
    // The same latents decoded directly give the same images (decode is the only step after sampling).
    const latents = await generate(options);
    assert.deepEqual(await decodeScaledLatents(loaded.vae, latents, [2, 14, 14]), images);
    // Decoding real digits' latents stays in the data range (up to a small overshoot).
    const decoded = await reconstructImages(loaded.vae, digits, test.shape);
    const inRange = decoded.filter((v) => v >= -1.25 && v <= 1.25).length / decoded.length;
    assert.ok(inRange > 0.99, `${inRange} of decoded values in range`);
  });

  it('train --vae trains on latents and sample decodes them to a 28-px grid', () => {
    const config = join(dir, 'latent.json');
    writeFileSync(
      config,
      JSON.stringify({
        data: 'mnist',
        dataOptions: { split: 'test', imageSize: 32 },
        model: {
          className: 'UNet2DModel',
          config: {
            block_out_channels: [16, 32, 32],
            down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D'],
            up_block_types: ['UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
            layers_per_block: 1,
            norm_num_groups: 8,
          },
        },
        classConditional: true,
        steps: 2,
        batchSize: 8,
        lr: 1e-3,
        numSamples: 4,
        sampleSteps: 2,
      }),
    );
    const runDir = join(dir, 'run');
    const trained = run('train', '--config', config, '--vae', vaeDir, '--out', runDir);
    assert.equal(trained.status, 0, trained.stderr);
    const index = JSON.parse(readFileSync(join(runDir, 'model_index.json'), 'utf8'));
    assert.deepEqual(index.vae, ['diffusers', 'AutoencoderKL']);
    const unet = JSON.parse(readFileSync(join(runDir, 'unet', 'config.json'), 'utf8'));
    assert.deepEqual([unet.in_channels, unet.sample_size, unet.block_out_channels], [2, 14, [16, 32]]);
    const scheduler = JSON.parse(readFileSync(join(runDir, 'scheduler', 'scheduler_config.json'), 'utf8'));
    assert.equal(scheduler.clip_sample, false);
    const png = join(dir, 'samples.png');
    const sampled = run(
      'sample',
      '--model',
      runDir,
      '--steps',
      '3',
      '--num',
      '4',
      '--class',
      '7',
      '--out',
      png,
    );
    assert.equal(sampled.status, 0, sampled.stderr);
    const image = readImage(png);
    // A 2×2 grid of decoded 28-px digits (14-px latents would give a smaller grid).
    assert.deepEqual([image.width, image.height], [62, 62]);
  });

  it('bad inputs fail with typed errors', async () => {
    assert.throws(() => loadVaeFolder(join(dir, 'missing')), NotFoundError);
    await assert.rejects(encodeImages(vae, new Float32Array(3 * 30 * 30), [3, 30, 30]), ShapeError);
    const missing = run('train', '--data', 'mnist', '--vae', join(dir, 'missing'), '--out', join(dir, 'x'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /VAE folder .* has no config\.json/);
    const badSteps = run('train-vae', '--data', 'mnist', '--steps', '0', '--out', join(dir, 'y'));
    assert.equal(badSteps.status, 2);
    assert.match(badSteps.stderr, /--steps/);
  });
});
