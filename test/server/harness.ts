// Shared set-up for the HTTP service tests: tiny random-init pipelines saved with savePipeline and
// loaded with loadPipeline (the tests check the protocol, not sample quality), an app listening on
// 127.0.0.1 with an ephemeral port, and bounded HTTP helpers (every request has a timeout).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { OrtNodeRuntime, type Runtime } from '../../src/engine/index.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { loadPipeline, savePipeline, type LoadedPipeline } from '../../src/models/pipeline-folder.js';
import type { DenoiserNetwork } from '../../src/models/types.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import { Random } from '../../src/util/random.js';

/** A class-conditional 2-D MLP (3 real classes) with random weights. */
export const mlpNetwork = (): DenoiserNetwork =>
  new MLPDenoiser({ hidden_size: 16, num_layers: 1, time_embedding_dim: 8, num_class_embeds: 4 });

/** An unconditional 1×8×8 UNet2DModel with random weights. */
export const unetNetwork = (): DenoiserNetwork =>
  new UNet2DModel({
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

/** The network saved to a temporary pipeline folder and loaded back, as `serve` loads it. */
export function savedPipeline(network: DenoiserNetwork): LoadedPipeline {
  const root = mkdtempSync(join(tmpdir(), 'server-test-'));
  try {
    const dir = join(root, 'pipeline');
    savePipeline(dir, {
      network,
      params: network.init(new Random(3)),
      scheduler: schedulerConfig('DDPMScheduler', { numTrainTimesteps: 1000, betaSchedule: 'linear' }),
    });
    return loadPipeline(dir);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export interface Served {
  readonly app: FastifyInstance;
  readonly url: string;
}

/** The app listening on 127.0.0.1 at a port the OS picks. */
export async function serve(options: AppOptions): Promise<Served> {
  const app = buildApp(options);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

const TIMEOUT_MS = 20_000;

/** fetch with a timeout, so no test can hang on the server. */
export const request = (url: string, init: RequestInit = {}): Promise<Response> =>
  fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });

/** POST a JSON body. */
export const postJson = (url: string, body: unknown): Promise<Response> =>
  request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

export interface SseEvent {
  readonly id: number;
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** Reads a server-sent-event stream to its end (the server ends it after the job's last event). */
export async function readEvents(url: string): Promise<SseEvent[]> {
  const response = await request(url);
  if (response.headers.get('content-type') !== 'text/event-stream') {
    throw new Error(
      `expected an event stream, got ${response.status} ${response.headers.get('content-type')}`,
    );
  }
  return parseEvents(await response.text());
}

export function parseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const fields = new Map(
        block
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
      );
      return {
        id: Number(fields.get('id')),
        event: fields.get('event') ?? '',
        data: JSON.parse(fields.get('data') ?? '{}') as Record<string, unknown>,
      };
    });
}

/** Polls a job until `done(status)` holds; bounded to `tries` polls 10 ms apart. */
export async function pollJob(
  url: string,
  done: (status: { status: string; progress: { step: number } | null }) => boolean,
  tries = 1000,
): Promise<{ status: string; progress: { step: number } | null }> {
  for (let i = 0; i < tries; i++) {
    const status = (await (await request(url)).json()) as {
      status: string;
      progress: { step: number } | null;
    };
    if (done(status)) return status;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`job at ${url} did not reach the expected state in ${tries} polls`);
}

/** onnxruntime with a pause before every model call, so a job is surely running while a test acts. */
export function slowRuntime(pauseMs: number): Runtime {
  const inner = new OrtNodeRuntime();
  return {
    name: `${inner.name} (slowed)`,
    compile(fn, inputTypes, options) {
      const compiled = inner.compile(fn, inputTypes, options);
      return {
        inputTypes: compiled.inputTypes,
        outputTypes: compiled.outputTypes,
        run: async (inputs) => {
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
          return compiled.run(inputs);
        },
        dispose: () => compiled.dispose(),
      };
    },
  };
}
