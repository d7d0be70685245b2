/**
 * The in-process job queue behind the HTTP service: a bounded FIFO with bounded concurrency. A job is
 * a function of (AbortSignal, progress reporter) returning a result; the queue runs at most
 * `concurrency` of them at once, lets at most `maxQueued` wait, and refuses more with a QueueFullError
 * (the app answers 503 with Retry-After). Each job keeps an ordered event log — queued, started,
 * progress…, then exactly one of done / failed / cancelled — that server-sent-event streams replay
 * and follow. Cancelling aborts the job's signal; the work checks it between sampler steps and throws
 * JobCancelledError. `close()` refuses new jobs and cancels (or finishes) the ones it holds.
 *
 * This module must not know about HTTP or models: it only schedules and records work.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobProgress {
  /** Steps finished. */
  readonly step: number;
  readonly numSteps: number;
}

export type JobEvent =
  | { readonly type: 'queued' }
  | { readonly type: 'started' }
  | { readonly type: 'progress'; readonly step: number; readonly numSteps: number }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'cancelled' };

export type JobWork<R> = (signal: AbortSignal, report: (progress: JobProgress) => void) => Promise<R>;

/** Thrown by work that stops because its signal was aborted. */
export class JobCancelledError extends Error {
  constructor(message = 'the job was cancelled') {
    super(message);
    this.name = 'JobCancelledError';
  }
}

/** The queue holds `capacity` jobs already; the client should retry later. */
export class QueueFullError extends Error {
  constructor(readonly capacity: number) {
    super(`the server is busy (${capacity} jobs running or waiting); retry later`);
    this.name = 'QueueFullError';
  }
}

/** The queue is shutting down and takes no new jobs. */
export class QueueClosedError extends Error {
  constructor() {
    super('the server is shutting down');
    this.name = 'QueueClosedError';
  }
}

const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export class Job<R> {
  readonly id = randomUUID();
  readonly createdAt = Date.now();
  status: JobStatus = 'queued';
  progress: JobProgress | null = null;
  result: R | undefined;
  error: unknown;
  readonly events: JobEvent[] = [];
  readonly controller = new AbortController();
  /** Settles when the job reaches a terminal status (never rejects). */
  readonly settled: Promise<void>;
  private readonly emitter = new EventEmitter();
  private resolveSettled!: () => void;

  constructor(readonly work: JobWork<R>) {
    this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
    this.emitter.setMaxListeners(0);
    this.record({ type: 'queued' });
  }

  get finished(): boolean {
    return TERMINAL.has(this.status);
  }

  /** Calls `listener` with every past event in order, then with each new one; returns an unsubscribe. */
  follow(listener: (event: JobEvent, index: number) => void): () => void {
    this.events.forEach((event, i) => listener(event, i));
    const handler = (event: JobEvent, index: number) => listener(event, index);
    this.emitter.on('event', handler);
    return () => this.emitter.off('event', handler);
  }

  record(event: JobEvent): void {
    this.events.push(event);
    this.emitter.emit('event', event, this.events.length - 1);
  }

  finish(status: 'succeeded' | 'failed' | 'cancelled', outcome: { result?: R; error?: unknown }): void {
    if (this.finished) return;
    this.status = status;
    this.result = outcome.result;
    this.error = outcome.error;
    const message = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    this.record(
      status === 'succeeded'
        ? { type: 'done' }
        : status === 'cancelled'
          ? { type: 'cancelled' }
          : { type: 'failed', message },
    );
    this.resolveSettled();
  }
}

export interface JobQueueOptions {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly maxFinishedJobs: number;
}

export class JobQueue<R> {
  private readonly jobs = new Map<string, Job<R>>();
  private readonly waiting: Job<R>[] = [];
  private running = 0;
  private closed = false;

  constructor(private readonly options: JobQueueOptions) {
    const least = { concurrency: 1, maxQueued: 0, maxFinishedJobs: 1 } as const;
    for (const [name, min] of Object.entries(least)) {
      const value = options[name as keyof JobQueueOptions];
      if (!Number.isSafeInteger(value) || value < min) {
        throw new RangeError(`job queue ${name} must be an integer ≥ ${min}, got ${value}`);
      }
    }
  }

  /** Jobs running or waiting. */
  get active(): number {
    return this.running + this.waiting.length;
  }

  get capacity(): number {
    return this.options.concurrency + this.options.maxQueued;
  }

  /** A new job, started now or queued; QueueFullError / QueueClosedError when it cannot be taken. */
  submit(work: JobWork<R>): Job<R> {
    if (this.closed) throw new QueueClosedError();
    if (this.active >= this.capacity) throw new QueueFullError(this.capacity);
    const job = new Job(work);
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.pump();
    return job;
  }

  get(id: string): Job<R> | undefined {
    return this.jobs.get(id);
  }

  /** Cancels a job: a waiting one at once, a running one at its next step. False when already finished. */
  cancel(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || job.finished) return false;
    job.controller.abort();
    const index = this.waiting.indexOf(job);
    if (index >= 0) {
      this.waiting.splice(index, 1);
      job.finish('cancelled', { error: new JobCancelledError() });
      this.forgetOldFinished();
    }
    return true;
  }

  /** Refuses new jobs, then cancels (`'cancel'`) or lets finish (`'finish'`) every job held; resolves when all are settled. */
  async close(mode: 'cancel' | 'finish' = 'cancel'): Promise<void> {
    this.closed = true;
    const pending = [...this.jobs.values()].filter((job) => !job.finished);
    if (mode === 'cancel') for (const job of pending) this.cancel(job.id);
    await Promise.all(pending.map((job) => job.settled));
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      void this.execute(job).finally(() => {
        this.running--;
        this.forgetOldFinished();
        this.pump();
      });
    }
  }

  private async execute(job: Job<R>): Promise<void> {
    job.status = 'running';
    job.record({ type: 'started' });
    const report = (progress: JobProgress) => {
      job.progress = progress;
      job.record({ type: 'progress', step: progress.step, numSteps: progress.numSteps });
    };
    try {
      const result = await job.work(job.controller.signal, report);
      job.finish('succeeded', { result });
    } catch (error) {
      const cancelled = error instanceof JobCancelledError || job.controller.signal.aborted;
      job.finish(cancelled ? 'cancelled' : 'failed', { error });
    }
  }

  /** Drops the oldest finished jobs beyond `maxFinishedJobs` (Map keeps insertion order). */
  private forgetOldFinished(): void {
    let finished = [...this.jobs.values()].filter((job) => job.finished).length;
    for (const [id, job] of this.jobs) {
      if (finished <= this.options.maxFinishedJobs) break;
      if (job.finished) {
        this.jobs.delete(id);
        finished--;
      }
    }
  }
}
