/**
 * What the orphan finder compares AWS with: the synthesized stack (addresses, arguments, the
 * region of each resource's provider, the S3 backend) and a Terraform state (which address holds
 * which resource). Pure reading: no AWS call here except the state object's GetObject.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { GetObjectCommand, NoSuchKey, type S3Client } from "@aws-sdk/client-s3";
import type { TerraformArgs } from "./catalog";

/** One resource block of the synthesized stack. */
export interface SynthResource {
  /** `type.name`, as `terraform import` takes it. */
  readonly address: string;
  readonly type: string;
  readonly args: Readonly<Record<string, unknown>>;
  /** Region of its provider (the default one, or `aws.<alias>`). */
  readonly region: string;
}

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
  readonly region: string;
}

export interface SynthStack {
  readonly dir: string;
  /** Region of the stack's default provider. */
  readonly region: string;
  readonly resources: readonly SynthResource[];
  readonly byAddress: ReadonlyMap<string, SynthResource>;
  /** The stack's S3 backend, when it has one. */
  readonly backend?: S3Location;
}

export class StackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StackError";
  }
}

/** Reads `<dir>/cdk.tf.json` (what `cdktf synth` or `cdktf deploy` wrote). */
export function loadSynthStack(dir: string): SynthStack {
  const file = path.join(dir, "cdk.tf.json");
  if (!existsSync(file)) throw new StackError(`${file} not found: run npm run synth (or give --stack-dir)`);
  const json = JSON.parse(readFileSync(file, "utf8")) as TerraformArgs;
  const providers: Record<string, unknown>[] = [].concat(json.provider?.aws ?? []);
  const regionOf = (alias: string | undefined) => {
    const provider = providers.find((p) => (alias ? p.alias === alias : p.alias === undefined));
    if (typeof provider?.region !== "string") throw new StackError(`${file}: no region for provider aws${alias ? `.${alias}` : ""}`);
    return provider.region;
  };
  const region = regionOf(undefined);
  const resources: SynthResource[] = [];
  for (const [type, blocks] of Object.entries<Record<string, Record<string, unknown>>>(json.resource ?? {})) {
    for (const [name, args] of Object.entries(blocks)) {
      const alias = typeof args.provider === "string" ? args.provider.replace(/^aws\./, "") : undefined;
      resources.push({ address: `${type}.${name}`, type, args, region: regionOf(alias) });
    }
  }
  const s3 = json.terraform?.backend?.s3;
  const backend = s3 ? { bucket: String(s3.bucket), key: String(s3.key), region: String(s3.region) } : undefined;
  return { dir, region, resources, byAddress: new Map(resources.map((r) => [r.address, r])), backend };
}

/** The managed resources a state holds: address -> attributes (cdktf stacks use neither count nor for_each). */
export type StateResources = ReadonlyMap<string, Readonly<Record<string, unknown>>>;

export function parseState(text: string, source: string): StateResources {
  let json: TerraformArgs;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StackError(`${source} is not a Terraform state (not JSON)`);
  }
  if (typeof json !== "object" || json === null || !Array.isArray(json.resources)) {
    throw new StackError(`${source} is not a Terraform state (no "resources")`);
  }
  const held = new Map<string, Record<string, unknown>>();
  for (const r of json.resources) {
    if (r.mode !== "managed" || r.module) continue;
    const attributes = r.instances?.[0]?.attributes;
    if (attributes) held.set(`${r.type}.${r.name}`, attributes);
  }
  return held;
}

/** `s3://bucket/key` or a file path. */
export function parseStateSource(value: string): { readonly s3?: { bucket: string; key: string }; readonly file?: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(value);
  return m ? { s3: { bucket: m[1]!, key: m[2]! } } : { file: value };
}

export interface LoadedState {
  readonly source: string;
  /** False when the state object or file does not exist (an apply killed before its first state save). */
  readonly exists: boolean;
  readonly resources: StateResources;
}

/** Reads the state from a file or from S3; a missing one is an empty state, not an error. */
export async function readState(source: { s3?: { bucket: string; key: string }; file?: string }, s3: () => S3Client): Promise<LoadedState> {
  if (source.file !== undefined) {
    if (!existsSync(source.file)) return { source: source.file, exists: false, resources: new Map() };
    return { source: source.file, exists: true, resources: parseState(readFileSync(source.file, "utf8"), source.file) };
  }
  const { bucket, key } = source.s3!;
  const where = `s3://${bucket}/${key}`;
  try {
    const object = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { source: where, exists: true, resources: parseState(await object.Body!.transformToString(), where) };
  } catch (err) {
    if (err instanceof NoSuchKey || (err as { name?: string }).name === "NoSuchKey")
      return { source: where, exists: false, resources: new Map() };
    throw err;
  }
}
