/**
 * The in-process queue of jobs.ts behind the GenerationJobs contract: the default when the service
 * runs alone. It shares the JobQueue that synchronous `/v1/generate` requests use, so both kinds of
 * request count against one concurrency bound and one capacity, and it answers from the Job objects
 * that queue keeps in memory.
 *
 * This module must not schedule anything itself; jobs.ts does.
 */
import type { GenerationResult } from '../generation.js';
import type { Job, JobQueue } from '../jobs.js';
import type { GenerationJobs, JobSnapshot, RunGeneration } from './types.js';

/** The status of an in-memory job. */
function snapshotOf(job: Job<GenerationResult>): JobSnapshot {
  return {
    id: job.id,
    status: job.status,
    progress: job.progress,
    ...(job.status === 'failed'
      ? { error: job.error instanceof Error ? job.error.message : String(job.error) }
      : {}),
  };
}

export function localGenerationJobs(queue: JobQueue<GenerationResult>, run: RunGeneration): GenerationJobs {
  return {
    kind: 'memory',
    ready: () => Promise.resolve(),
    submit: async (request) => snapshotOf(queue.submit((signal, report) => run(request, signal, report))),
    status: async (id) => {
      const job = queue.get(id);
      return job && snapshotOf(job);
    },
    follow: async (id, follower) => {
      const job = queue.get(id);
      return job && job.follow((event, index) => follower.event(event, index));
    },
    result: async (id) => {
      const job = queue.get(id);
      return job?.status === 'succeeded' ? job.result : undefined;
    },
    cancel: async (id) => queue.cancel(id),
    close: (mode) => queue.close(mode),
  };
}
