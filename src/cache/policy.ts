import CachePolicy from 'http-cache-semantics';
import type { SourceValidators } from '../upstream/fetch.js';
import { validHeaderValue } from '../upstream/header-value.js';
import { SOURCE_ACCEPT, type AcceptClass } from './accept-class.js';

/**
 * The rules of a shared cache (RFC 9111), from `http-cache-semantics`, fed
 * with exactly what ecamo sends a source and what it passes on to clients.
 *
 * The request a policy sees is the one the source saw: ecamo sends only the
 * fixed `Accept` of the client's class, and an `Authorization` when the URL
 * token asks for the ID token
 * (a marker here: the token itself must never be stored). With that header
 * present the library stores a response only when the source allows it
 * (`public`, `s-maxage`, `must-revalidate`), as RFC 9111 section 3.5 asks of a
 * shared cache.
 */
export type { CachePolicy };

/** CachePolicy or a subclass of it that reads another clock (clockedPolicies). */
export type PolicyClass = typeof CachePolicy;

/**
 * Policies that read the time off `now`: http-cache-semantics reads it through its `now()` method
 * alone (when a response was received, its age, `Date` on revalidation), and builds the policy of a
 * revalidation and one read back from its serialised form with the class it is called on, so
 * those keep the clock too.
 */
export function clockedPolicies(now: () => number): PolicyClass {
  return class ClockedPolicy extends CachePolicy {
    // Not in @types/http-cache-semantics, which leaves the library's one reading of the clock out.
    now(): number {
      return now();
    }
  };
}

/** Header names kept with an entry: what a client is sent, plus what freshness is computed from. */
const KEPT_HEADERS: readonly string[] = ['cache-control', 'content-type', 'etag', 'expires', 'last-modified', 'vary', 'date', 'age', 'pragma'];

/** Header names a 304 may refresh (RFC 9111 section 4.3.4); the type and the body stay what they were. */
const REFRESHED_BY_304: readonly string[] = ['cache-control', 'etag', 'expires', 'last-modified', 'vary', 'date', 'age'];

/** What is kept of a source response's headers, all single strings. */
export type StoredHeaders = Readonly<Record<string, string>>;

/** Whether headers read back from elsewhere (the shared tier) could have been kept here: known names, valid values (no CR, LF or NUL). */
export function isStoredHeaders(value: unknown): value is StoredHeaders {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const headers = value as Record<string, unknown>;
  return Object.keys(headers).every((name) => KEPT_HEADERS.includes(name) && validHeaderValue(headers as Record<string, string | undefined>, name) !== undefined);
}

/** What the source was asked, as far as caching is concerned. */
export interface SourceQuery {
  readonly url: string;
  /** The class of the client's Accept: the source was sent its SOURCE_ACCEPT. */
  readonly variant: AcceptClass;
  readonly sendToken: boolean;
}

export type ValidatorHeaders = SourceValidators;

function policyRequest(query: SourceQuery): CachePolicy.Request {
  const headers: CachePolicy.Headers = { accept: SOURCE_ACCEPT[query.variant] };
  if (query.sendToken) headers.authorization = 'ecamo ID token';
  return { url: query.url, method: 'GET', headers };
}

/** What is kept of a 200: its headers and the rules it is reused by. */
export interface KeptAnswer {
  readonly headers: StoredHeaders;
  readonly policy: CachePolicy;
}

/**
 * What is kept of a 200, or undefined when it must not be kept. Whether it
 * may be kept is the source's own say: RFC 9111 section 3.5 (a request with
 * `Authorization`, the ID token, is stored only with `public`, `s-maxage` or
 * `must-revalidate`) is applied to the headers the source sent.
 * ECAMO_DEFAULT_CACHE_CONTROL is only what clients are told when the source
 * sent no Cache-Control: it then sets the freshness, as every cache after
 * ecamo applies it too, but never makes keepable what the source's headers
 * do not.
 */
export function keptAnswer(
  query: SourceQuery,
  source: Readonly<Record<string, string | undefined>>,
  defaultCacheControl: string,
  policies: PolicyClass,
): KeptAnswer | undefined {
  const own: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = source[name];
    if (value !== undefined) own[name] = value;
  }
  if (!newPolicy(policies, query, own).storable()) return undefined;
  const headers = own['cache-control'] === undefined ? { ...own, 'cache-control': defaultCacheControl } : own;
  const policy = newPolicy(policies, query, headers);
  return keepable(policy, headers) ? { headers, policy } : undefined;
}

function newPolicy(policies: PolicyClass, query: SourceQuery, headers: StoredHeaders): CachePolicy {
  return new policies(policyRequest(query), { status: 200, headers: { ...headers } }, { shared: true });
}

/** Milliseconds the response stays fresh from now; 0 when it must not be stored at all. */
export function freshForMs(policy: CachePolicy): number {
  if (!policy.storable()) return 0;
  return Math.max(0, Math.floor((policy.maxAge() - policy.age()) * 1000));
}

/**
 * Whether an answer may be kept: storable for a shared cache, not `no-cache`
 * (which this cache, like the issue it answers, treats as "do not keep"), not
 * `Vary: *`, and either fresh for a while or revalidatable when stale.
 */
function keepable(policy: CachePolicy, headers: StoredHeaders): boolean {
  if (!policy.storable() || variesOnEverything(headers) || NO_CACHE.test(headers['cache-control'] ?? '')) return false;
  return freshForMs(policy) > 0 || hasValidator(headers);
}

export function hasValidator(headers: StoredHeaders): boolean {
  return headers.etag !== undefined || headers['last-modified'] !== undefined;
}

const NO_CACHE = /(?:^|,)\s*no-cache\s*(?:[=,]|$)/i;

/** When the stored response was current at the source (now minus its age), for `Age` on answers. */
export function ageOrigin(policy: CachePolicy, now: number): number {
  return now - Math.round(policy.age() * 1000);
}

/** The conditional headers that ask the source whether a stale entry is still current; undefined when it has no validator. */
export function validatorsFor(policy: CachePolicy, query: SourceQuery): ValidatorHeaders | undefined {
  const headers = policy.revalidationHeaders(policyRequest(query));
  const etag = headers['if-none-match'];
  const modifiedSince = headers['if-modified-since'];
  if (typeof etag !== 'string' && typeof modifiedSince !== 'string') return undefined;
  return {
    ...(typeof etag === 'string' ? { 'if-none-match': etag } : {}),
    ...(typeof modifiedSince === 'string' ? { 'if-modified-since': modifiedSince } : {}),
  };
}

/**
 * Applies a 304 to a stored entry. Undefined when the 304 does not describe
 * the stored bytes (another validator): the entry must then be fetched anew,
 * never patched, so that a client never gets one response's headers with
 * another's body.
 */
export function refreshed(
  policy: CachePolicy,
  stored: StoredHeaders,
  query: SourceQuery,
  notModified: Readonly<Record<string, string | undefined>>,
): { policy: CachePolicy; headers: StoredHeaders } | undefined {
  const update: CachePolicy.Headers = {};
  for (const name of REFRESHED_BY_304) {
    const value = notModified[name];
    if (value !== undefined) update[name] = value;
  }
  const result = policy.revalidatedPolicy(policyRequest(query), { status: 304, headers: update });
  if (!result.matches || result.modified) return undefined;
  const headers: Record<string, string> = { ...stored };
  for (const [name, value] of Object.entries(update)) {
    if (typeof value === 'string') headers[name] = value;
  }
  return { policy: result.policy, headers };
}

/** A policy from its serialised form, or undefined when the form is not one (a corrupt shared entry). */
export function policyFromObject(object: unknown, policies: PolicyClass): CachePolicy | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const fields = object as Record<string, unknown>;
  if (fields.v !== 1 || typeof fields.t !== 'number' || typeof fields.resh !== 'object' || fields.resh === null || typeof fields.rescc !== 'object' || fields.rescc === null) return undefined;
  if (typeof fields.reqcc !== 'object' || fields.reqcc === null) return undefined;
  try {
    const policy = policies.fromObject(object as CachePolicy.CachePolicyObject);
    policy.storable();
    policy.maxAge();
    return policy;
  } catch {
    return undefined;
  }
}

/** Whether the source varies its answer on the request's Accept (sent by the client's class, see accept-class.ts). */
export function variesOnAccept(headers: StoredHeaders): boolean {
  const vary = headers.vary;
  return vary !== undefined && vary.toLowerCase().split(',').some((name) => name.trim() === 'accept');
}

/** `Vary: *`: every request is different, nothing can be reused. */
export function variesOnEverything(headers: StoredHeaders): boolean {
  const vary = headers.vary;
  return vary !== undefined && vary.split(',').some((name) => name.trim() === '*');
}
