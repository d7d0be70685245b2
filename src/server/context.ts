/**
 * What every route of the HTTP service shares: the pipeline loaded once at start-up, the limits, the
 * in-process job queue, `submit`, which validates a generation body and queues it there, and `jobs`,
 * the queue that `/v1/jobs` uses — the same in-process queue by default, or a Redis queue shared by
 * several instances (`queue: 'redis://…'`). Routes receive this object instead of reaching for
 * globals, so a test builds as many independent apps as it likes.
 *
 * This module must not register routes or handle HTTP; it only wires the shared pieces.
 */
import { OrtNodeRuntime, type Runtime } from '../engine/index.js';
import { compiledDenoiser, type CompiledDenoiser } from '../pipelines/generate.js';
import type { LoadedPipeline } from '../models/pipeline-folder.js';
import { runGeneration, type GenerationResult } from './generation.js';
import { JobQueue, type Job, type JobProgress } from './jobs.js';
import { generationJobs, type GenerationJobs, type JobSnapshot } from './queue/index.js';
import { checkAgainstModel, parseGenerateBody, type GenerateBody, type ServerLimits } from './schemas.js';

export interface ServerContext {
  readonly pipeline: LoadedPipeline;
  readonly limits: ServerLimits;
  readonly queue: JobQueue<GenerationResult>;
  /** The network compiled once at start-up (one session per batch size, reused by every request). */
  readonly denoiser: CompiledDenoiser;
  /** Validates `body` (UsageError naming the field) and queues it (QueueFullError when full). */
  submit(body: unknown): Job<GenerationResult>;
  /** The queue of `/v1/jobs`: `queue` itself, or a Redis queue shared by several instances. */
  readonly jobs: GenerationJobs;
  /** Validates `body` like `submit` and queues it on `jobs`. */
  submitJob(body: unknown): Promise<JobSnapshot>;
  /** Closes both queues: refuses new jobs and cancels (or finishes) the ones this instance runs. */
  close(mode: 'cancel' | 'finish'): Promise<void>;
}

export function serverContext(
  pipeline: LoadedPipeline,
  limits: ServerLimits,
  runtime?: Runtime,
  queueUrl?: string,
): ServerContext {
  const queue = new JobQueue<GenerationResult>({
    concurrency: limits.concurrency,
    maxQueued: limits.maxQueued,
    maxFinishedJobs: limits.maxFinishedJobs,
  });
  const latent = pipeline.vae !== undefined;
  const denoiser = compiledDenoiser({ ...pipeline, numSamples: 1 }, runtime ?? new OrtNodeRuntime());
  const validated = (raw: unknown): GenerateBody => {
    const body = parseGenerateBody(raw, limits);
    checkAgainstModel(body, pipeline.network, latent);
    return body;
  };
  const run = (body: GenerateBody, signal: AbortSignal, report: (p: JobProgress) => void) =>
    runGeneration(pipeline, body, { signal, report, denoiser });
  const jobs = generationJobs({
    pipeline,
    limits,
    local: queue,
    run,
    ...(queueUrl !== undefined ? { url: queueUrl } : {}),
  });
  return {
    pipeline,
    limits,
    queue,
    denoiser,
    jobs,
    submit(raw) {
      const body = validated(raw);
      return queue.submit((signal, report) => run(body, signal, report));
    },
    async submitJob(raw) {
      return jobs.submit(validated(raw));
    },
    async close(mode) {
      await Promise.all([queue.close(mode), jobs.close(mode)]);
    },
  };
}
