import { ConfigError } from './errors.js';
import { compileOperatorRegexp, type OperatorRegexp } from './regexp.js';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * One environment variable: its name, its default, how its text becomes a
 * value (a ConfigError naming the variable when it cannot), and what the docs
 * and `ecamo serve --help` say of it. docs/configuration.md is generated from
 * these rows (`npm run docs:config`).
 */
export interface Setting<T> {
  readonly name: string;
  /** The default as the docs show it (Markdown): `` `10` ``, `unset`, `required`... */
  readonly shown: string;
  /** One line of Markdown. */
  readonly doc: string;
  /** Where the docs say more: a page of docs/ with its anchor, and the section's title. */
  readonly see: { readonly title: string; readonly href: string } | undefined;
  /** Read again on SIGHUP (a running server picks up the change); every other setting needs a restart. */
  readonly reloadable: boolean;
  /** The value for `env`, the default when the variable is unset or empty. */
  read(env: Env): T;
}

export type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** The values of a table of rows, keyed as the table. */
export type Values<Table extends Readonly<Record<string, Setting<unknown>>>> = { readonly [K in keyof Table]: ValueOf<Table[K]> };

interface Description {
  readonly doc: string;
  readonly see?: { readonly title: string; readonly href: string };
  readonly reloadable?: boolean;
}

interface RowSpec<T> extends Description {
  readonly shown: string;
  /** The value when unset. */
  readonly unset: T;
  /** Surrounding blanks are dropped before parsing (the OTEL_* convention); ECAMO_* values are taken as given. */
  readonly trim?: boolean;
  parse(text: string, name: string): T;
}

/** `` `text` ``: a default shown as code. */
export function code(text: string | number): string {
  return `\`${text}\``;
}

export function row<T>(name: string, spec: RowSpec<T>): Setting<T> {
  return Object.freeze({
    name,
    shown: spec.shown,
    doc: spec.doc,
    see: spec.see,
    reloadable: spec.reloadable ?? false,
    read(env: Env): T {
      const raw = spec.trim === true ? env[name]?.trim() : env[name];
      // Empty counts as unset, as shells and orchestrators often pass it.
      return raw === undefined || raw === '' ? spec.unset : spec.parse(raw, name);
    },
  });
}

/** A value parsed from the text, undefined when unset. */
export function optional<T>(name: string, spec: Description & { readonly shown?: string; readonly trim?: boolean; parse(text: string, name: string): T }): Setting<T | undefined> {
  return row<T | undefined>(name, { ...spec, shown: spec.shown ?? 'unset', unset: undefined });
}

/** A string taken as given, undefined when unset; `check` throws a ConfigError for a text it refuses. */
export function optionalText(name: string, spec: Description & { readonly shown?: string; check?(text: string, name: string): void }): Setting<string | undefined> {
  return optional(name, {
    ...spec,
    parse(text) {
      spec.check?.(text, name);
      return text;
    },
  });
}

/** A whole number from `min` to `max`, times `scale` (1000 for seconds read into milliseconds). */
export function integer(name: string, spec: Description & { readonly fallback: number; readonly min: number; readonly max: number; readonly scale?: number; readonly shown?: string }): Setting<number> {
  const scale = spec.scale ?? 1;
  return row(name, {
    ...spec,
    shown: spec.shown ?? code(spec.fallback),
    unset: spec.fallback * scale,
    parse(text) {
      if (!/^\d+$/.test(text)) throw new ConfigError(name, `must be a whole number, got "${text}"`);
      const value = Number(text);
      if (value < spec.min || value > spec.max) throw new ConfigError(name, `must be between ${spec.min} and ${spec.max}`);
      return value * scale;
    },
  });
}

/** `1|true|yes|on` or `0|false|no|off`, any case; false when unset. */
export function boolean(name: string, spec: Description): Setting<boolean> {
  return row(name, {
    ...spec,
    shown: code('false'),
    unset: false,
    parse(text) {
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new ConfigError(name, `must be true or false, got "${text}"`);
    },
  });
}

/** An operator's regular expression, compiled for RE2 (config/regexp.ts), undefined when unset. */
export function regexp(name: string, spec: Description): Setting<OperatorRegexp | undefined> {
  return optional(name, {
    ...spec,
    parse(text) {
      try {
        return compileOperatorRegexp(text);
      } catch (error) {
        throw new ConfigError(name, (error as Error).message);
      }
    },
  });
}

/** Reads every row of `table`, in its order; the first wrong value throws. */
export function readSettings<Table extends Readonly<Record<string, Setting<unknown>>>>(table: Table, env: Env): Values<Table> {
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(table)) values[key] = setting.read(env);
  return values as Values<Table>;
}
