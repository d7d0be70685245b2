/**
 * What every route of the HTTP service shares: the pipeline loaded once at start-up, the limits, the
 * in-process job queue, `submit`, which validates a generation body and queues it there, and `jobs`,
 * the queue that `/v1/jobs` uses for every job kind (generation, and the editing tasks of
 * routes/edit.ts) — the same in-process queue by default, or a Redis queue shared by several
 * instances (`queue: 'redis://…'`). Routes receive this object instead of reaching for
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
import { splitJobKind, type JobRequest } from './job-requests.js';
import { editTaskOf, runEditTask } from './routes/edit.js';
import { checkAgainstModel, parseGenerateBody, type GenerateBody, type ServerLimits } from './schemas.js';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './uploads.js';

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
  /** Limits of the image uploads of editing requests. */
  readonly uploads: UploadLimits;
  /** Validates `body` (`{ kind, ...fields }`, as the route of that kind) and queues it on `jobs`. */
  submitJob(body: unknown): Promise<JobSnapshot>;
  /** Closes both queues: refuses new jobs and cancels (or finishes) the ones this instance runs. */
  close(mode: 'cancel' | 'finish'): Promise<void>;
}

export function serverContext(
  pipeline: LoadedPipeline,
  limits: ServerLimits,
  runtime?: Runtime,
  queueUrl?: string,
  uploads: UploadLimits = DEFAULT_UPLOAD_LIMITS,
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
  // Editing tasks read the context (model, limits, compiled network), built below; `run` is only
  // called once a job runs, after that.
  const run = (request: JobRequest, signal: AbortSignal, report: (p: JobProgress) => void) =>
    request.kind === 'generate'
      ? runGeneration(pipeline, request.body, { signal, report, denoiser })
      : runEditTask(editTaskOf(request.kind, context, request.body, uploads), signal, report);
  const jobs = generationJobs({
    pipeline,
    limits,
    local: queue,
    run,
    ...(queueUrl !== undefined ? { url: queueUrl } : {}),
  });
  const context: ServerContext = {
    pipeline,
    limits,
    queue,
    denoiser,
    jobs,
    uploads,
    submit(raw) {
      const body = validated(raw);
      return queue.submit((signal, report) => run({ kind: 'generate', body }, signal, report));
    },
    async submitJob(raw) {
      const { kind, body } = splitJobKind(raw);
      if (kind === 'generate') return jobs.submit({ kind, body: validated(body) });
      // Validated (and its images decoded) now, so a bad body is a 400 here, not a failed job later.
      editTaskOf(kind, context, body, uploads);
      return jobs.submit({ kind, body: body ?? {} });
    },
    async close(mode) {
      await Promise.all([queue.close(mode), jobs.close(mode)]);
    },
  };
  return context;
}
