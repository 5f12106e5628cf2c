/** The command table, the CLI and docs/control.md cannot drift apart (house style 10). */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseArgs, SUBCOMMANDS, usage } from "../../../src/cli/args.js";
import { COUNTER_HELP, metricName } from "../../../src/control/metrics.js";
import { CONTROL_COMMANDS, commandTableMarkdown } from "../../../src/control/protocol.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const DOC = readFileSync(`${ROOT}docs/control.md`, "utf8");

/** A Markdown table as rows of trimmed cells; the separator row as "---" (the formatter pads). */
function cells(table: string): string[][] {
  return table
    .trim()
    .split("\n")
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, "")
        .split("|")
        .map((c) => (/^\s*-+\s*$/.test(c) ? "---" : c.trim())),
    );
}

test("docs/control.md holds the command table as generated from CONTROL_COMMANDS", () => {
  const m = /<!-- commands:begin[^>]*-->\n([\s\S]*?)\n<!-- commands:end -->/.exec(DOC);
  assert.ok(m, "markers <!-- commands:begin --> and <!-- commands:end --> in docs/control.md");
  assert.deepEqual(
    cells(m[1]!),
    cells(commandTableMarkdown()),
    `docs/control.md is out of date; put this between the markers:\n${commandTableMarkdown()}`,
  );
});

test("the CLI's subcommands carry the control commands as the table says", () => {
  for (const c of CONTROL_COMMANDS) {
    const sub = SUBCOMMANDS.find((s) => s.name === c.name);
    assert.ok(sub, `${c.name} is a subcommand`);
    assert.equal(sub.args, c.args);
    assert.equal(sub.help, c.help);
    assert.ok(usage().includes(c.help), `${c.name} in --help`);
    const ips = ["192.0.2.1", "192.0.2.2"];
    const ok = parseArgs(["-c", "x.conf", c.name, ...ips.slice(0, c.minArgs), "--json"]);
    assert.ok(ok.ok && ok.command.kind === c.name, c.name);
    if (c.maxArgs < ips.length) assert.equal(parseArgs([c.name, ...ips.slice(0, c.maxArgs + 1)]).ok, false);
    if (c.minArgs > 0) assert.equal(parseArgs([c.name]).ok, false);
  }
});

test("docs/control.md names every counter's metric", () => {
  for (const name of Object.keys(COUNTER_HELP)) {
    assert.ok(DOC.includes(`\`${metricName(name)}\``), `${metricName(name)} in docs/control.md`);
  }
});
