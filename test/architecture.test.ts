/**
 * The table of docs/architecture.md, checked against the import lines of src/:
 * every folder (and top-level file) has a row, imports only what its row
 * allows, nothing imports cli/, the folders form no cycle, and the SDKs use
 * no package but jose (and node built-ins). ESLint enforces the layer rules
 * as code is written (eslint.config.js); this keeps the table honest.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

/** A folder of src/ (`tokens/`) or a file at its top (`errors.ts`). */
type Unit = string;

interface Row {
  /** `anything`: no restriction on our own units. */
  readonly mayImport: ReadonlySet<Unit> | 'anything';
  /** Set when the row names the only packages allowed (besides node built-ins). */
  readonly onlyPackages: ReadonlySet<string> | undefined;
}

function unitOf(file: string): Unit {
  const [first = '', ...rest] = relative(SRC, file).split(sep);
  return rest.length === 0 ? first : `${first}/`;
}

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(SRC, name));
}

/** Every module specifier of static imports and re-exports, side-effect imports and dynamic import(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)|^\s*import\s+'([^']+)'/gm)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier !== undefined) found.push(specifier);
  }
  return found;
}

interface Imports {
  readonly units: Map<Unit, Set<Unit>>;
  readonly packages: Map<Unit, Set<string>>;
}

function importGraph(): Imports {
  const units = new Map<Unit, Set<Unit>>();
  const packages = new Map<Unit, Set<string>>();
  for (const file of sourceFiles()) {
    const from = unitOf(file);
    const ownUnits = units.get(from) ?? new Set<Unit>();
    const ownPackages = packages.get(from) ?? new Set<string>();
    units.set(from, ownUnits);
    packages.set(from, ownPackages);
    for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) {
        // Sources import each other by their compiled names (`./errors.js` is src/errors.ts).
        const target = unitOf(normalize(join(dirname(file), specifier.replace(/\.js$/, '.ts'))));
        if (target !== from) ownUnits.add(target);
      } else if (!specifier.startsWith('node:')) {
        const parts = specifier.split('/');
        ownPackages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier));
      }
    }
  }
  return { units, packages };
}

/** The rows of docs/architecture.md's table, by unit. */
function architectureTable(): Map<Unit, Row> {
  const section = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const rows = new Map<Unit, Row>();
  for (const line of section.split('\n')) {
    const [, unitsCell, , importsCell] = line.split('|').map((cell) => cell.trim());
    if (unitsCell === undefined || importsCell === undefined || !unitsCell.startsWith('`')) continue;
    const named = [...importsCell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
    const ours = named.filter((name) => name.endsWith('/') || name.endsWith('.ts'));
    const row: Row = {
      mayImport: /\banything\b/.test(importsCell) ? 'anything' : new Set(ours),
      onlyPackages: /\bonly\b/.test(importsCell) && /built-ins/.test(importsCell) ? new Set(named.filter((name) => !ours.includes(name))) : undefined,
    };
    for (const unit of unitsCell.matchAll(/`([^`]+)`/g)) rows.set(unit[1] ?? '', row);
  }
  return rows;
}

describe("docs/architecture.md against src/'s import lines", () => {
  const graph = importGraph();
  const table = architectureTable();

  it('every folder and top-level file of src/ has a row', () => {
    const missing = [...graph.units.keys()].filter((unit) => !table.has(unit));
    assert.deepEqual(missing, []);
  });

  it('each imports only what its row allows', () => {
    const violations: string[] = [];
    for (const [unit, targets] of graph.units) {
      const allowed = table.get(unit)?.mayImport;
      if (allowed === 'anything') continue;
      for (const target of targets) if (allowed?.has(target) !== true) violations.push(`${unit} imports ${target}`);
    }
    assert.deepEqual(violations, []);
  });

  it('nothing imports cli/', () => {
    const importers = [...graph.units].filter(([, targets]) => targets.has('cli/')).map(([unit]) => unit);
    assert.deepEqual(importers, []);
  });

  it('the folders form no cycle', () => {
    const done = new Set<Unit>();
    const cycles: string[] = [];
    const visit = (unit: Unit, path: readonly Unit[]): void => {
      if (path.includes(unit)) {
        cycles.push([...path.slice(path.indexOf(unit)), unit].join(' -> '));
        return;
      }
      if (done.has(unit)) return;
      for (const target of graph.units.get(unit) ?? []) visit(target, [...path, unit]);
      done.add(unit);
    };
    for (const unit of graph.units.keys()) visit(unit, []);
    assert.deepEqual(cycles, []);
  });

  it('the SDKs use no package but the ones their rows name', () => {
    const violations: string[] = [];
    for (const [unit, row] of table) {
      if (row.onlyPackages === undefined) continue;
      for (const name of graph.packages.get(unit) ?? []) if (!row.onlyPackages.has(name)) violations.push(`${unit} uses ${name}`);
    }
    assert.ok([...table.values()].some((row) => row.onlyPackages !== undefined), 'the table names the SDKs\' packages');
    assert.deepEqual(violations, []);
  });
});
