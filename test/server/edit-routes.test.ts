// The editing routes over real HTTP on 127.0.0.1: `/v1/edit`, `/v1/inpaint` and `/v1/denoise` answer
// the same numbers as the library pipelines run directly on the same weights and seed; strength 0
// returns the input pixel for pixel; inpainting keeps every black-mask pixel exactly; the PNG answer
// decodes to the model's size; and each invalid request is a 400 naming its field (strength outside
// [0, 1], a mask or image of the wrong size, a class on an unconditional model, …).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomNoiseSource } from '../../src/diffusion/samplers/common.js';
import { OrtNodeRuntime } from '../../src/engine/index.js';
import { decodePng, encodePng, imageToTensor, type RgbaImage } from '../../src/io/images.js';
import type { LoadedPipeline } from '../../src/models/pipeline-folder.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { editScheduleOf, keepMask } from '../../src/pipelines/edit-inputs.js';
import { compiledDenoiser, guidedModel } from '../../src/pipelines/generate.js';
import { img2img, type EditSampler } from '../../src/pipelines/img2img.js';
import { inpaint } from '../../src/pipelines/inpaint.js';
import { restore, timestepForSigma } from '../../src/pipelines/restore.js';
import { trainingAlphasCumprod } from '../../src/diffusion/timesteps.js';
import { Random } from '../../src/util/random.js';
import { mlpNetwork, postJson, savedPipeline, serve, unetNetwork, type Served } from './harness.js';

/** A grey `size`×`size` image: a diagonal ramp, so every pixel differs from its neighbours. */
function rampImage(size: number, width = size): RgbaImage {
  const data = new Uint8Array(width * size * 4);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < width; x++) {
      const v = (x * 29 + y * 17) % 256;
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  return { width, height: size, data };
}

/** An 8×8 mask: white (fill) in the left half, black (keep) in the right. */
function halfMask(): RgbaImage {
  const data = new Uint8Array(8 * 8 * 4);
  for (let p = 0; p < 64; p++) data.set(p % 8 < 4 ? [255, 255, 255, 255] : [0, 0, 0, 255], p * 4);
  return { width: 8, height: 8, data };
}

const base64Png = (image: RgbaImage) => Buffer.from(encodePng(image)).toString('base64');
const IMAGE = base64Png(rampImage(8));

interface EditAnswer {
  shape: number[];
  samples: number[];
  images: string[];
  [key: string]: unknown;
}

/** The library's own result: the pipeline run on a freshly compiled copy of the served weights. */
async function direct(
  pipeline: LoadedPipeline,
  run: (sampler: EditSampler) => Promise<Float32Array>,
  options: { steps: number; seed?: number; eta?: number; classLabel?: number; guidance?: number },
): Promise<number[]> {
  const { network, params } = pipeline;
  const { denoise, dispose } = compiledDenoiser({ network, params, numSamples: 1 }, new OrtNodeRuntime());
  const labels = options.classLabel === undefined ? null : new BigInt64Array([BigInt(options.classLabel)]);
  try {
    const result = await run({
      model: guidedModel(denoise, labels, options.guidance ?? 1, (network.numClassEmbeds ?? 1) - 1),
      config: editScheduleOf(pipeline.schedulerConfig),
      numInferenceSteps: options.steps,
      ...(options.eta !== undefined ? { eta: options.eta } : {}),
      noiseSource: randomNoiseSource(new Random(options.seed ?? 0)),
    });
    return Array.from(result);
  } finally {
    await dispose();
  }
}

async function postOk(url: string, body: unknown): Promise<EditAnswer> {
  const response = await postJson(url, body);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text) as EditAnswer;
}

async function postError(url: string, body: unknown, status = 400): Promise<string> {
  const response = await postJson(url, body);
  assert.equal(response.status, status);
  return ((await response.json()) as { error: { message: string } }).error.message;
}

describe('editing routes: unconditional 1×8×8 UNet', () => {
  const pipeline = savedPipeline(unetNetwork());
  const input = Array.from(imageToTensor(rampImage(8), { channels: 1 }).data);
  let served: Served;
  before(async () => {
    served = await serve({ pipeline });
  });
  after(() => served.app.close());

  it('edit at strength 0 returns the input pixel for pixel', async () => {
    const answer = await postOk(`${served.url}/v1/edit`, { image: IMAGE, strength: 0, format: 'json' });
    assert.deepEqual(answer.shape, [1, 1, 8, 8]);
    assert.equal(answer.stepsRun, 0);
    assert.deepEqual(answer.samples, input);
    const png = decodePng(new Uint8Array(Buffer.from(answer.images[0], 'base64')));
    assert.deepEqual(Array.from(png.data), Array.from(rampImage(8).data));
  });

  it('edit at strength 0.5 equals img2img run directly; the seed decides the result', async () => {
    const body = { image: IMAGE, strength: 0.5, steps: 10, seed: 5, format: 'json' };
    const answer = await postOk(`${served.url}/v1/edit`, body);
    assert.equal(answer.stepsRun, 5);
    const expected = await direct(
      pipeline,
      (s) => img2img(s, { data: Float32Array.from(input), shape: [1, 1, 8, 8] }, 0.5),
      {
        steps: 10,
        seed: 5,
        eta: 0,
      },
    );
    assert.deepEqual(answer.samples, expected);
    assert.notDeepEqual(answer.samples, input);
    const other = await postOk(`${served.url}/v1/edit`, { ...body, seed: 6 });
    assert.notDeepEqual(other.samples, answer.samples);
  });

  it('edit with format png answers an 8×8 PNG', async () => {
    const response = await postJson(`${served.url}/v1/edit`, { image: IMAGE, strength: 0.3, steps: 5 });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/png');
    const png = decodePng(new Uint8Array(await response.arrayBuffer()));
    assert.deepEqual([png.width, png.height], [8, 8]);
  });

  it('inpaint keeps every black-mask pixel exactly and equals the pipeline run directly', async () => {
    const mask = halfMask();
    const body = {
      image: IMAGE,
      mask: base64Png(mask),
      method: 'repaint',
      steps: 8,
      jumpLength: 2,
      resamplings: 2,
      seed: 3,
      format: 'json',
    };
    const answer = await postOk(`${served.url}/v1/inpaint`, body);
    assert.equal(answer.filled, 32);
    // RePaint over 8 levels, jumps of 2 at levels 0, 2, 4 one extra time each: 8 + 3·2 model calls.
    assert.equal(answer.modelCalls, 14);
    for (let p = 0; p < 64; p++) if (p % 8 >= 4) assert.equal(answer.samples[p], input[p], `kept pixel ${p}`);
    const filledChanged = answer.samples.filter((v, p) => p % 8 < 4 && v !== input[p]).length;
    assert.equal(filledChanged, 32);
    const image = { data: Float32Array.from(input), shape: [1, 1, 8, 8] };
    const expected = await direct(
      pipeline,
      (s) => inpaint(s, { image, mask: keepMask(mask, 1), method: 'repaint', jumpLength: 2, resamplings: 2 }),
      { steps: 8, seed: 3, eta: 1 },
    );
    assert.deepEqual(answer.samples, expected);
  });

  it('denoise with a given σ starts at t(σ) and equals restore run directly', async () => {
    const answer = await postOk(`${served.url}/v1/denoise`, {
      image: IMAGE,
      sigma: 0.2,
      steps: 20,
      format: 'json',
    });
    const alphas = trainingAlphasCumprod(editScheduleOf(pipeline.schedulerConfig));
    assert.equal(answer.sigma, 0.2);
    assert.equal(answer.sigmaEstimated, false);
    assert.equal(answer.startTimestep, timestepForSigma(alphas, 0.2));
    const image = { data: Float32Array.from(input), shape: [1, 1, 8, 8] };
    const expected = await direct(pipeline, (s) => restore(s, { image, sigma: 0.2 }), { steps: 20 });
    assert.deepEqual(answer.samples, expected);
    const estimated = await postOk(`${served.url}/v1/denoise`, { image: IMAGE, format: 'json' });
    assert.equal(estimated.sigmaEstimated, true);
    assert.ok(typeof estimated.sigma === 'number' && estimated.sigma >= 0);
  });

  const invalid: [string, string, Record<string, unknown>, RegExp][] = [
    ['strength above 1', '/v1/edit', { image: IMAGE, strength: 1.5 }, /'strength'/],
    ['strength below 0', '/v1/edit', { image: IMAGE, strength: -0.1 }, /'strength'/],
    ['no strength', '/v1/edit', { image: IMAGE }, /'strength'/],
    ['no image', '/v1/edit', { strength: 0.5 }, /'image'/],
    ['image not base64', '/v1/edit', { image: 'not base64!', strength: 0.5 }, /'image'.*base64/],
    [
      'image not a picture',
      '/v1/edit',
      { image: 'AAAAAAAA', strength: 0.5 },
      /'image'.*neither a PNG nor a JPEG/,
    ],
    [
      'image of the wrong size',
      '/v1/edit',
      { image: base64Png(rampImage(16)), strength: 0.5 },
      /'image'.*16×16.*model's size is 8×8/,
    ],
    [
      'class on an unconditional model',
      '/v1/edit',
      { image: IMAGE, strength: 0.5, class: 0 },
      /'class'.*unconditional/,
    ],
    [
      'guidance without a class',
      '/v1/edit',
      { image: IMAGE, strength: 0.5, guidance: 3 },
      /'guidance'.*'class'/,
    ],
    ['steps over the limit', '/v1/edit', { image: IMAGE, strength: 0.5, steps: 1001 }, /'steps'/],
    ['unknown field', '/v1/edit', { image: IMAGE, strength: 0.5, strenght: 1 }, /unknown field 'strenght'/],
    [
      'mask of another size',
      '/v1/inpaint',
      { image: IMAGE, mask: base64Png(rampImage(4)) },
      /'mask'.*4×4.*size of 'image' is 8×8/,
    ],
    ['no mask', '/v1/inpaint', { image: IMAGE }, /'mask'/],
    ['unknown method', '/v1/inpaint', { image: IMAGE, mask: IMAGE, method: 'blur' }, /'method'/],
    [
      'too many RePaint model calls',
      '/v1/inpaint',
      { image: IMAGE, mask: IMAGE, steps: 100, resamplings: 20 },
      /'resamplings'.*1810 model calls.*1000/,
    ],
    ['negative sigma', '/v1/denoise', { image: IMAGE, sigma: -1 }, /'sigma'/],
    ['sigma beyond the schedule', '/v1/denoise', { image: IMAGE, sigma: 900 }, /'sigma'.*largest σ/],
  ];
  for (const [name, route, body, message] of invalid) {
    it(`400 for ${name}`, async () => {
      assert.match(await postError(`${served.url}${route}`, body), message);
    });
  }
});

describe('editing routes: class-conditional UNet and a 2-D model', () => {
  const network = new UNet2DModel({
    ...(unetNetwork().config as Record<string, unknown>),
    num_class_embeds: 4,
  } as never);
  const pipeline = savedPipeline(network);
  let served: Served;
  let points: Served;
  before(async () => {
    served = await serve({ pipeline });
    points = await serve({ pipeline: savedPipeline(mlpNetwork()) });
  });
  after(async () => {
    await served.app.close();
    await points.app.close();
  });

  it('edit with a class and guidance equals the guided pipeline run directly', async () => {
    const body = { image: IMAGE, strength: 0.6, steps: 5, class: 2, guidance: 3, seed: 1, format: 'json' };
    const answer = await postOk(`${served.url}/v1/edit`, body);
    const input = { data: imageToTensor(rampImage(8), { channels: 1 }).data, shape: [1, 1, 8, 8] };
    const expected = await direct(pipeline, (s) => img2img(s, input, 0.6), {
      steps: 5,
      seed: 1,
      eta: 0,
      classLabel: 2,
      guidance: 3,
    });
    assert.deepEqual(answer.samples, expected);
    const unguided = await postOk(`${served.url}/v1/edit`, { ...body, guidance: 1 });
    assert.notDeepEqual(unguided.samples, answer.samples);
  });

  it('400 for a class out of range', async () => {
    assert.match(
      await postError(`${served.url}/v1/edit`, { image: IMAGE, strength: 0.5, class: 3 }),
      /'class'.*0\.\.2/,
    );
  });

  it('400 on a model whose samples are not images', async () => {
    assert.match(
      await postError(`${points.url}/v1/denoise`, { image: IMAGE }),
      /editing needs a pixel-space model.*shape \[2\]/,
    );
  });
});
