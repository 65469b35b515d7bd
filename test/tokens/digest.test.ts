import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EcamoError } from '../../src/errors.js';
import { assertDigestMatches, decodeStrictBase64url, urlDigest } from '../../src/tokens/digest.js';

const VECTOR_URL = 'http://upstream.test.invalid/test';
const VECTOR_DIGEST = '4NDjngsnmTsgtuEwT-xuia33YXiYq3j_4zm4XRawQwYAhbdlcbe4HybG-iDuY2pI';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Sets the lowest bit of the last character: bits a canonical encoder leaves clear when the length is not a multiple of 4. */
function withTrailingBits(canonical: string): string {
  return `${canonical.slice(0, -1)}${ALPHABET.charAt(ALPHABET.indexOf(canonical.at(-1)!) ^ 1)}`;
}

function assertEcamoError(fn: () => void, code: string, status: number): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof EcamoError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    return true;
  });
}

describe('urlDigest', () => {
  it('matches the test vector of docs/protocol.md §5', () => {
    assert.equal(urlDigest(VECTOR_URL), VECTOR_DIGEST);
  });

  it('is 64 characters of unpadded base64url for any URL', () => {
    for (const url of ['http://a/', 'https://example.com/x?y=z', `http://h/${'x'.repeat(5000)}`]) {
      assert.match(urlDigest(url), /^[A-Za-z0-9_-]{64}$/);
    }
  });

  it('hashes the UTF-8 bytes of the URL', () => {
    const url = 'http://h/\u00fc\u{1F600}';
    assert.equal(urlDigest(url), createHash('sha384').update(Buffer.from(url, 'utf8')).digest('base64url'));
    assert.notEqual(urlDigest(url), createHash('sha384').update(Buffer.from(url, 'latin1')).digest('base64url'));
  });

  it('differs for URLs that differ in one character', () => {
    assert.notEqual(urlDigest('http://a/1'), urlDigest('http://a/2'));
  });
});

describe('decodeStrictBase64url', () => {
  it('decodes canonical unpadded base64url of every tail length', () => {
    for (let length = 0; length <= 9; length++) {
      const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 97 + 251) & 0xff));
      const text = bytes.toString('base64url');
      assert.deepEqual(decodeStrictBase64url(text), bytes, text);
    }
    assert.equal(decodeStrictBase64url(VECTOR_DIGEST)!.length, 48);
  });

  it('refuses padding', () => {
    assert.equal(decodeStrictBase64url('AA=='), undefined);
    assert.equal(decodeStrictBase64url('AAA='), undefined);
    assert.equal(decodeStrictBase64url(`${VECTOR_DIGEST}==`), undefined);
  });

  it('refuses characters outside the base64url alphabet', () => {
    for (const text of ['AB+C', 'AB/C', 'AB C', 'AB.C', 'AB%2B', 'ABC\n', 'ÄBCD']) {
      assert.equal(decodeStrictBase64url(text), undefined, JSON.stringify(text));
    }
  });

  it('refuses lengths no encoding produces (4n+1)', () => {
    assert.equal(decodeStrictBase64url('A'), undefined);
    assert.equal(decodeStrictBase64url('AAAAA'), undefined);
    assert.equal(decodeStrictBase64url(`${VECTOR_DIGEST}A`), undefined);
  });

  it('refuses non-canonical trailing bits', () => {
    // 'AB' would decode to the same byte as 'AA' in a lenient decoder.
    assert.deepEqual(decodeStrictBase64url('AA'), Buffer.from([0]));
    assert.equal(decodeStrictBase64url('AB'), undefined);
    assert.deepEqual(decodeStrictBase64url('AAA'), Buffer.from([0, 0]));
    assert.equal(decodeStrictBase64url('AAB'), undefined);
    const short = Buffer.from(VECTOR_DIGEST, 'base64url').subarray(0, 47).toString('base64url');
    assert.ok(decodeStrictBase64url(short) !== undefined);
    assert.equal(decodeStrictBase64url(withTrailingBits(short)), undefined);
  });
});

describe('decodeStrictBase64url against re-encoding', () => {
  it('decodes exactly the texts that its bytes re-encode to: every last character after every length of 0 to 8 characters', () => {
    const reEncoded = (text: string): Buffer | undefined => {
      if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
      const bytes = Buffer.from(text, 'base64url');
      return bytes.toString('base64url') === text ? bytes : undefined;
    };
    for (let length = 0; length <= 8; length++) {
      const prefix = Array.from({ length }, (_, i) => ALPHABET.charAt((i * 37 + 11) % 64)).join('');
      for (const last of `${ALPHABET}=+/. \u00ff`) {
        const text = `${prefix}${last}`;
        assert.deepEqual(decodeStrictBase64url(text), reEncoded(text), JSON.stringify(text));
      }
    }
  });
});

describe('assertDigestMatches', () => {
  it('accepts the digest of the URL (docs/protocol.md §5 vector)', () => {
    assert.doesNotThrow(() => assertDigestMatches(VECTOR_DIGEST, VECTOR_URL));
  });

  it('400 bad-request when the digest is not strict base64url', () => {
    const short = Buffer.from(VECTOR_DIGEST, 'base64url').subarray(0, 47).toString('base64url');
    for (const digest of [
      `${VECTOR_DIGEST}=`, // padding
      `${VECTOR_DIGEST}==`,
      `${VECTOR_DIGEST}A`, // 65 characters: impossible length
      `${VECTOR_DIGEST.slice(0, 63)}+`, // standard alphabet
      `${VECTOR_DIGEST.slice(0, 63)}/`,
      withTrailingBits(short), // non-canonical trailing bits
      'A',
    ]) {
      assertEcamoError(() => assertDigestMatches(digest, VECTOR_URL), 'bad-request', 400);
    }
  });

  it('401 invalid-token when it decodes but is not the SHA-384 of the URL', () => {
    const short = Buffer.from(VECTOR_DIGEST, 'base64url').subarray(0, 47).toString('base64url');
    const flipped = Buffer.from(VECTOR_DIGEST, 'base64url');
    flipped.writeUInt8(flipped.readUInt8(47) ^ 1, 47);
    for (const digest of [
      urlDigest(`${VECTOR_URL}x`), // another URL
      urlDigest('HTTP://upstream.test.invalid/test'), // another spelling of the same URL: the digest is of the exact string
      flipped.toString('base64url'), // one bit off
      short, // a prefix of the right digest
      `${VECTOR_DIGEST}AA`, // the right digest and one more byte
      'AAAA',
    ]) {
      assertEcamoError(() => assertDigestMatches(digest, VECTOR_URL), 'invalid-token', 401);
    }
  });
});
