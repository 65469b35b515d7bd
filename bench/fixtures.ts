/** The images the origin serves: deterministic, so every run moves the same bytes. */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export interface Image {
  /** File name under the origin's root, e.g. `30k.png`. */
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * A PNG's signature, header chunk and the head of one data chunk, then
 * xorshift32 noise as that chunk's data: a PNG to anything that reads its
 * magic and chunk layout (ecamo checks both before it answers), and it does
 * not compress (no layer can cheat with gzip). Not a decodable picture.
 */
export function imageBytes(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  const head = pngHead(Math.max(0, size - PNG_HEAD_BYTES));
  head.copy(bytes, 0, 0, Math.min(size, head.length));
  let state = seed >>> 0 || 1;
  for (let i = head.length; i < size; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** Signature (8), IHDR chunk (25), IDAT length and type (8). */
const PNG_HEAD_BYTES = 41;

function pngHead(dataLength: number): Buffer {
  const head = Buffer.alloc(PNG_HEAD_BYTES);
  head.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  head.writeUInt32BE(13, 8);
  head.write('IHDR', 12, 'latin1');
  head.writeUInt32BE(1024, 16); // width
  head.writeUInt32BE(1024, 20); // height
  head.set([8, 0, 0, 0, 0], 24); // 8-bit greyscale
  head.writeUInt32BE(crc32(head.subarray(12, 29)), 29);
  head.writeUInt32BE(dataLength, 33);
  head.write('IDAT', 37, 'latin1');
  return head;
}

export function writeImage(dir: string, name: string, size: number, seed: number): Image {
  const bytes = imageBytes(size, seed);
  writeFileSync(join(dir, name), bytes, { mode: 0o644 });
  return { name, size, sha256: createHash('sha256').update(bytes).digest('hex') };
}
