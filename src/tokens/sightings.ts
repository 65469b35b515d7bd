/**
 * Which admitted proxy tokens were admitted before, as far as a table of
 * fingerprints remembers: the verified-token cache takes a proxy token from
 * its second admitted request (TokenService.rememberProxyToken). On a long
 * tail of images each asked for once, an entry per token, kept until
 * evicted unread, cost more than verifying the few tokens that come back
 * (docs/performance.md); as the response cache admits an image from its
 * second request (cache/admission.ts).
 *
 * One slot per fingerprint's low bits, overwritten by the next token that
 * lands there: no Map, nothing allocated, and a token is forgotten after
 * about as many others as there are slots. Two tokens with one fingerprint
 * let the second be remembered at its first request: what every token was
 * before this table, and all a collision can do.
 */
export class Sightings {
  readonly #prints: Int32Array;
  readonly #mask: number;

  /** `slots`: a power of two. */
  constructor(slots: number) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`slots must be a power of two, not ${slots}`);
    this.#prints = new Int32Array(slots);
    this.#mask = slots - 1;
  }

  /** Notes `token`; true when it was noted before and its slot still holds it. */
  seenBefore(token: string): boolean {
    const print = fingerprint(token);
    const slot = print & this.#mask;
    const seen = this.#prints[slot] === print;
    this.#prints[slot] = print;
    return seen;
  }
}

/** Characters of a token's end that make its fingerprint. */
const FINGERPRINTED = 12;

/**
 * FNV-1a over the 12 characters before the last one of the token. A token's
 * end is its MAC or signature, as good as random once verified, and 12 of
 * its characters (72 bits; the last one carries spare bits) tell it from the
 * others as well as all of them would, for a hash of 30 times fewer
 * characters. (The verified-token cache counts its keys by it too.)
 */
export function tokenEndHash(token: string): number {
  let hash = 0x811c9dc5;
  const end = token.length - 1;
  for (let i = Math.max(0, end - FINGERPRINTED); i < end; i++) hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
  return hash;
}

/** A token's end hashed, never 0 (an empty slot). A token is noted only once admitted, so it verified. */
function fingerprint(token: string): number {
  return (tokenEndHash(token) & 0x7fffffff) || 1;
}
