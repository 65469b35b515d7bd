import { readFile } from 'node:fs/promises';
import { judgeBytes, SNIFF_WINDOW_BYTES, type ContentRules } from '../content/sniff.js';
import { ConfigError } from './errors.js';

export const FALLBACK_IMAGE = 'ECAMO_FALLBACK_IMAGE';

/** A placeholder goes out with every refused image request: a few KiB is what one needs. */
const MAX_FALLBACK_BYTES = 1024 * 1024;

/** The placeholder image answered, with the error's status, to requests that show images. */
export interface FallbackImage {
  readonly path: string;
  /** The type its bytes show, under ECAMO_CONTENT_TYPE_ALLOWED and ECAMO_SVG. */
  readonly type: string;
  readonly body: Buffer;
}

/**
 * Reads the file and holds it to the rules a source's image is served by
 * (content/sniff.ts), so that ecamo never answers bytes it would refuse from
 * a source. Throws a ConfigError naming ECAMO_FALLBACK_IMAGE otherwise.
 */
export async function loadFallbackImage(path: string, rules: ContentRules): Promise<FallbackImage> {
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch (error) {
    throw new ConfigError(FALLBACK_IMAGE, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (body.length > MAX_FALLBACK_BYTES) throw new ConfigError(FALLBACK_IMAGE, `${path} is larger than ${MAX_FALLBACK_BYTES} bytes`);
  const verdict = await judgeBytes(body.subarray(0, SNIFF_WINDOW_BYTES), rules);
  if (!verdict.ok) throw new ConfigError(FALLBACK_IMAGE, `${path} is not an allowed image (${verdict.reason})`);
  return Object.freeze({ path, type: verdict.type, body });
}
