/**
 * `diffusion train-control --base DIR --condition edges --out DIR`: trains a ControlNet for a saved
 * pixel-space UNet2DModel pipeline on pairs (image, Canny edges of the image) of a built-in image
 * dataset (`--data`, default: the base's own training data, else mnist), with the base frozen, and
 * writes the base pipeline plus `controlnet/` as one folder that `diffusion sample --control` reads.
 *
 * This command must not implement training or edge detection: it validates flags and wires
 * `trainControlNet`, `edgeConditionedDataset` and the folder writer together.
 */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { datasetNames, resolveDataset } from '../../data/dataset.js';
import { CONDITION_KINDS, edgeConditionedDataset } from '../../data/edges.js';
import { ControlNetModel } from '../../models/controlnet.js';
import { saveControlPipeline } from '../../models/controlnet-folder.js';
import { UNet2DModel } from '../../models/unet2d.js';
import { trainControlNet } from '../../training/control.js';
import { UsageError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import { asUsageError, loadImagePipeline } from './edit-common.js';
import { checkOutFolder, readRunSummary, SUMMARY_NAME } from './run-folder.js';

interface TrainControlFlags {
  base: string;
  out: string;
  condition: string;
  data?: string;
  steps: string;
  batchSize: string;
  lr: string;
  labelDropout: string;
  seed: string;
}

async function runTrainControl(flags: TrainControlFlags): Promise<void> {
  choiceFlag('--condition', flags.condition, CONDITION_KINDS);
  const steps = integerFlag('--steps', flags.steps, 1, 10_000_000);
  const batchSize = integerFlag('--batch-size', flags.batchSize, 1, 65_536);
  const lr = numberFlag('--lr', flags.lr, 0, 1, true);
  const labelDropout = numberFlag('--label-dropout', flags.labelDropout, 0, 1);
  const seed = integerFlag('--seed', flags.seed, 0);
  const data = choiceFlag(
    '--data',
    flags.data ?? readRunSummary(flags.base)?.data ?? 'mnist',
    datasetNames(),
  );
  checkOutFolder(flags.out, false);
  const base = (() => {
    try {
      return loadImagePipeline(flags.base, 'train-control');
    } catch (error) {
      throw asUsageError(error, 'base');
    }
  })();
  if (!(base.network instanceof UNet2DModel)) {
    throw new UsageError(
      `--base: train-control needs a UNet2DModel, '${flags.base}' holds a ${base.network.className}`,
    );
  }
  const dataset = edgeConditionedDataset(await resolveDataset(data));
  const { model, params } = ControlNetModel.fromUNet(base.network, base.params, new Random(seed));
  let lastLog = 0;
  const result = await trainControlNet({
    base,
    controlnet: model,
    initialParams: params,
    dataset,
    steps,
    batchSize,
    lr,
    labelDropout,
    seed,
    onStep: (r) => {
      if (r.step === steps || Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        process.stderr.write(`train-control ${r.step}/${steps} loss ${r.loss.toFixed(5)}\n`);
      }
    },
  });
  const summary = join(flags.base, SUMMARY_NAME);
  saveControlPipeline(
    flags.out,
    {
      network: base.network,
      params: base.params,
      scheduler: base.schedulerConfig,
      ...(existsSync(summary) ? { extra: { [SUMMARY_NAME]: readFileSync(summary) } } : {}),
    },
    { model, params: result.params, condition: flags.condition },
  );
  const last = result.losses.slice(-20);
  const loss = last.reduce((a, b) => a + b, 0) / last.length;
  process.stdout.write(
    `trained a ControlNet for ${result.steps} steps in ${result.seconds.toFixed(1)} s (mean loss of the last ${last.length}: ${loss.toFixed(5)}); wrote ${flags.out}\n`,
  );
}

export function register(program: Command): void {
  program
    .command('train-control')
    .description('train a ControlNet (edge-map conditioning) for a saved UNet2DModel pipeline')
    .requiredOption('--base <dir>', 'pipeline folder of the frozen base model')
    .requiredOption('--out <dir>', 'folder to write: the base pipeline plus controlnet/')
    .option('--condition <kind>', `conditioning image: ${CONDITION_KINDS.join(', ')}`, 'edges')
    .option('--data <name>', "image dataset (default: the base's training data, else mnist)")
    .option('--steps <n>', 'optimizer steps', '300')
    .option('--batch-size <n>', 'images per step', '16')
    .option('--lr <rate>', 'AdamW learning rate (constant)', '0.001')
    .option(
      '--label-dropout <p>',
      'probability of training on the null class (class-conditional bases)',
      '0.5',
    )
    .option('--seed <n>', 'random seed', '0')
    .action(runTrainControl);
}
