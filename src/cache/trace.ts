/**
 * What the response cache tells a traced request about its calls to the
 * shared tier, where it waits on Redis. tracing/'s RequestTrace is such a
 * trace: it comes in with the request (CacheRequest.trace, as upstream/'s hop
 * hooks come with a fetch), so that cache/ imports nothing of tracing/.
 * Tracing off, there is no trace and the hook is one `undefined` check.
 */

/** What a GET of the shared tier answered: a value (checked next), nothing, or no answer (Redis down, or its circuit open). */
export type SharedLookupResult = 'found' | 'none' | 'unavailable';

export interface SharedTierTrace {
  /** `get()`, one GET of the shared tier in Redis, as a client span of the request; `found` names its reply on the span. */
  sharedGet<T>(get: () => Promise<T>, found: (reply: T) => SharedLookupResult): Promise<T>;
}

/** `get()`, as a span of the request's trace when it is traced. */
export function tracedSharedGet<T>(trace: SharedTierTrace | undefined, get: () => Promise<T>, found: (reply: T) => SharedLookupResult): Promise<T> {
  return trace === undefined ? get() : trace.sharedGet(get, found);
}
