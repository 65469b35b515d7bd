/**
 * ECDSA signatures come in pairs: if (r, s) verifies, so does (r, n - s). For
 * the proxy tokens ecamo mints and checks itself, only the low one (s <= n/2)
 * is accepted, so that a token string has exactly one valid spelling: a
 * high-s twin would be a second, distinct token (a second cache entry, a
 * second CDN key) made without the key. Tokens signed by services keep both:
 * jose and WebCrypto do not normalise s.
 */

/** Order of the P-256 group. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** floor(n / 2), big-endian, for a byte comparison with s. */
const HALF_ORDER = Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex');

/** `signature` is r || s, 32 bytes each (JWS ES256). */
export function hasHighS(signature: Buffer): boolean {
  return Buffer.compare(signature.subarray(32, 64), HALF_ORDER) > 0;
}

/** The same signature with s replaced by n - s when s is high; the signature is unchanged otherwise. */
export function toLowS(signature: Buffer): Buffer {
  if (!hasHighS(signature)) return signature;
  const s = BigInt(`0x${signature.subarray(32, 64).toString('hex')}`);
  const low = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
  return Buffer.concat([signature.subarray(0, 32), low]);
}
