// The latent variant: distillation applied to a latent pipeline folder (vae/ + unet/) trains the student
// on the VAE's latents of the data set, and the student folder keeps the VAE, so sampling decodes to
// images. Tiny random networks and two updates: this checks the plumbing (shapes, scheduler, folder),
// not quality.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { AutoencoderKL } from '../../src/models/autoencoder-kl.js';
import { loadPipeline, savePipeline } from '../../src/models/pipeline-folder.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { generateLatent } from '../../src/pipelines/latent.js';
import { distillPipeline, type DistillMethod } from '../../src/training/distill-pipeline.js';
import { Random } from '../../src/util/random.js';

describe('distillation of a latent pipeline', () => {
  let dir = '';
  let teacher = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'distill-latent-'));
    teacher = join(dir, 'teacher');
    const vaeModel = new AutoencoderKL({
      in_channels: 1,
      out_channels: 1,
      down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
      up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
      block_out_channels: [4, 4],
      latent_channels: 2,
      norm_num_groups: 2,
      sample_size: 28,
      mid_block_add_attention: false,
    });
    const unet = new UNet2DModel({
      sample_size: 14,
      in_channels: 2,
      out_channels: 2,
      block_out_channels: [8, 8],
      down_block_types: ['DownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'UpBlock2D'],
      layers_per_block: 1,
      norm_num_groups: 4,
    });
    savePipeline(teacher, {
      network: unet,
      params: unet.init(new Random(1)),
      scheduler: schedulerConfig('DDPMScheduler', { clipSample: false }),
      vae: { model: vaeModel, params: vaeModel.init(new Random(2)) },
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [DistillMethod, string, number][] = [
    ['consistency', 'CMStochasticIterativeScheduler', 1],
    ['progressive', 'DDIMScheduler', 2],
  ];
  for (const [method, className, steps] of cases) {
    it(`${method}: the student trains on latents, keeps the VAE and samples images`, async () => {
      const out = join(dir, method);
      const result = await distillPipeline({
        teacherDir: teacher,
        outDir: out,
        method,
        steps,
        fromSteps: 4,
        iterations: 2,
        batchSize: 4,
        lr: 1e-4,
        guidance: 1,
        seed: 0,
        numLevels: 5,
        data: 'mnist',
        dataOptions: { split: 'test' },
      });
      assert.ok(result.finalLosses.every(Number.isFinite), `losses ${result.finalLosses}`);
      const student = loadPipeline(out);
      assert.equal(student.schedulerConfig.className, className);
      assert.ok(student.vae, 'the student folder keeps vae/');
      // Latents are not clamped to [−1, 1] (clip_denoised is for images).
      if (student.schedulerConfig.className === 'CMStochasticIterativeScheduler')
        assert.equal(student.schedulerConfig.clipDenoised, false);
      const { images, shape } = await generateLatent({
        network: student.network,
        params: student.params,
        schedulerConfig: student.schedulerConfig,
        numSteps: steps,
        numSamples: 2,
        seed: 3,
        vae: student.vae,
      });
      assert.deepEqual(shape, [1, 28, 28]);
      assert.ok(images.every(Number.isFinite));
    });
  }
});
