/** The images the origin serves: deterministic, so every run moves the same bytes. */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Image {
  /** File name under the origin's root, e.g. `30k.png`. */
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A PNG signature followed by xorshift32 noise: looks like a PNG to anything
 * sniffing it, and does not compress (no layer can cheat with gzip).
 */
export function imageBytes(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  PNG_SIGNATURE.copy(bytes, 0, 0, Math.min(size, PNG_SIGNATURE.length));
  let state = seed >>> 0 || 1;
  for (let i = PNG_SIGNATURE.length; i < size; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

export function writeImage(dir: string, name: string, size: number, seed: number): Image {
  const bytes = imageBytes(size, seed);
  writeFileSync(join(dir, name), bytes, { mode: 0o644 });
  return { name, size, sha256: createHash('sha256').update(bytes).digest('hex') };
}
