/**
 * What a body's first bytes are, whatever its label says: file-type's magic
 * numbers for binary formats (the common images told first by their signature,
 * signatures.ts), and a rule of ecamo's own for SVG, which is text.
 * Imports nothing outside content/: the body check of a source's 200 (http/) and the
 * fallback image (config/) judge bytes by the same rules.
 */
import { fileTypeFromBuffer } from 'file-type/core';
import { imageTypeBySignature } from './signatures.js';

/**
 * The bytes read before a 200 is answered: what file-type documents as enough
 * to tell the formats it knows (its default `sampleSize`, 4100 bytes), which
 * covers every image format's signature (AVIF and HEIF name themselves in the
 * `ftyp` box, within the first 32 bytes) and an SVG's prolog of a reasonable size.
 */
export const SNIFF_WINDOW_BYTES = 4100;

/** The rules bytes are judged by: `Config` has both fields. */
export interface ContentRules {
  /** ECAMO_CONTENT_TYPE_ALLOWED. */
  readonly contentTypeAllowed: ReadonlySet<string>;
  /** ECAMO_SVG: serve SVG under the sandbox, or never. */
  readonly svg: 'sandbox' | 'refuse';
}

/** Served under `type`, or refused, with the reason for the log (`sniffed text/html`). */
export type Verdict = { readonly ok: true; readonly type: string } | { readonly ok: false; readonly reason: string };

/**
 * Other names the allow-list may know a sniffed type by, in the order they are
 * tried: an APNG is a PNG to every browser, and `image/jpg`, `image/x-icon`
 * are the names many operators (and the protocol's default list) use.
 */
const ALIASES: Readonly<Record<string, readonly string[]>> = {
  'image/jpeg': ['image/jpg'],
  'image/apng': ['image/png'],
  'image/x-icon': ['image/vnd.microsoft.icon'],
  'image/heic-sequence': ['image/heic'],
  'image/heif-sequence': ['image/heif'],
};

const SVG = 'image/svg+xml';

/** The verdict on a body's first bytes (at most SNIFF_WINDOW_BYTES of them; fewer when that is all the body is). */
export async function judgeBytes(bytes: Buffer, rules: ContentRules): Promise<Verdict> {
  return judgeBytesAtOnce(bytes, rules) ?? judgeByFileType(bytes, rules);
}

/** The verdict judgeBytesAtOnce left to file-type (it answered undefined for these bytes). */
export async function judgeByFileType(bytes: Buffer, rules: ContentRules): Promise<Verdict> {
  return judgeSniffed(bytes, (await fileTypeFromBuffer(bytes))?.mime, rules);
}

/**
 * judgeBytes' verdict when it needs no file-type: an empty body, a common
 * image told by its signature (signatures.ts), or UTF-16 text. Undefined when
 * only file-type can tell, which is asynchronous: a body answered in the tick
 * its window came waits for no promise (docs/performance.md, issue 21).
 */
export function judgeBytesAtOnce(bytes: Buffer, rules: ContentRules): Verdict | undefined {
  if (bytes.length === 0) return { ok: false, reason: 'empty body' };
  // UTF-16 text is no format of its own to file-type, which may find an MPEG frame in it.
  if (hasUtf16Mark(bytes)) return judgeSniffed(bytes, undefined, rules);
  const signed = imageTypeBySignature(bytes);
  return signed === undefined ? undefined : judgeSniffed(bytes, signed, rules);
}

/** The verdict once what the bytes are is known: `sniffed`, a binary format's type, or undefined for text (or unknown). */
function judgeSniffed(bytes: Buffer, sniffed: string | undefined, rules: ContentRules): Verdict {
  // file-type names an XML declaration application/xml (an SVG may start with one), and does not read text at all.
  if (sniffed !== undefined && sniffed !== 'application/xml') {
    const type = allowedName(sniffed, rules);
    return type === undefined ? { ok: false, reason: `sniffed ${sniffed}` } : { ok: true, type };
  }
  const text = asText(bytes);
  if (text !== undefined && isSvg(text)) {
    if (rules.svg === 'refuse') return { ok: false, reason: 'sniffed image/svg+xml, refused (ECAMO_SVG=refuse)' };
    return rules.contentTypeAllowed.has(SVG) ? { ok: true, type: SVG } : { ok: false, reason: 'sniffed image/svg+xml' };
  }
  return { ok: false, reason: text === undefined ? 'unknown binary' : `sniffed ${textKind(text)}` };
}

/** The first of a sniffed type's names (itself, then its aliases) that the allow-list has. */
function allowedName(sniffed: string, rules: ContentRules): string | undefined {
  if (rules.contentTypeAllowed.has(sniffed)) return sniffed;
  return ALIASES[sniffed]?.find((name) => rules.contentTypeAllowed.has(name));
}

function hasUtf16Mark(bytes: Buffer): boolean {
  return (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff);
}

/**
 * The bytes as text when they may be text: UTF-16 when a byte order mark says
 * so (browsers render such SVG), else read as Latin-1, which keeps ASCII as is
 * (all that the SVG rule looks at) and never fails. Undefined for bytes no
 * text holds (NUL or other control characters outside UTF-16).
 */
function asText(bytes: Buffer): string | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.toString('utf16le', 2);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    // A copy of the window only, and only for big-endian UTF-16: swap16 works in place.
    const swapped = Buffer.from(bytes.subarray(2, bytes.length - (bytes.length % 2)));
    return swapped.swap16().toString('utf16le');
  }
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return bytes.subarray(start, start + 512).some(isControl) ? undefined : bytes.toString('latin1', start);
}

/** C0 controls that text does not hold (tab, line feed, form feed and carriage return it does). */
function isControl(byte: number): boolean {
  return byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0c && byte !== 0x0d;
}

/**
 * SVG as an XML document: whitespace, an XML declaration, processing
 * instructions, comments and a doctype (with an internal subset) in any
 * number, then a root element named `svg` (with or without a namespace
 * prefix). Anything else under an SVG label is something else (HTML
 * above all), and a prolog longer than the window is not read on.
 */
function isSvg(text: string): boolean {
  let at = 0;
  for (;;) {
    PROLOG_ITEM.lastIndex = at;
    if (!PROLOG_ITEM.test(text)) break;
    at = PROLOG_ITEM.lastIndex;
  }
  SVG_ROOT.lastIndex = at;
  return SVG_ROOT.test(text);
}

const PROLOG_ITEM = /\s*(?:<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE\b[^[>]*(?:\[[\s\S]*?\])?\s*>)/iy;
const SVG_ROOT = /\s*<(?:[A-Za-z_][\w.-]*:)?svg[\s/>]/y;

/** What text that is no SVG looks like, for the log. */
function textKind(text: string): string {
  const start = text.trimStart().slice(0, 64).toLowerCase();
  if (/^<(?:!doctype html|html|head|body|script|iframe|meta|!--)/.test(start)) return 'text/html';
  if (start.startsWith('<?xml') || start.startsWith('<')) return 'XML whose root is not svg';
  return 'text/plain';
}
