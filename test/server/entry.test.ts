/**
 * The package entry `ecamo/server`, imported by its package name as an
 * embedding application would: it exports the documented functions and
 * errors only, takes only configurations it validated, and serves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import * as entry from 'ecamo/server';
import { generateKey } from '../../src/config/generate-key.js';
import { createLogger } from '../../src/log.js';

async function environment(): Promise<Record<string, string>> {
  const [ecamoKey, serviceKey] = await Promise.all([generateKey('ecamo-1'), generateKey('svc-1')]);
  return {
    ECAMO_CANONICAL_HOST: 'ecamo.test',
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`http://wiki.test ${serviceKey.kid}`]: serviceKey.publicJwk }),
  };
}

test('exports the documented entry and nothing internal', () => {
  assert.deepEqual(Object.keys(entry).sort(), ['ConfigError', 'EcamoError', 'loadConfig', 'runWorkers', 'startServer']);
});

test('the configuration handle shows the canonical host and no key', async () => {
  const config = await entry.loadConfig(await environment());
  assert.deepEqual(Object.keys(config), ['canonicalHost']);
  assert.equal(config.canonicalHost, 'ecamo.test');
  assert.ok(Object.isFrozen(config));
});

test('a wrong variable is a ConfigError naming it', async () => {
  await assert.rejects(entry.loadConfig({ ...(await environment()), ECAMO_MAX_LENGTH: 'lots' }), (error: unknown) => {
    return error instanceof entry.ConfigError && error.message.startsWith('ECAMO_MAX_LENGTH: ');
  });
});

test('startServer and runWorkers take only a configuration loadConfig made', async () => {
  await assert.rejects(entry.startServer({ canonicalHost: 'ecamo.test' }), { name: 'TypeError', message: 'startServer takes a configuration made by loadConfig' });
  await assert.rejects(entry.runWorkers({ canonicalHost: 'ecamo.test' }), { name: 'TypeError', message: 'runWorkers takes a configuration made by loadConfig' });
});

test('serves on the address asked for, and closes', async () => {
  const config = await entry.loadConfig(await environment());
  const server = await entry.startServer(config, { listen: { host: '127.0.0.1', port: 0 }, logger: createLogger('silent') });
  assert.deepEqual(Object.keys(server).sort(), ['close', 'port', 'reload', 'url']);
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);
  const health = await request(`${server.url}/healthz`);
  assert.equal(health.statusCode, 200);
  assert.equal(await health.body.text(), 'ok');
  await server.close();
  await assert.rejects(request(`${server.url}/healthz`));
});
