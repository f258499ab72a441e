// deno-lint-ignore-file no-control-regex -- matching control characters is the point of ftfy's fixes
// CLIP's text clean-up before BPE (docs/upstream.md §10): ftfy.fix_text, html.unescape twice, whitespace collapse,
// lower-case. ftfy and Python's html module are large; this file reproduces the parts that change
// ASCII/Latin prompts and documents what it leaves out:
//
// - ftfy subset, repeated until the text stops changing as ftfy does: HTML entities when the text has no
//   "<" (ftfy's "auto" mode; semicolon-terminated only), ANSI terminal escapes removed, C1 controls read
//   as Windows-1252, Latin ligatures split, full/half-width forms folded (NFKC, as ftfy does), curly
//   quotes straightened, line breaks unified, lone surrogates → U+FFFD, ftfy's control characters
//   removed, NFC.
// - NOT done: ftfy's mojibake repair (fix_encoding, e.g. "cafÃ©" → "café"). Prompts that were
//   mis-decoded upstream tokenise differently than in the reference.
// - html.unescape: numeric references with Python's exact rules (Windows-1252 for 0x80–0x9F, U+FFFD
//   for 0 / surrogates / out of range, invalid code points dropped, optional ";"), and the named
//   entities in NAMED below — HTML 4's Latin-1 and special set plus common punctuation — instead of
//   all 2,231 HTML5 names; others stay as written.

/** HTML 4 Latin-1 entity names for U+00A0..U+00FF in code point order. */
const LATIN1_NAMES = (
  "nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 " +
  "acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde " +
  "Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute " +
  "Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde " +
  "auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute " +
  "ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml"
).split(" ");

/** Entities that need their ";" (not HTML's legacy semicolon-less set). */
const SEMICOLON_ONLY: Record<string, string> = {
  apos: "'",
  OElig: "\u0152",
  oelig: "\u0153",
  Scaron: "\u0160",
  scaron: "\u0161",
  Yuml: "\u0178",
  fnof: "\u0192",
  circ: "\u02c6",
  tilde: "\u02dc",
  ensp: "\u2002",
  emsp: "\u2003",
  thinsp: "\u2009",
  zwnj: "\u200c",
  zwj: "\u200d",
  lrm: "\u200e",
  rlm: "\u200f",
  ndash: "\u2013",
  mdash: "\u2014",
  lsquo: "\u2018",
  rsquo: "\u2019",
  sbquo: "\u201a",
  ldquo: "\u201c",
  rdquo: "\u201d",
  bdquo: "\u201e",
  dagger: "\u2020",
  Dagger: "\u2021",
  bull: "\u2022",
  hellip: "\u2026",
  permil: "\u2030",
  prime: "\u2032",
  Prime: "\u2033",
  lsaquo: "\u2039",
  rsaquo: "\u203a",
  euro: "\u20ac",
  trade: "\u2122",
  larr: "\u2190",
  uarr: "\u2191",
  rarr: "\u2192",
  darr: "\u2193",
  minus: "\u2212",
};

/** name (with or without ";", as Python's html5 table keys them) → text */
const NAMED = new Map<string, string>();
{
  const legacy: Record<string, string> = {
    amp: "&",
    lt: "<",
    gt: ">",
    quot: '"',
    AMP: "&",
    LT: "<",
    GT: ">",
  };
  Object.assign(legacy, { QUOT: '"', COPY: "\u00a9", REG: "\u00ae" });
  LATIN1_NAMES.forEach((name, i) => (legacy[name] = String.fromCharCode(0xa0 + i)));
  for (const [name, value] of Object.entries(legacy)) {
    NAMED.set(name, value);
    NAMED.set(name + ";", value);
  }
  for (const [name, value] of Object.entries(SEMICOLON_ONLY)) NAMED.set(name + ";", value);
}

/** Windows-1252 decoding of 0x80–0x9F; WHATWG keeps the five undefined bytes as C1, as Python does. */
const CP1252 = new TextDecoder("windows-1252");
const cp1252Char = (code: number) => CP1252.decode(new Uint8Array([code]));

function isInvalidCodePoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

/** Python's html._replace_charref for a numeric reference body ("#65", "#x41;"). */
function numericRef(body: string): string {
  const hex = body[1] === "x" || body[1] === "X";
  const digits = body.slice(hex ? 2 : 1).replace(/;$/, "");
  // long digit strings overflow a double; anything that long is out of range anyway
  const num = digits.replace(/^0+/, "").length > 8 ? Infinity : parseInt(digits, hex ? 16 : 10);
  if (num === 0) return "\ufffd";
  if (num === 0x0d) return "\r";
  if (num >= 0x80 && num <= 0x9f) return cp1252Char(num);
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return "\ufffd";
  if (isInvalidCodePoint(num)) return "";
  return String.fromCodePoint(num);
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

/** Python's `html.unescape` (named entities limited to {@link NAMED}). */
export function htmlUnescape(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(CHARREF, (whole, body: string) => {
    if (body[0] === "#") return numericRef(body);
    const hit = NAMED.get(body);
    if (hit !== undefined) return hit;
    // the longest legacy (semicolon-less) name that prefixes the reference, as the HTML5 parser does
    for (let x = body.length - 1; x > 1; x--) {
      const v = NAMED.get(body.slice(0, x));
      if (v !== undefined) return v + body.slice(x);
    }
    return whole;
  });
}

/** ftfy's own entity table: semicolon-terminated names, plus upper-cased forms of lower-case names. */
const FTFY_NAMED = new Map<string, string>();
for (const [name, value] of NAMED) {
  if (!name.endsWith(";")) continue;
  FTFY_NAMED.set(`&${name}`, value);
  const upper = name.toUpperCase();
  if (name === name.toLowerCase() && !NAMED.has(upper)) FTFY_NAMED.set(`&${upper}`, value.toUpperCase());
}

function ftfyUnescape(s: string): string {
  return s.replace(/&#?[0-9A-Za-z]{1,24};/g, (e) => {
    const hit = FTFY_NAMED.get(e);
    if (hit !== undefined) return hit;
    if (!e.startsWith("&#")) return e;
    const u = htmlUnescape(e);
    return u.includes(";") ? e : u; // ftfy leaves references it could not decode as written
  });
}

const LIGATURES: Record<string, string> = {
  "\u0132": "IJ",
  "\u0133": "ij",
  "\u0149": "\u02bcn",
  "\u01c4": "D\u017d",
  "\u01c5": "D\u017e",
  "\u01c6": "d\u017e",
  "\u01c7": "LJ",
  "\u01c8": "Lj",
  "\u01c9": "lj",
  "\u01ca": "NJ",
  "\u01cb": "Nj",
  "\u01cc": "nj",
  "\u01f1": "DZ",
  "\u01f2": "Dz",
  "\u01f3": "dz",
  "\ufb00": "ff",
  "\ufb01": "fi",
  "\ufb02": "fl",
  "\ufb03": "ffi",
  "\ufb04": "ffl",
  "\ufb05": "\u017ft",
  "\ufb06": "st",
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join("")}]`, "g");
const ANSI_RE = /\x1b\[((?:\d|;)*)([a-zA-Z])/g;
const C1_RE = /[\x80-\x9f]/g;
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function fixOnce(s: string, unescape: boolean): string {
  if (unescape) s = ftfyUnescape(s);
  s = s.replace(ANSI_RE, "");
  s = s.replace(C1_RE, (c) => cp1252Char(c.charCodeAt(0)));
  s = s.replace(LIGATURE_RE, (c) => LIGATURES[c]);
  s = s.replace(WIDTH_RE, (c) => (c === "\u3000" ? " " : c.normalize("NFKC")));
  s = s.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
  s = s.replace(/\r\n|[\r\u2028\u2029\x85]/g, "\n");
  s = s.replace(LONE_SURROGATE_RE, "\ufffd");
  s = s.replace(CONTROL_RE, "");
  return s.normalize("NFC");
}

/** The subset of `ftfy.fix_text` described at the top of this file. */
export function fixText(s: string): string {
  // ftfy skips entity decoding for text that looks like HTML markup
  const unescape = !s.includes("<");
  for (let i = 0; i < 16; i++) {
    const next = fixOnce(s, unescape);
    if (next === s) break;
    s = next;
  }
  return s;
}

/** Python's str.isspace() set, which `re`'s `\s` uses; JS's `\s` differs (it has U+FEFF, lacks U+001C–U+001F, U+0085). */
export const PY_SPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, "g");

/** CLIP's `whitespace_clean(basic_clean(text)).lower()`. */
export function cleanText(text: string): string {
  const s = htmlUnescape(htmlUnescape(fixText(text)));
  return s.replace(SPACE_RUN, " ").replace(/^ | $/g, "").toLowerCase();
}
