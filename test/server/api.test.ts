// The HTTP service over real HTTP on 127.0.0.1: health and model description, synchronous
// generation as a PNG (decoded and measured) and as JSON (sample count, same seed → same bytes,
// different seed → different numbers), every kind of invalid request answered 400 naming the field,
// a body over the limit 413, and unknown routes 404 JSON.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodePng } from '../../src/io/images.js';
import { samplerNames } from '../../src/diffusion/samplers/registry.js';
import { mlpNetwork, postJson, request, savedPipeline, serve, unetNetwork, type Served } from './harness.js';

describe('HTTP service: 2-D MLP model', () => {
  let served: Served;
  before(async () => {
    served = await serve({
      pipeline: savedPipeline(mlpNetwork()),
      limits: { maxNum: 16, maxSteps: 50, bodyLimit: 1024 },
    });
  });
  after(() => served.app.close());

  it('GET /health answers ok with the queue load', async () => {
    const response = await request(`${served.url}/health`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok', jobs: { active: 0, capacity: 9 } });
  });

  it('GET /v1/models describes the network, classes, parameters and samplers', async () => {
    const { models } = (await (await request(`${served.url}/v1/models`)).json()) as {
      models: Record<string, unknown>[];
    };
    assert.equal(models.length, 1);
    const model = models[0];
    assert.equal(model.class, 'MLPDenoiser');
    assert.deepEqual(model.sampleShape, [2]);
    assert.equal(model.numClasses, 3);
    assert.equal((model.config as Record<string, unknown>).hidden_size, 16);
    // MLP(2→16, 1 block, time MLP 8→16→16, 4 class embeddings, 16→2): count by hand.
    const linear = (i: number, o: number) => i * o + o;
    const expected =
      linear(8, 16) + linear(16, 16) + 4 * 16 + linear(2, 16) + 3 * linear(16, 16) + linear(16, 2);
    assert.equal(model.parameters, expected);
    assert.equal(model.scheduler, 'DDPMScheduler');
    assert.deepEqual(model.samplers, samplerNames());
    assert.ok((model.samplers as string[]).includes('ddim'));
  });

  it('POST /v1/generate with format png returns a 256×256 scatter plot', async () => {
    const response = await postJson(`${served.url}/v1/generate`, {
      num: 8,
      steps: 5,
      sampler: 'ddim',
      class: 1,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/png');
    const image = decodePng(new Uint8Array(await response.arrayBuffer()));
    assert.equal(image.width, 256);
    assert.equal(image.height, 256);
  });

  it('POST /v1/generate with format json returns num × 2 finite numbers, reproducible by seed', async () => {
    const body = { num: 5, steps: 4, sampler: 'euler_a', seed: 7, format: 'json', guidance: 2, class: 2 };
    const first = await postJson(`${served.url}/v1/generate`, body);
    assert.equal(first.status, 200);
    const bytes = Buffer.from(await first.arrayBuffer());
    const json = JSON.parse(bytes.toString()) as { shape: number[]; samples: number[]; seed: number };
    assert.deepEqual(json.shape, [5, 2]);
    assert.equal(json.samples.length, 10);
    assert.ok(json.samples.every(Number.isFinite));
    const again = Buffer.from(await (await postJson(`${served.url}/v1/generate`, body)).arrayBuffer());
    assert.ok(again.equals(bytes), 'same seed must give the same bytes');
    const other = (await (await postJson(`${served.url}/v1/generate`, { ...body, seed: 8 })).json()) as {
      samples: number[];
    };
    assert.notDeepEqual(other.samples, json.samples);
    // Guidance 2 (a doubled conditional/unconditional batch) differs from plain conditional sampling.
    const plain = (await (await postJson(`${served.url}/v1/generate`, { ...body, guidance: 1 })).json()) as {
      samples: number[];
    };
    assert.equal(plain.samples.length, 10);
    assert.notDeepEqual(plain.samples, json.samples);
  });

  it('POST /v1/generate with no body uses the defaults', async () => {
    const response = await request(`${served.url}/v1/generate`, { method: 'POST' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/png');
  });

  const invalid: [string, unknown, RegExp][] = [
    ['num zero', { num: 0 }, /'num'/],
    ['num over the limit', { num: 17 }, /'num'/],
    ['num not an integer', { num: 2.5 }, /'num'/],
    ['num a string', { num: '4' }, /'num'/],
    ['steps over the limit', { steps: 51 }, /'steps'/],
    ['unknown sampler', { sampler: 'nope' }, /'sampler'.*unknown sampler 'nope'/],
    ['negative guidance', { guidance: -1 }, /'guidance'/],
    ['class out of range', { class: 3 }, /'class'.*0\.\.2/],
    ['negative class', { class: -1 }, /'class'/],
    ['seed too large', { seed: 2 ** 33 }, /'seed'/],
    ['temperature negative', { temperature: -0.5 }, /'temperature'/],
    ['unknown format', { format: 'gif' }, /'format'/],
    ['unknown field', { nmu: 3 }, /unknown field 'nmu'/],
    ['body not an object', [1, 2], /'body'/],
  ];
  for (const [name, body, message] of invalid) {
    it(`400 for ${name}`, async () => {
      const response = await postJson(`${served.url}/v1/generate`, body);
      assert.equal(response.status, 400);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'usage');
      assert.match(error.message, message);
    });
  }

  it('400 for malformed JSON, 415 for a form body', async () => {
    const bad = await request(`${served.url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"num": ',
    });
    assert.equal(bad.status, 400);
    assert.ok(((await bad.json()) as { error: { message: string } }).error.message.length > 0);
    const form = await request(`${served.url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'num=3',
    });
    assert.equal(form.status, 415);
  });

  it('413 for a body over the limit', async () => {
    const response = await postJson(`${served.url}/v1/generate`, { num: 1, padding: 'x'.repeat(2000) });
    assert.equal(response.status, 413);
    const { error } = (await response.json()) as { error: { code: string } };
    assert.equal(error.code, 'FST_ERR_CTP_BODY_TOO_LARGE');
  });

  it('404 JSON for unknown routes and unknown jobs', async () => {
    const route = await request(`${served.url}/v2/nothing`);
    assert.equal(route.status, 404);
    assert.deepEqual(await route.json(), {
      error: { code: 'not-found', message: 'no route GET /v2/nothing' },
    });
    const job = await request(`${served.url}/v1/jobs/not-a-job`);
    assert.equal(job.status, 404);
    assert.match(((await job.json()) as { error: { message: string } }).error.message, /no job 'not-a-job'/);
  });
});

describe('HTTP service: 1×8×8 image model', () => {
  let served: Served;
  before(async () => {
    served = await serve({ pipeline: savedPipeline(unetNetwork()) });
  });
  after(() => served.app.close());

  it('POST /v1/generate returns a PNG grid of the samples', async () => {
    const response = await postJson(`${served.url}/v1/generate`, { num: 5, steps: 2, sampler: 'ddim' });
    assert.equal(response.status, 200);
    const grid = decodePng(new Uint8Array(await response.arrayBuffer()));
    // 5 images of 8×8, 3 per row (⌈√5⌉), 2 rows, 2-pixel padding: 3·10 + 2 by 2·10 + 2.
    assert.equal(grid.width, 32);
    assert.equal(grid.height, 22);
  });

  it('format json carries the numbers and one 8×8 PNG per sample', async () => {
    const response = await postJson(`${served.url}/v1/generate`, { num: 2, steps: 2, format: 'json' });
    const json = (await response.json()) as { shape: number[]; samples: number[]; images: string[] };
    assert.deepEqual(json.shape, [2, 1, 8, 8]);
    assert.equal(json.samples.length, 128);
    assert.equal(json.images.length, 2);
    const image = decodePng(new Uint8Array(Buffer.from(json.images[1], 'base64')));
    assert.equal(image.width, 8);
    assert.equal(image.height, 8);
  });

  it('400 for a class on an unconditional model', async () => {
    const response = await postJson(`${served.url}/v1/generate`, { class: 0 });
    assert.equal(response.status, 400);
    assert.match(
      ((await response.json()) as { error: { message: string } }).error.message,
      /'class'.*unconditional/,
    );
  });
});
