import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RE2JS } from 're2js';
import { compileOperatorRegexp, literalPrefixOf } from '../../src/config/regexp.js';

const TEXTS = [
  '',
  'h',
  'http://127.0.0.1:8080/a.png',
  'http://127.0.0.1:8080',
  'http://127x0.0.1:8080/a.png',
  'xhttp://127.0.0.1:8080/a.png',
  'HTTP://127.0.0.1:8080/a.png',
  'https://images.example/a.png',
  'https://images.example.evil/a.png',
  'https://imagesXexample/a.png',
  'a\nhttp://127.0.0.1:8080/',
  'a-b^c$d\\e',
  '^ab',
  'ab',
  'aab',
  '\u0130http://127.0.0.1:8080/',
];

describe('compileOperatorRegexp', () => {
  test('a pattern of ^ and literal characters is told by the start of the text, and agrees with RE2 on every text', () => {
    for (const pattern of ['^http://127\\.0\\.0\\.1:8080/', '^https://images\\.example/', '^', '^a', '^a\\-b\\^c\\$d\\\\e', '^\\^ab', '^h']) {
      assert.notEqual(literalPrefixOf(pattern), undefined, pattern);
      const compiled = compileOperatorRegexp(pattern);
      assert.ok(!(compiled instanceof RE2JS), `${pattern} is matched without RE2`);
      const re2 = RE2JS.compile(pattern);
      for (const text of TEXTS) assert.equal(compiled.test(text), re2.test(text), `${pattern} on ${JSON.stringify(text)}`);
    }
  });

  test('any other pattern is left to RE2: unanchored, flags, classes, escapes of letters, alternation, repetition, anything beyond printable ASCII', () => {
    const others = [
      'http://127\\.0\\.0\\.1',
      '^http://127.0.0.1',
      '(?i)^http://',
      '^(?i)http://',
      '^a$',
      '^a|b',
      '^ab*',
      '^a+',
      '^a?',
      '^a{2}',
      '^[a]',
      '^a\\d',
      '^a\\b',
      '^a\\Qb\\E',
      '^a\\x41',
      '^a\\ b',
      '^a b\u00e9',
      '^a\tb',
      '^(a)',
      '\\Ahttp://',
    ];
    for (const pattern of others) {
      assert.equal(literalPrefixOf(pattern), undefined, pattern);
      assert.ok(compileOperatorRegexp(pattern) instanceof RE2JS, pattern);
    }
  });

  test('the prefix is the pattern with its escapes read', () => {
    assert.equal(literalPrefixOf('^http://127\\.0\\.0\\.1:8080/'), 'http://127.0.0.1:8080/');
    assert.equal(literalPrefixOf('^a\\-b\\^c\\$d\\\\e\\/'), 'a-b^c$d\\e/');
    assert.equal(literalPrefixOf('^'), '');
  });

  test('a pattern RE2 refuses is refused, a literal one too', () => {
    assert.throws(() => compileOperatorRegexp('^a\\'), /is not a valid regular expression/);
    assert.throws(() => compileOperatorRegexp('^a(b'), /is not a valid regular expression/);
  });
});
