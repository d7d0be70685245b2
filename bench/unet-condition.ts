/**
 * Seconds per denoising step of a Stable-Diffusion-1.5-sized UNet2DConditionModel (block_out_channels
 * 320/640/1280/1280, cross_attention_dim 768, 859.5 M parameters) with random weights: one no-grad call
 * on a classifier-free-guidance batch of 2 (conditional and unconditional) at 64×64×4 latents (a
 * 512×512 image) with 77 context tokens, in onnxruntime-node on the CPU, against PyTorch on the same
 * config (`bench/unet_condition_torch.py`, a hand-written equivalent of diffusers' network). The
 * weights (3.4 GB in float32) exceed protobuf's 2 GB, so they are graph inputs fed to every call, as
 * `compiledDenoiser` does for such networks. Prints the median of a few calls after one warm-up, the
 * ratio and peak resident memory. Run with `npx tsx bench/unet-condition.ts [--size 64] [--runs 3]`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../src/engine/index.js';
import { OrtNodeRuntime } from '../src/engine/index.js';
import type { ParamTensors } from '../src/models/types.js';
import { UNet2DConditionModel } from '../src/models/unet2d-condition.js';
import { countParams } from '../src/nn/params.js';
import { Random } from '../src/util/random.js';
import { median } from './timing.js';

const BATCH = 2;
const TOKENS = 77;
const argument = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const SIZE = argument('--size', 64);
const RUNS = argument('--runs', 3);

/** runwayml/stable-diffusion-v1-5 `unet/config.json` (keys at their defaults left out). */
const SD15_CONFIG = {
  _class_name: 'UNet2DConditionModel',
  attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280],
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  in_channels: 4,
  layers_per_block: 2,
  norm_num_groups: 32,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
};

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

/** Seconds per call: the median of RUNS calls after one warm-up call. */
async function medianSeconds(run: () => Promise<unknown>): Promise<{ median: number; all: number[] }> {
  await run();
  const all: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await run();
    all.push((performance.now() - start) / 1000);
  }
  return { median: median(all), all };
}

async function engineBench(net: UNet2DConditionModel) {
  const random = new Random(0);
  const params = net.init(random);
  const sampleShape = [BATCH, net.config.in_channels, SIZE, SIZE];
  const contextShape = [BATCH, TOKENS, net.crossAttentionDim];
  const fn = (x: { params: ParamTensors; sample: Tensor; timestep: Tensor; context: Tensor }) =>
    net.apply(x.params, { sample: x.sample, timestep: x.timestep, encoderHiddenStates: x.context });
  const compileStart = performance.now();
  const compiled = new OrtNodeRuntime().compile(
    fn as never,
    {
      params: net.paramTypes(),
      sample: f32(sampleShape),
      timestep: f32([BATCH]),
      context: f32(contextShape),
    } as never,
  );
  const feeds = {
    params,
    sample: random.normals(sampleShape.reduce((a, b) => a * b, 1)),
    timestep: Float32Array.of(500, 500),
    context: random.normals(contextShape.reduce((a, b) => a * b, 1)),
  };
  const first = performance.now();
  await compiled.run(feeds as never);
  const firstCall = (performance.now() - first) / 1000;
  const timing = await medianSeconds(() => compiled.run(feeds as never));
  await compiled.dispose();
  return { ...timing, firstCall, compile: (first - compileStart) / 1000, rss: peakRssMiB() };
}

interface TorchResult {
  step: number;
  times: number[];
  'rss MiB': number;
  threads: number;
  version: string;
  parameters: number;
}

function torchBench(): TorchResult | null {
  const python = '/usr/bin/python3';
  if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    console.log('PyTorch not found (/usr/bin/python3 -c "import torch" failed): engine numbers only.');
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'unet-condition-bench-'));
  try {
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(SD15_CONFIG));
    const script = fileURLToPath(new URL('./unet_condition_torch.py', import.meta.url));
    const result = spawnSync(python, [script, configPath, String(SIZE), String(RUNS)], { encoding: 'utf8' });
    if (result.status !== 0) {
      console.log(`PyTorch benchmark failed: ${result.stderr.trim().split('\n').pop()}`);
      return null;
    }
    return JSON.parse(result.stdout) as TorchResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const seconds = (values: number[]) => values.map((v) => v.toFixed(2)).join(', ');

async function main(): Promise<void> {
  const net = new UNet2DConditionModel(SD15_CONFIG);
  console.log(
    `UNet2DConditionModel (SD-1.5 config), ${countParams(net.paramTypes()).toLocaleString('en')} parameters, ` +
      `latents ${BATCH}×4×${SIZE}×${SIZE}, context ${BATCH}×${TOKENS}×${net.crossAttentionDim}, ${availableParallelism()} cores, median of ${RUNS} calls`,
  );
  const engine = await engineBench(net);
  console.log(
    `engine: graph build + session ${engine.compile.toFixed(1)} s, first call ${engine.firstCall.toFixed(1)} s, calls ${seconds(engine.all)} s`,
  );
  const torch = torchBench();
  if (torch) console.log(`PyTorch: calls ${seconds(torch.times)} s`);
  const ratio = torch ? `${(torch.step / engine.median).toFixed(2)}×` : '—';
  console.log('\n| case | engine | PyTorch | speed-up |\n|---|---|---|---|');
  console.log(
    `| denoising step, CFG batch 2, ${SIZE}×${SIZE}×4 latents | ${engine.median.toFixed(2)} s | ${torch ? `${torch.step.toFixed(2)} s` : '—'} | ${ratio} |`,
  );
  console.log(
    `\npeak RSS: engine ${engine.rss.toFixed(0)} MiB` +
      (torch
        ? `; PyTorch ${torch['rss MiB'].toFixed(0)} MiB (torch ${torch.version}, ${torch.threads} threads)`
        : ''),
  );
}

await main();
