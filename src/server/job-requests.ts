/**
 * What a job is asked to do: `POST /v1/jobs` takes `{ kind, ...body }` with `kind` one of `generate`
 * (the default), `edit`, `inpaint` or `denoise`, and the rest of the body exactly as the route of the
 * same name takes it (`/v1/generate`, `/v1/edit`, `/v1/inpaint`, `/v1/denoise`: same schemas, same
 * limits). A job request is plain JSON, so a shared queue can carry it to whichever instance runs it;
 * editing bodies travel as the client sent them (images as base64) and are validated again where they
 * run.
 *
 * This module must not validate the bodies themselves or run anything; it only splits off the kind.
 */
import { UsageError } from '../util/errors.js';
import type { GenerateBody } from './schemas.js';

export const EDIT_KINDS = ['edit', 'inpaint', 'denoise'] as const;
export type EditKind = (typeof EDIT_KINDS)[number];
export const JOB_KINDS = ['generate', ...EDIT_KINDS] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** A validated job: a generation body, or an editing body (already validated once) of its kind. */
export type JobRequest =
  | { readonly kind: 'generate'; readonly body: GenerateBody }
  | { readonly kind: EditKind; readonly body: Readonly<Record<string, unknown>> };

/** The kind of a job body and the body without it; a UsageError naming `kind` for anything else. */
export function splitJobKind(raw: unknown): { kind: JobKind; body: Record<string, unknown> | undefined } {
  if (raw === undefined || raw === null) return { kind: 'generate', body: undefined };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError("invalid 'body': expected a JSON object");
  }
  const { kind = 'generate', ...body } = raw as Record<string, unknown>;
  if (typeof kind !== 'string' || !(JOB_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(`invalid 'kind': unknown job kind ${JSON.stringify(kind)}`, {
      hint: `kinds: ${JOB_KINDS.join(', ')}`,
    });
  }
  return { kind: kind as JobKind, body };
}
