import { RE2JS } from 're2js';

/**
 * An operator's regular expression (the source and service-host regexps,
 * verify-proxy's --service-origin-regexp), compiled for RE2: matching takes
 * time linear in the text whatever the pattern, so a nested quantifier cannot
 * stall the process on an attacker's redirect Location, as a backtracking
 * RegExp would. The syntax is RE2's, which the reference server's Rust
 * `regex` crate shares: no backreferences, no lookaround. `test` is
 * unanchored, as RegExp's.
 */
export type OperatorRegexp = RE2JS;

/** Compiles `text`; throws an Error whose message says what is wrong with it. */
export function compileOperatorRegexp(text: string): OperatorRegexp {
  try {
    return RE2JS.compile(text);
  } catch (error) {
    // RE2's messages read "error parsing regexp: invalid escape sequence: `\1`".
    throw new Error(`is not a valid regular expression (RE2 syntax, no backreferences or lookaround): ${(error as Error).message.replace(/^error parsing regexp: /, '')}`, { cause: error });
  }
}
