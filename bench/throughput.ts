/**
 * Sampling throughput and peak memory against PyTorch, for two networks of the project's presets: the
 * MNIST U-Net (`SMALL_UNET_CONFIG` at 1×28×28, the architecture of models/mnist-unet without its class
 * embedding) and the small 32×32 U-Net (the same config at 3×32×32, the emoji/image-folder preset).
 * For each, images per second drawing a batch of 16 with 20 deterministic DDIM steps (the engine:
 * `generate` with a compiled denoiser reused across runs; PyTorch: the same loop in
 * `bench/unet_torch.py --mode sample`, no grad), one AdamW train step at batch 16, and the peak RSS
 * (process high-water mark) of each: every measurement runs in its own child process, so each peak
 * belongs to that work alone (runtime, weights, buffers; the engine's includes Node and onnxruntime).
 * Both sides load the same random weights. Prints one markdown table; speed-ups are PyTorch time ÷
 * engine time (> 1: the engine is faster).
 *
 * Usage: npx tsx bench/throughput.ts [--rounds N] [--cases mnist,small32]
 *        (children: --child sample|train --case NAME --dir D)
 * Numbers only, no assertions.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { schedulerConfig } from '../src/diffusion/scheduler-config.js';
import type { Tensor, TensorTree } from '../src/engine/index.js';
import { OrtNodeRuntime, adamw, hostZeros, mse, trainStep, trainStepTypes } from '../src/engine/index.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../src/io/safetensors.js';
import { getFloatTensor } from '../src/io/safetensors-bytes.js';
import type { ParamTensors } from '../src/models/types.js';
import { UNet2DModel } from '../src/models/unet2d.js';
import { saveWeights, loadWeights } from '../src/models/weights.js';
import { compiledDenoiser, generate } from '../src/pipelines/generate.js';
import { SMALL_UNET_CONFIG } from '../src/training/config.js';
import { Random } from '../src/util/random.js';
import { bestRoundMedian } from './timing.js';

const BATCH = 16;
const STEPS = 20;
const CASES: Record<string, { label: string; channels: number; size: number }> = {
  mnist: { label: 'MNIST U-Net 1×28×28', channels: 1, size: 28 },
  small32: { label: 'small U-Net 3×32×32', channels: 3, size: 32 },
};
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    child: { type: 'string' },
    case: { type: 'string' },
    dir: { type: 'string' },
    cases: { type: 'string', default: 'mnist,small32' },
  },
});
const ROUNDS = Number(values.rounds);
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

const networkOf = (name: string) => {
  const c = CASES[name];
  return new UNet2DModel({
    ...SMALL_UNET_CONFIG,
    in_channels: c.channels,
    out_channels: c.channels,
    sample_size: c.size,
  });
};

/** Child: seconds to draw BATCH images with STEPS DDIM steps, and the peak RSS. */
async function engineSample(net: UNet2DModel, dir: string): Promise<Record<string, number>> {
  const params = loadWeights(join(dir, 'weights.safetensors'), net.paramTypes());
  const runtime = new OrtNodeRuntime();
  const denoiser = compiledDenoiser({ network: net, params, numSamples: BATCH }, runtime);
  const config = schedulerConfig('DDPMScheduler', { clipSample: false });
  const draw = () =>
    generate({
      network: net,
      params,
      schedulerConfig: config,
      sampler: 'ddim',
      numSteps: STEPS,
      numSamples: BATCH,
      denoiser,
    });
  const seconds = await bestRoundMedian(draw, ROUNDS, 1);
  await denoiser.dispose();
  return { sample: seconds, 'rss MiB': peakRssMiB() };
}

/** Child: seconds per AdamW train step at BATCH, and the peak RSS. */
async function engineTrain(net: UNet2DModel, dir: string): Promise<Record<string, number>> {
  const params = loadWeights(join(dir, 'weights.safetensors'), net.paramTypes());
  const inputs = readSafetensorsFile(join(dir, 'inputs.safetensors'));
  const types = net.paramTypes();
  const sampleType = f32([BATCH, ...net.sampleShape]);
  const optimizer = adamw();
  const step = trainStep({
    loss: (p: TensorTree, batch: { sample: Tensor; timestep: Tensor; target: Tensor }) =>
      mse(net.apply(p as ParamTensors, batch), batch.target),
    optimizer,
  });
  const batchTypes = { sample: sampleType, timestep: f32([BATCH]), target: sampleType };
  const compiled = new OrtNodeRuntime().compile(
    step as never,
    trainStepTypes(types, batchTypes, optimizer) as never,
  );
  const batch = {
    sample: getFloatTensor(inputs, 'sample').data,
    timestep: getFloatTensor(inputs, 'timestep').data,
    target: getFloatTensor(inputs, 'target').data,
  };
  const stepInputs = { params, opt: hostZeros(optimizer.stateTypes(types)), batch, step: 1, lr: 1e-4 };
  const seconds = await bestRoundMedian(() => compiled.run(stepInputs as never), ROUNDS, 2);
  await compiled.dispose();
  return { 'train step': seconds, 'rss MiB': peakRssMiB() };
}

/** Runs this script as a child for one measurement and parses its JSON line. */
function engineChild(mode: string, name: string, dir: string): Record<string, number> {
  const script = fileURLToPath(import.meta.url);
  const args = ['--import', 'tsx', script, '--child', mode, '--case', name, '--dir', dir];
  const result = spawnSync(process.execPath, [...args, '--rounds', String(ROUNDS)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`engine ${mode} ${name} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

/** One PyTorch measurement (its own process), or null without PyTorch. */
function torchChild(mode: string, dir: string): Record<string, number> | null {
  const python = '/usr/bin/python3';
  if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return null;
  const script = fileURLToPath(new URL('./unet_torch.py', import.meta.url));
  const args = [
    script,
    join(dir, 'config.json'),
    join(dir, 'weights.safetensors'),
    join(dir, 'inputs.safetensors'),
    join(dir, 'torch-output.bin'),
    String(BATCH),
    String(ROUNDS),
    mode,
    String(STEPS),
  ];
  const result = spawnSync(python, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    console.log(`PyTorch ${mode} failed: ${result.stderr.trim().split('\n').pop()}`);
    return null;
  }
  return JSON.parse(result.stdout) as Record<string, number>;
}

/** Writes the case's config, random weights and inputs for both sides into `dir`. */
function prepare(name: string, dir: string): UNet2DModel {
  const net = networkOf(name);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(net.config));
  saveWeights(join(dir, 'weights.safetensors'), net.init(new Random(0)));
  const rng = new Random(1);
  const size = BATCH * net.sampleShape.reduce((a, b) => a * b, 1);
  writeSafetensorsFile(join(dir, 'inputs.safetensors'), {
    sample: { shape: [BATCH, ...net.sampleShape], data: rng.normals(size) },
    timestep: { shape: [BATCH], data: Float32Array.from({ length: BATCH }, () => rng.int(1000)) },
    target: { shape: [BATCH, ...net.sampleShape], data: rng.normals(size) },
  });
  return net;
}

async function main(): Promise<void> {
  const torchFound = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (!torchFound)
    console.log('PyTorch not found (/usr/bin/python3 -c "import torch" failed): engine numbers only.');
  console.log(
    `batch ${BATCH}, ${STEPS} DDIM steps per sample, best of ${ROUNDS} round medians; each cell its own process\n`,
  );
  // Rows are printed as they are measured; the memory table follows at the end.
  console.log('| case | engine | PyTorch | speed-up |\n|---|---|---|---|');
  const memory: string[] = ['| peak RSS | engine | PyTorch |', '|---|---|---|'];
  for (const name of values.cases!.split(',')) {
    if (!CASES[name]) throw new Error(`unknown case '${name}'; valid: ${Object.keys(CASES).join(', ')}`);
    const dir = mkdtempSync(join(tmpdir(), 'throughput-bench-'));
    try {
      prepare(name, dir);
      const label = CASES[name].label;
      const perSecond = (s: number) => `${(BATCH / s).toFixed(1)} images/s`;
      const ratio = (a: number, b: number | undefined) => (b ? `${(b / a).toFixed(2)}×` : '—');
      const mib = (r: Record<string, number> | null) => (r ? `${r['rss MiB'].toFixed(0)} MiB` : '—');
      const sample = { ours: engineChild('sample', name, dir), theirs: torchChild('sample', dir) };
      console.log(
        `| ${label}: sampling, ${STEPS} steps | ${perSecond(sample.ours.sample)} | ${sample.theirs ? perSecond(sample.theirs.sample) : '—'} | ${ratio(sample.ours.sample, sample.theirs?.sample)} |`,
      );
      const train = { ours: engineChild('train', name, dir), theirs: torchChild('train', dir) };
      const ms = (r: Record<string, number>) => `${(r['train step'] * 1000).toFixed(0)} ms`;
      console.log(
        `| ${label}: train step | ${ms(train.ours)} | ${train.theirs ? ms(train.theirs) : '—'} | ${ratio(train.ours['train step'], train.theirs?.['train step'])} |`,
      );
      memory.push(`| ${label}: sampling | ${mib(sample.ours)} | ${mib(sample.theirs)} |`);
      memory.push(`| ${label}: train step | ${mib(train.ours)} | ${mib(train.theirs)} |`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`\n${memory.join('\n')}`);
}

if (values.child) {
  const net = networkOf(values.case!);
  const result =
    values.child === 'sample' ? await engineSample(net, values.dir!) : await engineTrain(net, values.dir!);
  console.log(JSON.stringify(result));
} else {
  await main();
}
