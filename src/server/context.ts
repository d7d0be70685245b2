/**
 * What every route of the HTTP service shares: the pipeline loaded once at start-up, the limits, the
 * job queue, and `submit`, which validates a generation body and queues it. Routes receive this
 * object instead of reaching for globals, so a test builds as many independent apps as it likes.
 *
 * This module must not register routes or handle HTTP; it only wires the shared pieces.
 */
import { OrtNodeRuntime, type Runtime } from '../engine/index.js';
import { compiledDenoiser, type CompiledDenoiser } from '../pipelines/generate.js';
import type { LoadedPipeline } from '../models/pipeline-folder.js';
import { runGeneration, type GenerationResult } from './generation.js';
import { JobQueue, type Job } from './jobs.js';
import { checkAgainstModel, parseGenerateBody, type ServerLimits } from './schemas.js';

export interface ServerContext {
  readonly pipeline: LoadedPipeline;
  readonly limits: ServerLimits;
  readonly queue: JobQueue<GenerationResult>;
  /** The network compiled once at start-up (one session per batch size, reused by every request). */
  readonly denoiser: CompiledDenoiser;
  /** Validates `body` (UsageError naming the field) and queues it (QueueFullError when full). */
  submit(body: unknown): Job<GenerationResult>;
}

export function serverContext(
  pipeline: LoadedPipeline,
  limits: ServerLimits,
  runtime?: Runtime,
): ServerContext {
  const queue = new JobQueue<GenerationResult>({
    concurrency: limits.concurrency,
    maxQueued: limits.maxQueued,
    maxFinishedJobs: limits.maxFinishedJobs,
  });
  const latent = pipeline.vae !== undefined;
  const denoiser = compiledDenoiser({ ...pipeline, numSamples: 1 }, runtime ?? new OrtNodeRuntime());
  return {
    pipeline,
    limits,
    queue,
    denoiser,
    submit(raw) {
      const body = parseGenerateBody(raw, limits);
      checkAgainstModel(body, pipeline.network, latent);
      return queue.submit((signal, report) => runGeneration(pipeline, body, { signal, report, denoiser }));
    },
  };
}
