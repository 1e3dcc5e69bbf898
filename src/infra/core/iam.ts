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

/** Statements collected for a policy written in one piece (a role that no construct grants to). */
export class PolicyStatements implements IGrantable {
  readonly statements: PolicyStatement[] = [];

  addToPolicy(statement: PolicyStatement): void {
    this.statements.push(statement);
  }

  toJson(): string {
    return policyDocument(this.statements);
  }
}
