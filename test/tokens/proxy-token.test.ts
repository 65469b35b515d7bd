/**
 * docs/protocol.md §4.4 against the code: the derivation of the proxy-token
 * MAC key and the test vectors are read from the document itself, so that
 * the two cannot drift apart.
 */
import assert from 'node:assert/strict';
import { createHmac, hkdfSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, mock, test } from 'node:test';
import { loadEcamoKeys, PROXY_TOKEN_MAC_KEY_DERIVATION } from '../../src/config/keys.js';
import { signProxyToken, verifyProxyToken } from '../../src/tokens/proxy-token.js';
import { claimsOf } from '../helpers/proxy-tokens.js';

const PROTOCOL = new URL('../../../docs/protocol.md', import.meta.url);

/** §4.4 of docs/protocol.md, up to the next section. */
async function proxyTokenSection(): Promise<string> {
  const text = await readFile(PROTOCOL, 'utf8');
  const start = text.indexOf('### 4.4 Proxy token');
  assert.ok(start !== -1, 'docs/protocol.md has a §4.4 Proxy token');
  return text.slice(start, text.indexOf('\n### ', start + 1));
}

/** The `code` in the table row named `name`. */
function row(section: string, name: string): string {
  const match = new RegExp(`^\\| ${name} \\| \`([^\`]+)\` \\|`, 'm').exec(section);
  assert.ok(match !== null, `§4.4 has a row "${name}"`);
  return match[1]!;
}

interface Vectors {
  readonly kid: string;
  readonly privateJwk: Record<string, string>;
  readonly macKeyHex: string;
  readonly macKeyBase64url: string;
  readonly claims: Record<string, unknown>;
  readonly token: string;
  readonly info: string;
}

async function vectors(): Promise<Vectors> {
  const section = await proxyTokenSection();
  return {
    kid: row(section, 'kid'),
    privateJwk: JSON.parse(row(section, 'private JWK')) as Record<string, string>,
    macKeyHex: row(section, 'MAC key, hex'),
    macKeyBase64url: row(section, 'MAC key, base64url'),
    claims: JSON.parse(row(section, 'claims')) as Record<string, unknown>,
    token: row(section, 'proxy token'),
    info: row(section, 'HKDF info'),
  };
}

describe('docs/protocol.md §4.4: the proxy-token MAC key and test vectors', () => {
  afterEach(() => mock.timers.reset());

  test('the documented derivation is the code’s: HKDF-SHA256, d as input, empty salt, the info string, 32 bytes', async () => {
    const doc = await vectors();
    const section = await proxyTokenSection();
    assert.equal(doc.info, PROXY_TOKEN_MAC_KEY_DERIVATION.info);
    assert.deepEqual(PROXY_TOKEN_MAC_KEY_DERIVATION, { hash: 'sha256', salt: '', info: doc.info, length: 32 });
    assert.match(section, /HKDF-SHA256/);
    assert.match(section, /salt.{0,20}empty/i);
    // Computed here from the documented parameters alone, not through the code under test.
    const derived = Buffer.from(hkdfSync('sha256', Buffer.from(doc.privateJwk.d!, 'base64url'), Buffer.alloc(0), doc.info, 32));
    assert.equal(derived.toString('hex'), doc.macKeyHex);
    assert.equal(derived.toString('base64url'), doc.macKeyBase64url);
  });

  test('ecamo derives the documented MAC key from the documented private JWK when it loads it', async () => {
    const doc = await vectors();
    const keys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ [doc.kid]: doc.privateJwk }), 'ECAMO_SIGNING_KID', undefined);
    assert.equal(keys.signing.proxyTokenMacKey.export().toString('hex'), doc.macKeyHex);
    assert.equal(keys.proxyTokenMacKeys.get(doc.kid)!.export().toString('base64url'), doc.macKeyBase64url);
  });

  test('the documented token is what ecamo mints for the documented claims, and what it accepts', async () => {
    const doc = await vectors();
    const keys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ [doc.kid]: doc.privateJwk }), 'ECAMO_SIGNING_KID', undefined);
    const { iat, exp } = doc.claims as { iat: number; exp: number };
    const claims = { url: String(doc.claims['ecamo:url']), serviceOrigin: String(doc.claims['ecamo:svc']), sendToken: doc.claims['ecamo:tok'] === true };
    assert.equal(await signProxyToken(claims, keys.signing, exp - iat, 'HS256', iat), doc.token);
    const [header, payload, mac] = doc.token.split('.') as [string, string, string];
    assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'HS256', kid: doc.kid });
    assert.deepEqual(JSON.parse(Buffer.from(payload, 'base64url').toString()), doc.claims);
    assert.equal(createHmac('sha256', Buffer.from(doc.macKeyHex, 'hex')).update(`${header}.${payload}`).digest('base64url'), mac);
    mock.timers.enable({ apis: ['Date'], now: iat * 1000 });
    assert.deepEqual(claimsOf(await verifyProxyToken(doc.token, keys)), { ...claims, exp });
  });
});
