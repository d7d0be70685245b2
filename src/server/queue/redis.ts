/**
 * A queue of generation and editing jobs in Redis, shared by every service instance started with the
 * same `--queue redis://HOST:PORT` and the same model, through BullMQ: `submit` adds a job (refused with
 * QueueFullError once `maxQueued` jobs wait), every instance runs a BullMQ Worker that takes up to
 * `concurrency` jobs at a time, and any instance answers status, events, result and cancel for any
 * job from what Redis holds. Progress goes through `job.updateProgress` and reaches every instance's
 * QueueEvents; a job's event stream is rebuilt from its state (started, step k, finished) and then
 * followed live, so it is the same sequence the in-process queue records. Results are stored with
 * the job as base64 (kept `keepSeconds` and at most `maxFinishedJobs`). Cancelling sets a key in
 * Redis: a waiting job is removed at once, a running one sees the key (polled every few tens of
 * milliseconds by the instance that runs it), aborts between sampler steps and fails with a marker
 * reason that every instance reads as 'cancelled'.
 *
 * This module must not know about HTTP or models; the run function it is given does the work.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { Job as BullJob, Queue, QueueEvents, Worker, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { UnavailableError, UsageError } from '../../util/errors.js';
import type { GenerationResult } from '../generation.js';
import {
  JobCancelledError,
  QueueClosedError,
  QueueFullError,
  type JobEvent,
  type JobProgress,
} from '../jobs.js';
import type { JobRequest } from '../job-requests.js';
import type { GenerationJobs, JobFollower, JobSnapshot, RunGeneration } from './types.js';

/** Where the Redis server is, from `redis://[user:password@]host:port[/db]`. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

export interface RedisQueueOptions {
  readonly address: RedisAddress;
  /** Queue name; instances share jobs only when they use the same name (one per model). */
  readonly name: string;
  /** Jobs this instance runs at the same time. */
  readonly concurrency: number;
  /** Jobs that may wait in the shared queue; more are refused with QueueFullError. At least 1. */
  readonly maxQueued: number;
  /** Finished jobs kept in Redis for status and result look-ups (oldest removed first). */
  readonly maxFinishedJobs: number;
  /** Seconds finished jobs and cancel marks are kept at most. */
  readonly keepSeconds?: number;
  /** Name of this instance, recorded on the jobs it runs; default `host:pid`. */
  readonly instance?: string;
  /** Milliseconds `ready()` waits for Redis before giving up. */
  readonly connectTimeoutMs?: number;
  /** Called with connection errors after start-up; default one line on stderr per new message. */
  readonly onError?: (error: Error) => void;
}

/** What a job carries in Redis. */
interface JobData {
  readonly request: JobRequest;
}

/** A result as stored with the job (JSON, so the bytes travel as base64). */
interface StoredResult {
  readonly contentType: GenerationResult['contentType'];
  readonly body: string;
}

/** What one look at a job (or one live event about it) tells a follower. */
type Observation =
  | { readonly kind: 'started' }
  | { readonly kind: 'progress'; readonly progress: JobProgress }
  | { readonly kind: 'end'; readonly event: JobEvent };

/** The failure reason of a cancelled job; every instance reads it as status 'cancelled'. */
const CANCELLED_REASON = 'diffusion-job-cancelled';
const KEY_PREFIX = 'diffusion';
const CANCEL_POLL_MS = 25;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The address in a `redis://` URL; a UsageError naming the expected form otherwise. */
export function parseRedisUrl(text: string): RedisAddress {
  const fail = (why: string) =>
    new UsageError(`invalid queue URL '${text}': ${why}`, {
      hint: 'use redis://HOST:PORT or redis://HOST:PORT/DB',
    });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw fail('not a URL');
  }
  if (url.protocol !== 'redis:') throw fail(`the scheme must be redis:, got ${url.protocol}`);
  if (url.hostname === '') throw fail('no host');
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (!/^\d*$/.test(path) || Number(path) > 15)
    throw fail(`the path must be a database number 0..15, got '${path}'`);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db: path === '' ? 0 : Number(path),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/** A progress value read back from Redis, or null when it is not one of ours. */
function progressOf(value: unknown): JobProgress | null {
  if (typeof value !== 'object' || value === null) return null;
  const { step, numSteps } = value as Record<string, unknown>;
  return Number.isSafeInteger(step) && Number.isSafeInteger(numSteps)
    ? { step: step as number, numSteps: numSteps as number }
    : null;
}

/** The terminal event of a failed BullMQ job: ours when it was cancelled, else the failure. */
const failureEvent = (reason: string): JobEvent =>
  reason === CANCELLED_REASON ? { type: 'cancelled' } : { type: 'failed', message: reason };

/** The job's status from its BullMQ state. */
function snapshotOf(job: BullJob<JobData, StoredResult>, state: string): JobSnapshot {
  const id = job.id!;
  const progress = progressOf(job.progress);
  const instance = job.processedBy ? { instance: job.processedBy } : {};
  if (state === 'completed') return { id, status: 'succeeded', progress, ...instance };
  if (state === 'failed') {
    const event = failureEvent(job.failedReason);
    return event.type === 'failed'
      ? { id, status: 'failed', progress, error: event.message, ...instance }
      : { id, status: 'cancelled', progress, ...instance };
  }
  if (state === 'active') return { id, status: 'running', progress, ...instance };
  return { id, status: 'queued', progress: null };
}

/** What a follower learns from a job's current status. */
function observationsOf(snapshot: JobSnapshot): Observation[] {
  const seen: Observation[] = [];
  // Only a job some worker took has an instance; a job cancelled while waiting never started.
  const started =
    snapshot.status === 'running' || snapshot.status === 'succeeded' || snapshot.instance !== undefined;
  if (snapshot.progress !== null) seen.push({ kind: 'progress', progress: snapshot.progress });
  else if (started) seen.push({ kind: 'started' });
  if (snapshot.status === 'succeeded') seen.push({ kind: 'end', event: { type: 'done' } });
  if (snapshot.status === 'cancelled') seen.push({ kind: 'end', event: { type: 'cancelled' } });
  if (snapshot.status === 'failed') {
    seen.push({ kind: 'end', event: { type: 'failed', message: snapshot.error ?? '' } });
  }
  return seen;
}

/**
 * Turns observations (in any overlap, possibly repeated) into the event sequence queued, started,
 * progress 1..n, terminal — each event once, numbered from 0. Calls `stop` after the terminal event.
 */
function eventSequencer(follower: JobFollower, stop: () => void): (seen: Observation) => void {
  let index = 0;
  let started = false;
  let step = 0;
  let ended = false;
  const emit = (event: JobEvent) => follower.event(event, index++);
  const start = () => {
    if (!started) emit({ type: 'started' });
    started = true;
  };
  emit({ type: 'queued' });
  return (seen) => {
    if (ended) return;
    if (seen.kind === 'started') start();
    if (seen.kind === 'progress') {
      start();
      const { numSteps } = seen.progress;
      // A follower that arrives late, or misses a live event, fills in the steps it did not see.
      while (step < seen.progress.step) emit({ type: 'progress', step: ++step, numSteps });
    }
    if (seen.kind === 'end') {
      if (seen.event.type === 'done') start();
      ended = true;
      emit(seen.event);
      stop();
    }
  };
}

/** Writes each new error message once to stderr (a lost connection repeats the same one). */
function stderrOnce(): (error: Error) => void {
  let last = '';
  return (error) => {
    if (error.message === last) return;
    last = error.message;
    process.stderr.write(`job queue: ${error.message}\n`);
  };
}

export class RedisGenerationJobs implements GenerationJobs {
  readonly kind = 'redis';
  private readonly queue: Queue<JobData, StoredResult>;
  /** This instance's worker and event listener, made by `ready()` once Redis answers. */
  private started: { readonly worker: Worker<JobData, StoredResult>; readonly events: QueueEvents } | null =
    null;
  private readonly shared: {
    readonly connection: RedisAddress & { maxRetriesPerRequest: null };
    readonly prefix: string;
  };
  private readonly onError: (error: Error) => void;
  private readonly redis: Redis;
  /** Live observations by job id, from this instance's QueueEvents. */
  private readonly live = new EventEmitter();
  private readonly followers = new Set<{ follower: JobFollower; stop: () => void }>();
  /** Abort controllers of the jobs this instance runs, by job id. */
  private readonly running = new Map<string, AbortController>();
  private readonly jobOptions: JobsOptions;
  private readonly keepSeconds: number;
  private readonly url: string;
  private lastError: Error | null = null;
  /** Rejects `ready()` on the first connection error before start-up completes. */
  private failStart: ((error: Error) => void) | null = null;
  private isReady = false;
  private closing: Promise<void> | null = null;
  /** How this instance is shutting down, once it is. */
  private stopping: 'cancel' | 'finish' | null = null;

  constructor(
    private readonly options: RedisQueueOptions,
    private readonly run: RunGeneration,
  ) {
    const { address, concurrency, maxQueued, maxFinishedJobs } = options;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new UsageError(`the shared queue's concurrency must be an integer ≥ 1, got ${concurrency}`);
    }
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 1) {
      throw new UsageError(
        `a shared queue needs max-queued ≥ 1 (jobs wait in Redis until an instance takes them), got ${maxQueued}`,
      );
    }
    this.keepSeconds = options.keepSeconds ?? 3600;
    this.url = `redis://${address.host}:${address.port}/${address.db}`;
    const keep = { age: this.keepSeconds, count: Math.max(1, maxFinishedJobs) };
    this.jobOptions = { attempts: 1, removeOnComplete: keep, removeOnFail: keep };
    // BullMQ's own connections: no per-command retry limit, as its blocking worker connection requires.
    const connection = { ...address, maxRetriesPerRequest: null };
    this.shared = { connection, prefix: KEY_PREFIX };
    this.queue = new Queue<JobData, StoredResult>(options.name, this.shared);
    this.redis = new Redis({ ...address, maxRetriesPerRequest: 2 });
    this.live.setMaxListeners(0);
    const report = options.onError ?? stderrOnce();
    this.onError = (error: Error) => {
      this.lastError = error;
      this.failStart?.(error);
      if (this.isReady && this.closing === null) report(error);
    };
    // An EventEmitter without an 'error' listener would end the process on a lost connection.
    this.queue.on('error', this.onError);
    this.redis.on('error', this.onError);
  }

  /** The worker (taking jobs from now on) and the event listener of this instance. */
  private start(): { worker: Worker<JobData, StoredResult>; events: QueueEvents } {
    const events = new QueueEvents(this.options.name, this.shared);
    const worker = new Worker<JobData, StoredResult>(
      this.options.name,
      (job, _token, signal) => this.process(job, signal),
      {
        ...this.shared,
        concurrency: this.options.concurrency,
        name: this.options.instance ?? `${hostname()}:${process.pid}`,
      },
    );
    events.on('error', this.onError);
    worker.on('error', this.onError);
    this.listen(events);
    return { worker, events };
  }

  async ready(): Promise<void> {
    const ms = this.options.connectTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    // At start-up a connection error is fatal: better a clear exit than a server without its queue.
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      this.failStart = reject;
      if (this.lastError) reject(this.lastError);
    });
    // The worker and the event listener are made only once Redis answers: BullMQ's QueueEvents,
    // once made, keeps retrying a server that never answered, even after close().
    const connected = (async () => {
      await Promise.all([this.queue.waitUntilReady(), this.redis.ping()]);
      this.started = this.start();
      await Promise.all([this.started.events.waitUntilReady(), this.started.worker.waitUntilReady()]);
    })();
    try {
      await Promise.race([connected, failed]);
      this.isReady = true;
    } catch (error) {
      connected.catch(() => {}); // settled by the disconnect below; its outcome no longer matters
      await this.forceDisconnect();
      const why = this.lastError?.message ?? (error as Error).message;
      throw new UnavailableError(`cannot reach the job queue at ${this.url}: ${why}`, {
        hint: 'is redis-server running there?',
      });
    } finally {
      clearTimeout(timer);
      this.failStart = null;
    }
  }

  async submit(request: JobRequest): Promise<JobSnapshot> {
    if (this.closing !== null) throw new QueueClosedError();
    // Two instances may both pass this check at once, so the bound can be overshot by a few jobs.
    if ((await this.queue.getWaitingCount()) >= this.options.maxQueued) {
      throw new QueueFullError(this.options.maxQueued);
    }
    const id = randomUUID();
    await this.queue.add(request.kind, { request }, { ...this.jobOptions, jobId: id });
    return { id, status: 'queued', progress: null };
  }

  async status(id: string): Promise<JobSnapshot | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    // The state is read before the job's fields, so the fields are at least as new as the state and
    // every later change of state reaches a follower (subscribed before this look) as a live event.
    const state = await this.queue.getJobState(id);
    const job = state === 'unknown' ? undefined : await BullJob.fromId<JobData, StoredResult>(this.queue, id);
    if (job) return snapshotOf(job, state);
    // A job removed before it ran leaves only its cancel mark behind.
    return (await this.redis.exists(this.cancelKey(id)))
      ? { id, status: 'cancelled', progress: null }
      : undefined;
  }

  async follow(id: string, follower: JobFollower): Promise<(() => void) | undefined> {
    // Listen before looking, so nothing between the look and the first live event is lost.
    const early: Observation[] = [];
    let sequence: ((seen: Observation) => void) | null = null;
    const listener = (seen: Observation) => (sequence ? sequence(seen) : early.push(seen));
    const stopFollowing = () => {
      this.live.off(id, listener);
      this.followers.delete(entry);
    };
    const entry = { follower, stop: stopFollowing };
    this.live.on(id, listener);
    this.followers.add(entry);
    let snapshot: JobSnapshot | undefined;
    try {
      snapshot = await this.status(id);
    } finally {
      if (snapshot === undefined) entry.stop();
    }
    if (snapshot === undefined) return undefined;
    const next = eventSequencer(follower, entry.stop);
    for (const seen of [...observationsOf(snapshot), ...early]) next(seen);
    sequence = next;
    return entry.stop;
  }

  async result(id: string): Promise<GenerationResult | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const job = await BullJob.fromId<JobData, StoredResult>(this.queue, id);
    if (!job || (await job.getState()) !== 'completed') return undefined;
    const stored = job.returnvalue;
    return { contentType: stored.contentType, body: Buffer.from(stored.body, 'base64') };
  }

  async cancel(id: string): Promise<boolean> {
    if (!JOB_ID.test(id)) return false;
    const job = await BullJob.fromId<JobData, StoredResult>(this.queue, id);
    const state = job ? await job.getState() : 'unknown';
    if (!job || state === 'unknown' || state === 'completed' || state === 'failed') return false;
    await this.redis.set(this.cancelKey(id), '1', 'EX', this.keepSeconds);
    if (state !== 'active') {
      // A worker may take the job between the look and the removal; then the removal fails (the job
      // is locked) and that worker sees the cancel mark before its first step instead.
      await job.remove().catch(() => undefined);
    }
    return true;
  }

  close(mode: 'cancel' | 'finish'): Promise<void> {
    this.stopping ??= mode;
    this.closing ??= this.shutDown(mode);
    return this.closing;
  }

  private async shutDown(mode: 'cancel' | 'finish'): Promise<void> {
    if (mode === 'cancel') for (const controller of this.running.values()) controller.abort();
    await this.started?.worker.close();
    for (const { follower, stop } of [...this.followers]) {
      stop();
      follower.closed();
    }
    await this.disconnect();
  }

  private async disconnect(): Promise<void> {
    const { worker, events } = this.started ?? {};
    await Promise.allSettled([worker?.close(), events?.close(), this.queue.close()]);
    this.redis.disconnect();
  }

  /**
   * Drops every connection when Redis never answered: BullMQ's close waits for a connection that may
   * never come, so the closes are started and waited for at most a second.
   */
  private async forceDisconnect(): Promise<void> {
    this.closing ??= Promise.resolve();
    this.redis.disconnect();
    const { worker, events } = this.started ?? {};
    const closed = Promise.allSettled([
      worker?.close(true),
      events?.close(),
      this.queue.close(),
      // close() alone leaves a connection retrying; disconnect() stops it.
      events?.disconnect(),
      this.queue.disconnect(),
    ]);
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  }

  private cancelKey(id: string): string {
    return `${KEY_PREFIX}-cancel:${this.options.name}:${id}`;
  }

  /** Forwards this instance's QueueEvents to the followers of each job. */
  private listen(events: QueueEvents): void {
    const observe = (id: string, seen: Observation) => this.live.emit(id, seen);
    events.on('active', ({ jobId }) => observe(jobId, { kind: 'started' }));
    events.on('progress', ({ jobId, data }) => {
      const progress = progressOf(data);
      if (progress) observe(jobId, { kind: 'progress', progress });
    });
    events.on('completed', ({ jobId }) => observe(jobId, { kind: 'end', event: { type: 'done' } }));
    events.on('failed', ({ jobId, failedReason }) =>
      observe(jobId, { kind: 'end', event: failureEvent(failedReason) }),
    );
    // Only cancel removes a job that has not finished; removals of finished jobs come after their end.
    events.on('removed', ({ jobId }) => observe(jobId, { kind: 'end', event: { type: 'cancelled' } }));
  }

  /** The worker's processor: runs one job, reporting progress and watching for its cancel mark. */
  private async process(job: BullJob<JobData, StoredResult>, signal?: AbortSignal): Promise<StoredResult> {
    const id = job.id!;
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal?.addEventListener('abort', abort);
    this.running.set(id, controller);
    const key = this.cancelKey(id);
    const watch = () =>
      this.redis.exists(key).then(
        (marked) => marked && abort(),
        () => undefined, // Redis unreachable for a moment: the next poll asks again
      );
    const poll = setInterval(() => void watch(), CANCEL_POLL_MS);
    // Progress updates go out one after another, so they arrive in step order; the last is awaited.
    let reported: Promise<unknown> = Promise.resolve();
    const report = (progress: JobProgress) => {
      reported = reported.then(() => job.updateProgress(progress)).catch(() => undefined);
    };
    try {
      await watch();
      if (this.stopping === 'cancel') abort();
      const result = await this.run(job.data.request, controller.signal, report);
      await reported;
      return { contentType: result.contentType, body: result.body.toString('base64') };
    } catch (error) {
      await reported;
      if (error instanceof JobCancelledError || controller.signal.aborted)
        throw new Error(CANCELLED_REASON, { cause: error });
      throw error;
    } finally {
      clearInterval(poll);
      signal?.removeEventListener('abort', abort);
      this.running.delete(id);
    }
  }
}
