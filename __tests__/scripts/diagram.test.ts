import { readFileSync } from "node:fs";
import {
  ARCHITECTURE_FILE,
  README_END,
  README_FILE,
  README_START,
  renderArchitecture,
  renderMermaid,
  type SynthesizedStacks,
  synthForDiagram,
  withReadmeDiagram,
} from "../../scripts/diagram";

let stacks: SynthesizedStacks;
let rendered: string;

beforeAll(() => {
  stacks = synthForDiagram();
  rendered = renderArchitecture(stacks);
});

function firstDifference(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  const i = a.findIndex((line, n) => line !== b[n]);
  const line = i < 0 ? Math.min(a.length, b.length) : i;
  return `first difference at line ${line + 1}:\n  committed: ${a[line] ?? "(end of file)"}\n  synth:     ${b[line] ?? "(end of file)"}`;
}

describe("architecture diagram", () => {
  test("docs/architecture.md matches the synthesized app", () => {
    const committed = readFileSync(ARCHITECTURE_FILE, "utf8");
    if (committed !== rendered) {
      throw new Error(
        `docs/architecture.md is stale: run \`npm run diagram\` and commit the result.\n${firstDifference(committed, rendered)}`,
      );
    }
  });

  test("the README's embedded diagram, when it has one, matches too", () => {
    const readme = readFileSync(README_FILE, "utf8");
    if (!readme.includes(README_START) || !readme.includes(README_END)) return;
    if (withReadmeDiagram(readme, stacks) !== readme) {
      throw new Error("The diagram in README.md is stale: run `npm run diagram` and commit the result.");
    }
  });

  test("shows both regions and every cross-region link", () => {
    expect(rendered).toContain('["primary region: ap-southeast-1"]');
    expect(rendered).toContain('["DR region: ap-southeast-2"]');
    const crossRegion = rendered.split("\n").filter((line) => line.includes("==>"));
    expect(crossRegion).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ {2}primary_\S+ ==>\|"Aurora global database: secondary"\| dr_\S+$/),
        expect.stringMatching(/==>\|"global table replica"\| dr_/),
        expect.stringMatching(/==>\|"S3 replication, RTC 15 min"\| dr_/),
        expect.stringMatching(/==>\|"failover PRIMARY"\| primary_/),
        expect.stringMatching(/==>\|"failover SECONDARY"\| dr_/),
      ]),
    );
    expect(crossRegion.filter((line) => line.includes("global table replica"))).toHaveLength(3);
  });

  test("ignores resource types it does not know and does not depend on key order", () => {
    const withUnknown = JSON.parse(JSON.stringify(stacks));
    withUnknown.dr.resource.aws_made_up_thing = { thing_1: { name: "x", target: "${aws_lb.nothing.arn}" } };
    const reversed = (stack: any) => ({
      ...stack,
      resource: Object.fromEntries(
        Object.entries<object>(stack.resource)
          .reverse()
          .map(([t, v]) => [t, Object.fromEntries(Object.entries(v).reverse())]),
      ),
    });
    expect(renderMermaid(withUnknown)).toBe(renderMermaid(stacks));
    expect(renderMermaid({ primary: reversed(stacks.primary), dr: reversed(stacks.dr) })).toBe(renderMermaid(stacks));
  });
});
