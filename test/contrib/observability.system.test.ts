/**
 * contrib/grafana/ecamo.json and contrib/prometheus/ecamo-alerts.yml against
 * a real ecamo: every metric their queries name is on its admin port's
 * /metrics, and the alert rules pass promtool's check and their unit tests
 * (contrib/prometheus/ecamo-alerts.test.yml). docs/observability.md lists
 * every panel.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { fetchAnswer, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { fetchThroughEcamo, IMAGE } from '../helpers/wire.js';
import { unlessInstalled } from '../helpers/programs.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const DASHBOARD = `${ROOT}contrib/grafana/ecamo.json`;
const ALERTS = `${ROOT}contrib/prometheus/ecamo-alerts.yml`;
const ALERT_TESTS = `${ROOT}contrib/prometheus/ecamo-alerts.test.yml`;

/** Series Prometheus makes itself for every target, not on any /metrics. */
const PROMETHEUS_SERIES: ReadonlySet<string> = new Set(['up']);

/** PromQL words that read like metric names. */
const KEYWORDS: ReadonlySet<string> = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/** The metric names of a PromQL expression: its identifiers outside strings, matchers, ranges and label lists that call nothing. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const name = match[1]!;
    if (match[2] === undefined && !KEYWORDS.has(name)) names.push(name);
  }
  return names;
}

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
}

interface Dashboard {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly definition?: string }[] };
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** Each expression of the dashboard (panels, and the metric its instance variable lists), with where it is. */
function dashboardExprs(): [string, string][] {
  const board = dashboard();
  const exprs: [string, string][] = board.panels.flatMap((panel) => (panel.targets ?? []).map((target): [string, string] => [`panel "${panel.title}"`, target.expr]));
  for (const variable of board.templating.list) {
    const metric = /^label_values\((\w+),/.exec(variable.definition ?? '')?.[1];
    if (metric !== undefined) exprs.push([`variable ${variable.name}`, metric]);
  }
  return exprs;
}

function alertExprs(): [string, string][] {
  const rules = parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return rules.groups.flatMap((group) => group.rules.map((rule): [string, string] => [`alert ${rule.alert}`, rule.expr]));
}

/** Every name a scrape shows: sample names, and the names its TYPE lines declare. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const declared = /^# TYPE (\S+) /.exec(line)?.[1];
    if (declared !== undefined) names.add(declared);
    const sample = /^([a-zA-Z_:][\w:]*)[{ ]/.exec(line)?.[1];
    if (sample !== undefined) names.add(sample);
  }
  return names;
}

describe('the metric names in PromQL, as this test reads them', () => {
  it('finds metrics, not functions, keywords, labels, strings or durations', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.99, sum by (route, le) (rate(a_bucket{instance=~"$instance", x="b_c"}[$__rate_interval]))) / on (job) group_left b_total > 1e3 and up offset 5m'),
      ['a_bucket', 'b_total', 'up'],
    );
  });
});

describe('dashboard and alert rules against a real ecamo', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  let source: Source;
  let ecamo: Ecamo;
  let exposed: Set<string>;

  before(async () => {
    redis = await startRedisServer();
    source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE));
    ecamo = await startEcamo({ ECAMO_ADMIN_BIND: '127.0.0.1:0', ECAMO_REDIS_URL: redis.url, ECAMO_QUARANTINE_FAILURES: '5' });
    // One image through both endpoints, so that every per-request series has a sample.
    assert.equal((await fetchThroughEcamo(ecamo, `${source.origin}/img.png`)).status, 200);
    const scrape = await fetchAnswer(`${ecamo.server.adminUrl!}/metrics`);
    assert.equal(scrape.status, 200);
    exposed = exposedNames(scrape.body);
  });

  after(async () => {
    await ecamo.close();
    await source.close();
    await redis.stop();
  });

  it('every metric the dashboard queries is on /metrics', () => {
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 20, `${exprs.length} queries`);
    const missing = exprs.flatMap(([where, expr]) => metricNames(expr).filter((name) => !exposed.has(name)).map((name) => `${where}: ${name}`));
    assert.deepEqual(missing, []);
  });

  it('every metric the alert rules use is on /metrics (or is Prometheus\'s own `up`)', () => {
    const exprs = alertExprs();
    assert.ok(exprs.length >= 7, `${exprs.length} rules`);
    const missing = exprs.flatMap(([where, expr]) =>
      metricNames(expr)
        .filter((name) => !exposed.has(name) && !PROMETHEUS_SERIES.has(name))
        .map((name) => `${where}: ${name}`),
    );
    assert.deepEqual(missing, []);
  });
});

describe('docs/observability.md', () => {
  it('lists every panel of the dashboard and every alert', () => {
    const docs = readFileSync(`${ROOT}docs/observability.md`, 'utf8');
    const panels = dashboard().panels.filter((panel) => panel.type !== 'row');
    for (const panel of panels) assert.ok(docs.includes(`| ${panel.title} |`), `panel "${panel.title}" in the docs' table`);
    for (const [where] of alertExprs()) assert.ok(docs.includes(`\`${where.replace('alert ', '')}\``), `${where} in the docs`);
  });
});

const run = promisify(execFile);
describe('alert rules under promtool', { skip: unlessInstalled('promtool') }, () => {
  it('promtool check rules accepts them', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', ALERTS]);
    assert.match(stdout, /SUCCESS: \d+ rules found/);
  });

  it('promtool test rules passes their unit tests', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', ALERT_TESTS]);
    assert.match(stdout, /SUCCESS/);
  });
});
