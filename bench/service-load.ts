/**
 * Load on the HTTP service: the app is started in this process on 127.0.0.1 with the shipped MNIST
 * denoiser (or, with `--tiny`, a random 1×8×8 UNet that makes the HTTP and queue overhead visible), and
 * a small concurrent fetch loop drives `POST /v1/generate` (num 1, 10 steps). Two phases:
 *   steady    `--connections` clients (default: the queue's capacity, so none is refused) send requests
 *             back to back until `--requests` have been answered or `--seconds` have passed; prints
 *             requests/s, p50/p99 latency, the status counts, and RSS / heap before and after (and the
 *             peak, sampled every 100 ms) — memory must stay bounded over 1,000 requests;
 *   overload  `--bursts` times, three times the capacity of requests at once: at least the capacity must
 *             be answered 200 (more when jobs finish while the burst arrives) and every other answer
 *             must be 503 with Retry-After and code 'busy'.
 * The load generator shares the process and its cores with the service, so requests/s is a lower bound
 * for a separate client. This script must not write files; it only measures and prints.
 *
 * Usage: node --expose-gc --import tsx bench/service-load.ts [--tiny] [--requests N] [--seconds S]
 *        [--connections C] [--bursts B]     (--expose-gc: heap figures after a full collection)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schedulerConfig } from '../src/diffusion/scheduler-config.js';
import { loadPipeline, savePipeline, type LoadedPipeline } from '../src/models/pipeline-folder.js';
import { UNet2DModel } from '../src/models/unet2d.js';
import { buildApp } from '../src/server/app.js';
import { Random } from '../src/util/random.js';

const MNIST = fileURLToPath(new URL('../models/mnist-unet', import.meta.url));
const BODY = JSON.stringify({ num: 1, steps: 10, sampler: 'ddim', format: 'png' });
const LIMITS = { concurrency: 1, maxQueued: 8 };
const CAPACITY = LIMITS.concurrency + LIMITS.maxQueued;

interface Options {
  tiny: boolean;
  requests: number;
  seconds: number;
  connections: number;
  bursts: number;
}

function options(argv: string[]): Options {
  const value = (flag: string, fallback: number) => {
    const i = argv.indexOf(flag);
    const n = i >= 0 ? Number(argv[i + 1]) : fallback;
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`);
    return n;
  };
  return {
    tiny: argv.includes('--tiny'),
    requests: value('--requests', 1000),
    seconds: value('--seconds', 240),
    connections: value('--connections', CAPACITY),
    bursts: value('--bursts', 5),
  };
}

/** A random 1×8×8 UNet saved and loaded back, as the service would load it. */
function tinyPipeline(): LoadedPipeline {
  const root = mkdtempSync(join(tmpdir(), 'service-load-'));
  try {
    const network = new UNet2DModel({
      sample_size: 8,
      in_channels: 1,
      out_channels: 1,
      block_out_channels: [8, 8],
      down_block_types: ['DownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'UpBlock2D'],
      layers_per_block: 1,
      norm_num_groups: 4,
      add_attention: false,
    });
    const dir = join(root, 'pipeline');
    savePipeline(dir, {
      network,
      params: network.init(new Random(3)),
      scheduler: schedulerConfig('DDIMScheduler', {}),
    });
    return loadPipeline(dir);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** One request: its status, Retry-After and error code (for 503s), and latency in ms. */
async function generateOnce(url: string) {
  const start = performance.now();
  const response = await fetch(`${url}/v1/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    signal: AbortSignal.timeout(120_000),
  });
  const bytes = await response.arrayBuffer();
  const ms = performance.now() - start;
  const code =
    response.status === 200
      ? undefined
      : (JSON.parse(Buffer.from(bytes).toString()) as { error: { code: string } }).error.code;
  return { status: response.status, retryAfter: response.headers.get('retry-after'), code, ms };
}

/** The value at quantile q of sorted `values` (nearest rank). */
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** `global.gc` when node runs with --expose-gc, so heap figures count live objects, not garbage. */
const gc = (globalThis as { gc?: () => void }).gc;

/** Memory use, after a full collection when one can be forced. */
function settledMemory(): NodeJS.MemoryUsage {
  gc?.();
  return process.memoryUsage();
}

/** `connections` clients back to back until `requests` answers or `seconds` pass. */
async function steady(url: string, opts: Options) {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let sent = 0;
  let answered = 0;
  const deadline = performance.now() + opts.seconds * 1000;
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  const before = settledMemory();
  const checkpoints: string[] = [];
  const start = performance.now();
  const client = async () => {
    while (sent < opts.requests && performance.now() < deadline) {
      sent++;
      const answer = await generateOnce(url);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 200) latencies.push(answer.ms);
      answered++;
      if (answered % 250 === 0) checkpoints.push(`${answered}: ${mib(process.memoryUsage.rss())}`);
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, client));
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  const after = settledMemory();
  latencies.sort((a, b) => a - b);
  console.log(`steady: ${opts.connections} clients, ${answered} requests in ${seconds.toFixed(1)} s`);
  console.log(`  requests/s          ${(answered / seconds).toFixed(1)}`);
  console.log(
    `  latency p50 / p99   ${quantile(latencies, 0.5).toFixed(1)} / ${quantile(latencies, 0.99).toFixed(1)} ms`,
  );
  console.log(`  statuses            ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}`);
  console.log(`  RSS before / after  ${mib(before.rss)} / ${mib(after.rss)} MiB (peak ${mib(peakRss)} MiB)`);
  console.log(
    `  heap before / after ${mib(before.heapUsed)} / ${mib(after.heapUsed)} MiB${gc ? ' (after a full GC)' : ''}`,
  );
  console.log(`  RSS by requests     ${checkpoints.join(', ')} MiB`);
}

/** Bursts of 3 × capacity simultaneous requests: the capacity answered, the rest 503 busy with Retry-After. */
async function overload(url: string, opts: Options): Promise<boolean> {
  let ok = 0;
  let busy = 0;
  let wrong = 0;
  for (let b = 0; b < opts.bursts; b++) {
    const answers = await Promise.all(Array.from({ length: 3 * CAPACITY }, () => generateOnce(url)));
    for (const a of answers) {
      if (a.status === 200) ok++;
      else if (a.status === 503 && a.code === 'busy' && a.retryAfter !== null) busy++;
      else wrong++;
    }
  }
  const total = opts.bursts * 3 * CAPACITY;
  console.log(`overload: ${opts.bursts} bursts of ${3 * CAPACITY} requests (capacity ${CAPACITY})`);
  console.log(`  200 ${ok}, 503 busy with Retry-After ${busy}, other ${wrong} (of ${total})`);
  // A burst can only overflow the queue if it arrives faster than jobs finish; at least the capacity of
  // each burst must be served, and no answer may be anything but 200 or 503 busy.
  return wrong === 0 && ok >= opts.bursts * CAPACITY && busy > 0;
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const pipeline = opts.tiny ? tinyPipeline() : loadPipeline(MNIST);
  const app = buildApp({ pipeline, limits: LIMITS });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  console.log(
    `service-load: ${opts.tiny ? 'random 1×8×8 UNet' : 'MNIST UNet (models/mnist-unet)'}, POST /v1/generate num 1, 10 DDIM steps, concurrency ${LIMITS.concurrency}, queue ${LIMITS.maxQueued}`,
  );
  try {
    for (let i = 0; i < 3; i++) await generateOnce(url);
    await steady(url, opts);
    const correct = await overload(url, opts);
    console.log(correct ? 'overload answers: correct' : 'overload answers: WRONG');
    if (!correct) process.exitCode = 1;
  } finally {
    await app.close();
  }
}

await main();
