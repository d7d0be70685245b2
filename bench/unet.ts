/**
 * The benchmark U-Net (`../shared/reference/unet_mnist_config.json`: UNet2DModel, 1×28×28, channels
 * 32/64/64, attention at the lowest level) against the same network in PyTorch: a no-grad forward
 * (batch 32; the engine's weights `frozen` into the compiled model, as a sampler uses it) and one
 * AdamW train step (batch 32, MSE loss), each as one compiled graph in onnxruntime-node on the CPU.
 * PyTorch runs `bench/unet_torch.py`, a hand-written equivalent of diffusers' UNet2DModel (diffusers
 * is not needed) that loads the very weights written here, so the bench also reports how far the
 * two outputs differ. Prints best-of-rounds median times, the ratio and peak resident memory.
 * Run with `npx tsx bench/unet.ts [--rounds N]`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor, TensorTree } from '../src/engine/index.js';
import { OrtNodeRuntime, adamw, hostZeros, mse, trainStep, trainStepTypes } from '../src/engine/index.js';
import { writeSafetensorsFile } from '../src/io/safetensors.js';
import { countParams } from '../src/nn/params.js';
import type { ParamTensors } from '../src/models/types.js';
import { UNet2DModel } from '../src/models/unet2d.js';
import { saveWeights } from '../src/models/weights.js';
import { Random } from '../src/util/random.js';
import { bestRoundMedian } from './timing.js';

const BATCH = 32;
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
const configPath = fileURLToPath(new URL('../../shared/reference/unet_mnist_config.json', import.meta.url));
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

/** Seconds per run: best of ROUNDS round medians after 2 warm-up runs (see bench/timing.ts). */
const bestMedian = (run: () => Promise<unknown>) => bestRoundMedian(run, ROUNDS, 2);

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

interface Inputs {
  sample: Float32Array;
  timestep: Float32Array;
  target: Float32Array;
}

function benchInputs(net: UNet2DModel, rng: Random): Inputs {
  const size = BATCH * net.sampleShape.reduce((a, b) => a * b, 1);
  return {
    sample: rng.normals(size),
    timestep: Float32Array.from({ length: BATCH }, () => rng.int(1000)),
    target: rng.normals(size),
  };
}

async function engineBench(net: UNet2DModel, inputs: Inputs) {
  const params = net.init(new Random(0));
  const types = net.paramTypes();
  const sampleType = f32([BATCH, ...net.sampleShape]);
  const forwardFn = (x: { params: ParamTensors; sample: Tensor; timestep: Tensor }) =>
    net.apply(x.params, { sample: x.sample, timestep: x.timestep });
  const forwardCompiled = new OrtNodeRuntime().compile(
    forwardFn as never,
    { params: types, sample: sampleType, timestep: f32([BATCH]) } as never,
    { frozen: { params } as never },
  );
  const feed = { sample: inputs.sample, timestep: inputs.timestep };
  const output = ((await forwardCompiled.run(feed as never)) as unknown as { data: Float32Array }).data;
  const forward = await bestMedian(() => forwardCompiled.run(feed as never));
  await forwardCompiled.dispose();
  const rssForward = peakRssMiB();

  const optimizer = adamw();
  const step = trainStep({
    loss: (p: TensorTree, batch: { sample: Tensor; timestep: Tensor; target: Tensor }) =>
      mse(net.apply(p as ParamTensors, batch), batch.target),
    optimizer,
  });
  const batchTypes = { sample: sampleType, timestep: f32([BATCH]), target: sampleType };
  const stepCompiled = new OrtNodeRuntime().compile(
    step as never,
    trainStepTypes(types, batchTypes, optimizer) as never,
  );
  const stepInputs = {
    params,
    opt: hostZeros(optimizer.stateTypes(types)),
    batch: inputs,
    step: 1,
    lr: 1e-4,
  };
  const train = await bestMedian(() => stepCompiled.run(stepInputs as never));
  await stepCompiled.dispose();
  return { params, output, forward, train, rssForward, rss: peakRssMiB() };
}

function torchBench(dir: string): { times: Record<string, number>; output: Float32Array } | null {
  const python = '/usr/bin/python3';
  if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    console.log('PyTorch not found (/usr/bin/python3 -c "import torch" failed): engine numbers only.');
    return null;
  }
  const script = fileURLToPath(new URL('./unet_torch.py', import.meta.url));
  const outputPath = join(dir, 'torch-output.bin');
  const args = [script, configPath, join(dir, 'weights.safetensors'), join(dir, 'inputs.safetensors')];
  const result = spawnSync(python, [...args, outputPath, String(BATCH), String(ROUNDS)], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    console.log(`PyTorch benchmark failed: ${result.stderr.trim().split('\n').pop()}`);
    return null;
  }
  const bytes = readFileSync(outputPath);
  return {
    times: JSON.parse(result.stdout) as Record<string, number>,
    output: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
  };
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as unknown;
  const net = new UNet2DModel(config);
  const inputs = benchInputs(net, new Random(1));
  console.log(
    `UNet2DModel ${JSON.stringify(net.sampleShape)}, ${countParams(net.paramTypes()).toLocaleString('en')} parameters, batch ${BATCH}, ${availableParallelism()} cores`,
  );
  const engine = await engineBench(net, inputs);
  const dir = mkdtempSync(join(tmpdir(), 'unet-bench-'));
  try {
    saveWeights(join(dir, 'weights.safetensors'), engine.params);
    writeSafetensorsFile(join(dir, 'inputs.safetensors'), {
      sample: { shape: [BATCH, ...net.sampleShape], data: inputs.sample },
      timestep: { shape: [BATCH], data: inputs.timestep },
      target: { shape: [BATCH, ...net.sampleShape], data: inputs.target },
    });
    const torch = torchBench(dir);
    const row = (name: string, ours: number, theirs: number | undefined) =>
      `| ${name} | ${(ours * 1000).toFixed(1)} ms | ${theirs ? `${(theirs * 1000).toFixed(1)} ms` : '—'} | ${theirs ? `${(theirs / ours).toFixed(2)}×` : '—'} |`;
    console.log('\n| case | engine | PyTorch | speed-up |\n|---|---|---|---|');
    console.log(row('forward, no grad (frozen weights)', engine.forward, torch?.times.forward));
    console.log(row('train step (AdamW, MSE)', engine.train, torch?.times['train step']));
    console.log(
      `\npeak RSS: engine ${engine.rssForward.toFixed(0)} MiB after the forward, ${engine.rss.toFixed(0)} MiB overall` +
        (torch
          ? `; PyTorch ${torch.times['rss forward MiB'].toFixed(0)} MiB, ${torch.times['rss MiB'].toFixed(0)} MiB (torch ${torch.times.version}, ${torch.times.threads} threads)`
          : ''),
    );
    if (torch) {
      const diff = relativeDifference(engine.output, torch.output);
      console.log(
        `same weights, same input: max |engine − PyTorch| / max |PyTorch| = ${diff.toExponential(2)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
