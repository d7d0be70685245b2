// Jobs over real HTTP: a job's server-sent events arrive in order (queued, started, one progress per
// step 1..n, done) and its result equals the synchronous answer for the same body; DELETE cancels a
// running job between steps; a full queue answers 503 with Retry-After while the queued request
// still completes once the slot frees; closing the app cancels (or finishes) the running job and
// ends its event stream. Model calls are slowed by a few milliseconds so "running" is certain.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  mlpNetwork,
  parseEvents,
  pollJob,
  postJson,
  readEvents,
  request,
  savedPipeline,
  serve,
  slowRuntime,
  type Served,
} from './harness.js';

const pipeline = savedPipeline(mlpNetwork());
const LONG = { num: 2, steps: 500, sampler: 'ddim', format: 'json' };

interface Accepted {
  id: string;
  status: string;
  links: { self: string; events: string; result: string };
}

async function startJob(served: Served, body: unknown): Promise<Accepted> {
  const response = await postJson(`${served.url}/v1/jobs`, body);
  assert.equal(response.status, 202);
  const accepted = (await response.json()) as Accepted;
  assert.equal(response.headers.get('location'), `/v1/jobs/${accepted.id}`);
  return accepted;
}

describe('HTTP jobs', () => {
  let served: Served;
  before(async () => {
    served = await serve({
      pipeline,
      runtime: slowRuntime(2),
      limits: { concurrency: 1, maxQueued: 1, retryAfterSeconds: 3 },
    });
  });
  after(() => served.app.close());

  it('streams queued, started, progress 1..n, done in order; the result matches /v1/generate', async () => {
    const body = { num: 3, steps: 6, sampler: 'dpmpp_2m', seed: 11, format: 'json' };
    const job = await startJob(served, body);
    const events = await readEvents(`${served.url}${job.links.events}`);
    assert.deepEqual(
      events.map((e) => e.event),
      ['queued', 'started', ...Array<string>(6).fill('progress'), 'done'],
    );
    assert.deepEqual(
      events.map((e) => e.id),
      events.map((_, i) => i),
    );
    assert.deepEqual(
      events.filter((e) => e.event === 'progress').map((e) => [e.data.step, e.data.numSteps]),
      [1, 2, 3, 4, 5, 6].map((s) => [s, 6]),
    );
    const status = (await (await request(`${served.url}${job.links.self}`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(status.status, 'succeeded');
    assert.deepEqual(status.progress, { step: 6, numSteps: 6 });
    assert.equal(status.result, job.links.result);
    const result = Buffer.from(await (await request(`${served.url}${job.links.result}`)).arrayBuffer());
    const direct = Buffer.from(await (await postJson(`${served.url}/v1/generate`, body)).arrayBuffer());
    assert.ok(result.equals(direct), 'job result and synchronous answer must be the same bytes');
    // A replayed stream of a finished job gives the same events.
    assert.deepEqual(await readEvents(`${served.url}${job.links.events}`), events);
  });

  it('DELETE cancels a running job between steps', async () => {
    const job = await startJob(served, LONG);
    const running = await pollJob(`${served.url}${job.links.self}`, (s) => (s.progress?.step ?? 0) >= 2);
    assert.equal(running.status, 'running');
    const early = await request(`${served.url}${job.links.result}`);
    assert.equal(early.status, 409);
    const cancel = await request(`${served.url}${job.links.self}`, { method: 'DELETE' });
    assert.equal(cancel.status, 200);
    assert.equal(((await cancel.json()) as { cancelled: boolean }).cancelled, true);
    const events = await readEvents(`${served.url}${job.links.events}`);
    assert.equal(events.at(-1)?.event, 'cancelled');
    const steps = events.filter((e) => e.event === 'progress').length;
    assert.ok(steps >= 2 && steps < 500, `cancelled after ${steps} of 500 steps`);
    const status = (await (await request(`${served.url}${job.links.self}`)).json()) as { status: string };
    assert.equal(status.status, 'cancelled');
    const again = await request(`${served.url}${job.links.self}`, { method: 'DELETE' });
    assert.equal(((await again.json()) as { cancelled: boolean }).cancelled, false);
    assert.equal((await request(`${served.url}${job.links.result}`)).status, 409);
  });

  it('answers 503 with Retry-After beyond the queue, and runs the queued request after', async () => {
    const first = await startJob(served, LONG);
    await pollJob(`${served.url}${first.links.self}`, (s) => s.status === 'running');
    // One slot runs `first`; the queue holds one more. Of four concurrent requests exactly one waits.
    const burst = Array.from({ length: 4 }, (_, i) =>
      postJson(`${served.url}/v1/generate`, { num: 2, steps: 3, seed: i, format: 'json' }),
    );
    // The three refused requests are answered while `first` still runs (bounded wait: 500 × 10 ms).
    let answered = 0;
    for (const response of burst) void response.then(() => answered++);
    for (let i = 0; i < 500 && answered < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(answered, 3);
    const health = (await (await request(`${served.url}/health`)).json()) as { jobs: { active: number } };
    assert.equal(health.jobs.active, 2);
    const cancel = await request(`${served.url}${first.links.self}`, { method: 'DELETE' });
    assert.equal(cancel.status, 200);
    const responses = await Promise.all(burst);
    const statuses = responses.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 503, 503, 503]);
    for (const response of responses.filter((r) => r.status === 503)) {
      assert.equal(response.headers.get('retry-after'), '3');
      const { error } = (await response.json()) as { error: { code: string } };
      assert.equal(error.code, 'busy');
    }
    const ok = responses.find((r) => r.status === 200)!;
    assert.equal(((await ok.json()) as { samples: number[] }).samples.length, 4);
  });
});

describe('HTTP shutdown', () => {
  it('closing cancels the running job and ends its event stream', async () => {
    const served = await serve({ pipeline, runtime: slowRuntime(2) });
    const job = await startJob(served, LONG);
    await pollJob(`${served.url}${job.links.self}`, (s) => (s.progress?.step ?? 0) >= 1);
    const stream = await request(`${served.url}${job.links.events}`);
    const text = stream.text();
    await served.app.close();
    const events = parseEvents(await text);
    assert.equal(events.at(-1)?.event, 'cancelled');
    assert.ok(events.filter((e) => e.event === 'progress').length < 500);
    await assert.rejects(request(`${served.url}/health`));
  });

  it("with shutdown 'finish' the running job completes before the server stops", async () => {
    const served = await serve({ pipeline, runtime: slowRuntime(2), shutdown: 'finish' });
    const job = await startJob(served, { ...LONG, steps: 20 });
    await pollJob(`${served.url}${job.links.self}`, (s) => s.status === 'running');
    const stream = await request(`${served.url}${job.links.events}`);
    const text = stream.text();
    await served.app.close();
    const events = parseEvents(await text);
    assert.equal(events.at(-1)?.event, 'done');
    assert.equal(events.filter((e) => e.event === 'progress').length, 20);
  });
});
