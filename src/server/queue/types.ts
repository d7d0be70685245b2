/**
 * What the job routes need from a queue of generation jobs, whichever queue holds them: the
 * in-process queue (queue/local.ts, the default) or a Redis queue shared by several service
 * instances (queue/redis.ts). Every call is asynchronous because a shared queue answers over the
 * network; a job is named by its id only, so any instance can answer for any job. A job's events
 * are the same sequence on both queues — queued, started, progress 1..n, then exactly one of
 * done / failed / cancelled — numbered from 0, so a stream replays identically wherever it is read.
 *
 * This module must not implement a queue or know about HTTP; it only states the contract.
 */
import type { GenerationResult } from '../generation.js';
import type { JobEvent, JobProgress, JobStatus } from '../jobs.js';
import type { JobRequest } from '../job-requests.js';

/** A job as a status request sees it. */
export interface JobSnapshot {
  readonly id: string;
  readonly status: JobStatus;
  readonly progress: JobProgress | null;
  /** The failure message (status 'failed' only). */
  readonly error?: string;
  /** The service instance that runs or ran the job (shared queues only). */
  readonly instance?: string;
}

/** Receives a job's events in order; `closed` ends a stream early because the instance shuts down. */
export interface JobFollower {
  event(event: JobEvent, index: number): void;
  closed(): void;
}

/** Runs one validated request of any kind; stops with JobCancelledError between steps once `signal` aborts. */
export type RunGeneration = (
  request: JobRequest,
  signal: AbortSignal,
  report: (progress: JobProgress) => void,
) => Promise<GenerationResult>;

export interface GenerationJobs {
  /** `memory` for the in-process queue, `redis` for the shared one. */
  readonly kind: 'memory' | 'redis';
  /** Resolves once the queue can take jobs (connected); rejects with UnavailableError otherwise. */
  ready(): Promise<void>;
  /** Queues a validated request; rejects with QueueFullError (503) or QueueClosedError. */
  submit(request: JobRequest): Promise<JobSnapshot>;
  /** The job's status; undefined for an unknown (or long-forgotten) id. */
  status(id: string): Promise<JobSnapshot | undefined>;
  /**
   * Calls `follower.event` with every past event of the job, then with each new one up to the
   * terminal event; resolves to an unsubscribe function, or undefined for an unknown id.
   */
  follow(id: string, follower: JobFollower): Promise<(() => void) | undefined>;
  /** The result of a succeeded job; undefined for any other job. */
  result(id: string): Promise<GenerationResult | undefined>;
  /** Cancels a waiting job at once and a running one at its next step; false when already finished. */
  cancel(id: string): Promise<boolean>;
  /** Refuses new jobs, then cancels or lets finish the jobs this instance runs, and disconnects. */
  close(mode: 'cancel' | 'finish'): Promise<void>;
}

export const TERMINAL_EVENTS: ReadonlySet<JobEvent['type']> = new Set(['done', 'failed', 'cancelled']);
