// Diffusion prior over embedding vectors, end to end on a synthetic task shaped like unCLIP's: K = 10
// classes, the condition is a fixed random unit vector per class (Dc = 16), the target a different fixed
// unit vector per class (D = 16) plus small noise, renormalised. After a short run, vectors sampled for
// each class's condition must be nearest (cosine) to their own class's target among the 10 ("top-1
// retrieval", chance 10 %), with guidance no worse; sampling is deterministic by seed; the returned
// scheduler config predicts x₀ without clipping; the trained prior survives a pipeline-folder round trip.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddingPrior } from '../../src/models/embedding-prior.js';
import { loadPipeline, savePipeline } from '../../src/models/pipeline-folder.js';
import { samplePrior } from '../../src/pipelines/embedding-prior.js';
import { trainEmbeddingPrior, type EmbeddingPriorTrainResult } from '../../src/training/embedding-prior.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const K = 10;
const D = 16;
const DC = 16;
const PER_CLASS = 20;
const SAMPLES_PER_CLASS = 10;

function unitVectors(count: number, dim: number, random: Random): Float32Array {
  const out = random.normals(count * dim);
  for (let i = 0; i < count; i++) normalise(out.subarray(i * dim, (i + 1) * dim));
  return out;
}

function normalise(v: Float32Array): void {
  const norm = Math.hypot(...v);
  for (let j = 0; j < v.length; j++) v[j] /= norm;
}

/** The class prototypes and N = K × PER_CLASS training pairs (target + 0.1·noise, renormalised). */
function syntheticTask(seed: number) {
  const random = new Random(seed);
  const conditionsOfClass = unitVectors(K, DC, random);
  const targetsOfClass = unitVectors(K, D, random);
  const n = K * PER_CLASS;
  const embeddings = new Float32Array(n * D);
  const conditions = new Float32Array(n * DC);
  for (let i = 0; i < n; i++) {
    const k = i % K;
    const row = embeddings.subarray(i * D, (i + 1) * D);
    for (let j = 0; j < D; j++) row[j] = targetsOfClass[k * D + j] + 0.1 * random.normal();
    normalise(row);
    conditions.set(conditionsOfClass.subarray(k * DC, (k + 1) * DC), i * DC);
  }
  return { conditionsOfClass, targetsOfClass, embeddings, conditions };
}

/** SAMPLES_PER_CLASS copies of every class's condition, class-major. */
function queryConditions(conditionsOfClass: Float32Array): Float32Array {
  const out = new Float32Array(K * SAMPLES_PER_CLASS * DC);
  for (let i = 0; i < K * SAMPLES_PER_CLASS; i++) {
    const k = Math.floor(i / SAMPLES_PER_CLASS);
    out.set(conditionsOfClass.subarray(k * DC, (k + 1) * DC), i * DC);
  }
  return out;
}

/** Fraction of samples whose most cosine-similar class target is their own class's. */
function top1Retrieval(samples: Float32Array, targetsOfClass: Float32Array): number {
  let hits = 0;
  const count = samples.length / D;
  for (let i = 0; i < count; i++) {
    const s = samples.subarray(i * D, (i + 1) * D);
    let best = -1;
    let bestCos = -Infinity;
    for (let k = 0; k < K; k++) {
      const t = targetsOfClass.subarray(k * D, (k + 1) * D);
      let dot = 0;
      for (let j = 0; j < D; j++) dot += s[j] * t[j];
      const cos = dot / (Math.hypot(...s) * Math.hypot(...t));
      if (cos > bestCos) [best, bestCos] = [k, cos];
    }
    if (best === Math.floor(i / SAMPLES_PER_CLASS)) hits++;
  }
  return hits / count;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Mean cosine between each sample and its own class's target, and the mean sample norm. */
function ownCosineAndNorm(
  samples: Float32Array,
  targetsOfClass: Float32Array,
): { cosine: number; norm: number } {
  const cosines: number[] = [];
  const norms: number[] = [];
  for (let i = 0; i < samples.length / D; i++) {
    const s = samples.subarray(i * D, (i + 1) * D);
    const k = Math.floor(i / SAMPLES_PER_CLASS);
    const t = targetsOfClass.subarray(k * D, (k + 1) * D);
    let dot = 0;
    for (let j = 0; j < D; j++) dot += s[j] * t[j];
    norms.push(Math.hypot(...s));
    cosines.push(dot / norms[i]);
  }
  return { cosine: mean(cosines), norm: mean(norms) };
}

describe('embedding prior on a synthetic 10-class retrieval task', () => {
  const task = syntheticTask(7);
  const network = new EmbeddingPrior({
    embedding_dim: D,
    condition_dim: DC,
    hidden_dim: 64,
    num_layers: 2,
    time_embedding_dim: 32,
  });
  let trained: EmbeddingPriorTrainResult;
  const queries = queryConditions(task.conditionsOfClass);
  const sampleWith = (guidance: number, seed = 1, sampler = 'ddim') =>
    samplePrior({
      network,
      params: trained.samplingParams,
      schedulerConfig: trained.schedulerConfig,
      conditions: queries,
      sampler,
      steps: 25,
      guidance,
      seed,
    });

  before(async () => {
    trained = await trainEmbeddingPrior({
      network,
      embeddings: task.embeddings,
      conditions: task.conditions,
      steps: 600,
      batchSize: 64,
      lr: 2e-3,
      seed: 3,
    });
  });

  it('trains: the x₀ loss falls well below its starting value', () => {
    const first = mean(trained.losses.slice(0, 20));
    const last = mean(trained.losses.slice(-50));
    console.log(
      `prior loss: first 20 steps ${first.toFixed(4)}, last 50 ${last.toFixed(4)}, ${trained.losses.length} steps in ${trained.seconds.toFixed(1)} s`,
    );
    assert.equal(trained.losses.length, 600);
    assert.ok(last < 0.25 * first, `loss ${first} → ${last}`);
  });

  it('returns a scheduler config that predicts x₀ without clipping, on the training schedule', () => {
    const config = trained.schedulerConfig;
    assert.equal(config.className, 'DDPMScheduler');
    assert.equal(config.predictionType, 'sample');
    assert.equal(config.clipSample, false);
    assert.equal(config.betaSchedule, 'squaredcos_cap_v2');
    assert.equal(config.numTrainTimesteps, 1000);
  });

  it('samples vectors nearest to their own class target, guidance no worse', async () => {
    const samples = { plain: await sampleWith(1), guided: await sampleWith(3), uncond: await sampleWith(0) };
    const plain = top1Retrieval(samples.plain, task.targetsOfClass);
    const guided = top1Retrieval(samples.guided, task.targetsOfClass);
    const uncond = top1Retrieval(samples.uncond, task.targetsOfClass);
    const euler = top1Retrieval(await sampleWith(1, 1, 'euler'), task.targetsOfClass);
    const fit = ownCosineAndNorm(samples.plain, task.targetsOfClass);
    const guidedFit = ownCosineAndNorm(samples.guided, task.targetsOfClass);
    console.log(
      `top-1 retrieval: ddim s=1 ${plain}, s=3 ${guided}, s=0 ${uncond}, euler s=1 ${euler} (chance 0.1); ` +
        `own-class cosine s=1 ${fit.cosine.toFixed(3)}, s=3 ${guidedFit.cosine.toFixed(3)}; ` +
        `mean norm s=1 ${fit.norm.toFixed(3)}, s=3 ${guidedFit.norm.toFixed(3)}`,
    );
    assert.ok(plain >= 0.8, `top-1 retrieval ${plain}`);
    assert.ok(euler >= 0.8, `top-1 retrieval with euler ${euler}`);
    assert.ok(guided >= plain - 0.02, `guided ${guided} vs ${plain}`);
    // Guidance extrapolates away from the unconditional x₀ (norm ≈ 2.6 at s = 3): the caller renormalises.
    assert.ok(guidedFit.cosine > 0.9, `guided own-class cosine ${guidedFit.cosine}`);
    // The unconditional prediction (the zero condition) does not know the class: near chance.
    assert.ok(uncond <= 0.4, `unconditional top-1 retrieval ${uncond}`);
    // The data are unit vectors (and about 0.99 cosine to their class target); samples should be too.
    assert.ok(fit.cosine > 0.9, `own-class cosine ${fit.cosine}`);
    assert.ok(Math.abs(fit.norm - 1) < 0.1, `mean sample norm ${fit.norm}`);
  });

  it('guidance lifts the retrieval of an under-trained prior (60 steps)', async () => {
    const early = await trainEmbeddingPrior({
      network,
      embeddings: task.embeddings,
      conditions: task.conditions,
      steps: 60,
      batchSize: 64,
      lr: 2e-3,
      seed: 3,
    });
    const retrieval = async (guidance: number) =>
      top1Retrieval(
        await samplePrior({
          network,
          params: early.samplingParams,
          schedulerConfig: early.schedulerConfig,
          conditions: queries,
          steps: 25,
          guidance,
          seed: 1,
        }),
        task.targetsOfClass,
      );
    const plain = await retrieval(1);
    const guided = await retrieval(3);
    console.log(`60-step prior, top-1 retrieval: s=1 ${plain}, s=3 ${guided}`);
    assert.ok(guided >= plain + 0.15, `guided ${guided} vs ${plain}`);
  });

  it('is deterministic by seed', async () => {
    const a = await sampleWith(2, 5);
    const b = await sampleWith(2, 5);
    const c = await sampleWith(2, 6);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  describe('pipeline folder', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'prior-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('saves and loads the trained prior with its scheduler, sampling the same vectors', async () => {
      const folder = join(dir, 'prior');
      savePipeline(folder, { network, params: trained.samplingParams, scheduler: trained.schedulerConfig });
      const loaded = loadPipeline(folder);
      assert.ok(loaded.network instanceof EmbeddingPrior);
      assert.equal(loaded.schedulerConfig.className, 'DDPMScheduler');
      const conditions = queries.subarray(0, 3 * DC);
      const run = (p: typeof loaded.params, n: EmbeddingPrior, config: typeof loaded.schedulerConfig) =>
        samplePrior({ network: n, params: p, schedulerConfig: config, conditions, steps: 10, seed: 2 });
      assert.deepEqual(
        await run(loaded.params, loaded.network, loaded.schedulerConfig),
        await run(trained.samplingParams, network, trained.schedulerConfig),
      );
    });
  });
});

describe('embedding prior input checks', () => {
  const network = new EmbeddingPrior({ embedding_dim: 4, condition_dim: 3, hidden_dim: 8, num_layers: 1 });
  const base = {
    network,
    embeddings: new Float32Array(8),
    conditions: new Float32Array(6),
    steps: 1,
    batchSize: 2,
    lr: 1e-3,
  };

  it('training rejects mismatched arrays and bad settings, naming them', async () => {
    await assert.rejects(trainEmbeddingPrior({ ...base, conditions: new Float32Array(5) }), ShapeError);
    await assert.rejects(trainEmbeddingPrior({ ...base, embeddings: new Float32Array(7) }), ShapeError);
    await assert.rejects(
      trainEmbeddingPrior({ ...base, conditionDropout: 1.5 }),
      (e: Error) => e instanceof ConfigError && /conditionDropout/.test(e.message),
    );
    await assert.rejects(trainEmbeddingPrior({ ...base, objective: 'v' as never }), (e: Error) =>
      /prior objective/.test(e.message),
    );
  });

  it('the epsilon objective trains and is carried into the scheduler config', async () => {
    const out = await trainEmbeddingPrior({ ...base, objective: 'epsilon', steps: 3, emaDecay: 0.9 });
    assert.equal(out.schedulerConfig.predictionType, 'epsilon');
    assert.equal(out.losses.length, 3);
    assert.notDeepEqual(out.samplingParams['output_proj.weight'].data, out.params['output_proj.weight'].data);
  });

  it('sampling rejects conditions of the wrong width', async () => {
    const params = network.init(new Random(0));
    const { schedulerConfig } = await trainEmbeddingPrior({ ...base, steps: 1 });
    await assert.rejects(
      samplePrior({ network, params, schedulerConfig, conditions: new Float32Array(5), steps: 2 }),
      (e: Error) => e instanceof ShapeError && /\[B, 3\]/.test(e.message),
    );
  });
});
