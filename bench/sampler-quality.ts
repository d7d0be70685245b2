/**
 * Sample quality versus network evaluations for every sampler, measured with no trained network: the
 * model is the exact Gaussian-mixture oracle (src/diffusion/oracle.ts) on the 2-D test mixture, so any
 * distance left between the samples and the mixture is the sampler's own discretisation error. Each
 * registry sampler runs 5, 10, 20 and 50 steps on the same 500 initial noises (each class's diffusers
 * defaults, except that all share the linear β schedule 1e-4..0.02 over 1,000 training steps and
 * ε-prediction); the score-SDE samplers run at
 * comparable NFE budgets. The statistic is MMD² against a fixed 2,000-point draw of the mixture, with the
 * same pass threshold as the tests (mean + 5·sd over 100 exact data draws of 500 points). Run with
 * `npx tsx bench/sampler-quality.ts`; it prints the markdown tables of docs/samplers.md. Numbers only,
 * no assertions.
 */
import { mixtureScore, mixtureScoreFn } from '../src/diffusion/oracle.js';
import { createSde, DEFAULT_VP_SDE } from '../src/diffusion/sde.js';
import { sampleAnnealedLangevin } from '../src/diffusion/samplers/langevin.js';
import { sampleProbabilityFlow } from '../src/diffusion/samplers/ode.js';
import { samplePredictorCorrector } from '../src/diffusion/samplers/predictor-corrector.js';
import { samplerEntries, type SamplerEntry } from '../src/diffusion/samplers/registry.js';
import type { ModelFn } from '../src/diffusion/samplers/types.js';
import { Random } from '../src/util/random.js';
import {
  DIM,
  mmd,
  nullThreshold,
  oracleSetup,
  referenceSet,
  seededNoise,
  TEST_MIXTURE,
} from '../test/diffusion/oracle-harness.js';

const SAMPLES = 500;
const STEPS = [5, 10, 20, 50];
const reference = referenceSet(TEST_MIXTURE, 2000, 1);
const threshold = nullThreshold(TEST_MIXTURE, reference, SAMPLES, 100, 3);
const initialNoise = () => new Random(7).normals(SAMPLES * DIM);

/** MMD² in units of 10⁻³, starred where it is below the pass threshold (the sample matches the mixture). */
function cell(distance: number, nfe: number): string {
  const mark = distance < threshold.threshold ? ' ✓' : '';
  return `${(distance * 1000).toFixed(1)}${mark} (${nfe})`;
}

function countingModel(model: ModelFn): { model: ModelFn; calls: () => number } {
  let calls = 0;
  return {
    model: (input, timestep) => {
      calls++;
      return model(input, timestep);
    },
    calls: () => calls,
  };
}

async function registryRow(entry: SamplerEntry): Promise<string> {
  const { config, model: oracle } = oracleSetup(entry.name);
  const cells: string[] = [];
  for (const steps of STEPS) {
    const { model, calls } = countingModel(oracle);
    const request = {
      model,
      noise: initialNoise(),
      numInferenceSteps: steps,
      batchSize: SAMPLES,
      ...(entry.stochastic ? { noiseSource: seededNoise(8) } : {}),
    };
    const sample = await entry.run(request, config, {});
    cells.push(cell(mmd(sample, reference, DIM), calls()));
  }
  return `| \`${entry.name}\` | ${cells.join(' | ')} |`;
}

async function scoreSdeRows(): Promise<string[]> {
  const vp = createSde(DEFAULT_VP_SDE);
  const score = mixtureScoreFn(TEST_MIXTURE, (t) => vp.marginal(t));
  const rows: string[] = [];
  const pc = async (
    numSteps: number,
    corrector: 'langevin' | 'none',
    predictor = 'reverse_diffusion' as const,
  ) =>
    samplePredictorCorrector({
      sde: vp,
      score,
      noise: initialNoise(),
      dim: DIM,
      noiseSource: seededNoise(8),
      numSteps,
      predictor,
      corrector,
    });
  const budgets = STEPS.map((s) => s * 2);
  rows.push(
    `| PC: reverse diffusion + Langevin (VP, N = NFE/2) | ${(
      await Promise.all(
        budgets.map(async (nfe) => cell(mmd(await pc(nfe / 2, 'langevin'), reference, DIM), nfe)),
      )
    ).join(' | ')} |`,
  );
  rows.push(
    `| PC: reverse diffusion only (VP, N = NFE) | ${(
      await Promise.all(budgets.map(async (nfe) => cell(mmd(await pc(nfe, 'none'), reference, DIM), nfe)))
    ).join(' | ')} |`,
  );
  const langevinCells: string[] = [];
  for (const nfe of budgets) {
    const sample = await sampleAnnealedLangevin({
      score: async (x, sigma) => mixtureScore(TEST_MIXTURE, x, { alpha: 1, sigma }),
      noise: initialNoise(),
      noiseSource: seededNoise(8),
      sigmaMax: 1.5,
      sigmaMin: 0.01,
      numLevels: 10,
      stepsPerLevel: nfe / 10,
      stepSize: 2e-5,
    });
    langevinCells.push(cell(mmd(sample, reference, DIM), nfe));
  }
  rows.push(`| annealed Langevin (L = 10, T = NFE/10, ε = 2·10⁻⁵) | ${langevinCells.join(' | ')} |`);
  return rows;
}

async function probabilityFlowRows(): Promise<string[]> {
  const rows: string[] = [];
  for (const [label, sde] of [
    ['VP', createSde(DEFAULT_VP_SDE)],
    ['VE (σ_max = 3)', createSde({ kind: 've', sigmaMin: 0.01, sigmaMax: 3 })],
  ] as const) {
    const cells: string[] = [];
    for (const rtol of [1e-1, 1e-2, 1e-3, 1e-5]) {
      const result = await sampleProbabilityFlow({
        sde,
        score: mixtureScoreFn(TEST_MIXTURE, (t) => sde.marginal(t)),
        noise: initialNoise(),
        rtol,
        atol: rtol,
      });
      cells.push(cell(mmd(result.sample, reference, DIM), result.nfe));
    }
    rows.push(`| probability-flow ODE, RK45, ${label} | ${cells.join(' | ')} |`);
  }
  return rows;
}

async function main(): Promise<void> {
  console.log(
    `MMD² × 10³ to the mixture (NFE in parentheses); ✓ = below the pass threshold ` +
      `${(threshold.threshold * 1000).toFixed(1)} (null mean ${(threshold.mean * 1000).toFixed(1)}, ` +
      `sd ${(threshold.sd * 1000).toFixed(1)}).\n`,
  );
  console.log(`| sampler | ${STEPS.map((s) => `${s} steps`).join(' | ')} |`);
  console.log(`|---|${STEPS.map(() => '---').join('|')}|`);
  for (const entry of samplerEntries()) console.log(await registryRow(entry));
  console.log(`\n| score-SDE sampler | ${STEPS.map((s) => `NFE ${s * 2}`).join(' | ')} |`);
  console.log(`|---|${STEPS.map(() => '---').join('|')}|`);
  for (const row of await scoreSdeRows()) console.log(row);
  console.log(`\n| adaptive sampler | rtol = atol = 10⁻¹ | 10⁻² | 10⁻³ | 10⁻⁵ |`);
  console.log(`|---|---|---|---|---|`);
  for (const row of await probabilityFlowRows()) console.log(row);
}

await main();
