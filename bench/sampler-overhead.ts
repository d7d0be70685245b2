/**
 * How much of a sampling step is the sampler's own arithmetic? The MNIST-sized U-Net
 * (../shared/reference/unet_mnist_config.json, random weights, batch 16) is compiled once with frozen
 * weights; each sampler then runs 20 steps twice: once with the real network, once with a model that
 * returns a precomputed output instantly. The second run's time is the sampler's own work.
 * Goal (diffusion-core issue): sampler arithmetic < 5% of the denoiser's time per step.
 *
 * Run: npx tsx bench/sampler-overhead.ts
 */
import { readFileSync } from 'node:fs';
import { OrtNodeRuntime } from '../src/engine/index.js';
import { buildNetwork } from '../src/models/registry.js';
import { compiledDenoiser } from '../src/pipelines/generate.js';
import { sample } from '../src/diffusion/samplers/registry.js';
import { randomNoiseSource } from '../src/diffusion/samplers/common.js';
import { schedulerConfig } from '../src/diffusion/scheduler-config.js';
import { Random } from '../src/util/random.js';

const BATCH = 16;
const STEPS = 20;
const SAMPLERS = [
  'ddim',
  'euler',
  'euler_a',
  'heun',
  'lms',
  'dpmpp_2m',
  'dpmpp_2m_sde',
  'unipc',
  'deis',
  'pndm',
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const config = JSON.parse(
    readFileSync(new URL('../../shared/reference/unet_mnist_config.json', import.meta.url), 'utf8'),
  );
  const network = buildNetwork(config);
  const params = network.init(new Random(0));
  const schedulerBase = { ...schedulerConfig('DDPMScheduler'), clipSample: false } as never;
  const { denoise, dispose } = compiledDenoiser({ network, params, numSamples: BATCH }, new OrtNodeRuntime());
  const noise = new Random(1).normals(BATCH * network.sampleShape.reduce((a, b) => a * b, 1));
  await denoise(noise, 500, null); // warm-up
  const callTimes: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    await denoise(noise, 500, null);
    callTimes.push(performance.now() - start);
  }
  const callMs = median(callTimes);
  const cached = await denoise(noise, 500, null);
  const instant = async () => cached;
  console.log(`U-Net forward, batch ${BATCH}: ${callMs.toFixed(1)} ms per call (median of 10)\n`);
  console.log('| sampler | model calls | sampler arithmetic per call | share of denoiser time |');
  console.log('|---|---|---|---|');
  for (const name of SAMPLERS) {
    let calls = 0;
    const counting = async () => {
      calls++;
      return instant();
    };
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      calls = 0;
      const start = performance.now();
      await sample(
        name,
        {
          model: counting,
          noise,
          numInferenceSteps: STEPS,
          noiseSource: randomNoiseSource(new Random(2)),
          batchSize: BATCH,
        },
        { config: schedulerBase },
      );
      times.push(performance.now() - start);
    }
    const perCall = median(times) / calls;
    console.log(
      `| ${name} | ${calls} | ${perCall.toFixed(3)} ms | ${((100 * perCall) / callMs).toFixed(2)}% |`,
    );
  }
  await dispose();
}

await main();
