import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CONTENT_TYPES } from '../../src/config/load.js';
import { judgeBytes, judgeBytesAtOnce, type ContentRules } from '../../src/content/sniff.js';
import { APNG, AVIF, BMP, GIF, IMAGES, JPEG, largePng, PNG, SVG, TIFF, WEBP } from '../helpers/images.js';

const RULES: ContentRules = { contentTypeAllowed: new Set(DEFAULT_CONTENT_TYPES), svg: 'sandbox' };

function utf16(text: string, order: 'le' | 'be'): Buffer {
  const little = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  return order === 'le' ? little : Buffer.from(little).swap16();
}

describe('judging bytes by what they are', () => {
  it('tells every real image by its bytes', async () => {
    for (const [type, bytes] of Object.entries(IMAGES)) assert.deepEqual(await judgeBytes(bytes, RULES), { ok: true, type }, type);
    assert.deepEqual(await judgeBytes(largePng(10_000).subarray(0, 4100), RULES), { ok: true, type: 'image/png' });
  });

  it('serves an image under a name the allow-list knows it by', async () => {
    const onlyJpg: ContentRules = { contentTypeAllowed: new Set(['image/jpg']), svg: 'sandbox' };
    assert.deepEqual(await judgeBytes(JPEG, onlyJpg), { ok: true, type: 'image/jpg' });
    // An APNG (a PNG with an acTL chunk before its data) is a PNG to every browser.
    assert.deepEqual(await judgeBytes(APNG, RULES), { ok: true, type: 'image/png' });
  });

  it('refuses an image type the allow-list does not hold', async () => {
    const onlyPng: ContentRules = { contentTypeAllowed: new Set(['image/png']), svg: 'sandbox' };
    assert.deepEqual(await judgeBytes(GIF, onlyPng), { ok: false, reason: 'sniffed image/gif' });
    assert.deepEqual(await judgeBytes(SVG, onlyPng), { ok: false, reason: 'sniffed image/svg+xml' });
  });

  it('refuses what is no image, saying what it looks like', async () => {
    const cases: [string, Buffer][] = [
      ['sniffed text/html', Buffer.from('<!DOCTYPE html><html><body><script>alert(1)</script>')],
      ['sniffed text/html', Buffer.from('\n  <html><p>hi')],
      ['sniffed text/plain', Buffer.from('alert(document.cookie);\n')],
      ['sniffed application/pdf', Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj', 'latin1')],
      ['sniffed application/zip', Buffer.from('504b0304140000000800', 'hex')],
      ['sniffed XML whose root is not svg', Buffer.from('<?xml version="1.0"?><rss version="2.0"></rss>')],
      ['unknown binary', Buffer.alloc(4100)],
      ['empty body', Buffer.alloc(0)],
    ];
    for (const [reason, bytes] of cases) assert.deepEqual(await judgeBytes(bytes, RULES), { ok: false, reason }, reason);
  });

  it('serves a polyglot by the magic it starts with', async () => {
    const polyglot = Buffer.concat([GIF, Buffer.from('<script>alert(1)</script>')]);
    assert.deepEqual(await judgeBytes(polyglot, RULES), { ok: true, type: 'image/gif' });
  });

  it('takes SVG only when its root element is svg, after any prolog', async () => {
    const svgs = [
      '<svg xmlns="http://www.w3.org/2000/svg"/>',
      '\ufeff<svg>',
      '  \r\n<?xml version="1.0"?><?xml-stylesheet href="a.css"?><!-- a > b --><svg\n width="1">',
      '<!DOCTYPE svg [ <!ENTITY ns "http://www.w3.org/2000/svg"> ]><svg:svg xmlns:svg="&ns;">',
      '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    ];
    for (const text of svgs) assert.deepEqual(await judgeBytes(Buffer.from(text), RULES), { ok: true, type: 'image/svg+xml' }, text);
    const notSvgs = ['<svgx>', '<html><svg>', '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><svg/></html>', 'svg', `<!--${'x'.repeat(5000)}--><svg>`];
    for (const text of notSvgs) assert.equal((await judgeBytes(Buffer.from(text).subarray(0, 4100), RULES)).ok, false, text);
  });

  it('reads an SVG in UTF-16 by its byte order mark, either order', async () => {
    const text = '<?xml version="1.0" encoding="UTF-16"?><svg xmlns="http://www.w3.org/2000/svg"/>';
    assert.deepEqual(await judgeBytes(utf16(text, 'le'), RULES), { ok: true, type: 'image/svg+xml' });
    assert.deepEqual(await judgeBytes(utf16(text, 'be'), RULES), { ok: true, type: 'image/svg+xml' });
    assert.deepEqual(await judgeBytes(utf16('<html><svg/></html>', 'le'), RULES), { ok: false, reason: 'sniffed text/html' });
  });

  it('refuses every SVG with ECAMO_SVG=refuse, and nothing else', async () => {
    const refuse: ContentRules = { ...RULES, svg: 'refuse' };
    assert.deepEqual(await judgeBytes(SVG, refuse), { ok: false, reason: 'sniffed image/svg+xml, refused (ECAMO_SVG=refuse)' });
    for (const bytes of [PNG, GIF, JPEG, WEBP, AVIF]) assert.equal((await judgeBytes(bytes, refuse)).ok, true);
  });
});

describe('judging bytes at once, without file-type', () => {
  it('gives the common images, an empty body and UTF-16 text the very verdict judgeBytes gives', async () => {
    const onlyJpg: ContentRules = { contentTypeAllowed: new Set(['image/jpg']), svg: 'sandbox' };
    const cases: [Buffer, ContentRules][] = [
      [PNG, RULES], [APNG, RULES], [GIF, RULES], [JPEG, RULES], [WEBP, RULES], [AVIF, RULES], [largePng(10_000).subarray(0, 4100), RULES],
      [JPEG, onlyJpg], [PNG, onlyJpg], [Buffer.alloc(0), RULES],
      [utf16('<svg xmlns="http://www.w3.org/2000/svg"/>', 'le'), RULES], [utf16('<html></html>', 'be'), RULES],
    ];
    for (const [bytes, rules] of cases) {
      const now = judgeBytesAtOnce(bytes, rules);
      assert.notEqual(now, undefined, bytes.subarray(0, 8).toString('hex'));
      assert.deepEqual(now, await judgeBytes(bytes, rules), bytes.subarray(0, 8).toString('hex'));
    }
  });

  it('leaves to file-type (and so to judgeBytes) what no signature of its own tells', async () => {
    for (const bytes of [BMP, TIFF, SVG, Buffer.from('<!DOCTYPE html><html>'), Buffer.from('%PDF-1.7\n', 'latin1')]) {
      assert.equal(judgeBytesAtOnce(bytes, RULES), undefined, bytes.subarray(0, 8).toString('hex'));
    }
    assert.deepEqual(await judgeBytes(BMP, RULES), { ok: true, type: 'image/bmp' });
  });
});
