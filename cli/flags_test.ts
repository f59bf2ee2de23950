import { assertEquals, assertThrows } from "@std/assert";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";

const SPECS: FlagSpec[] = [
  { name: "detach", type: "bool", aliases: ["d"], help: "" },
  { name: "pid-file", type: "string", help: "" },
  { name: "preserve-fds", type: "int", help: "" },
  { name: "env", type: "list", aliases: ["e"], help: "" },
  { name: "no-subreaper", type: "bool", help: "", ignored: true },
];

Deno.test("parseFlags() takes Go-style single and double dash flags", () => {
  const p = parseFlags(
    [
      "-d",
      "--pid-file",
      "/a",
      "-preserve-fds=2",
      "-e",
      "A=1",
      "--env=B=2",
      "-no-subreaper",
      "id",
      "--",
      "-x",
    ],
    SPECS,
  );
  assertEquals(p.flags, {
    detach: true,
    "pid-file": "/a",
    "preserve-fds": 2,
    env: ["A=1", "B=2"],
    "no-subreaper": true,
  });
  assertEquals(p.args, ["id", "-x"]);
  assertEquals(p.ignored, ["no-subreaper"]);
});

Deno.test("parseFlags() reads booleans written out and mixes flags with arguments", () => {
  assertEquals(parseFlags(["--detach=false", "id", "-d=true"], SPECS).flags, { detach: true });
  assertEquals(parseFlags(["--detach=0", "id"], SPECS).flags, { detach: false });
  assertEquals(parseFlags(["x", "-d"], SPECS, { stopAtArgument: true }), {
    flags: {},
    ignored: [],
    args: ["x", "-d"],
  });
});

Deno.test("parseFlags() rejects unknown flags and bad values with a clear message", () => {
  assertThrows(() => parseFlags(["--nope"], SPECS), UsageError, "Unknown flag --nope");
  assertThrows(() => parseFlags(["--pid-file"], SPECS), UsageError, "needs a value");
  assertThrows(() => parseFlags(["--preserve-fds=x"], SPECS), UsageError, "integer");
  assertThrows(() => parseFlags(["--detach=maybe"], SPECS), UsageError, "true or false");
});
