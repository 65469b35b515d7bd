// Lint: typescript-eslint's strict type-checked rules, and the layer rules docs/architecture.md states.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const SRC = resolve(import.meta.dirname, 'src');

/** The folder of src/ a path lies in, at any depth below it (`tokens/`), its name for a top-level file (`errors.ts`); undefined outside src/. */
function unitOf(file) {
  const path = relative(SRC, file);
  if (path === '' || path.startsWith('..') || isAbsolute(path)) return undefined;
  const [first, ...rest] = path.split(sep);
  return rest.length === 0 ? first : `${first}/`;
}

/** Calls `check(specifier, node)` for every import, re-export, dynamic import() and `import x = require()` of a literal specifier. */
function importVisitors(check) {
  const literal = (source) => {
    if (source?.type === 'Literal' && typeof source.value === 'string') check(source.value, source);
  };
  return {
    ImportDeclaration: (node) => literal(node.source),
    ExportAllDeclaration: (node) => literal(node.source),
    ExportNamedDeclaration: (node) => literal(node.source),
    ImportExpression: (node) => literal(node.source),
    TSImportEqualsDeclaration: (node) => literal(node.moduleReference.expression),
  };
}

/**
 * The layer rules of docs/architecture.md, by where an import
 * lands rather than how it is spelled: `../../http/app.js` from
 * src/tokens/a/b.ts and `./../tokens/x.js` from src/signer/ are judged by the
 * folder of src/ they resolve to, as test/architecture.test.ts judges them.
 * Options: `forbidden` folders (`http/`), or `ownFolderOnly` with the
 * `packages` allowed besides node built-ins; `message` says why.
 */
const layersPlugin = {
  rules: {
    imports: {
      meta: {
        type: 'problem',
        schema: [{
          type: 'object',
          properties: {
            forbidden: { type: 'array', items: { type: 'string' } },
            ownFolderOnly: { type: 'boolean' },
            packages: { type: 'array', items: { type: 'string' } },
            message: { type: 'string' },
          },
          required: ['message'],
          additionalProperties: false,
        }],
      },
      create(context) {
        const { forbidden = [], ownFolderOnly = false, packages, message } = context.options[0];
        const from = unitOf(context.filename);
        const check = (specifier, source) => {
          let refused;
          if (specifier.startsWith('.')) {
            const target = unitOf(resolve(dirname(context.filename), specifier));
            refused = target !== from && (ownFolderOnly || forbidden.includes(target));
          } else {
            refused = packages !== undefined && !specifier.startsWith('node:') && !packages.includes(specifier);
          }
          if (refused) context.report({ node: source, message: `'${specifier}': ${message}` });
        };
        return importVisitors(check);
      },
    },
  },
};

/** `packages/<name>/` of a file of a workspace package, undefined for a file of the server package. */
function workspaceOf(file) {
  const [top, name] = relative(import.meta.dirname, file).split(sep);
  return top === 'packages' && name !== undefined ? join(import.meta.dirname, 'packages', name) : undefined;
}

/**
 * The SDK packages' rule (docs/architecture.md, "Packages"): their sources
 * import the `dependencies` of their own package.json and their own src/,
 * nothing else, not even node built-ins (they run in Web-standard runtimes).
 */
const dependenciesPlugin = {
  rules: {
    imports: {
      meta: { type: 'problem', schema: [] },
      create(context) {
        const root = workspaceOf(context.filename);
        if (root === undefined) return {};
        const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
        const allowed = new Set(Object.keys(manifest.dependencies ?? {}));
        const ownSources = join(root, 'src');
        const check = (specifier, source) => {
          let refused;
          if (specifier.startsWith('.')) {
            const target = relative(ownSources, resolve(dirname(context.filename), specifier));
            refused = target.startsWith('..') || isAbsolute(target);
          } else {
            const parts = specifier.split('/');
            refused = !allowed.has(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
          }
          if (refused) {
            context.report({ node: source, message: `'${specifier}': ${manifest.name} imports only its own src/ and its package.json dependencies (${[...allowed].join(', ') || 'none'}).` });
          }
        };
        return importVisitors(check);
      },
    },
  },
};

/** The layers above tokens, upstream and config (docs/architecture.md). */
const upperLayers = ['http/', 'cli/', 'demo/', 'verify-proxy/', 'server/'];

/**
 * Imports a process pays for in memory whether it uses them or not, each allowed (as a value) in one file
 * at most, which start code loads with import() when the configuration asks for it; type imports are free.
 * `group`: gitignore-style patterns; `names`: exact module names.
 */
const LOADED_ON_DEMAND = [
  { file: 'src/tracing/sdk.ts', group: ['@opentelemetry/*'], message: 'OpenTelemetry is loaded only when tracing is on: import it in src/tracing/sdk.ts.' },
  { file: 'src/state/redis.ts', names: ['ioredis'], message: 'ioredis is loaded only with a Redis configured: import it in src/state/redis.ts.' },
  {
    file: 'src/state/open.ts',
    group: ['**/state/redis.js'],
    message: 'src/state/redis.ts (and ioredis) is loaded only with a Redis configured: open it with openSharedRedis (src/state/open.ts).',
  },
  {
    // verify-proxy's own process asks its upstream with undici's request().
    file: 'src/verify-proxy/reverse-proxy.ts',
    names: ['undici'],
    message: "undici's index loads its fetch, WebSocket and EventSource and Node's bundled undici with them: take Agent and buildConnector from src/upstream/undici.ts.",
  },
  {
    names: ['node:http', 'http'],
    message:
      "An ES import of node:http reads all its exports, and http.WebSocket (Node 22.5 and later) loads Node's bundled undici, 14 MiB on Node 26 (nodejs/node#59686): use process.getBuiltinModule('node:http').",
  },
];

/** The rule for every file of src/, and for each file that may import one of them, the rule without that one. */
function restrictedImportBlocks() {
  const rule = (except) => {
    const entries = LOADED_ON_DEMAND.filter((entry) => entry.file === undefined || entry.file !== except);
    return ['error', {
      paths: entries.flatMap(({ names = [], message }) => names.map((name) => ({ name, message, allowTypeImports: true }))),
      patterns: entries.filter((entry) => entry.group !== undefined).map(({ group, message }) => ({ group, message, allowTypeImports: true })),
    }];
  };
  const exceptions = LOADED_ON_DEMAND.map((entry) => entry.file).filter((file) => file !== undefined);
  return [
    { files: ['src/**/*.ts'], ignores: exceptions, rules: { '@typescript-eslint/no-restricted-imports': rule(undefined) } },
    ...exceptions.map((file) => ({ files: [file], rules: { '@typescript-eslint/no-restricted-imports': rule(file) } })),
  ];
}

export default tseslint.config(
  { ignores: ['**/dist/', 'node_modules/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test/describe/it return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `const { dropped: _dropped, ...kept } = value` is how a copy without one property is spelled.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      // `return send(...)` is how handlers leave early after answering; it reads plainly.
      '@typescript-eslint/no-confusing-void-expression': 'off',
    },
  },
  {
    // In tests and the benchmark a wrong `!` throws and fails the run, which is what an assertion would do;
    // `after` hooks guard what a failed `before` may have left unassigned, whatever the declared type says.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-unnecessary-condition': 'off' },
  },
  {
    // docs/signing-and-verifying.md includes these verbatim: they read settings from the environment the short way a reader follows.
    files: ['contrib/snippets/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
    },
  },
  {
    // Every file of src/ at any depth: the rule resolves each import to the folder it lands in.
    // The blocks below replace these options for their folders, each forbidding cli/ among others.
    files: ['src/**/*.ts'],
    plugins: { layers: layersPlugin },
    rules: {
      'layers/imports': ['error', { forbidden: ['cli/'], message: 'cli/ parses arguments and calls into the other folders: nothing imports it.' }],
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: { 'layers/imports': 'off' },
  },
  {
    files: ['src/tokens/**/*.ts', 'src/upstream/**/*.ts'],
    rules: {
      'layers/imports': ['error', { forbidden: upperLayers, message: 'tokens and upstream sit below http, cli, demo, verify-proxy and server: they never import them.' }],
    },
  },
  {
    files: ['src/config/**/*.ts'],
    rules: {
      'layers/imports': ['error', {
        forbidden: [...upperLayers, 'tokens/'],
        message: 'config sits below tokens, http, cli, demo, verify-proxy and server (it is read before tokens exist): it never imports them.',
      }],
    },
  },
  {
    files: ['src/cache/**/*.ts'],
    rules: {
      'layers/imports': ['error', { forbidden: ['http/', 'cli/'], message: 'cache sits below http (http imports cache; no two folders import each other).' }],
    },
  },
  {
    files: ['src/http/**/*.ts'],
    rules: {
      'layers/imports': ['error', {
        forbidden: ['server/', 'cli/', 'demo/', 'verify-proxy/'],
        message: 'http sits below server (server composes, starts and stops it): it never imports server, cli, demo or verify-proxy.',
      }],
    },
  },
  {
    files: ['src/tracing/**/*.ts'],
    rules: {
      'layers/imports': ['error', { forbidden: upperLayers, message: 'tracing sits below http (http calls its hooks): it never imports http, cli, demo, verify-proxy or server.' }],
    },
  },
  // Modules a process loads only when it uses them (docs/performance.md, "Where the memory goes"), each but in the one file that loads it.
  ...restrictedImportBlocks(),
  {
    // One spelling rule for IP addresses: only src/config/ip-address.ts reads text with ipaddr.js (its arithmetic is free to use).
    files: ['src/**/*.ts'],
    ignores: ['src/config/ip-address.ts'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "MemberExpression[property.name=/^(parse\\w*|process|isValid\\w*|\\w*FromCIDR)$/]:matches([object.name='ipaddr'], [object.object.name='ipaddr'])",
        message: 'IP addresses and CIDR ranges are read by src/config/ip-address.ts (parseAddress, parseAddressRanges, addressRanges): one spelling rule.',
      }],
    },
  },
  {
    files: ['src/signer/**/*.ts'],
    rules: {
      'layers/imports': ['error', { ownFolderOnly: true, packages: ['@ecamo/signer'], message: 'ecamo/signer is @ecamo/signer as an entry point of the server package: it re-exports that package only.' }],
    },
  },
  {
    files: ['src/verify/**/*.ts'],
    rules: {
      'layers/imports': ['error', { ownFolderOnly: true, packages: ['@ecamo/verify'], message: 'ecamo/verify is @ecamo/verify as an entry point of the server package: it re-exports that package only.' }],
    },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    plugins: { dependencies: dependenciesPlugin },
    rules: { 'dependencies/imports': 'error' },
  },
  {
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
