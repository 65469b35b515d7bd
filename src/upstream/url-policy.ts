import { EcamoError } from '../errors.js';

/**
 * An operator regexp as the fetcher uses it: ecamo compiles them for a
 * linear-time engine (config/regexp.ts); tests may hand a RegExp.
 */
export type UrlMatcher = Pick<RegExp, 'test'>;

/**
 * The longest URL the operator's regexps are run on. Their engine is linear,
 * so this only bounds the work a hostile redirect Location can ask for;
 * image URLs are far shorter.
 */
export const MAX_MATCHED_URL_LENGTH = 8192;

export interface SourcePolicy {
  readonly sourceAllowedRegexp: UrlMatcher | undefined;
  readonly sourceBlockedRegexp: UrlMatcher | undefined;
}

/** The operator's allow/block lists, for the source URL and for every redirect hop (upstream/fetch.ts). */
export function assertSourceAllowed(url: string, policy: SourcePolicy): void {
  if ((policy.sourceAllowedRegexp !== undefined || policy.sourceBlockedRegexp !== undefined) && url.length > MAX_MATCHED_URL_LENGTH) {
    throw new EcamoError('unallowed-source', `source URL is longer than ${MAX_MATCHED_URL_LENGTH} characters, the most the source regexps are run on`);
  }
  if (policy.sourceAllowedRegexp !== undefined && !policy.sourceAllowedRegexp.test(url)) {
    throw new EcamoError('unallowed-source', 'source does not match ECAMO_SOURCE_ALLOWED_REGEXP');
  }
  if (policy.sourceBlockedRegexp !== undefined && policy.sourceBlockedRegexp.test(url)) {
    throw new EcamoError('unallowed-source', 'source matches ECAMO_SOURCE_BLOCKED_REGEXP');
  }
}

/** Whether an allow-list regexp admits `text`: never when it is too long to be judged. */
export function admits(regexp: UrlMatcher, text: string): boolean {
  return text.length <= MAX_MATCHED_URL_LENGTH && regexp.test(text);
}
