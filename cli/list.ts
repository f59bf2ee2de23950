/**
 * `dvisor list [-q] [--format table|json]`: the containers under --root,
 * as runc lists them.
 *
 * @module
 */
import { shownState, StateStore } from "./container_state.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "quiet", aliases: ["q"], type: "bool", help: "print only the ids" },
  { name: "format", aliases: ["f"], type: "string", help: "table (default) or json" },
];

/** The `list` command. */
export const listCommand: Command = {
  async run(args, { globals }) {
    const parsed = parseFlags(args, FLAGS);
    if (parsed.args.length) throw new UsageError(`Unexpected argument ${parsed.args[0]}`);
    const format = (parsed.flags.format as string | undefined) ?? "table";
    if (format !== "table" && format !== "json") {
      throw new UsageError(`Unknown --format ${format}: use table or json`);
    }
    const all = new StateStore(stateRoot(globals)).list();
    if (parsed.flags.quiet) {
      await writeOut(all.map((s) => `${s.id}\n`).join(""));
    } else if (format === "json") {
      await writeOut(
        JSON.stringify(all.map(shownState)) + "\n",
      );
    } else {
      const rows = [
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        ...all.map((s) => [
          s.id,
          String(shownState(s).pid),
          s.status,
          s.bundle,
          s.created,
          s.owner || "root",
        ]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      await writeOut(
        rows.map((r) => r.map((c, i) => c.padEnd(widths[i]! + 3)).join("").trimEnd() + "\n")
          .join(""),
      );
    }
    return 0;
  },
};
