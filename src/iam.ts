/** Minimal typed IAM policy documents, rendered to JSON at synth (tokens resolve inside strings). */

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal?: Record<string, string | string[]> | "*";
  readonly Action: string | string[];
  readonly Resource?: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[] | boolean>>;
}

export function policyDocument(statements: readonly PolicyStatement[]): string {
  for (const s of statements) {
    for (const action of ([] as string[]).concat(s.Action)) {
      // Least privilege: every action is named. Deny statements may use "s3:*" style catch-alls.
      if (s.Effect === "Allow" && action.includes("*")) {
        throw new Error(`Wildcard action "${action}" in statement ${s.Sid ?? JSON.stringify(s)}`);
      }
    }
  }
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

export function assumeRolePolicy(service: string, condition?: PolicyStatement["Condition"]): string {
  return policyDocument([
    { Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole", ...(condition ? { Condition: condition } : {}) },
  ]);
}

/** Anything that can be granted rights: grants are statements added to its own policy. */
export interface IGrantable {
  addToPolicy(statement: PolicyStatement): void;
}

/** KMS rights a principal needs to use a key through one AWS service (SQS, SNS, S3...). */
export function keyUseStatement(keyArn: string, actions: string[], viaService: string): PolicyStatement {
  return { Effect: "Allow", Action: actions, Resource: keyArn, Condition: { StringEquals: { "kms:ViaService": viaService } } };
}
