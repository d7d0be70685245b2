/**
 * Picks the queue that holds generation jobs: the in-process one by default, or, given a
 * `redis://HOST:PORT` URL, a Redis queue shared by every instance serving the same model. The shared
 * queue's name is a fingerprint of the model (class, config, scheduler config and weights), so
 * instances serving different models on one Redis server never take each other's jobs.
 *
 * This module must not run jobs; it only chooses and configures the queue.
 */
import { createHash } from 'node:crypto';
import type { LoadedPipeline } from '../../models/pipeline-folder.js';
import type { Params } from '../../models/types.js';
import type { GenerationResult } from '../generation.js';
import type { JobQueue } from '../jobs.js';
import type { ServerLimits } from '../schemas.js';
import { localGenerationJobs } from './local.js';
import { parseRedisUrl, RedisGenerationJobs } from './redis.js';
import type { GenerationJobs, RunGeneration } from './types.js';

export type { GenerationJobs, JobFollower, JobSnapshot, RunGeneration } from './types.js';
export { parseRedisUrl } from './redis.js';

/** Feeds every parameter (name, shape, values) into `hash` in name order. */
function hashParams(hash: ReturnType<typeof createHash>, params: Params): void {
  for (const name of Object.keys(params).sort()) {
    const { data, shape } = params[name];
    hash.update(`${name}:${shape.join('x')}\n`);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
}

/** A short name that differs between models: `generate-` and 16 hex digits of a SHA-256. */
export function modelQueueName(pipeline: LoadedPipeline): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify([pipeline.network.className, pipeline.network.config, pipeline.schedulerConfig]),
  );
  hashParams(hash, pipeline.params);
  if (pipeline.vae) hashParams(hash, pipeline.vae.params);
  return `generate-${hash.digest('hex').slice(0, 16)}`;
}

export interface QueueChoice {
  readonly pipeline: LoadedPipeline;
  readonly limits: ServerLimits;
  /** The in-process queue, used when `url` is absent. */
  readonly local: JobQueue<GenerationResult>;
  readonly run: RunGeneration;
  /** `redis://HOST:PORT[/DB]` of a shared queue; absent for the in-process one. */
  readonly url?: string;
}

export function generationJobs(choice: QueueChoice): GenerationJobs {
  if (choice.url === undefined) return localGenerationJobs(choice.local, choice.run);
  const { limits } = choice;
  return new RedisGenerationJobs(
    {
      address: parseRedisUrl(choice.url),
      name: modelQueueName(choice.pipeline),
      concurrency: limits.concurrency,
      maxQueued: limits.maxQueued,
      maxFinishedJobs: limits.maxFinishedJobs,
    },
    choice.run,
  );
}
