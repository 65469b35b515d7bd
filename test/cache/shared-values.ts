/**
 * What the shared-tier tests share: values as README (Shared state in Redis)
 * lays them out, made here with node:crypto rather than ecamo's code, for
 * tests that write Redis by hand; the images their source serves.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { GeneratedKey } from '../../src/config/generate-key.js';
import { startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG } from '../helpers/images.js';
import type { RedisServer } from '../helpers/redis-server.js';

/** A real PNG followed by bytes of its own: one image per path. */
export const imageFor = (path: string): Buffer => Buffer.concat([PNG, Buffer.from(`image bytes of ${path} `.repeat(50))]);

/** A source whose every path is an image of its own (imageFor), public for ten minutes, with an ETag. */
export async function startImageSource(): Promise<Source> {
  return startSource((req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', etag: '"1"' }).end(imageFor(req.url ?? ''));
  });
}

/** After a suite: the instances, then their source and Redis. */
export async function closeAll(instances: readonly Ecamo[], source: Source, redis: RedisServer): Promise<void> {
  for (const ecamo of instances) await ecamo.close();
  await source.close();
  await redis.stop();
}

export const MAGIC = Buffer.from('ecamo-cache-2\n');
const MAC_BYTES = 32;
/** Where the signed part of a value (metadata length, metadata, body) starts. */
export const SIGNED_START = MAGIC.length + MAC_BYTES;

/** The MAC key of values under one of ecamo's private keys: HKDF-SHA256 of `d`, empty salt, info "ecamo shared cache v1". */
export function macKeyOf(key: GeneratedKey): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(key.privateJwk.d!, 'base64url'), Buffer.alloc(0), 'ecamo shared cache v1', 32));
}

function lengthOf(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return length;
}

/** The MAC of a value: over the cache key (its length first) and the value's signed part. */
export function macOf(macKey: Buffer, key: string, signed: Buffer): Buffer {
  const keyBytes = Buffer.from(key);
  return createHmac('sha256', macKey).update(lengthOf(keyBytes)).update(keyBytes).update(signed).digest();
}

/** A value: magic, MAC, metadata length, metadata (JSON), body. */
export function value(key: string, meta: unknown, body: Buffer, macKey: Buffer): Buffer {
  const metaBytes = Buffer.from(JSON.stringify(meta));
  const signed = Buffer.concat([lengthOf(metaBytes), metaBytes, body]);
  return Buffer.concat([MAGIC, macOf(macKey, key, signed), signed]);
}

/** The metadata and body of a value ecamo wrote. */
export function partsOf(written: Buffer): { meta: Record<string, unknown>; body: Buffer } {
  const metaEnd = SIGNED_START + 4 + written.readUInt32BE(SIGNED_START);
  return { meta: JSON.parse(written.toString('utf8', SIGNED_START + 4, metaEnd)) as Record<string, unknown>, body: written.subarray(metaEnd) };
}
