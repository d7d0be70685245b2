/**
 * Long work as jobs: `POST /v1/jobs` queues a generation, or with `kind` an `edit`, `inpaint` or
 * `denoise` task (202 with its id and links; the body is the route's of that kind, under that route's
 * body limit: the small generation limit, or the upload limit for editing bodies), `GET /v1/jobs/:id`
 * gives status and progress, `GET /v1/jobs/:id/events` streams server-sent events (queued, started,
 * one progress event per sampler step, then done / failed / cancelled, each with a sequential id),
 * `GET /v1/jobs/:id/result` returns the finished body, and `DELETE /v1/jobs/:id` cancels. Every route
 * goes through the context's GenerationJobs, so with a shared queue any instance answers for any job.
 *
 * This module must not run generations itself; it only exposes the queue.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../../util/errors.js';
import type { ServerContext } from '../context.js';
import { HttpStatusError } from '../http-errors.js';
import { TERMINAL_EVENTS, type GenerationJobs, type JobSnapshot } from '../queue/types.js';

type IdParams = { Params: { id: string } };

const links = (id: string) => ({
  self: `/v1/jobs/${id}`,
  events: `/v1/jobs/${id}/events`,
  result: `/v1/jobs/${id}/result`,
});

/** The status document of a job. */
function jobStatus(job: JobSnapshot) {
  return {
    id: job.id,
    status: job.status,
    progress: job.progress,
    ...(job.status === 'succeeded' ? { result: links(job.id).result } : {}),
    ...(job.status === 'failed' ? { error: job.error ?? '' } : {}),
    ...(job.instance !== undefined ? { instance: job.instance } : {}),
    links: links(job.id),
  };
}

const unknownJob = (id: string) =>
  new NotFoundError(`no job '${id}'`, { hint: 'finished jobs are kept only for a while' });

async function findJob(jobs: GenerationJobs, id: string): Promise<JobSnapshot> {
  const job = await jobs.status(id);
  if (!job) throw unknownJob(id);
  return job;
}

/** Streams the job's events as `text/event-stream` until its terminal event or the client leaves. */
async function streamEvents(jobs: GenerationJobs, id: string, reply: FastifyReply): Promise<void> {
  await findJob(jobs, id);
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  let unsubscribe: (() => void) | undefined;
  let ended = false;
  const end = () => {
    if (!ended) out.end();
    ended = true;
    unsubscribe?.();
  };
  out.on('close', () => {
    ended = true;
    unsubscribe?.();
  });
  try {
    unsubscribe = await jobs.follow(id, {
      event(event, index) {
        if (ended) return;
        const { type, ...data } = event;
        out.write(`id: ${index}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
        if (TERMINAL_EVENTS.has(type)) end();
      },
      closed: end,
    });
  } catch (error) {
    end();
    throw error;
  }
  // The job was forgotten between the look-up and the subscription, or ended during the replay.
  if (unsubscribe === undefined || ended) end();
}

/** Bytes of the request body: its Content-Length, or its JSON re-serialised when sent chunked. */
function bodyBytes(request: FastifyRequest): number {
  const length = Number(request.headers['content-length']);
  return Number.isSafeInteger(length) ? length : Buffer.byteLength(JSON.stringify(request.body ?? null));
}

/** A 413 for a generation job whose body exceeds `/v1/generate`'s own limit. */
function checkGenerateBodySize(request: FastifyRequest, limit: number): void {
  const body = request.body as { kind?: unknown } | null | undefined;
  const kind = body?.kind ?? 'generate';
  const bytes = bodyBytes(request);
  if (kind === 'generate' && bytes > limit) {
    throw new HttpStatusError(
      413,
      'body-too-large',
      `a generation job's body holds ${bytes} bytes; this server takes up to ${limit}`,
    );
  }
}

export function registerJobRoutes(app: FastifyInstance, context: ServerContext): void {
  // Editing jobs carry images, so the route takes bodies up to the upload limit; generation bodies
  // are held to the small limit of /v1/generate after parsing.
  const bodyLimit = Math.max(context.limits.bodyLimit, context.uploads.bodyLimit);
  app.post('/v1/jobs', { bodyLimit }, async (request, reply) => {
    checkGenerateBodySize(request, context.limits.bodyLimit);
    const job = await context.submitJob(request.body);
    return reply.code(202).header('location', links(job.id).self).send(jobStatus(job));
  });
  app.get<IdParams>('/v1/jobs/:id', async (request) =>
    jobStatus(await findJob(context.jobs, request.params.id)),
  );
  app.get<IdParams>('/v1/jobs/:id/events', async (request, reply) => {
    await streamEvents(context.jobs, request.params.id, reply);
  });
  app.get<IdParams>('/v1/jobs/:id/result', async (request, reply) => {
    const { id } = request.params;
    const result = await context.jobs.result(id);
    if (result) return reply.type(result.contentType).send(result.body);
    const job = await findJob(context.jobs, id);
    const finished = ['succeeded', 'failed', 'cancelled'].includes(job.status);
    const why = finished ? `ended as ${job.status}` : `is ${job.status}`;
    throw new HttpStatusError(409, 'no-result', `job '${job.id}' has no result: it ${why}`);
  });
  app.delete<IdParams>('/v1/jobs/:id', async (request) => {
    const { id } = request.params;
    await findJob(context.jobs, id);
    const cancelled = await context.jobs.cancel(id);
    return { ...jobStatus(await findJob(context.jobs, id)), cancelled };
  });
}
