/**
 * Strict JSON for request bodies: what the gateway stores must be what the client sent, so every
 * input that JSON.parse would quietly change is refused instead of accepted in another form:
 * bytes that are not UTF-8 (decoded as U+FFFD), a key given twice (the last one wins), a
 * `__proto__` key (dropped by object copies), lone UTF-16 surrogates (not storable text) and a
 * number whose text is not exactly the integer it parses to (`100.000000000000001` parses to
 * 100, `1e2` and `100.0` are 100 written otherwise, `-0` is stored as 0, and digits beyond
 * 2^53 are rounded). Nesting is limited, so no check can exhaust the stack.
 *
 * Value semantics are JSON.parse's (V8's parser is iterative: any depth parses); the checks are
 * one iterative walk over the (by then known valid) text.
 */

export class StrictJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StrictJsonError";
  }
}

/** A number written other than as a whole number in digits (a validation error of its field). */
export class JsonNumberError extends StrictJsonError {
  constructor(
    /** The key path of the number (`amount`, `metadata.x`, `items.0`); undefined at the top level. */
    readonly field: string | undefined,
  ) {
    super(
      `${field ? `${field}: n` : "N"}umbers must be written as whole minor units, digits only ` +
        `(no decimal point, exponent or -0; at most ${Number.MAX_SAFE_INTEGER})`,
    );
    this.name = "JsonNumberError";
  }
}

/** Objects and arrays within one another; a payment request needs 2 (the body, its metadata). */
export const MAX_JSON_DEPTH = 32;

/** The only number text accepted: a canonical decimal integer (no sign on zero, no leading zeros). */
const INTEGER_TEXT = /^(?:0|-?[1-9][0-9]*)$/;
const MAX_INTEGER = BigInt(Number.MAX_SAFE_INTEGER);

const NUMBER_CHAR = /[0-9eE.+-]/;
const WHITESPACE = /\s/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function parseStrictJson(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new StrictJsonError("The request body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StrictJsonError("The request body is not valid JSON");
  }
  checkText(text);
  return value;
}

/** An object (its keys so far and the current one) or an array (the current element's index). */
type Scope = { kind: "object"; keys: Set<string>; key?: string } | { kind: "array"; index: number };

function pathOf(scopes: readonly Scope[]): string | undefined {
  if (scopes.length === 0) return undefined;
  return scopes.map((s) => (s.kind === "object" ? (s.key ?? "") : String(s.index))).join(".");
}

function isExactInteger(number: string): boolean {
  if (!INTEGER_TEXT.test(number)) return false;
  // Up to 15 digits is always within Number.MAX_SAFE_INTEGER (16 digits): no BigInt needed.
  if (number.length <= (number.startsWith("-") ? 16 : 15)) return true;
  const n = BigInt(number);
  return n <= MAX_INTEGER && -n <= MAX_INTEGER;
}

/**
 * Walks the (already valid) JSON text once, without recursion: refuses nesting deeper than
 * MAX_JSON_DEPTH, a repeated or `__proto__` key in any object, a string with a lone surrogate,
 * and a number that is not a canonical integer within Number.MAX_SAFE_INTEGER.
 */
function checkText(text: string): void {
  const scopes: Scope[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const scope = scopes[scopes.length - 1];
    if (c === "{" || c === "[") {
      if (scopes.length === MAX_JSON_DEPTH) {
        throw new StrictJsonError(`The request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
      }
      scopes.push(c === "{" ? { kind: "object", keys: new Set() } : { kind: "array", index: 0 });
    } else if (c === "}" || c === "]") {
      scopes.pop();
    } else if (c === ",") {
      if (scope?.kind === "array") scope.index++;
    } else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const token = text.slice(i, end + 1);
      // Only an escape can spell a lone surrogate: strict UTF-8 decoding cannot produce one.
      const string = token.includes("\\u") ? (JSON.parse(token) as string) : undefined;
      if (string !== undefined && LONE_SURROGATE.test(string)) {
        throw new StrictJsonError("The request body holds a string that is not well-formed Unicode");
      }
      if (scope?.kind === "object") {
        let next = end + 1;
        while (WHITESPACE.test(text[next] ?? "")) next++;
        if (text[next] === ":") {
          // Without a backslash the key is its text (JSON.parse only unescapes).
          const key = string ?? (token.includes("\\") ? (JSON.parse(token) as string) : token.slice(1, -1));
          if (key === "__proto__") throw new StrictJsonError('The request body uses the reserved key "__proto__"');
          if (scope.keys.has(key)) throw new StrictJsonError(`The request body repeats the key "${key}"`);
          scope.keys.add(key);
          scope.key = key;
        }
      }
      i = end;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      let end = i + 1;
      while (end < text.length && NUMBER_CHAR.test(text[end]!)) end++;
      if (!isExactInteger(text.slice(i, end))) throw new JsonNumberError(pathOf(scopes));
      i = end - 1;
    }
  }
}
