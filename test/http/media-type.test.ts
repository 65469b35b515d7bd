import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { essenceOf } from '../../src/http/media-type.js';

describe('essenceOf', () => {
  it('returns undefined when there is no Content-Type', () => {
    assert.equal(essenceOf(undefined), undefined);
  });

  it('returns type/subtype of one well-formed media type', () => {
    const cases: [string, string][] = [
      ['image/png', 'image/png'],
      ['image/svg+xml', 'image/svg+xml'],
      ['image/vnd.microsoft.icon', 'image/vnd.microsoft.icon'],
      ['application/x-foo_bar', 'application/x-foo_bar'],
    ];
    for (const [given, expected] of cases) assert.equal(essenceOf(given), expected, given);
  });

  it('answers each value by itself, whatever was asked before (the last answer is kept)', () => {
    const sequence: [string | undefined, string | undefined][] = [
      ['image/png', 'image/png'],
      ['image/png', 'image/png'],
      ['image/png, text/html', undefined],
      ['image/png, text/html', undefined],
      [undefined, undefined],
      ['IMAGE/GIF', 'image/gif'],
      ['image/png', 'image/png'],
    ];
    for (const [given, expected] of sequence) assert.equal(essenceOf(given), expected, String(given));
  });

  it('lower-cases type and subtype', () => {
    assert.equal(essenceOf('IMAGE/PNG'), 'image/png');
    assert.equal(essenceOf('Image/Svg+XML'), 'image/svg+xml');
  });

  it('drops parameters, token or quoted', () => {
    const cases = [
      'image/png; charset=x',
      'image/png;charset=x',
      'image/png ; charset=x',
      'image/png;\tcharset=x; q=1',
      'image/png; name="a;b, c"',
      'image/png; name="escaped \\" quote"',
      'image/png; a=b;',
      'image/png;;',
    ];
    for (const given of cases) assert.equal(essenceOf(given), 'image/png', given);
  });

  it('tolerates surrounding whitespace', () => {
    assert.equal(essenceOf(' image/png '), 'image/png');
    assert.equal(essenceOf('\timage/png'), 'image/png');
  });

  it('refuses lists, so that `image/png, text/html` is not read as PNG', () => {
    for (const given of ['image/png, text/html', 'text/html, image/png', 'image/png,image/png', 'image/png; a=b, text/html']) {
      assert.equal(essenceOf(given), undefined, given);
    }
  });

  it('refuses malformed values', () => {
    const cases = [
      '',
      ' ',
      'image',
      'image/',
      '/png',
      'image/png/x',
      'image /png',
      'image/ png',
      'image/png; charset',
      'image/png; =x',
      'image/png; a=b c',
      'image/png; a="unterminated',
      'image/png; a=b"c"',
      'image/png\r\n',
      'image/png\nX-Injected: 1',
      'ima"ge/png',
      'image/pn(g)',
      'image/p\u00e4ng',
    ];
    for (const given of cases) assert.equal(essenceOf(given), undefined, JSON.stringify(given));
  });

  it('reads the type, not a parameter that looks like one', () => {
    assert.equal(essenceOf('text/html; x=image/png'), undefined, 'a slash is no token character');
    assert.equal(essenceOf('text/html; x="image/png"'), 'text/html');
  });
});
