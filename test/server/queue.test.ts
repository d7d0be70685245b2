// The job queue on its own, with hand-made work: at most `concurrency` jobs run at once and the rest
// start in FIFO order; beyond concurrency + maxQueued submissions are refused; a waiting job
// cancels at once and a running one through its signal; failures are recorded with their message;
// old finished jobs are forgotten; close refuses new jobs and settles the held ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  JobCancelledError,
  JobQueue,
  QueueClosedError,
  QueueFullError,
  type JobWork,
} from '../../src/server/jobs.js';

/** Work that resolves with `value` when its `release` is called, or throws once aborted. */
function gate<R>(value: R): { work: JobWork<R>; release: () => void; started: () => boolean } {
  let release = () => {};
  let started = false;
  const work: JobWork<R> = (signal, report) =>
    new Promise<R>((resolve, reject) => {
      started = true;
      report({ step: 1, numSteps: 2 });
      signal.addEventListener('abort', () => reject(new JobCancelledError()));
      release = () => resolve(value);
    });
  return { work, release: () => release(), started: () => started };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('JobQueue', () => {
  it('runs at most `concurrency` jobs, FIFO, and refuses beyond capacity', async () => {
    const queue = new JobQueue<number>({ concurrency: 2, maxQueued: 1, maxFinishedJobs: 10 });
    const gates = [gate(0), gate(1), gate(2)];
    const jobs = gates.map((g) => queue.submit(g.work));
    assert.throws(() => queue.submit(gate(3).work), QueueFullError);
    assert.deepEqual(
      jobs.map((j) => j.status),
      ['running', 'running', 'queued'],
    );
    gates[0].release();
    await jobs[0].settled;
    await tick();
    assert.equal(jobs[0].status, 'succeeded');
    assert.equal(jobs[0].result, 0);
    assert.equal(jobs[2].status, 'running');
    assert.ok(gates[2].started());
    assert.deepEqual(
      jobs[0].events.map((e) => e.type),
      ['queued', 'started', 'progress', 'done'],
    );
    gates[1].release();
    gates[2].release();
    await Promise.all(jobs.map((j) => j.settled));
    assert.equal(queue.active, 0);
  });

  it('cancels a waiting job at once and a running one through its signal', async () => {
    const queue = new JobQueue<string>({ concurrency: 1, maxQueued: 1, maxFinishedJobs: 10 });
    const running = queue.submit(gate('a').work);
    const waiting = queue.submit(gate('b').work);
    assert.equal(queue.cancel(waiting.id), true);
    assert.equal(waiting.status, 'cancelled');
    assert.deepEqual(
      waiting.events.map((e) => e.type),
      ['queued', 'cancelled'],
    );
    assert.equal(queue.cancel(running.id), true);
    await running.settled;
    assert.equal(running.status, 'cancelled');
    assert.equal(queue.cancel(running.id), false);
    assert.equal(queue.cancel('missing'), false);
  });

  it('records failures with their message and forgets the oldest finished jobs', async () => {
    const queue = new JobQueue<number>({ concurrency: 1, maxQueued: 5, maxFinishedJobs: 2 });
    const failing = queue.submit(() => Promise.reject(new Error('boom')));
    await failing.settled;
    assert.equal(failing.status, 'failed');
    assert.deepEqual(failing.events.at(-1), { type: 'failed', message: 'boom' });
    const later = [1, 2].map((v) => queue.submit(() => Promise.resolve(v)));
    await Promise.all(later.map((j) => j.settled));
    await tick();
    assert.equal(queue.get(failing.id), undefined);
    assert.deepEqual(
      later.map((j) => queue.get(j.id)?.result),
      [1, 2],
    );
  });

  it('close refuses new jobs and cancels the held ones', async () => {
    const queue = new JobQueue<number>({ concurrency: 1, maxQueued: 1, maxFinishedJobs: 10 });
    const jobs = [queue.submit(gate(1).work), queue.submit(gate(2).work)];
    await queue.close('cancel');
    assert.deepEqual(
      jobs.map((j) => j.status),
      ['cancelled', 'cancelled'],
    );
    assert.throws(() => queue.submit(gate(3).work), QueueClosedError);
  });

  it('refuses a bad configuration', () => {
    assert.throws(() => new JobQueue({ concurrency: 0, maxQueued: 1, maxFinishedJobs: 1 }), /concurrency/);
    assert.throws(() => new JobQueue({ concurrency: 1, maxQueued: -1, maxFinishedJobs: 1 }), /maxQueued/);
  });
});
