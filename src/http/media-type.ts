const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[^"\\\\]|\\\\.)*"';
/** RFC 9110 media-type: type "/" subtype *( OWS ";" OWS [ parameter ] ). One value, not a list. */
const MEDIA_TYPE = new RegExp(`^[ \\t]*(${TOKEN})/(${TOKEN})((?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*)[ \\t]*$`);

/**
 * The lower-cased `type/subtype` of a Content-Type value, without parameters,
 * or undefined when the value is not exactly one well-formed media type
 * (so `image/png, text/html` is refused rather than read as PNG).
 */
export function essenceOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  if (contentType === last.contentType) return last.essence;
  const [, type, subtype] = MEDIA_TYPE.exec(contentType) ?? [];
  const essence = type === undefined || subtype === undefined ? undefined : `${type.toLowerCase()}/${subtype.toLowerCase()}`;
  last = { contentType, essence };
  return essence;
}

/**
 * The last value read and its essence: a source labels its images alike, and
 * each of its responses had the regexp run again with its match array
 * (0.3-0.4 % of a tail request, docs/performance.md).
 */
let last: { readonly contentType: string | undefined; readonly essence: string | undefined } = { contentType: undefined, essence: undefined };
