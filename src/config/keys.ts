import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { ConfigError } from './errors.js';

/** The public fields of a P-256 key, as published in a JWKS. Never carries `d`. */
export interface PublicJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly use: 'sig';
  readonly alg: 'ES256';
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The HS256 key of the proxy tokens this key mints (`deriveKey` with `PROXY_TOKEN_MAC_KEY_DERIVATION`). */
  readonly proxyTokenMacKey: KeyObject;
}

/** HKDF-SHA256 parameters of a key derived from one of ecamo's private keys; `info` names its use. */
export interface KeyDerivation {
  readonly hash: 'sha256';
  readonly salt: string;
  readonly info: string;
  readonly length: number;
}

/**
 * HKDF-SHA256 parameters of the proxy-token MAC key (docs/protocol.md §4.4).
 * The salt is empty (RFC 5869 then extracts with 32 zero bytes): `d` is
 * already a uniformly random secret of full length, which a fixed public salt
 * would not strengthen, and an empty one lets any HKDF reproduce the key from
 * the JWK alone. The info names the purpose, so that no other use of the
 * private key can yield the same bytes.
 */
export const PROXY_TOKEN_MAC_KEY_DERIVATION: KeyDerivation = Object.freeze({ hash: 'sha256', salt: '', info: 'ecamo proxy token v1', length: 32 });

/** The same for the MAC key of the response cache's values in Redis (cache/redis-tier.ts, docs/operations.md). */
export const SHARED_CACHE_KEY_DERIVATION: KeyDerivation = Object.freeze({ ...PROXY_TOKEN_MAC_KEY_DERIVATION, info: 'ecamo shared cache v1' });

/**
 * A key derived from one of ecamo's private keys, from its private scalar
 * `d` (32 bytes, big-endian): a secret only the holders of
 * `ECAMO_PRIVATE_KEYS` can compute, and never anything published.
 */
export function deriveKey(privateScalar: Buffer, derivation: KeyDerivation): KeyObject {
  const { hash, salt, info, length } = derivation;
  return createSecretKey(Buffer.from(hkdfSync(hash, privateScalar, salt, info, length)));
}

/**
 * The MAC keys of the response cache's values in Redis: new values get the
 * signing key's, and a value under any configured key's is accepted, so that
 * instances midway through a rotation (another signing kid) share the cache,
 * and a rotation does not empty it.
 */
export interface SharedCacheKeys {
  readonly writing: KeyObject;
  /** The writing key first. */
  readonly accepted: readonly KeyObject[];
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function parseJsonObject(variable: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(variable, 'is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(variable, 'must be a JSON object of JWKs');
  }
  return value as Record<string, unknown>;
}

/** A checked P-256 JWK: its coordinates are base64url strings. */
interface CheckedP256Jwk {
  readonly x: string;
  readonly y: string;
  readonly kid: unknown;
}

interface CheckedPrivateP256Jwk extends CheckedP256Jwk {
  readonly d: string;
}

function base64urlField(variable: string, name: string, jwk: Record<string, unknown>, field: string): string {
  const part = jwk[field];
  if (typeof part !== 'string' || !BASE64URL.test(part)) {
    throw new ConfigError(variable, `key "${name}" lacks a base64url "${field}"`);
  }
  return part;
}

function checkP256Jwk(variable: string, name: string, value: unknown, needPrivate: true): CheckedPrivateP256Jwk;
function checkP256Jwk(variable: string, name: string, value: unknown, needPrivate: false): CheckedP256Jwk;
function checkP256Jwk(variable: string, name: string, value: unknown, needPrivate: boolean): CheckedP256Jwk | CheckedPrivateP256Jwk {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(variable, `key "${name}" is not a JWK object`);
  }
  const jwk = value as Record<string, unknown>;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') {
    throw new ConfigError(variable, `key "${name}" must be an EC P-256 key (kty EC, crv P-256)`);
  }
  if (jwk.alg !== undefined && jwk.alg !== 'ES256') {
    throw new ConfigError(variable, `key "${name}" has alg ${JSON.stringify(jwk.alg)}; only ES256 is accepted`);
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    throw new ConfigError(variable, `key "${name}" has use ${JSON.stringify(jwk.use)}; only sig is accepted`);
  }
  const x = base64urlField(variable, name, jwk, 'x');
  const y = base64urlField(variable, name, jwk, 'y');
  if (needPrivate) return { x, y, d: base64urlField(variable, name, jwk, 'd'), kid: jwk.kid };
  if (jwk.d !== undefined) {
    throw new ConfigError(variable, `key "${name}" is a private key; give only the public half`);
  }
  return { x, y, kid: jwk.kid };
}

async function importOrFail(variable: string, name: string, jwk: JWK): Promise<CryptoKey> {
  // A private key is not extractable: nothing can export its bytes again; it only ever signs through WebCrypto
  // (jose). A public key is, since it becomes a node:crypto KeyObject to verify (tokens/jws.ts), which Node 26
  // deprecates for a key that is not extractable (DEP0204); its bytes are public anyway.
  const extractable = jwk.d === undefined;
  try {
    return (await importJWK({ ...jwk, alg: 'ES256', ext: extractable }, 'ES256', { extractable })) as CryptoKey;
  } catch {
    throw new ConfigError(variable, `key "${name}" is not a valid P-256 key`);
  }
}

function publicHalf(jwk: CheckedP256Jwk, kid: string): PublicJwk {
  return Object.freeze({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, use: 'sig', alg: 'ES256' });
}

/** `ECAMO_SERVICE_PUBLIC_KEYS`: `{"<service origin> <kid>": <public JWK>}`. */
export async function loadServicePublicKeys(variable: string, text: string): Promise<ReadonlyMap<string, CryptoKey>> {
  return importServicePublicKeys(variable, parseJsonObject(variable, text));
}

async function importServicePublicKeys(variable: string, entries: Record<string, unknown>): Promise<ReadonlyMap<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  for (const [name, value] of Object.entries(entries)) {
    const space = name.indexOf(' ');
    const serviceOrigin = name.slice(0, space);
    const kid = name.slice(space + 1);
    if (space <= 0 || kid === '' || kid.includes(' ')) {
      throw new ConfigError(variable, `key name "${name}" must be "<service origin> <kid>"`);
    }
    let origin: string;
    try {
      origin = new URL(serviceOrigin).origin;
    } catch {
      throw new ConfigError(variable, `key name "${name}" does not start with a service origin`);
    }
    if (origin !== serviceOrigin) {
      throw new ConfigError(variable, `key name "${name}": origin must be written as ${origin}`);
    }
    const jwk = checkP256Jwk(variable, name, value, false);
    keys.set(name, await importOrFail(variable, name, { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }));
  }
  return keys;
}

export interface EcamoKeys {
  readonly signing: SigningKey;
  /** kid → public key; every configured key verifies proxy tokens, so keys can rotate. */
  readonly verification: ReadonlyMap<string, CryptoKey>;
  /** kid → the HS256 key of its proxy tokens, derived when the keys are loaded (`deriveKey` with `PROXY_TOKEN_MAC_KEY_DERIVATION`). */
  readonly proxyTokenMacKeys: ReadonlyMap<string, KeyObject>;
  /** What `/.well-known/jwks.json` publishes. */
  readonly publicJwks: readonly PublicJwk[];
  readonly sharedCache: SharedCacheKeys;
}

/** `ECAMO_PRIVATE_KEYS` and `ECAMO_SIGNING_KID`. */
export async function loadEcamoKeys(
  variable: string,
  text: string,
  kidVariable: string,
  signingKid: string | undefined,
): Promise<EcamoKeys> {
  return importEcamoKeys(variable, parseJsonObject(variable, text), kidVariable, signingKid);
}

async function importEcamoKeys(
  variable: string,
  entries: Record<string, unknown>,
  kidVariable: string,
  signingKid: string | undefined,
): Promise<EcamoKeys> {
  const names = Object.keys(entries);
  if (names.length === 0) throw new ConfigError(variable, 'holds no key');
  const verification = new Map<string, CryptoKey>();
  const privateKeys = new Map<string, CryptoKey>();
  const proxyTokenMacKeys = new Map<string, KeyObject>();
  const sharedCacheKeys = new Map<string, KeyObject>();
  const publicJwks: PublicJwk[] = [];
  for (const kid of names) {
    const jwk = checkP256Jwk(variable, kid, entries[kid], true);
    if (jwk.kid !== undefined && jwk.kid !== kid) {
      throw new ConfigError(variable, `key "${kid}" carries a different kid ${JSON.stringify(jwk.kid)}`);
    }
    privateKeys.set(kid, await importOrFail(variable, kid, { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }));
    verification.set(kid, await importOrFail(variable, kid, { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }));
    // The import above accepted d: it is the 32-byte scalar (WebCrypto refuses any other length).
    const privateScalar = Buffer.from(jwk.d, 'base64url');
    proxyTokenMacKeys.set(kid, deriveKey(privateScalar, PROXY_TOKEN_MAC_KEY_DERIVATION));
    sharedCacheKeys.set(kid, deriveKey(privateScalar, SHARED_CACHE_KEY_DERIVATION));
    publicJwks.push(publicHalf(jwk, kid));
  }
  // As the reference server: a single key needs no ECAMO_SIGNING_KID.
  const kid = signingKid ?? (names.length === 1 ? names[0] : undefined);
  if (kid === undefined) throw new ConfigError(kidVariable, `is required when ${variable} holds several keys`);
  const privateKey = privateKeys.get(kid);
  const proxyTokenMacKey = proxyTokenMacKeys.get(kid);
  const writing = sharedCacheKeys.get(kid);
  if (privateKey === undefined || proxyTokenMacKey === undefined || writing === undefined) {
    throw new ConfigError(kidVariable, `names "${kid}", which is not a key of ${variable}`);
  }
  return {
    signing: Object.freeze({ kid, privateKey, proxyTokenMacKey }),
    verification,
    proxyTokenMacKeys,
    publicJwks: Object.freeze(publicJwks),
    sharedCache: Object.freeze({ writing, accepted: Object.freeze([writing, ...[...sharedCacheKeys.values()].filter((key) => key !== writing)]) }),
  };
}

/** The keys the request path uses; replaced as a whole when key files are re-read. */
export interface KeySet {
  readonly serviceKeys: ReadonlyMap<string, CryptoKey>;
  readonly ecamoKeys: EcamoKeys;
}

/** Where the keys come from: each set from its variable's text, or from a file re-read on reload. */
export interface KeySources {
  readonly servicePublicKeysFile: string | undefined;
  readonly privateKeysFile: string | undefined;
  /** `ECAMO_SIGNING_KID`; a private key file's own `signing_kid` takes precedence. */
  readonly signingKid: string | undefined;
}

export const SERVICE_PUBLIC_KEYS_FILE = 'ECAMO_SERVICE_PUBLIC_KEYS_FILE';
export const PRIVATE_KEYS_FILE = 'ECAMO_PRIVATE_KEYS_FILE';
const SIGNING_KID = 'ECAMO_SIGNING_KID';

async function readKeyFile(variable: string, path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseJsonObject(variable, text);
}

/** `ECAMO_SERVICE_PUBLIC_KEYS_FILE`: the same JSON as the variable. */
export async function loadServicePublicKeysFile(path: string): Promise<ReadonlyMap<string, CryptoKey>> {
  return importServicePublicKeys(SERVICE_PUBLIC_KEYS_FILE, await readKeyFile(SERVICE_PUBLIC_KEYS_FILE, path));
}

/**
 * `ECAMO_PRIVATE_KEYS_FILE`: the same JSON as the variable, or
 * `{"signing_kid": "<kid>", "keys": {"<kid>": <private JWK>}}` so that the
 * signing key can change with a reload. The second form is recognised by a
 * `keys` member that is not itself a JWK (it has no `kty`).
 */
export async function loadEcamoKeysFile(path: string, signingKid: string | undefined): Promise<EcamoKeys> {
  const document = await readKeyFile(PRIVATE_KEYS_FILE, path);
  const keys = document.keys;
  const wrapped = keys !== null && typeof keys === 'object' && !Array.isArray(keys) && !('kty' in keys);
  if (!wrapped) return importEcamoKeys(PRIVATE_KEYS_FILE, document, SIGNING_KID, signingKid);
  for (const member of Object.keys(document)) {
    if (member !== 'keys' && member !== 'signing_kid') throw new ConfigError(PRIVATE_KEYS_FILE, `has an unknown member "${member}" beside "keys"`);
  }
  const fileKid = document.signing_kid;
  if (fileKid !== undefined && (typeof fileKid !== 'string' || fileKid === '')) throw new ConfigError(PRIVATE_KEYS_FILE, '"signing_kid" must be a kid');
  const kidVariable = fileKid === undefined ? SIGNING_KID : PRIVATE_KEYS_FILE;
  return importEcamoKeys(PRIVATE_KEYS_FILE, keys as Record<string, unknown>, kidVariable, fileKid ?? signingKid);
}

/**
 * Re-reads the key files of `sources` and keeps the rest of `current` (keys
 * given in variables cannot change while the process runs). Throws
 * ConfigError naming the file's variable; `current` is then still whole.
 */
export async function reloadKeySet(sources: KeySources, current: KeySet): Promise<KeySet> {
  // One after the other, so that the error reported for two bad files is always the same one.
  const serviceKeys = sources.servicePublicKeysFile === undefined ? current.serviceKeys : await loadServicePublicKeysFile(sources.servicePublicKeysFile);
  const ecamoKeys = sources.privateKeysFile === undefined ? current.ecamoKeys : await loadEcamoKeysFile(sources.privateKeysFile, sources.signingKid);
  return Object.freeze({ serviceKeys, ecamoKeys });
}
