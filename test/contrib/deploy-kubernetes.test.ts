/**
 * contrib/deploy/kubernetes/: the manifests parse, and carry what running
 * ecamo safely needs (probes on the admin port, non-root and read-only,
 * keys from a Secret as files, ports that line up, a disruption budget).
 * No cluster: the fields that matter are checked, and the Deployment's
 * ECAMO_* variables go through ecamo's own configuration loader.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { generateKey } from '../../src/config/generate-key.js';
import { loadConfig } from '../../src/config/load.js';

const DIR = new URL('../../../contrib/deploy/kubernetes/', import.meta.url).pathname;

type Node = Record<string, unknown>;

/** A member of a parsed manifest, by path; fails the test when a step is missing. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape it reads from the parsed YAML
function at<T = Node>(value: unknown, ...path: (string | number)[]): T {
  let current = value;
  for (const step of path) {
    assert.ok(current !== null && typeof current === 'object', `no ${path.join('.')} (stopped before ${String(step)})`);
    current = (current as Record<string | number, unknown>)[step];
    assert.notEqual(current, undefined, `no ${path.join('.')}`);
  }
  return current as T;
}

/** Kubernetes quantities as bytes: 192Mi, 1Gi, 200M. */
function bytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  assert.ok(match, `memory quantity ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

let manifests: Node[];
let deployment: Node;
let container: Node;
let env: Map<string, string>;

before(() => {
  manifests = [];
  for (const file of readdirSync(DIR).filter((name) => name.endsWith('.yaml')).sort()) {
    for (const document of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      assert.deepEqual(document.errors, [], `${file} parses`);
      manifests.push(document.toJS() as Node);
    }
  }
  deployment = named('Deployment', 'ecamo');
  container = at<Node[]>(deployment, 'spec', 'template', 'spec', 'containers')[0]!;
  env = new Map(at<{ name: string; value: string }[]>(container, 'env').map(({ name, value }) => [name, value]));
});

function named(kind: string, name: string): Node {
  const found = manifests.find((manifest) => manifest.kind === kind && at<string>(manifest, 'metadata', 'name') === name);
  assert.ok(found, `${kind} ${name}`);
  return found;
}

function port(name: string): number {
  const found = at<{ name: string; containerPort: number }[]>(container, 'ports').find((entry) => entry.name === name);
  assert.ok(found, `container port ${name}`);
  return found.containerPort;
}

describe('kubernetes manifests', () => {
  it("hold ecamo's Deployment, Service and PodDisruptionBudget, and its Redis, all listed in the kustomization", () => {
    const kinds = manifests.map((manifest) => `${String(manifest.kind)} ${manifest.kind === 'Kustomization' ? '' : at<string>(manifest, 'metadata', 'name')}`.trim());
    assert.deepEqual(kinds.sort(), ['Deployment ecamo', 'Deployment ecamo-redis', 'Kustomization', 'NetworkPolicy ecamo-redis', 'PodDisruptionBudget ecamo', 'Service ecamo', 'Service ecamo-redis']);
    const listed = at<string[]>(manifests.find((manifest) => manifest.kind === 'Kustomization'), 'resources').sort();
    assert.deepEqual(listed, readdirSync(DIR).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml').sort());
  });

  it('probe liveness and readiness on the admin port, which is ECAMO_ADMIN_BIND and not the public port', () => {
    assert.equal(at(container, 'livenessProbe', 'httpGet', 'path'), '/healthz');
    assert.equal(at(container, 'readinessProbe', 'httpGet', 'path'), '/readyz');
    assert.equal(at(container, 'startupProbe', 'httpGet', 'path'), '/healthz');
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) assert.equal(at(container, probe, 'httpGet', 'port'), 'admin');
    assert.equal(Number(env.get('ECAMO_ADMIN_BIND')!.split(':').at(-1)), port('admin'));
    assert.equal(Number(env.get('ECAMO_BIND')!.split(':').at(-1)), port('http'));
    assert.notEqual(port('admin'), port('http'));
  });

  it('run as a non-root user on a read-only root file system, without privileges', () => {
    const pod = at(deployment, 'spec', 'template', 'spec');
    assert.equal(at(pod, 'securityContext', 'runAsNonRoot'), true);
    assert.ok(at<number>(pod, 'securityContext', 'runAsUser') > 0);
    assert.equal(at(pod, 'securityContext', 'seccompProfile', 'type'), 'RuntimeDefault');
    assert.equal(at(pod, 'automountServiceAccountToken'), false);
    assert.equal(at(container, 'securityContext', 'readOnlyRootFilesystem'), true);
    assert.equal(at(container, 'securityContext', 'allowPrivilegeEscalation'), false);
    assert.deepEqual(at(container, 'securityContext', 'capabilities', 'drop'), ['ALL']);
  });

  it('take the keys from a Secret mounted as files (no subPath, so updates reach the pod), never from plain variables', () => {
    assert.equal(env.has('ECAMO_PRIVATE_KEYS'), false);
    assert.equal(env.has('ECAMO_SERVICE_PUBLIC_KEYS'), false);
    const volumes = at<Node[]>(deployment, 'spec', 'template', 'spec', 'volumes');
    const secretVolume = volumes.find((volume) => volume.secret !== undefined)!;
    assert.ok(secretVolume, 'a secret volume');
    const mount = at<Node[]>(container, 'volumeMounts').find((entry) => entry.name === secretVolume.name)!;
    assert.equal(mount.readOnly, true);
    assert.equal(mount.subPath, undefined);
    const files = at<{ key: string; path: string }[]>(secretVolume, 'secret', 'items').map((item) => `${String(mount.mountPath)}/${item.path}`);
    for (const variable of ['ECAMO_PRIVATE_KEYS_FILE', 'ECAMO_SERVICE_PUBLIC_KEYS_FILE']) assert.ok(files.includes(env.get(variable)!), `${variable} points into the Secret`);
    assert.equal(at<number>(secretVolume, 'secret', 'defaultMode') & 0o007, 0, 'key files are not world-readable');
  });

  it('are a configuration ecamo accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecamo-k8s-'));
    try {
      const ecamo = await generateKey('k1');
      const service = await generateKey('svc');
      const privateFile = join(dir, 'private-keys.json');
      const serviceFile = join(dir, 'service-public-keys.json');
      writeFileSync(privateFile, JSON.stringify({ k1: ecamo.privateJwk }));
      writeFileSync(serviceFile, JSON.stringify({ [`https://wiki.corp.example ${service.kid}`]: service.publicJwk }));
      const config = await loadConfig({ ...Object.fromEntries(env), ECAMO_PRIVATE_KEYS_FILE: privateFile, ECAMO_SERVICE_PUBLIC_KEYS_FILE: serviceFile });
      assert.deepEqual(config.adminBind, { host: '0.0.0.0', port: port('admin') });
      const grace = at<number>(deployment, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds');
      assert.ok(grace * 1000 > config.shutdownGraceMs + 5_000, 'Kubernetes waits longer than the drain and the preStop pause');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('request resources sized from the benchmark: a core, and memory above the measured peak RSS', () => {
    assert.ok(Number(at<string>(container, 'resources', 'requests', 'cpu')) >= 1);
    const request = bytes(at(container, 'resources', 'requests', 'memory'));
    const limit = bytes(at(container, 'resources', 'limits', 'memory'));
    assert.ok(request >= 150 * 2 ** 20, 'above the 136 MB peak of 64 concurrent 1 MiB downloads');
    assert.ok(limit >= request);
    // The limit holds the worst case at once: V8's old space at its ceiling, the cache full, the download peak.
    const oldSpaceMb = Number(/--max-old-space-size=(\d+)/.exec(env.get('NODE_OPTIONS') ?? '')?.[1]);
    assert.ok(oldSpaceMb >= 64, 'an old-space ceiling, no lower than the 64 MB ecamo is tested in');
    const cacheBytes = Number(env.get('ECAMO_CACHE_MAX_BYTES'));
    assert.ok(Number.isInteger(cacheBytes), 'the cache bound is stated');
    assert.ok(limit >= oldSpaceMb * 2 ** 20 + cacheBytes + 136e6, 'old space + cache + download peak fit under the limit');
    assert.equal(env.get('ECAMO_WORKERS'), '1', 'one process per pod: replicas scale, requests stay per core');
  });

  it('give ecamo a Redis of its own: bounded memory with LRU eviction, nothing persisted, reachable from ecamo\'s pods only', () => {
    const redis = named('Deployment', 'ecamo-redis');
    const [server] = at<Node[]>(redis, 'spec', 'template', 'spec', 'containers');
    const args = at<string[]>(server, 'args');
    const option = (name: string): string | undefined => args[args.indexOf(`--${name}`) + 1];
    assert.ok(args.includes('--maxmemory'), 'maxmemory is set');
    const maxmemory = bytes(option('maxmemory')!.replace(/mb$/i, 'Mi').replace(/gb$/i, 'Gi'));
    assert.ok(maxmemory < bytes(at(server, 'resources', 'limits', 'memory')), "the container's limit leaves room beyond maxmemory");
    assert.equal(option('maxmemory-policy'), 'allkeys-lru');
    assert.equal(option('save'), '');
    assert.equal(option('appendonly'), 'no');
    const service = named('Service', 'ecamo-redis');
    const url = new URL(env.get('ECAMO_REDIS_URL')!);
    assert.equal(url.hostname, at(service, 'metadata', 'name'));
    assert.equal(Number(url.port), at<Node[]>(service, 'spec', 'ports')[0]!.port);
    // The Service reaches the Redis pods, and ecamo's own Service and budget do not.
    const redisLabels = at<Record<string, string>>(redis, 'spec', 'template', 'metadata', 'labels');
    assert.deepEqual(at(service, 'spec', 'selector'), redisLabels);
    assert.notDeepEqual(at(named('Service', 'ecamo'), 'spec', 'selector'), redisLabels);
    const policy = named('NetworkPolicy', 'ecamo-redis');
    assert.deepEqual(at(policy, 'spec', 'podSelector', 'matchLabels'), redisLabels);
    const [rule] = at<Node[]>(policy, 'spec', 'ingress');
    assert.deepEqual(at<Node[]>(rule, 'from').map((peer) => at(peer, 'podSelector', 'matchLabels')), [at(deployment, 'spec', 'template', 'metadata', 'labels')]);
  });

  it('route the Service and the PodDisruptionBudget to the pods, to the public port only', () => {
    const labels = at<Record<string, string>>(deployment, 'spec', 'template', 'metadata', 'labels');
    const matches = (selector: Record<string, string>): boolean => Object.entries(selector).every(([key, value]) => labels[key] === value);
    const service = named('Service', 'ecamo');
    assert.ok(matches(at(service, 'spec', 'selector')));
    assert.deepEqual(at<Node[]>(service, 'spec', 'ports').map((entry) => entry.targetPort), ['http']);
    const budget = named('PodDisruptionBudget', 'ecamo');
    assert.ok(matches(at(budget, 'spec', 'selector', 'matchLabels')));
    assert.ok(matches(at(deployment, 'spec', 'selector', 'matchLabels')));
    assert.ok(at<number>(deployment, 'spec', 'replicas') > at<number>(budget, 'spec', 'maxUnavailable'));
  });

  it('announce the admin port to Prometheus: scrape annotations on the pods, and a PodMonitor for the Prometheus Operator', () => {
    const annotations = at<Record<string, string>>(deployment, 'spec', 'template', 'metadata', 'annotations');
    assert.equal(annotations['prometheus.io/scrape'], 'true');
    assert.equal(Number(annotations['prometheus.io/port']), port('admin'));
    assert.equal(annotations['prometheus.io/path'], '/metrics');
    const [monitor, ...more] = parseAllDocuments(readFileSync(join(DIR, 'prometheus-operator', 'podmonitor.yaml'), 'utf8')).map((document) => document.toJS() as Node);
    assert.deepEqual([monitor?.kind, more.length], ['PodMonitor', 0]);
    const labels = at<Record<string, string>>(deployment, 'spec', 'template', 'metadata', 'labels');
    assert.ok(Object.entries(at<Record<string, string>>(monitor, 'spec', 'selector', 'matchLabels')).every(([key, value]) => labels[key] === value));
    const [endpoint] = at<Node[]>(monitor, 'spec', 'podMetricsEndpoints');
    assert.deepEqual([endpoint?.port, endpoint?.path], ['admin', '/metrics']);
  });
});
