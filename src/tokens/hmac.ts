/**
 * HMAC (RFC 2104) from two one-shot digests over keys padded once. On the
 * request path every camo URL (HMAC-SHA1) and every proxy token not yet
 * remembered (HMAC-SHA256) is checked by one: `createHmac` set up an `Hmac`
 * object per call (OpenSSL fetches the digest and keys the context each
 * time), which in profiles of the long tail took more of the event loop
 * than hashing the message (docs/performance.md), where `crypto.hash`
 * reuses the digest it fetched once.
 */
import { hash, timingSafeEqual, type KeyObject } from 'node:crypto';

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
  /** The last MAC `matches` worked out. */
  readonly #result: Buffer;

  constructor(algorithm: HmacAlgorithm, key: Buffer) {
    this.#algorithm = algorithm;
    // A key longer than a block is replaced by its digest (RFC 2104 section 2); a shorter one is padded with zeros.
    const block = Buffer.alloc(BLOCK_BYTES);
    (key.length > BLOCK_BYTES ? hash(algorithm, key, 'buffer') : key).copy(block);
    this.#inner = Buffer.alloc(BLOCK_BYTES + 512);
    this.#outer = Buffer.alloc(BLOCK_BYTES + OUTPUT_BYTES[algorithm]);
    this.#result = Buffer.alloc(OUTPUT_BYTES[algorithm]);
    for (let i = 0; i < BLOCK_BYTES; i++) {
      const byte = block[i] ?? 0;
      this.#inner[i] = byte ^ INNER_PAD;
      this.#outer[i] = byte ^ OUTER_PAD;
    }
  }

  /** The MAC of `message`: bytes as they are, or a string taken one byte a character (latin1, as a JWS signing input is). */
  digest(message: Buffer | string): Buffer {
    return Buffer.from(this.#digestText(message), 'latin1');
  }

  /**
   * Whether `mac` is the MAC of `message`, compared in constant time
   * (`timingSafeEqual`, which throws for a `mac` of another length than the
   * digest's): into a buffer of this object's own, where `digest` makes one
   * per call.
   */
  matches(message: Buffer | string, mac: Uint8Array): boolean {
    this.#result.write(this.#digestText(message), 0, 'latin1');
    return timingSafeEqual(this.#result, mac);
  }

  /**
   * The MAC as a latin1 ('binary') string, one character a byte. The digests are asked
   * for as strings: `crypto.hash` giving a Buffer cost 0.5-0.6 µs more a
   * call than giving a string (Node 20 and 26, micro benchmark), twice a MAC.
   */
  #digestText(message: Buffer | string): string {
    const length = message.length;
    if (this.#inner.length < BLOCK_BYTES + length) {
      const grown = Buffer.alloc(BLOCK_BYTES + length);
      this.#inner.copy(grown, 0, 0, BLOCK_BYTES);
      this.#inner = grown;
    }
    if (typeof message === 'string') this.#inner.write(message, BLOCK_BYTES, length, 'latin1');
    else message.copy(this.#inner, BLOCK_BYTES);
    this.#outer.write(hash(this.#algorithm, this.#inner.subarray(0, BLOCK_BYTES + length), 'binary'), BLOCK_BYTES, 'latin1');
    return hash(this.#algorithm, this.#outer, 'binary');
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
