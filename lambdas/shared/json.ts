/**
 * Strict JSON for request bodies: what the gateway stores must be what the client sent, so every
 * input that JSON.parse would quietly change is refused instead of accepted in another form:
 * bytes that are not UTF-8 (decoded as U+FFFD), a key given twice (the last one wins), a
 * `__proto__` key (dropped by object copies) and lone UTF-16 surrogates (not storable text).
 */

export class StrictJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StrictJsonError";
  }
}

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
  checkKeys(text);
  checkStrings(value);
  return value;
}

/** Walks the (already valid) JSON text and refuses a repeated or `__proto__` key in any object. */
function checkKeys(text: string): void {
  const scopes: Array<Set<string> | undefined> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") scopes.push(new Set());
    else if (c === "[") scopes.push(undefined);
    else if (c === "}" || c === "]") scopes.pop();
    else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const keys = scopes[scopes.length - 1];
      if (keys) {
        let next = end + 1;
        while (/\s/.test(text[next] ?? "")) next++;
        if (text[next] === ":") {
          const key = JSON.parse(text.slice(i, end + 1)) as string;
          if (key === "__proto__") throw new StrictJsonError('The request body uses the reserved key "__proto__"');
          if (keys.has(key)) throw new StrictJsonError(`The request body repeats the key "${key}"`);
          keys.add(key);
        }
      }
      i = end;
    }
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkStrings(value: unknown): void {
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new StrictJsonError("The request body holds a string that is not well-formed Unicode");
  } else if (Array.isArray(value)) {
    for (const v of value) checkStrings(v);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      checkStrings(k);
      checkStrings(v);
    }
  }
}
