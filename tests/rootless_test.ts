/**
 * Rootless: dvisor run by a user other than root, on the bundle `runc spec
 * --rootless` makes, next to runc run by the same user: the container's
 * view (ids, maps, file owners, writes, chown to an unmapped id), the
 * lifecycle (run -d, state, exec, ps, kill, delete) with the state in
 * $XDG_RUNTIME_DIR, and the one-line error without a state root it may use.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, type Ran, run } from "./support/run.ts";
import { subidUser } from "./support/subid_user.ts";

/** A uid and gid no account has (setpriv needs none). */
const ID = 48213;

interface Place {
  dir: string;
  bundle: string;
  env: Record<string, string>;
}

/**
 * Runs a command as the unprivileged user, in the bundle, with only its own
 * environment (`detached`: its stdio /dev/null, which a detached container keeps).
 */
function asUser(
  p: Place,
  cmd: string,
  args: string[],
  env = p.env,
  detached = false,
): Promise<Ran> {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run("setpriv", [
    `--reuid=${ID}`,
    `--regid=${ID}`,
    "--clear-groups",
    "env",
    "-i",
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ...vars,
    "sh",
    "-c",
    `cd ${p.bundle} && exec "$@"${detached ? " </dev/null >/dev/null 2>&1" : ""}`,
    "sh",
    cmd,
    ...args,
  ]);
}

async function setUp(): Promise<Place> {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-rootless-" });
  const bundle = `${dir}/bundle`;
  await Deno.mkdir(`${dir}/home`);
  await Deno.mkdir(`${dir}/xdg`, { mode: 0o700 });
  await Deno.mkdir(bundle);
  const rootfs = await makeBusyboxRootfs();
  await Deno.rename(rootfs, `${bundle}/rootfs`);
  const chown = await run("chown", ["-R", `${ID}:${ID}`, dir]);
  assertEquals(chown.code, 0, chown.stderr);
  await Deno.chmod(dir, 0o755);
  const p = { dir, bundle, env: { HOME: `${dir}/home`, XDG_RUNTIME_DIR: `${dir}/xdg` } };
  const spec = await asUser(p, "runc", ["spec", "--rootless"]);
  assertEquals(spec.code, 0, spec.stderr);
  return p;
}

/** Rewrites the bundle's config.json: the process's args, a writable root. */
async function setArgs(p: Place, args: string[]): Promise<void> {
  const path = `${p.bundle}/config.json`;
  const c = JSON.parse(await Deno.readTextFile(path));
  c.process.args = args;
  c.process.terminal = false;
  c.root.readonly = false;
  await Deno.writeTextFile(path, JSON.stringify(c, null, 1));
}

function runtime(name: string): string {
  return name === "runc" ? "runc" : DVISOR;
}

Deno.test("rootless: dvisor run by a user as runc run by that user", async (t) => {
  const p = await setUp();
  try {
    await setArgs(p, [
      "/bin/sh",
      "-c",
      [
        "id",
        "cat /proc/self/uid_map /proc/self/gid_map",
        "stat -c '%u %g %n' / /bin/busybox",
        "echo hi > /written && stat -c '%u %g %s %n' /written",
        "chown 1:1 /written; echo chown to an unmapped id: $?",
        "grep -E '^Cap(Eff|Bnd)' /proc/self/status",
        "ps -o user,comm",
        "rm /written",
      ].join("; "),
    ]);
    const seen: Record<string, Ran> = {};
    for (const name of ["runc", "dvisor"]) {
      seen[name] = await asUser(p, runtime(name), ["run", `rootless-${name}`]);
    }
    await t.step("the container's view is runc's", () => {
      const shown = (r: Ran) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });
      assertEquals(shown(seen.dvisor!), shown(seen.runc!));
      assertStringIncludes(seen.dvisor!.stdout.replace(/ +/g, " "), ` 0 ${ID} 1`);
      assertStringIncludes(seen.dvisor!.stdout, "0 0 3 /written");
    });

    await t.step("lifecycle with the state in $XDG_RUNTIME_DIR", async () => {
      await setArgs(p, ["sleep", "30"]);
      const steps: Record<string, unknown[]> = {};
      for (const name of ["runc", "dvisor"]) {
        const id = `rootless-life-${name}`;
        const rt = (args: string[]) => asUser(p, runtime(name), args);
        const out: unknown[] = [];
        out.push((await asUser(p, runtime(name), ["run", "-d", id], p.env, true)).code);
        out.push(JSON.parse((await rt(["state", id])).stdout).status);
        const ex = await rt(["exec", id, "id", "-u"]);
        out.push(ex.code, ex.stdout);
        // runc's ps fails without a cgroup to read pids from; dvisor lists its sandbox's.
        if (name === "dvisor") {
          const ps = await rt(["ps", "--format", "json", id]);
          assert((JSON.parse(ps.stdout) as number[]).length >= 1, ps.stdout + ps.stderr);
        }
        out.push((await rt(["kill", id, "KILL"])).code);
        let status = "";
        for (let i = 0; i < 100 && status !== "stopped"; i++) {
          status = JSON.parse((await rt(["state", id])).stdout).status;
          if (status !== "stopped") await new Promise((r) => setTimeout(r, 50));
        }
        out.push(status);
        out.push((await rt(["delete", id])).code);
        steps[name] = out;
      }
      assertEquals(steps.dvisor, steps.runc);
      assertEquals(steps.dvisor, [0, "running", 0, "0\n", 0, "stopped", 0]);
      const left: string[] = [];
      for await (const e of Deno.readDir(`${p.dir}/xdg/dvisor`)) {
        if (!e.name.startsWith("#")) left.push(e.name);
      }
      assertEquals(left, [], "no container state left");
      // Dead ones wait for the host's init to reap them (this VM's does every 2 s).
      const procs = await run("ps", ["-o", "pid,stat,args", "-u", String(ID), "--no-headers"]);
      const alive = procs.stdout.split("\n").filter((l) => l.trim() && !/^\s*\d+ Z/.test(l));
      assertEquals(alive, [], "no process of the user left");
    });

    await t.step("dvisor spec --rootless is runc's rootless spec", async () => {
      const own = `${p.dir}/own-spec`;
      await Deno.mkdir(own);
      await run("chown", [`${ID}:${ID}`, own]);
      const made = await asUser(p, DVISOR, ["spec", "--rootless", "--bundle", own]);
      assertEquals(made.code, 0, made.stderr);
      const ours = JSON.parse(await Deno.readTextFile(`${own}/config.json`));
      const runcs = JSON.parse(await Deno.readTextFile(`${p.bundle}/config.json`));
      const shape = (
        c: { linux: Record<string, unknown>; mounts: Array<{ destination: string }> },
      ) => ({
        uid: c.linux.uidMappings,
        gid: c.linux.gidMappings,
        namespaces: (c.linux.namespaces as Array<{ type: string }>).map((n) => n.type).sort(),
        resources: c.linux.resources ?? null,
        sys: c.mounts.find((m) => m.destination === "/sys"),
        devpts: c.mounts.find((m) => m.destination === "/dev/pts"),
      });
      assertEquals(shape(ours), shape(runcs));
    });

    await t.step("no state root it may use: one line that says what to do", async () => {
      const r = await asUser(p, DVISOR, ["run", "rootless-nowhere"], { HOME: `${p.dir}/home` });
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertStringIncludes(r.stderr, "XDG_RUNTIME_DIR");
      assert(!r.stderr.includes("at "), r.stderr);
    });
  } finally {
    await run("pkill", ["-9", "-u", String(ID)]);
    await Deno.remove(p.dir, { recursive: true });
  }
});

Deno.test("rootless with subordinate ids: newuidmap maps them, files land on them", async (t) => {
  const name = "dvisor-subids";
  const first = 400000;
  const { uid, gid } = await subidUser(name, first);
  const dir = await Deno.makeTempDir({ prefix: "dvisor-rootless-subids-" });
  const bundle = `${dir}/bundle`;
  try {
    await Deno.mkdir(`${dir}/xdg`, { mode: 0o700 });
    await Deno.mkdir(`${dir}/vol`);
    await Deno.mkdir(bundle);
    await Deno.rename(await makeBusyboxRootfs(), `${bundle}/rootfs`);
    await Deno.mkdir(`${bundle}/rootfs/vol`);
    assertEquals((await run("chown", ["-R", `${uid}:${gid}`, dir])).code, 0);
    await Deno.chmod(dir, 0o755);
    const asIt = (args: string[]) =>
      run("setpriv", [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        "--init-groups",
        "env",
        "-i",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        `HOME=${dir}`,
        `XDG_RUNTIME_DIR=${dir}/xdg`,
        `USER=${name}`,
        ...args,
      ], { cwd: bundle });
    assertEquals((await asIt([DVISOR, "spec", "--rootless"])).code, 0);
    const path = `${bundle}/config.json`;
    const c = JSON.parse(await Deno.readTextFile(path));
    const maps = (own: number) => [
      { containerID: 0, hostID: own, size: 1 },
      { containerID: 1, hostID: first, size: 65536 },
    ];
    c.linux.uidMappings = maps(uid);
    c.linux.gidMappings = maps(gid);
    c.process.terminal = false;
    // runc's default set has no CAP_CHOWN.
    for (const set of Object.values(c.process.capabilities) as string[][]) set.push("CAP_CHOWN");
    c.process.args = [
      "sh",
      "-c",
      "cat /proc/self/uid_map; echo a >/vol/root; echo b >/vol/seven; chown 7:7 /vol/seven; echo $?",
    ];
    c.mounts.push({ destination: "/vol", type: "bind", source: `${dir}/vol`, options: ["rbind"] });
    await Deno.writeTextFile(path, JSON.stringify(c));
    await t.step(
      "the container's mappings, and a chown 7 on the eighth subordinate id",
      async () => {
        const r = await asIt([DVISOR, "run", "subids"]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(
          r.stdout.replace(/ +/g, " "),
          ` 0 ${uid} 1\n 1 ${first} 65536\n0\n`,
        );
        const owner = async (f: string) => {
          const st = await Deno.stat(`${dir}/vol/${f}`);
          return `${st.uid}:${st.gid}`;
        };
        assertEquals(await owner("root"), `${uid}:${gid}`);
        assertEquals(await owner("seven"), `${first + 6}:${first + 6}`);
      },
    );
    await t.step("ranges /etc/subuid does not give: one line", async () => {
      c.linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }, {
        containerID: 1,
        hostID: first + 100000,
        size: 10,
      }];
      await Deno.writeTextFile(path, JSON.stringify(c));
      const r = await asIt([DVISOR, "run", "subids-refused"]);
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertStringIncludes(r.stderr, "newuidmap refused");
      assertEquals((await asIt([DVISOR, "list", "-q"])).stdout, "", "nothing left");
    });
  } finally {
    await run("pkill", ["-KILL", "-u", name]);
    await Deno.remove(dir, { recursive: true });
  }
});
