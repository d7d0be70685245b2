// The job queue shared through Redis: the test starts its own redis-server on a free port and two
// `diffusion serve --queue redis://…` processes on one tiny random UNet. A job submitted to one
// instance is followed from the other (status, server-sent events queued, started, progress 1..n,
// done) and its result there is the same bytes as the same request run in-process; a running job is
// cancelled through the instance that does not run it; several jobs are spread over both instances;
// a full queue answers 503 with Retry-After and a waiting job cancels at once. URL parsing is checked
// on its own, and `serve` refuses a bad URL (exit 2) and an unreachable Redis (exit 1) in one line.
// The two-instance tests are skipped, with a message, only where /usr/bin/redis-server is absent.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { loadPipeline, savePipeline } from '../../src/models/pipeline-folder.js';
import { buildApp } from '../../src/server/app.js';
import { parseRedisUrl } from '../../src/server/queue/index.js';
import { Random } from '../../src/util/random.js';
import { pollJob, postJson, readEvents, request, unetNetwork } from './harness.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;

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

/** The first stdout text of `child` matching `pattern`, or a rejection after `ms`. */
function waitForOutput(child: ChildProcess, pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no '${pattern}' within ${ms} ms; got: ${text}`)), ms);
    const look = (chunk: Buffer) => {
      text += chunk.toString();
      const match = text.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`exited with ${code} before '${pattern}': ${text}`)));
  });
}

/** Stops `child` with `signal` and waits (bounded) for it to exit; SIGKILL if it does not. */
async function stop(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

interface Instance {
  readonly url: string;
  /** The name it records on the jobs it runs: host:pid. */
  readonly name: string;
  readonly child: ChildProcess;
}

interface Status {
  id: string;
  status: string;
  progress: { step: number; numSteps: number } | null;
  instance?: string;
  links: { self: string; events: string; result: string };
}

const getJson = async <T>(url: string): Promise<T> => (await (await request(url)).json()) as T;

async function submit(instance: Instance, body: unknown): Promise<Status> {
  const response = await postJson(`${instance.url}/v1/jobs`, body);
  assert.equal(response.status, 202, await response.clone().text());
  return (await response.json()) as Status;
}

const LONG = { num: 1, steps: 1000, sampler: 'ddim', format: 'json' };

describe('URLs of the shared queue', () => {
  it('reads host, port and database, and refuses other forms naming the expected one', () => {
    assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6390'), { host: '127.0.0.1', port: 6390, db: 0 });
    assert.deepEqual(parseRedisUrl('redis://queue.example:7000/3'), {
      host: 'queue.example',
      port: 7000,
      db: 3,
    });
    assert.deepEqual(parseRedisUrl('redis://u:p%40ss@h'), {
      host: 'h',
      port: 6379,
      db: 0,
      username: 'u',
      password: 'p@ss',
    });
    assert.throws(() => parseRedisUrl('http://h:1'), /scheme must be redis:.*redis:\/\/HOST:PORT/);
    assert.throws(() => parseRedisUrl('localhost:6379'), /invalid queue URL/);
    assert.throws(() => parseRedisUrl('redis://h:1/x'), /database number 0\.\.15/);
  });
});

describe('diffusion serve --queue', () => {
  let root = '';
  let modelDir = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'redis-queue-cli-'));
    modelDir = join(root, 'pipeline');
    const network = unetNetwork();
    savePipeline(modelDir, {
      network,
      params: network.init(new Random(5)),
      scheduler: schedulerConfig('DDPMScheduler', {}),
    });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const serveWith = (queue: string) =>
    spawnSync(process.execPath, [bin, 'serve', '--model', modelDir, '--port', '0', '--queue', queue], {
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('refuses a URL that is not redis:// with a one-line usage error (exit 2)', () => {
    const run = serveWith('http://127.0.0.1:6379');
    assert.equal(run.status, 2);
    assert.match(
      run.stderr,
      /^error: invalid queue URL 'http:\/\/127\.0\.0\.1:6379': the scheme must be redis:/,
    );
  });

  it('exits 1 with a one-line error when no Redis answers, instead of serving without its queue', async () => {
    const run = serveWith(`redis://127.0.0.1:${await freePort()}`);
    assert.equal(run.status, 1);
    assert.match(
      run.stderr,
      /^error: cannot reach the job queue at redis:\/\/127\.0\.0\.1:\d+\/0: .*ECONNREFUSED/,
    );
    assert.equal(run.stderr.trim().split('\n').length, 1);
  });
});

describe(
  'jobs shared through Redis by two instances',
  {
    skip: existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is absent (apt-get install redis-server)`,
  },
  () => {
    let root = '';
    let modelDir = '';
    let redis: ChildProcess | undefined;
    const instances: Instance[] = [];
    let a: Instance;
    let b: Instance;

    before(async () => {
      root = mkdtempSync(join(tmpdir(), 'redis-queue-'));
      modelDir = join(root, 'pipeline');
      const network = unetNetwork();
      savePipeline(modelDir, {
        network,
        params: network.init(new Random(5)),
        scheduler: schedulerConfig('DDPMScheduler', { numTrainTimesteps: 1000, betaSchedule: 'linear' }),
      });
      const port = await freePort();
      redis = spawn(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      await waitForOutput(redis, /Ready to accept connections/, 20_000);
      const queue = `redis://127.0.0.1:${port}`;
      const start = async (): Promise<Instance> => {
        const args = ['serve', '--model', modelDir, '--port', '0', '--queue', queue, '--max-queued', '2'];
        const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        instances.push({ url: '', name: '', child });
        const [, url] = await waitForOutput(child, /on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
        return { url, name: `${hostname()}:${child.pid}`, child };
      };
      [a, b] = await Promise.all([start(), start()]);
    });

    after(async () => {
      await Promise.all(instances.map(({ child }) => stop(child)));
      await stop(redis);
      rmSync(root, { recursive: true, force: true });
    });

    it('answers for a job of A on B: status, events 1..n in order, and the in-process result', async () => {
      const body = { num: 2, steps: 40, sampler: 'dpmpp_2m', seed: 11, format: 'json' };
      const job = await submit(a, body);
      const events = await readEvents(`${b.url}${job.links.events}`);
      assert.deepEqual(
        events.map((e) => e.event),
        ['queued', 'started', ...Array<string>(40).fill('progress'), 'done'],
      );
      assert.deepEqual(
        events.map((e) => e.id),
        events.map((_, i) => i),
      );
      assert.deepEqual(
        events.filter((e) => e.event === 'progress').map((e) => [e.data.step, e.data.numSteps]),
        Array.from({ length: 40 }, (_, i) => [i + 1, 40]),
      );
      const status = await getJson<Status & { result: string }>(`${b.url}${job.links.self}`);
      assert.equal(status.status, 'succeeded');
      assert.deepEqual(status.progress, { step: 40, numSteps: 40 });
      assert.equal(status.result, job.links.result);
      assert.ok([a.name, b.name].includes(status.instance!), `ran on ${status.instance}`);
      // A finished job's stream replays the same events on either instance.
      assert.deepEqual(await readEvents(`${a.url}${job.links.events}`), events);
      const fromB = Buffer.from(await (await request(`${b.url}${job.links.result}`)).arrayBuffer());
      const fromA = Buffer.from(await (await request(`${a.url}${job.links.result}`)).arrayBuffer());
      const app = buildApp({ pipeline: loadPipeline(modelDir) });
      try {
        const direct = await app.inject({ method: 'POST', url: '/v1/generate', payload: body });
        assert.equal(direct.statusCode, 200);
        assert.ok(
          fromB.equals(direct.rawPayload),
          'the shared job and the in-process run must give the same bytes',
        );
        assert.ok(fromA.equals(fromB));
        const samples = (JSON.parse(fromB.toString()) as { samples: number[] }).samples;
        assert.equal(samples.length, 2 * 64);
        assert.ok(samples.every(Number.isFinite));
      } finally {
        await app.close();
      }
    });

    it('cancels a running job through the instance that does not run it', async () => {
      const job = await submit(a, LONG);
      const running = (await pollJob(
        `${b.url}${job.links.self}`,
        (s) => (s.progress?.step ?? 0) >= 2,
      )) as Status;
      assert.equal(running.status, 'running');
      const [runner, other] = running.instance === a.name ? [a, b] : [b, a];
      assert.equal(running.instance, runner.name);
      assert.equal((await request(`${other.url}${job.links.result}`)).status, 409);
      const stream = readEvents(`${runner.url}${job.links.events}`);
      const cancel = await request(`${other.url}${job.links.self}`, { method: 'DELETE' });
      assert.equal(cancel.status, 200);
      assert.equal(((await cancel.json()) as { cancelled: boolean }).cancelled, true);
      const events = await stream;
      assert.equal(events.at(-1)?.event, 'cancelled');
      const steps = events.filter((e) => e.event === 'progress').length;
      assert.ok(steps >= 2 && steps < 1000, `cancelled after ${steps} of 1000 steps`);
      for (const instance of [a, b]) {
        const status = await getJson<Status>(`${instance.url}${job.links.self}`);
        assert.equal(status.status, 'cancelled');
      }
      const again = await request(`${runner.url}${job.links.self}`, { method: 'DELETE' });
      assert.equal(((await again.json()) as { cancelled: boolean }).cancelled, false);
      assert.equal((await request(`${runner.url}${job.links.result}`)).status, 409);
    });

    it('spreads several jobs over both instances', async () => {
      // Two rounds of two jobs (max-queued is 2), each round submitted at once to A and to B.
      const finished: Status[] = [];
      for (const round of [0, 1]) {
        const jobs = await Promise.all(
          [a, b].map((instance, i) =>
            submit(instance, { num: 1, steps: 150, seed: 2 * round + i, format: 'json' }),
          ),
        );
        for (const job of jobs) {
          finished.push(
            (await pollJob(`${a.url}${job.links.self}`, (s) => s.status === 'succeeded', 3000)) as Status,
          );
        }
      }
      const ranOn = new Set(finished.map((s) => s.instance));
      assert.deepEqual([...ranOn].sort(), [a.name, b.name].sort());
    });

    it('answers 503 with Retry-After once max-queued jobs wait, and removes a waiting job at once', async () => {
      // Each instance runs one job at a time, so two long jobs occupy both and later ones wait.
      const busy = [await submit(a, LONG), await submit(b, LONG)];
      for (const job of busy) await pollJob(`${a.url}${job.links.self}`, (s) => s.status === 'running');
      const waiting = [await submit(a, LONG), await submit(b, LONG)];
      for (const job of waiting) assert.equal(job.status, 'queued');
      const refused = await postJson(`${b.url}/v1/jobs`, LONG);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '2');
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'busy');
      const cancel = await request(`${b.url}${waiting[0].links.self}`, { method: 'DELETE' });
      const cancelled = (await cancel.json()) as Status & { cancelled: boolean };
      assert.equal(cancelled.cancelled, true);
      assert.equal(cancelled.status, 'cancelled');
      const events = await readEvents(`${a.url}${waiting[0].links.events}`);
      assert.deepEqual(
        events.map((e) => e.event),
        ['queued', 'cancelled'],
      );
      for (const job of [...busy, waiting[1]]) {
        const response = await request(`${a.url}${job.links.self}`, { method: 'DELETE' });
        assert.equal(((await response.json()) as { cancelled: boolean }).cancelled, true);
      }
      for (const job of [...busy, waiting[1]]) {
        await pollJob(`${b.url}${job.links.self}`, (s) => s.status === 'cancelled');
      }
    });

    it('SIGTERM on the instance running a job cancels it there; both exit 0', async () => {
      const job = await submit(a, LONG);
      const running = (await pollJob(
        `${a.url}${job.links.self}`,
        (s) => (s.progress?.step ?? 0) >= 1,
      )) as Status;
      const [runner, other] = running.instance === a.name ? [a, b] : [b, a];
      const stream = readEvents(`${other.url}${job.links.events}`);
      assert.equal(await stop(runner.child), 0);
      const events = await stream;
      assert.equal(events.at(-1)?.event, 'cancelled');
      assert.ok(events.filter((e) => e.event === 'progress').length < 1000);
      assert.equal((await getJson<Status>(`${other.url}${job.links.self}`)).status, 'cancelled');
      assert.equal(await stop(other.child), 0);
    });
  },
);
