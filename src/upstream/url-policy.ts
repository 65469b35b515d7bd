import { EcamoError } from '../errors.js';

export interface SourcePolicy {
  readonly sourceAllowedRegexp: RegExp | undefined;
  readonly sourceBlockedRegexp: RegExp | undefined;
}

/** The operator's allow/block lists, for the source URL and for every redirect hop (upstream/fetch.ts). */
export function assertSourceAllowed(url: string, policy: SourcePolicy): void {
  if (policy.sourceAllowedRegexp !== undefined && !policy.sourceAllowedRegexp.test(url)) {
    throw new EcamoError('unallowed-source', 'source does not match ECAMO_SOURCE_ALLOWED_REGEXP');
  }
  if (policy.sourceBlockedRegexp !== undefined && policy.sourceBlockedRegexp.test(url)) {
    throw new EcamoError('unallowed-source', 'source matches ECAMO_SOURCE_BLOCKED_REGEXP');
  }
}
