/**
 * How long the HTTP service waits on a client, so a slow or stalled one cannot hold a connection
 * forever: an idle socket (no byte either way) is destroyed after `idleMs`; a request whose headers and
 * body have not all arrived after `requestMs` is answered 408 and closed (Node checks this every
 * `requestMs / 4`, at most every second, so the answer comes within 1.25 × requestMs); a kept-alive
 * connection with no new request closes after `keepAliveMs`. `idleMs` also bounds a synchronous
 * generation that writes nothing for that long, so it is generous; long work belongs in `/v1/jobs`,
 * whose event stream writes on every step.
 *
 * This module must not create servers; it only maps the limits to fastify's and Node's options.
 */

export interface ServerTimeouts {
  /** Milliseconds a socket may stay silent in both directions (fastify's connectionTimeout). */
  readonly idleMs: number;
  /** Milliseconds to receive a whole request, headers and body (Node's requestTimeout). */
  readonly requestMs: number;
  /** Milliseconds a kept-alive connection waits for its next request. */
  readonly keepAliveMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  idleMs: 10 * 60_000,
  requestMs: 30_000,
  keepAliveMs: 5_000,
};

/** The timeouts checked: positive whole milliseconds, or a RangeError naming the one that is not. */
export function checkedTimeouts(timeouts: ServerTimeouts): ServerTimeouts {
  for (const [name, value] of Object.entries(timeouts)) {
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw new RangeError(`server timeout ${name} must be a whole number of milliseconds ≥ 1, got ${value}`);
    }
  }
  return timeouts;
}

/** The fastify server options that enforce `timeouts`. */
export function fastifyTimeoutOptions(timeouts: ServerTimeouts) {
  const { idleMs, requestMs, keepAliveMs } = checkedTimeouts(timeouts);
  return {
    connectionTimeout: idleMs,
    requestTimeout: requestMs,
    keepAliveTimeout: keepAliveMs,
    http: {
      // Node refuses a headers timeout longer than the request timeout, and checks both on an interval.
      headersTimeout: requestMs,
      requestTimeout: requestMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(requestMs / 4))),
    },
  };
}
