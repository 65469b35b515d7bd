/**
 * The tables of docs/architecture.md, checked against the import lines of src/:
 * every folder (and top-level file) has a row, imports only what its row
 * allows, nothing imports cli/, the folders form no cycle, and the SDK entry
 * points use no package but their rows'; and against packages/: each package
 * imports its own src/ and its package.json dependencies only, which are the
 * ones its row names (jose and each other). ESLint enforces the same rules
 * as code is written (eslint.config.js); this keeps the tables honest.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');
const PACKAGES = join(ROOT, 'packages');
const [SERVER_SECTION = '', PACKAGES_SECTION = ''] = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8').split(/^## Packages$/m);

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

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(folder, name));
}

/** The package a bare specifier names: `@scope/name` or `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
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
  for (const file of sourceFiles(SRC)) {
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
        ownPackages.add(packageOf(specifier));
      }
    }
  }
  return { units, packages };
}

/** The first, second and last cells of each row of the tables of a section whose first cell is code. */
function tableRows(section: string): { first: string; owns: string; last: string }[] {
  const rows = [];
  for (const line of section.split('\n')) {
    const [, first, owns, last] = line.split('|').map((cell) => cell.trim());
    if (first?.startsWith('`') === true && owns !== undefined && last !== undefined) rows.push({ first, owns, last });
  }
  return rows;
}

/** The names a cell spells as code. */
function codeIn(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
}

/** The rows of docs/architecture.md's table of src/, by unit. */
function architectureTable(): Map<Unit, Row> {
  const rows = new Map<Unit, Row>();
  for (const { first: unitsCell, last: importsCell } of tableRows(SERVER_SECTION)) {
    const named = codeIn(importsCell);
    const ours = named.filter((name) => name.endsWith('/') || name.endsWith('.ts'));
    const row: Row = {
      mayImport: /\banything\b/.test(importsCell) ? 'anything' : new Set(ours),
      onlyPackages: /\bonly\b/.test(importsCell) && /built-ins/.test(importsCell) ? new Set(named.filter((name) => !ours.includes(name))) : undefined,
    };
    for (const unit of codeIn(unitsCell)) rows.set(unit, row);
  }
  return rows;
}

interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly exports?: Readonly<Record<string, unknown>>;
}

function manifest(folder: string): Manifest {
  return JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as Manifest;
}

/** Each folder of packages/ with its package.json. */
function workspacePackages(): Map<string, Manifest> {
  const found = new Map<string, Manifest>();
  for (const entry of readdirSync(PACKAGES, { withFileTypes: true })) {
    if (entry.isDirectory()) found.set(`packages/${entry.name}/`, manifest(join(PACKAGES, entry.name)));
  }
  return found;
}

/** The rows of docs/architecture.md's table of packages: folder → the package name and the dependencies the row names. */
function packagesTable(): Map<string, { name: string; dependencies: string[] }> {
  const rows = new Map<string, { name: string; dependencies: string[] }>();
  for (const { first, last } of tableRows(PACKAGES_SECTION)) {
    const [name = '', folder = ''] = codeIn(first);
    rows.set(folder, { name, dependencies: codeIn(last).sort() });
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

describe("docs/architecture.md against packages/", () => {
  const packages = workspacePackages();
  const table = packagesTable();
  const server = manifest(ROOT);

  it('every folder of packages/ has a row, and every row a folder', () => {
    assert.deepEqual([...table.keys()].sort(), [...packages.keys()].sort());
    for (const [folder, { name }] of table) assert.equal(packages.get(folder)?.name, name, folder);
  });

  it("each package's dependencies are the ones its row names: jose and the other packages, at the root's version", () => {
    const names = new Set([...packages.values()].map((found) => found.name));
    for (const [folder, found] of packages) {
      const dependencies = Object.entries(found.dependencies ?? {});
      assert.deepEqual(dependencies.map(([name]) => name).sort(), table.get(folder)?.dependencies, folder);
      for (const [name, range] of dependencies) {
        if (names.has(name)) assert.equal(range, server.version, `${folder} depends on ${name}`);
        else assert.equal(name, 'jose', `${folder} depends on ${name}`);
      }
    }
  });

  it('each package imports its own src/ and its package.json dependencies only, no node built-in', () => {
    const violations: string[] = [];
    for (const [folder, found] of packages) {
      const ownSources = join(ROOT, folder, 'src');
      const allowed = new Set(Object.keys(found.dependencies ?? {}));
      for (const file of sourceFiles(ownSources)) {
        for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
          const inside = specifier.startsWith('.') ? !relative(ownSources, join(dirname(file), specifier)).startsWith('..') : allowed.has(packageOf(specifier));
          if (!inside) violations.push(`${relative(ROOT, file)} imports ${specifier}`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  it('the server package depends on each at its own version, and each offers its entry point only', () => {
    for (const found of packages.values()) {
      assert.equal(found.version, server.version, found.name);
      assert.equal(server.dependencies?.[found.name], server.version, found.name);
      assert.deepEqual(Object.keys(found.exports ?? {}), ['.', './package.json'], found.name);
    }
  });
});
