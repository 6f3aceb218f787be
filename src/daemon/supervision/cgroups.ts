// The memory limit's kernel half: where a writable cgroup hierarchy exists, every limited
// instance runs in a cgroup of its own with a hard memory limit above the sampled one (the
// backstop: the sampled limit restarts it gracefully first) and a pids limit.
//
// Where: nested under the daemon's own cgroup of each hierarchy (/proc/self/cgroup), never
// beside it, as `<own>/plugprom-<hash of the state dir>/<instance>`; one state dir's daemon
// only ever touches its own directory. cgroup v1 (one hierarchy per controller: `memory`
// with memory.limit_in_bytes, `pids` with pids.max) is used per controller, whichever is
// writable. cgroup v2 (one hierarchy, memory.max and pids.max) has the "no internal
// processes" rule: a cgroup that hands controllers to children holds no processes itself. So
// v2 is used only when the daemon is alone in its cgroup (as a systemd unit with
// Delegate=yes is): it moves itself into a leaf `<own>/daemon`, then enables memory and pids
// for the children. Anything less (not mounted, read-only, not delegated, another process
// beside the daemon) falls back to sampling only, logged once; it never fails a start.
//
// When: the process is moved into its cgroup synchronously, right after spawn() returns,
// before the daemon does anything else. A wrapper that joins the cgroup and then execs the
// plugin would be airtight, but Node 20 has no execve and a shell is out of the question;
// what the plugin can do in the microseconds between its exec and the move is bounded: its
// memory moves with it on v1 (memory.move_charge_at_immigrate), and the sampled limit counts
// its whole process group whichever cgroup a member is in.
//
// Afterwards: the cgroup is removed once the process group is gone (an OOM kill in it is
// read first, from v1 memory.oom_control or v2 memory.events), and at daemon start every
// empty one of this state dir is removed (the kernel refuses to remove one that still holds
// processes: a plugin left running for a later daemon keeps its cgroup, and that daemon
// adopts it with the process, from /proc/<pid>/cgroup).
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { access, mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { errorMessage } from "../../shared/errors.js";
import { formatSize } from "../../shared/size.js";
import type { Logger } from "../log.js";
import type { ResourceLimits } from "../spec.js";

/** The kernel's hard limit is this much above --max-memory: the sampled limit acts first. */
export const HARD_LIMIT_FACTOR = 1.25;

/** Removing an emptied cgroup waits at most this long for its last tasks to be freed. */
const REMOVE_TRIES = 20;
const REMOVE_WAIT_MS = 50;

export type CgroupVersion = 1 | 2;

/** The hard memory limit a --max-memory gets in the kernel. */
export function hardMemoryLimit(limitBytes: number): number {
  return Math.ceil((limitBytes * HARD_LIMIT_FACTOR) / 4096) * 4096;
}

/** One instance's cgroup (one directory per v1 controller, or one v2 directory). */
export interface InstanceCgroup {
  readonly version: CgroupVersion;
  /** Whether the kernel enforces its memory limit (else only its pids limit). */
  readonly limitsMemory: boolean;
  /** Moves `pid` (and its threads) in. Throws when the kernel refuses. */
  join(pid: number): void;
  /** OOM kills the kernel did in it so far. */
  oomKills(): number;
  /** Removes it once its processes are gone; never throws. */
  remove(): Promise<void>;
}

/** Where a hierarchy lets this daemon create cgroups. */
interface Hierarchy {
  version: CgroupVersion;
  controllers: Array<"memory" | "pids">;
  /** Where the hierarchy is mounted (paths in /proc/<pid>/cgroup are relative to it). */
  mount: string;
  /** `<own>/plugprom-<hash>`: this state dir's instances go below it. */
  base: string;
}

/** The daemon's cgroup hierarchies it may use, found once at start-up. */
export class Cgroups {
  private constructor(
    private readonly hierarchies: Hierarchy[],
    private readonly log: Logger,
    /** Why no memory cgroup can be used, for logMode. */
    private readonly unusable: string,
  ) {}

  /** "cgroup v1", "cgroup v2", or undefined (sampling only). */
  get description(): string | undefined {
    return this.hierarchies.length > 0 ? `cgroup v${this.hierarchies[0].version}` : undefined;
  }

  /**
   * Finds what is writable under `root` (/sys/fs/cgroup unless PLUGPROM_CGROUP_ROOT says
   * otherwise), removes empty cgroups a previous daemon of this state dir left, and logs
   * which enforcement instances get.
   */
  static async open(o: { root: string; stateDir: string; log: Logger; selfCgroup?: string }): Promise<Cgroups> {
    const name = `plugprom-${createHash("sha256").update(o.stateDir).digest("hex").slice(0, 12)}`;
    const membership = parseProcCgroup(o.selfCgroup ?? (await readFile("/proc/self/cgroup", "utf8").catch(() => "")));
    const found: Hierarchy[] = [];
    const problems: string[] = [];
    const isV2Root = await readFile(join(o.root, "cgroup.controllers"), "utf8").then(() => true, () => false);
    if (isV2Root) {
      const h = await openV2(o.root, membership.get("") ?? "/", name).catch((err: unknown) => void problems.push(`cgroup v2: ${errorMessage(err)}`));
      if (h) found.push(h);
    } else {
      for (const controller of ["memory", "pids"] as const) {
        const own = membership.get(controller);
        if (own === undefined) continue;
        const mount = join(o.root, controller);
        const base = join(mount, own, name);
        try {
          // The daemon's own cgroup must be there already, as a cgroup: a mkdir -p on a plain
          // directory (the tmpfs /sys/fs/cgroup often is) would pass for one and limit nothing.
          await access(join(mount, own, "cgroup.procs"));
          await mkdir(base, { recursive: false }).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== "EEXIST") throw err;
          });
          found.push({ version: 1, controllers: [controller], mount, base });
        } catch (err) {
          problems.push(`cgroup v1 ${controller}: cannot use ${base} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
        }
      }
    }
    const cgroups = new Cgroups(found, o.log, problems.length ? problems.join("; ") : `none under ${o.root}`);
    await cgroups.removeEmpty();
    return cgroups;
  }

  /**
   * Logs how memory limits are enforced. Called by the daemon once it is past every reason to
   * refuse to start, so that a refusal stays the one line it prints.
   */
  logMode(): void {
    if (this.hierarchies.some((h) => h.controllers.includes("memory"))) this.log.info("memory limits: cgroups and sampling", { cgroups: this.hierarchies.map((h) => h.base) });
    else this.log.info("memory limits: sampling only, no writable memory cgroup", { why: this.unusable });
  }

  /**
   * A fresh cgroup for one process of `name` with `limits`; undefined when no hierarchy
   * applies or the kernel refuses (logged, the start goes on with sampling only).
   */
  async create(name: string, limits: ResourceLimits): Promise<InstanceCgroup | undefined> {
    const wanted = this.hierarchies.filter((h) => (limits.memoryBytes > 0 && h.controllers.includes("memory")) || (limits.pids > 0 && h.controllers.includes("pids")));
    if (wanted.length === 0) return undefined;
    // The previous process's cgroup of this name may still be going: a removal that finished
    // after the mkdir below would take the new cgroup with it.
    await this.removals.get(name);
    const dirs: string[] = [];
    let memoryDir: string | undefined;
    try {
      for (const h of wanted) {
        const dir = join(h.base, name);
        await mkdir(dir, { recursive: true });
        dirs.push(dir);
        await writeLimits(h, dir, limits);
        if (limits.memoryBytes > 0 && h.controllers.includes("memory")) memoryDir = dir;
      }
    } catch (err) {
      this.warnOnce(`cannot set up the cgroup of "${name}" (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); its memory limit is sampled only`);
      await Promise.all(dirs.map(removeDir));
      return undefined;
    }
    return this.instanceCgroup(name, wanted[0].version, dirs, memoryDir);
  }

  /**
   * The cgroup an earlier daemon of this state dir put `pid` in, for a reattached plugin:
   * its limits stay as they were set, and it is removed with the process. Undefined when
   * the process is in none of this state dir's cgroups.
   */
  adopt(name: string, pid: number): InstanceCgroup | undefined {
    let membership: Map<string, string>;
    try {
      membership = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
    } catch {
      return undefined;
    }
    const dirs: string[] = [];
    let memoryDir: string | undefined;
    for (const h of this.hierarchies) {
      const dir = join(h.base, name);
      const path = membership.get(h.version === 2 ? "" : h.controllers[0]);
      if (path === undefined || join(h.mount, path) !== dir) continue;
      dirs.push(dir);
      if (h.controllers.includes("memory")) memoryDir = dir;
    }
    return dirs.length > 0 ? this.instanceCgroup(name, this.hierarchies[0].version, dirs, memoryDir) : undefined;
  }

  private readonly removals = new Map<string, Promise<void>>();

  private instanceCgroup(name: string, version: CgroupVersion, dirs: string[], memoryDir: string | undefined): InstanceCgroup {
    return {
      version,
      limitsMemory: memoryDir !== undefined,
      join: (pid) => {
        for (const dir of dirs) writeFileSync(join(dir, "cgroup.procs"), String(pid));
      },
      oomKills: () => (memoryDir ? readOomKills(memoryDir, version) : 0),
      remove: () => {
        const removal = Promise.all(dirs.map(removeDir)).then(() => {
          if (this.removals.get(name) === removal) this.removals.delete(name);
        });
        this.removals.set(name, removal);
        return removal;
      },
    };
  }

  /** Logs a cgroup that could not be made, once per daemon: the reason is the same for the next. */
  warnOnce(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(message);
  }

  private warned = false;

  /**
   * The daemon stopped its plugins and exits: their cgroups (waiting briefly for the last
   * tasks to be freed) and this state dir's directory go.
   */
  async close(): Promise<void> {
    for (const h of this.hierarchies) {
      const entries = await readdir(h.base, { withFileTypes: true }).catch(() => []);
      await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => removeDir(join(h.base, e.name))));
      await rmdir(h.base).catch(() => undefined);
    }
  }

  /**
   * Removes the empty instance cgroups of this state dir (a crashed daemon's, or those of
   * orphans just stopped); busy ones hold live plugins. A v1 directory left empty goes too (it was made to see that it can be, and
   * comes back with the first limited instance): a daemon without limits leaves nothing.
   */
  async removeEmpty(): Promise<void> {
    for (const h of this.hierarchies) {
      const entries = await readdir(h.base, { withFileTypes: true }).catch(() => []);
      await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => rmdir(join(h.base, e.name)).catch(() => undefined)));
      if (h.version === 1) await rmdir(h.base).catch(() => undefined);
    }
  }
}

/** /proc/<pid>/cgroup as controller → path ("" for the v2 line "0::/path"). */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "") out.set("", m[2]);
    for (const c of m[1].split(",")) if (c !== "") out.set(c, m[2]);
  }
  return out;
}

/** v2: only when the daemon is alone in its cgroup (see the module comment). */
async function openV2(root: string, own: string, name: string): Promise<Hierarchy> {
  const dir = join(root, own);
  const available = (await readFile(join(dir, "cgroup.controllers"), "utf8")).split(/\s+/);
  const controllers = (["memory", "pids"] as const).filter((c) => available.includes(c));
  if (controllers.length === 0) throw new Error(`${dir} has neither the memory nor the pids controller (not delegated to the daemon)`);
  const procs = (await readFile(join(dir, "cgroup.procs"), "utf8")).split("\n").filter(Boolean).map(Number);
  const enabled = (await readFile(join(dir, "cgroup.subtree_control"), "utf8")).split(/\s+/);
  if (!controllers.every((c) => enabled.includes(c))) {
    if (procs.some((p) => p !== process.pid)) {
      throw new Error(`${dir} holds other processes than the daemon, and cgroup v2 allows no processes in a cgroup that delegates controllers; run the daemon in a cgroup of its own (systemd: Delegate=yes)`);
    }
    if (procs.includes(process.pid)) {
      await mkdir(join(dir, "daemon"), { recursive: true });
      await writeFile(join(dir, "daemon", "cgroup.procs"), String(process.pid));
    }
    await writeFile(join(dir, "cgroup.subtree_control"), controllers.map((c) => `+${c}`).join(" "));
  }
  const base = join(dir, name);
  await mkdir(base, { recursive: true });
  await writeFile(join(base, "cgroup.subtree_control"), controllers.map((c) => `+${c}`).join(" "));
  return { version: 2, controllers: [...controllers], mount: root, base };
}

async function writeLimits(h: Hierarchy, dir: string, limits: ResourceLimits): Promise<void> {
  const memory = limits.memoryBytes > 0 && h.controllers.includes("memory");
  const pids = limits.pids > 0 && h.controllers.includes("pids");
  if (h.version === 1) {
    if (memory) {
      // Charges made before the move follow the process (best effort: not every kernel has it).
      await writeFile(join(dir, "memory.move_charge_at_immigrate"), "3").catch(() => undefined);
      await writeFile(join(dir, "memory.limit_in_bytes"), String(hardMemoryLimit(limits.memoryBytes)));
    }
    if (pids) await writeFile(join(dir, "pids.max"), String(limits.pids));
    return;
  }
  await writeFile(join(dir, "memory.max"), memory ? String(hardMemoryLimit(limits.memoryBytes)) : "max").catch((err: unknown) => {
    if (memory) throw err;
  });
  await writeFile(join(dir, "pids.max"), pids ? String(limits.pids) : "max").catch((err: unknown) => {
    if (pids) throw err;
  });
}

/** The "oom_kill N" line of v1 memory.oom_control or v2 memory.events; 0 when unreadable. */
function readOomKills(dir: string, version: CgroupVersion): number {
  try {
    const text = readFileSync(join(dir, version === 1 ? "memory.oom_control" : "memory.events"), "utf8");
    return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** rmdir, retried while the kernel still frees the last tasks (EBUSY); bounded. */
async function removeDir(dir: string): Promise<void> {
  for (let i = 0; i < REMOVE_TRIES; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      // ENOENT: gone already; anything but EBUSY will not change by waiting.
      if ((err as NodeJS.ErrnoException).code !== "EBUSY") return;
      await delay(REMOVE_WAIT_MS);
    }
  }
}

/** Describes a hard limit for messages: "120 MiB (--max-memory × 1.25)". */
export function describeHardLimit(limitBytes: number): string {
  return `${formatSize(hardMemoryLimit(limitBytes))} (--max-memory × ${HARD_LIMIT_FACTOR})`;
}
