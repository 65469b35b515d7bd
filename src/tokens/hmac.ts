/**
 * HMAC (RFC 2104) from two one-shot digests over keys padded once. On the
 * request path every camo URL (HMAC-SHA1) and every proxy token not yet
 * remembered (HMAC-SHA256) is checked by one: `createHmac` set up an `Hmac`
 * object per call (OpenSSL fetches the digest and keys the context each
 * time), which in profiles of the long tail took more of the event loop
 * than hashing the message (docs/performance.md), where `crypto.hash`
 * reuses the digest it fetched once.
 */
import { hash, type KeyObject } from 'node:crypto';

export type HmacAlgorithm = 'sha1' | 'sha256';

/** Both digests read their input in blocks of 64 bytes (RFC 2104's B). */
const BLOCK_BYTES = 64;
const OUTPUT_BYTES: Readonly<Record<HmacAlgorithm, number>> = { sha1: 20, sha256: 32 };
const INNER_PAD = 0x36;
const OUTER_PAD = 0x5c;

/** One key's HMAC under one digest, its pads worked out once. */
export class PreparedHmac {
  readonly #algorithm: HmacAlgorithm;
  /** The key XOR ipad, followed by room for the message (grown as messages need). */
  #inner: Buffer;
  /** The key XOR opad, followed by the inner digest. */
  readonly #outer: Buffer;

  constructor(algorithm: HmacAlgorithm, key: Buffer) {
    this.#algorithm = algorithm;
    // A key longer than a block is replaced by its digest (RFC 2104 section 2); a shorter one is padded with zeros.
    const block = Buffer.alloc(BLOCK_BYTES);
    (key.length > BLOCK_BYTES ? hash(algorithm, key, 'buffer') : key).copy(block);
    this.#inner = Buffer.alloc(BLOCK_BYTES + 512);
    this.#outer = Buffer.alloc(BLOCK_BYTES + OUTPUT_BYTES[algorithm]);
    for (let i = 0; i < BLOCK_BYTES; i++) {
      const byte = block[i] ?? 0;
      this.#inner[i] = byte ^ INNER_PAD;
      this.#outer[i] = byte ^ OUTER_PAD;
    }
  }

  /** The MAC of `message`: bytes as they are, or a string taken one byte a character (latin1, as a JWS signing input is). */
  digest(message: Buffer | string): Buffer {
    const length = typeof message === 'string' ? message.length : message.length;
    if (this.#inner.length < BLOCK_BYTES + length) {
      const grown = Buffer.alloc(BLOCK_BYTES + length);
      this.#inner.copy(grown, 0, 0, BLOCK_BYTES);
      this.#inner = grown;
    }
    if (typeof message === 'string') this.#inner.write(message, BLOCK_BYTES, length, 'latin1');
    else message.copy(this.#inner, BLOCK_BYTES);
    const innerDigest = hash(this.#algorithm, this.#inner.subarray(0, BLOCK_BYTES + length), 'buffer');
    innerDigest.copy(this.#outer, BLOCK_BYTES);
    return hash(this.#algorithm, this.#outer, 'buffer');
  }
}

/** Keys are made at start and on reloads; each is prepared on its first use and kept as long as the key. */
const prepared: Record<HmacAlgorithm, WeakMap<KeyObject, PreparedHmac>> = { sha1: new WeakMap(), sha256: new WeakMap() };

/** `key`'s HMAC under `algorithm`, prepared once per key. */
export function hmacOf(algorithm: HmacAlgorithm, key: KeyObject): PreparedHmac {
  const known = prepared[algorithm].get(key);
  if (known !== undefined) return known;
  const made = new PreparedHmac(algorithm, key.export());
  prepared[algorithm].set(key, made);
  return made;
}
