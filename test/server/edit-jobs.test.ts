// Editing work as jobs, over real HTTP on 127.0.0.1: `POST /v1/jobs` with `kind: 'inpaint'` runs to
// completion with events queued, started, progress 1..n, done, and its result is the same numbers as
// `POST /v1/inpaint` on the same body, keeping every known pixel exactly; an unknown kind, or a field of
// another kind, is a 400 naming the field; a running editing job cancels; a generation job stays under
// the small body limit while an editing job may carry images past it. The model's files come back
// read-only from `/v1/models/files` and load as the served pipeline; paths outside the set are 404.
// With a Redis server (started by the test) an inpaint job submitted to one instance is answered by the
// other with the same result; that part is skipped, with a message, where redis-server is absent.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodePng, imageToTensor, type RgbaImage } from '../../src/io/images.js';
import { loadPipeline } from '../../src/models/pipeline-folder.js';
import {
  pollJob,
  postJson,
  readEvents,
  request,
  savedPipeline,
  serve,
  slowRuntime,
  unetNetwork,
  type Served,
} from './harness.js';

/** An 8×8 grey ramp, every pixel different from its neighbours. */
function rampImage(): RgbaImage {
  const data = new Uint8Array(8 * 8 * 4);
  for (let p = 0; p < 64; p++) {
    const v = ((p % 8) * 29 + Math.floor(p / 8) * 17) % 256;
    data.set([v, v, v, 255], p * 4);
  }
  return { width: 8, height: 8, data };
}

/** White (fill) in the top three rows, black (keep) below. */
function topMask(): RgbaImage {
  const data = new Uint8Array(8 * 8 * 4);
  for (let p = 0; p < 64; p++) data.set(p < 24 ? [255, 255, 255, 255] : [0, 0, 0, 255], p * 4);
  return { width: 8, height: 8, data };
}

const base64Png = (image: RgbaImage) => Buffer.from(encodePng(image)).toString('base64');
const INPAINT = {
  image: base64Png(rampImage()),
  mask: base64Png(topMask()),
  method: 'replace',
  steps: 8,
  seed: 4,
  format: 'json',
};
const KNOWN = Array.from(imageToTensor(rampImage(), { channels: 1 }).data);

interface Status {
  id: string;
  status: string;
  progress: { step: number; numSteps: number } | null;
  links: { self: string; events: string; result: string };
  instance?: string;
}

async function submitJob(url: string, body: unknown): Promise<Status> {
  const response = await postJson(`${url}/v1/jobs`, body);
  const text = await response.text();
  assert.equal(response.status, 202, text);
  return JSON.parse(text) as Status;
}

async function errorOf(response: Response, status: number): Promise<{ code: string; message: string }> {
  assert.equal(response.status, status);
  return ((await response.json()) as { error: { code: string; message: string } }).error;
}

const samplesOf = async (response: Response): Promise<number[]> => {
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return (JSON.parse(text) as { samples: number[] }).samples;
};

describe('editing jobs on the in-process queue', () => {
  const pipeline = savedPipeline(unetNetwork());
  let served: Served;
  let slow: Served;
  before(async () => {
    [served, slow] = await Promise.all([
      serve({ pipeline, limits: { bodyLimit: 256 } }),
      serve({ pipeline, runtime: slowRuntime(20) }),
    ]);
  });
  after(() => Promise.all([served.app.close(), slow.app.close()]));

  it('an inpaint job runs to completion with progress events and keeps the known pixels', async () => {
    const job = await submitJob(served.url, { kind: 'inpaint', ...INPAINT });
    const events = await readEvents(`${served.url}${job.links.events}`);
    assert.deepEqual(
      events.map((e) => e.event),
      ['queued', 'started', ...Array<string>(8).fill('progress'), 'done'],
    );
    assert.deepEqual(
      events.filter((e) => e.event === 'progress').map((e) => e.data.step),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    const fromJob = await samplesOf(await request(`${served.url}${job.links.result}`));
    const fromRoute = await samplesOf(await postJson(`${served.url}/v1/inpaint`, INPAINT));
    assert.deepEqual(fromJob, fromRoute, 'the job answers what /v1/inpaint answers');
    assert.deepEqual(fromJob.slice(24), KNOWN.slice(24), 'every known (black-mask) pixel is kept exactly');
    const changed = fromJob.slice(0, 24).filter((v, k) => v !== KNOWN[k]).length;
    assert.ok(changed >= 20, `the masked rows are generated (${changed} of 24 changed)`);
  });

  it('edit and denoise jobs answer what their routes answer', async () => {
    const edit = { image: INPAINT.image, strength: 0.6, steps: 10, seed: 2, format: 'json' };
    const denoise = { image: INPAINT.image, sigma: 0.2, steps: 10, format: 'json' };
    for (const [kind, body] of [
      ['edit', edit],
      ['denoise', denoise],
    ] as const) {
      const job = await submitJob(served.url, { kind, ...body });
      const done = await pollJob(
        `${served.url}${job.links.self}`,
        (s) => s.status !== 'queued' && s.status !== 'running',
      );
      assert.equal(done.status, 'succeeded', kind);
      const fromJob = await samplesOf(await request(`${served.url}${job.links.result}`));
      assert.deepEqual(fromJob, await samplesOf(await postJson(`${served.url}/v1/${kind}`, body)), kind);
    }
  });

  it('400 naming the field: unknown kind, a field of another kind, a missing image', async () => {
    const bad = await errorOf(await postJson(`${served.url}/v1/jobs`, { kind: 'paint', ...INPAINT }), 400);
    assert.match(bad.message, /invalid 'kind': unknown job kind "paint".*generate, edit, inpaint, denoise/);
    const numeric = await errorOf(await postJson(`${served.url}/v1/jobs`, { kind: 3 }), 400);
    assert.match(numeric.message, /invalid 'kind'/);
    const foreign = await errorOf(
      await postJson(`${served.url}/v1/jobs`, { kind: 'inpaint', ...INPAINT, num: 2 }),
      400,
    );
    assert.match(foreign.message, /unknown field 'num'/);
    const noMask = await errorOf(
      await postJson(`${served.url}/v1/jobs`, { kind: 'inpaint', image: INPAINT.image }),
      400,
    );
    assert.match(noMask.message, /invalid 'mask'/);
    const strength = await errorOf(
      await postJson(`${served.url}/v1/jobs`, { kind: 'edit', image: INPAINT.image, strength: 2 }),
      400,
    );
    assert.match(strength.message, /invalid 'strength'/);
    const generate = await errorOf(
      await postJson(`${served.url}/v1/jobs`, { kind: 'generate', image: 'x' }),
      400,
    );
    assert.match(generate.message, /unknown field 'image'/);
  });

  it('a generation job keeps the small body limit; an editing job may carry images past it', async () => {
    const padded = await errorOf(
      await postJson(`${served.url}/v1/jobs`, { num: 1, sampler: 'x'.repeat(300) }),
      413,
    );
    assert.match(padded.message, /generation job's body holds \d+ bytes; this server takes up to 256/);
    const body = { kind: 'inpaint', ...INPAINT };
    assert.ok(JSON.stringify(body).length > 256, 'the editing body is over the generation limit');
    const job = await submitJob(served.url, body);
    await pollJob(`${served.url}${job.links.self}`, (s) => s.status === 'succeeded');
    const generation = await submitJob(served.url, { kind: 'generate', num: 1, steps: 2, format: 'json' });
    await pollJob(`${served.url}${generation.links.self}`, (s) => s.status === 'succeeded');
  });

  it('a running inpaint job cancels between steps', async () => {
    const job = await submitJob(slow.url, { kind: 'inpaint', ...INPAINT, method: 'repaint', steps: 50 });
    await pollJob(`${slow.url}${job.links.self}`, (s) => (s.progress?.step ?? 0) >= 2);
    const response = await request(`${slow.url}${job.links.self}`, { method: 'DELETE' });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { cancelled: boolean }).cancelled, true);
    const events = await readEvents(`${slow.url}${job.links.events}`);
    assert.equal(events.at(-1)?.event, 'cancelled');
    const steps = events.filter((e) => e.event === 'progress').length;
    assert.ok(steps >= 2 && steps < 50, `stopped after ${steps} model steps`);
    const status = (await (await request(`${slow.url}${job.links.self}`)).json()) as Status;
    assert.equal(status.status, 'cancelled');
    const result = await errorOf(await request(`${slow.url}${job.links.result}`), 409);
    assert.match(result.message, /ended as cancelled/);
  });

  it('serves the model folder read-only; it loads as the served pipeline', async () => {
    const listing = (await (await request(`${served.url}/v1/models/files`)).json()) as {
      files: { path: string; bytes: number }[];
    };
    assert.deepEqual(listing.files.map((f) => f.path).sort(), [
      'model_index.json',
      'scheduler/scheduler_config.json',
      'unet/config.json',
      'unet/diffusion_pytorch_model.safetensors',
    ]);
    const root = mkdtempSync(join(tmpdir(), 'model-files-'));
    try {
      for (const { path, bytes } of listing.files) {
        const response = await request(`${served.url}/v1/models/files/${path}`);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
        const data = new Uint8Array(await response.arrayBuffer());
        assert.equal(data.byteLength, bytes, path);
        mkdirSync(dirname(join(root, 'model', path)), { recursive: true });
        writeFileSync(join(root, 'model', path), data);
      }
      const loaded = loadPipeline(join(root, 'model'));
      assert.deepEqual(loaded.network.config, pipeline.network.config);
      assert.deepEqual(loaded.schedulerConfig, pipeline.schedulerConfig);
      for (const [name, param] of Object.entries(pipeline.params)) {
        assert.deepEqual(loaded.params[name].data, param.data, name);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    // Escapes decode once and the result is looked up in the fixed set: nothing else is reachable.
    for (const path of [
      'unet%2f..%2f..%2fpackage.json',
      '..%5cpackage.json',
      'unet',
      'training_state/x',
      'unet/config.json%00',
    ]) {
      const refused = await errorOf(await request(`${served.url}/v1/models/files/${path}`), 404);
      assert.match(refused.message, /the model has no file/, path);
    }
    // fetch itself resolves a dotted path, which then matches no route at all.
    await errorOf(await request(`${served.url}/v1/models/files/%2e%2e/%2e%2e/package.json`), 404);
  });
});

const REDIS_SERVER = '/usr/bin/redis-server';

/** A TCP port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe(
  'editing jobs shared through Redis by two instances',
  { skip: existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is absent (apt-get install redis-server)` },
  () => {
    const pipeline = savedPipeline(unetNetwork());
    let redis: ChildProcess | undefined;
    let a: Served;
    let b: Served;
    before(async () => {
      const port = await freePort();
      redis = spawn(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      await new Promise<void>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${text}`)), 20_000);
        redis!.stdout!.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const queue = `redis://127.0.0.1:${port}`;
      [a, b] = await Promise.all([serve({ pipeline, queue }), serve({ pipeline, queue })]);
    });
    after(async () => {
      await Promise.all([a?.app.close(), b?.app.close()]);
      if (redis && redis.exitCode === null) {
        const exited = new Promise((resolve) => redis!.once('exit', resolve));
        redis.kill('SIGTERM');
        await exited;
      }
    });

    it('an inpaint job submitted to one instance is answered by the other', async () => {
      const job = await submitJob(a.url, { kind: 'inpaint', ...INPAINT });
      const events = await readEvents(`${b.url}${job.links.events}`);
      assert.equal(events.at(-1)?.event, 'done');
      assert.equal(events.filter((e) => e.event === 'progress').length, 8);
      const fromJob = await samplesOf(await request(`${b.url}${job.links.result}`));
      assert.deepEqual(fromJob, await samplesOf(await postJson(`${a.url}/v1/inpaint`, INPAINT)));
      assert.deepEqual(fromJob.slice(24), KNOWN.slice(24));
      const bad = await errorOf(
        await postJson(`${b.url}/v1/jobs`, { kind: 'inpaint', image: INPAINT.image }),
        400,
      );
      assert.match(bad.message, /invalid 'mask'/);
    });
  },
);
