/**
 * How the engine's time scales with the work: the small U-Net of the presets (`SMALL_UNET_CONFIG`,
 * 3 channels) timed for a no-grad forward (weights frozen, as sampling runs it) and an AdamW train step
 * as the batch doubles (1, 2, 4, 8, 16 at 32×32) and as the image side doubles (16, 32, 64 at batch 4).
 * Work is counted as batch × pixels, which is what the convolutions, norms and element-wise ops scale
 * with; the attention at the half-resolution level grows with pixels² and the per-call overhead is
 * fixed, so small batches and the 64×64 case are where time/work departs from constant. Each row
 * prints time/work relative to the batch-16 32×32 case, and a final line the range of that ratio
 * (1 = perfectly linear) per series.
 *
 * Usage: npx tsx bench/scaling.ts [--rounds N]   Numbers only, no assertions.
 */
import { parseArgs } from 'node:util';
import type { Tensor, TensorTree } from '../src/engine/index.js';
import { OrtNodeRuntime, adamw, hostZeros, mse, trainStep, trainStepTypes } from '../src/engine/index.js';
import type { ParamTensors } from '../src/models/types.js';
import { UNet2DModel } from '../src/models/unet2d.js';
import { SMALL_UNET_CONFIG } from '../src/training/config.js';
import { Random } from '../src/util/random.js';
import { bestRoundMedian } from './timing.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '1' } } });
const ROUNDS = Number(values.rounds);
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

interface Case {
  batch: number;
  size: number;
}
const BATCH_SERIES: Case[] = [1, 2, 4, 8, 16].map((batch) => ({ batch, size: 32 }));
const SIZE_SERIES: Case[] = [16, 32, 64].map((size) => ({ batch: 4, size }));

const work = (c: Case) => c.batch * c.size * c.size;

/** Seconds per no-grad forward and per train step for one case (weights as for training). */
async function timeCase(c: Case): Promise<{ forward: number; train: number }> {
  const net = new UNet2DModel({ ...SMALL_UNET_CONFIG, in_channels: 3, out_channels: 3, sample_size: c.size });
  const params = net.init(new Random(0));
  const types = net.paramTypes();
  const rng = new Random(1);
  const size = c.batch * 3 * c.size * c.size;
  const sample = rng.normals(size);
  const timestep = Float32Array.from({ length: c.batch }, () => rng.int(1000));
  const sampleType = f32([c.batch, 3, c.size, c.size]);
  const forwardFn = (x: { params: ParamTensors; sample: Tensor; timestep: Tensor }) =>
    net.apply(x.params, { sample: x.sample, timestep: x.timestep });
  const forward = new OrtNodeRuntime().compile(
    forwardFn as never,
    { params: types, sample: sampleType, timestep: f32([c.batch]) } as never,
    { frozen: { params } as never },
  );
  const forwardSeconds = await bestRoundMedian(() => forward.run({ sample, timestep } as never), ROUNDS, 2);
  await forward.dispose();
  const optimizer = adamw();
  const step = trainStep({
    loss: (p: TensorTree, batch: { sample: Tensor; timestep: Tensor; target: Tensor }) =>
      mse(net.apply(p as ParamTensors, batch), batch.target),
    optimizer,
  });
  const batchTypes = { sample: sampleType, timestep: f32([c.batch]), target: sampleType };
  const compiled = new OrtNodeRuntime().compile(
    step as never,
    trainStepTypes(types, batchTypes, optimizer) as never,
  );
  const inputs = {
    params,
    opt: hostZeros(optimizer.stateTypes(types)),
    batch: { sample, timestep, target: rng.normals(size) },
    step: 1,
    lr: 1e-4,
  };
  const trainSeconds = await bestRoundMedian(() => compiled.run(inputs as never), ROUNDS, 2);
  await compiled.dispose();
  return { forward: forwardSeconds, train: trainSeconds };
}

/** "min–max" of values, two decimals. */
const range = (values: number[]) => `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;

async function main(): Promise<void> {
  const cases = [...BATCH_SERIES, ...SIZE_SERIES.filter((c) => c.size !== 32)];
  const times = new Map<string, { forward: number; train: number }>();
  const key = (c: Case) => `${c.batch}@${c.size}`;
  for (const c of cases) times.set(key(c), await timeCase(c));
  // The batch-4 32×32 case belongs to both series.
  const reference = times.get(key({ batch: 16, size: 32 }))!;
  const relative = (c: Case, kind: 'forward' | 'train') =>
    times.get(key(c))![kind] / work(c) / (reference[kind] / work({ batch: 16, size: 32 }));
  console.log(
    `small U-Net (3 channels, ${JSON.stringify(SMALL_UNET_CONFIG.block_out_channels)}), best of ${ROUNDS} round medians`,
  );
  console.log('time/work is relative to batch 16 at 32×32 (1.00 = linear in batch × pixels)\n');
  console.log('| batch | side | forward | forward time/work | train step | train time/work |');
  console.log('|---|---|---|---|---|---|');
  for (const c of [...BATCH_SERIES, ...SIZE_SERIES]) {
    const t = times.get(key(c))!;
    console.log(
      `| ${c.batch} | ${c.size} | ${(t.forward * 1000).toFixed(1)} ms | ${relative(c, 'forward').toFixed(2)} | ${(t.train * 1000).toFixed(1)} ms | ${relative(c, 'train').toFixed(2)} |`,
    );
  }
  const series = (name: string, list: Case[], from = 0) => {
    const used = list.slice(from);
    console.log(
      `check, ${name}: time/work ranges forward ${range(used.map((c) => relative(c, 'forward')))}, ` +
        `train ${range(used.map((c) => relative(c, 'train')))}`,
    );
  };
  series('batch 1–16', BATCH_SERIES);
  series('batch 4–16 (past the fixed per-call cost)', BATCH_SERIES, 2);
  series('side 16–64 at batch 4', SIZE_SERIES);
}

await main();
