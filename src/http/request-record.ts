import type { EcamoErrorCode } from '../errors.js';

/** What one request did, filled in as it goes and logged once as the access line. */
export interface RequestRecord {
  route: 'index' | 'health' | 'jwks' | 'redirect' | 'proxy' | 'camo' | 'none';
  action: 'redirect-to-source' | 'redirect-to-canonical' | 'proxy-source' | undefined;
  error: EcamoErrorCode | undefined;
  service: string | undefined;
  source: string | undefined;
  sourceStatus: number | undefined;
  bytes: number;
}

export function newRequestRecord(): RequestRecord {
  return { route: 'none', action: undefined, error: undefined, service: undefined, source: undefined, sourceStatus: undefined, bytes: 0 };
}
