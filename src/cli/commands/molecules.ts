/**
 * `diffusion train-molecules --out DIR [--data molecules|FILE.xyz|FILE.sdf] [--max-seconds S]` trains an
 * equivariant molecule diffusion model (EGNN denoiser, zero-CoM coordinate noise) on the shipped
 * molecule set or an XYZ or SDF file and writes its folder; `diffusion sample-molecules --model DIR --num 100
 * --out dir/` generates molecules, writes them to `dir/molecules.xyz` and `dir/molecules.sdf` (bonds
 * from the stability metric's distance rule, all single) and prints atom and molecule
 * stability and the bond-length distance to the model's training set when that is the shipped one.
 * Every misuse is a one-line error, exit 2, and nothing is written.
 *
 * This command must not implement training, sampling or metrics; it wires pipelines/molecules.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ELEMENTS, type Molecule, loadShippedMolecules, readXyz, writeXyz } from '../../data/molecules.js';
import { readSdf, writeSdf } from '../../io/sdf.js';
import { bondLengthDistance, inferBonds, stability } from '../../metrics/molecules.js';
import {
  loadMoleculeModel,
  sampleMolecules,
  saveMoleculeModel,
  trainMolecules,
} from '../../pipelines/molecules.js';
import { UsageError } from '../../util/errors.js';
import { assertWritableDir } from '../../util/fs.js';
import { integerFlag, numberFlag } from '../flags.js';
import { seedFlag } from './edit-common.js';

interface TrainFlags {
  data: string;
  out: string;
  steps: string;
  batchSize: string;
  lr: string;
  hiddenSize: string;
  layers: string;
  timesteps: string;
  maxSeconds?: string;
  seed: string;
}

interface SampleFlags {
  model: string;
  num: string;
  out: string;
  seed: string;
}

/** `--data`: 'molecules' (the shipped set), an XYZ file or an SDF file (bonds read past). */
function dataFlag(text: string): Molecule[] {
  if (text === 'molecules') return loadShippedMolecules();
  if (!(text.endsWith('.xyz') || text.endsWith('.sdf')) || !existsSync(text)) {
    throw new UsageError(`--data '${text}' is neither 'molecules' nor an existing .xyz or .sdf file`);
  }
  return text.endsWith('.sdf') ? readSdf(text, ELEMENTS) : readXyz(text);
}

async function runTrain(flags: TrainFlags): Promise<void> {
  const molecules = dataFlag(flags.data);
  const steps = integerFlag('--steps', flags.steps, 1);
  const batchSize = integerFlag('--batch-size', flags.batchSize, 1, 4096);
  const learningRate = numberFlag('--lr', flags.lr, 0, 1, true);
  const hidden = integerFlag('--hidden-size', flags.hiddenSize, 1, 4096);
  const layers = integerFlag('--layers', flags.layers, 1, 64);
  const timesteps = integerFlag('--timesteps', flags.timesteps, 2, 100_000);
  const maxSeconds =
    flags.maxSeconds === undefined
      ? undefined
      : numberFlag('--max-seconds', flags.maxSeconds, 0, Infinity, true);
  const seed = seedFlag(flags.seed);
  assertWritableDir(flags.out);
  const started = Date.now();
  const result = await trainMolecules({
    molecules,
    steps,
    batchSize,
    learningRate,
    seed,
    maxSeconds,
    network: { hidden_size: hidden, num_layers: layers },
    diffusion: { num_train_timesteps: timesteps },
    onLog: (step, loss) => process.stdout.write(`step ${step} loss ${loss.toFixed(4)}\n`),
  });
  saveMoleculeModel(flags.out, result.model);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  process.stdout.write(`trained ${result.steps} steps in ${seconds} s; wrote ${flags.out}\n`);
}

async function runSample(flags: SampleFlags): Promise<void> {
  const count = integerFlag('--num', flags.num, 1, 10_000);
  const seed = seedFlag(flags.seed);
  if (!existsSync(join(flags.model, 'config.json'))) {
    throw new UsageError(`--model '${flags.model}' is not a molecule model folder (no config.json)`, {
      hint: 'train one with `diffusion train-molecules --out DIR`',
    });
  }
  const model = loadMoleculeModel(flags.model);
  assertWritableDir(flags.out);
  const molecules = await sampleMolecules(model, { count, seed });
  const file = join(flags.out, 'molecules.xyz');
  writeXyz(file, molecules);
  // Bonds by the distance rule the stability metric scores; that rule gives no orders, so all are single.
  const withBonds = molecules.map((m) => ({
    ...m,
    bonds: inferBonds(m).map(({ i, j }) => ({ i, j, order: 1 })),
  }));
  writeSdf(join(flags.out, 'molecules.sdf'), withBonds);
  const { atomStability, moleculeStability } = stability(molecules);
  const bonds = bondLengthDistance(molecules, loadShippedMolecules()).mean;
  process.stdout.write(
    `wrote ${count} molecules to ${file} and molecules.sdf; atom stability ${(100 * atomStability).toFixed(1)}%, ` +
      `molecule stability ${(100 * moleculeStability).toFixed(1)}%, bond-length W1 to the shipped set ${bonds.toFixed(3)} Å\n`,
  );
}

export function register(program: Command): void {
  program
    .command('train-molecules')
    .description('train an E(n)-equivariant diffusion model (EGNN) on 3-D molecules')
    .requiredOption('--out <dir>', 'model folder to write')
    .option(
      '--data <name|file.xyz|file.sdf>',
      "'molecules' (the shipped set), an XYZ or an SDF file",
      'molecules',
    )
    .option('--steps <n>', 'training steps', '2000')
    .option('--batch-size <n>', 'molecules per step', '32')
    .option('--lr <x>', 'AdamW learning rate', '0.002')
    .option('--hidden-size <n>', 'EGNN hidden width', '48')
    .option('--layers <n>', 'EGNN layers', '3')
    .option('--timesteps <n>', 'diffusion timesteps (training and sampling)', '200')
    .option('--max-seconds <s>', 'stop after this many seconds and save')
    .option('--seed <n>', 'random seed', '0')
    .action(runTrain);
  program
    .command('sample-molecules')
    .description('generate molecules with a model from train-molecules; XYZ and SDF out, stability metrics')
    .requiredOption('--model <dir>', 'model folder written by train-molecules')
    .option('--num <n>', 'number of molecules', '100')
    .requiredOption('--out <dir>', 'folder for molecules.xyz and molecules.sdf')
    .option('--seed <n>', 'random seed', '0')
    .action(runSample);
}
