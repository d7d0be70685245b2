/**
 * `diffusion train-vae --data NAME --steps N --out DIR`: trains an AutoencoderKL on a built-in image
 * dataset and writes it as diffusers writes `AutoencoderKL.save_pretrained(DIR)` (config.json +
 * diffusion_pytorch_model.safetensors), with `scaling_factor` = 1/std of the posterior means measured on
 * the data, so `diffusion train --vae DIR` hands the denoiser unit-variance latents. Prints the
 * reconstruction PSNR on a slice of the data.
 *
 * This command must not implement training or encoding: it validates flags and wires
 * `trainAutoencoder` and the latent helpers together.
 */
import type { Command } from 'commander';
import { datasetNames, resolveDataset, type Dataset } from '../../data/dataset.js';
import { psnr } from '../../metrics/image.js';
import { AutoencoderKL } from '../../models/autoencoder-kl.js';
import {
  encodeImages,
  reconstructImages,
  saveVaeFolder,
  scalingFactorOf,
  withScalingFactor,
} from '../../pipelines/latent.js';
import { trainAutoencoder } from '../../training/autoencoder.js';
import { UsageError } from '../../util/errors.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';

/** Examples encoded to measure the latent standard deviation and the reconstruction PSNR. */
const MEASURE_COUNT = 1000;

/** Widths of the encoder levels (two levels: latents at half the image side). */
const DEFAULT_WIDTHS = [16, 32];

interface TrainVaeFlags {
  data: string;
  out: string;
  steps: string;
  batchSize: string;
  lr: string;
  klWeight: string;
  latentChannels: string;
  width: string;
  seed: string;
}

/** A small AutoencoderKL for the dataset's images: two levels of `width` and 2·`width` channels. */
export function smallAutoencoder(dataset: Dataset, latentChannels: number, width: number): AutoencoderKL {
  const [channels, height, side] = dataset.shape;
  if (dataset.shape.length !== 3 || height % 2 !== 0 || side % 2 !== 0) {
    throw new UsageError(
      `--data ${dataset.name}: train-vae needs images with an even side, got examples [${dataset.shape.join(', ')}]`,
    );
  }
  const widths = DEFAULT_WIDTHS.map((w) => (w / DEFAULT_WIDTHS[0]) * width);
  return new AutoencoderKL({
    in_channels: channels,
    out_channels: channels,
    down_block_types: widths.map(() => 'DownEncoderBlock2D'),
    up_block_types: widths.map(() => 'UpDecoderBlock2D'),
    block_out_channels: widths,
    layers_per_block: 1,
    latent_channels: latentChannels,
    norm_num_groups: Math.min(8, width),
    sample_size: side,
  });
}

/** `count` examples spread evenly over the dataset (the measurement slice; files may be sorted by class). */
function spreadImages(dataset: Dataset, count: number): Float32Array {
  const n = Math.min(count, dataset.size);
  return dataset.batch(Int32Array.from({ length: n }, (_, i) => Math.floor((i * dataset.size) / n))).x;
}

async function runTrainVae(flags: TrainVaeFlags): Promise<void> {
  const data = choiceFlag('--data', flags.data, datasetNames());
  const steps = integerFlag('--steps', flags.steps, 1, 10_000_000);
  const batchSize = integerFlag('--batch-size', flags.batchSize, 1, 65_536);
  const lr = numberFlag('--lr', flags.lr, 0, 1, true);
  const klWeight = numberFlag('--kl-weight', flags.klWeight, 0, 1);
  const latentChannels = integerFlag('--latent-channels', flags.latentChannels, 1, 64);
  const width = integerFlag('--width', flags.width, 8, 512);
  if (width % 8 !== 0) throw new UsageError(`--width must be a multiple of 8, got ${width}`);
  const seed = integerFlag('--seed', flags.seed, 0);
  const dataset = await resolveDataset(data);
  const model = smallAutoencoder(dataset, latentChannels, width);
  let lastLog = 0;
  const result = await trainAutoencoder({
    model,
    dataset,
    config: { steps, batchSize, lr, klWeight, seed },
    onStep: (r) => {
      if (r.step === r.totalSteps || Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        process.stderr.write(
          `train-vae ${r.step}/${r.totalSteps} loss ${r.loss.toFixed(5)} (${r.stepsPerSecond.toFixed(2)} steps/s)\n`,
        );
      }
    },
  });
  const trained = { model, params: result.params };
  const images = spreadImages(dataset, MEASURE_COUNT);
  const latents = await encodeImages(trained, images, dataset.shape);
  const vae = withScalingFactor(trained, scalingFactorOf(latents));
  const quality = psnr(images, await reconstructImages(vae, images, dataset.shape));
  saveVaeFolder(flags.out, vae);
  process.stdout.write(
    `trained ${steps} steps in ${result.seconds.toFixed(1)} s; reconstruction PSNR ${quality.toFixed(2)} dB on ${Math.min(MEASURE_COUNT, dataset.size)} images; scaling_factor ${vae.model.config.scaling_factor.toPrecision(5)}\n`,
  );
  process.stdout.write(
    `wrote ${flags.out} (AutoencoderKL: config.json, diffusion_pytorch_model.safetensors)\n`,
  );
}

export function register(program: Command): void {
  program
    .command('train-vae')
    .description('train an AutoencoderKL on a built-in image dataset into a diffusers VAE folder')
    .requiredOption('--data <name>', `image dataset: ${datasetNames().join(', ')}`)
    .requiredOption('--out <dir>', 'VAE folder to write (config.json + diffusion_pytorch_model.safetensors)')
    .option('--steps <n>', 'optimizer steps', '600')
    .option('--batch-size <n>', 'images per step', '32')
    .option('--lr <rate>', 'peak learning rate (cosine decay)', '0.003')
    .option('--kl-weight <beta>', 'weight of the KL term relative to the per-pixel MSE', '0.000001')
    .option('--latent-channels <n>', 'channels of the latent (its side is half the image side)', '2')
    .option('--width <n>', 'channels of the first level (the second has twice as many)', '16')
    .option('--seed <n>', 'random seed', '0')
    .action(runTrainVae);
}
