// A seeded random storm of start, stop, kill, restart and apply over a few names, some at once
// on the same name, through the control API of a real daemon that is SIGKILLed several times
// (now and then SIGTERMed instead) and restarted on the same state dir; after each restart
// and at the end, what runs must be exactly what was acknowledged. PLUGPROM_STORM_SEED
// replays a run, PLUGPROM_STORM_OPS sizes it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ApplyAction, PluginState } from "../../src/shared/gen/plugprom/v1/control_pb.js";
import { createControlClient, type ControlClient } from "../../src/cli/client.js";
import { errorMessage } from "../../src/shared/errors.js";
import { buildGoProgram } from "../helpers/go-build.js";
import { daemonFleet, httpGet, type DaemonHandle } from "../helpers/daemon.js";
import { groupsByInstance } from "../helpers/procs.js";
import { repoRoot } from "../helpers/paths.js";
import { tempDir } from "../helpers/temp.js";

const OPS = Number(process.env.PLUGPROM_STORM_OPS ?? 300);
const SEED = Number(process.env.PLUGPROM_STORM_SEED ?? Math.floor(Math.random() * 2 ** 31));
const NAMES = Array.from({ length: 20 }, (_, i) => `s${i}`);
/** Operations in flight at once, at most. */
const MAX_IN_FLIGHT = 4;
/** Every call gets this long: far more than any operation takes, so that a hang is a failure, not a stuck test. */
const CALL_TIMEOUT_MS = 60_000;

/** mulberry32: a small seeded PRNG, so that a seed replays the same sequence of operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = "start" | "start-slow" | "stop" | "kill" | "restart" | "apply";
const WEIGHTS: Array<[Kind, number]> = [
  ["start", 24],
  ["start-slow", 16],
  ["stop", 16],
  ["kill", 12],
  ["restart", 14],
  ["apply", 8],
];

interface PlannedOp {
  index: number;
  kind: Kind;
  /** One name, or an apply file's names. */
  names: string[];
  /** For apply: which of its names start slowly, and the env revision (a change restarts them). */
  slow?: boolean[];
  revision?: number;
  /** Issued without waiting for the operation before it to answer, after this many ms. */
  overlapMs?: number;
  /** The daemon is SIGKILLed this many ms after this operation was issued. */
  killDaemonAfterMs?: number;
  /** ... or, once in a while, SIGTERMed: it stops every plugin, and the next one starts them again. */
  gracefulKill?: boolean;
  /** After the daemon restarted: issued right away, while it restores. */
  duringRestore?: boolean;
}

/** The whole storm, decided by the seed alone (what runs concurrently depends on timing too). */
function plan(seed: number, count: number): PlannedOp[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const total = WEIGHTS.reduce((n, [, w]) => n + w, 0);
  const kills = Math.max(2, Math.round(count / 50));
  const killAt = new Set(Array.from({ length: kills }, (_, k) => Math.floor(((k + 0.3 + rnd() * 0.5) * count) / kills)));
  const ops: PlannedOp[] = [];
  let afterKill = 0;
  for (let index = 0; index < count; index++) {
    let r = rnd() * total;
    // The operations just before a daemon kill overlap, and half of them start slowly: what is
    // in flight at the kill includes starts cut off before their handshake.
    const nearKill = [0, 1, 2].some((k) => killAt.has(index + k));
    const kind = nearKill && rnd() < 0.5 ? "start-slow" : WEIGHTS.find(([, w]) => (r -= w) < 0)![0];
    // A third of the time the name of one of the last few operations: the same name at once.
    const recent = ops.slice(-3).flatMap((o) => o.names);
    const name = recent.length > 0 && rnd() < 0.35 ? pick(recent) : pick(NAMES);
    const op: PlannedOp = { index, kind, names: [name] };
    if (kind === "apply") {
      const names = new Set([name]);
      for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) names.add(pick(NAMES));
      op.names = [...names].sort();
      op.slow = op.names.map(() => rnd() < 0.4);
      op.revision = 1 + Math.floor(rnd() * 2);
    }
    if (nearKill || rnd() < 0.6) op.overlapMs = Math.floor(rnd() * 120);
    if (killAt.has(index)) {
      op.killDaemonAfterMs = 30 + Math.floor(rnd() * 320);
      op.gracefulKill = rnd() < 0.2;
      afterKill = 1 + Math.floor(rnd() * 3);
    } else if (afterKill > 0) {
      op.duringRestore = true;
      afterKill--;
    }
    ops.push(op);
  }
  return ops;
}

/** What an operation did to one name, once it answered (or was cut off by the daemon's death). */
type Effect = "present" | "absent" | "unknown";

interface Done {
  name: string;
  effect: Effect | undefined;
  sentAt: number;
  answeredAt: number;
}

/**
 * Which names the daemon must list: as of the last check, then what the operations since then
 * did. The effects that count are the last ones: those no other effect on the name began after
 * (operations that overlap may have taken effect in either order). When those disagree, or one
 * was cut off by the daemon's death, the name may go either way and the check takes the
 * daemon's word.
 */
class Expectation {
  private readonly known = new Map<string, Effect>(NAMES.map((n) => [n, "absent"]));
  private done: Done[] = [];

  record(d: Done): void {
    this.done.push(d);
  }

  /** Every name's expected state now: present, absent or unknown. */
  expected(): Map<string, Effect> {
    const result = new Map(this.known);
    for (const name of NAMES) {
      const ops = this.done.filter((d) => d.name === name && d.effect !== undefined);
      // The last effects: those that no other effect on this name certainly followed.
      const last = ops.filter((d) => !ops.some((e) => e !== d && e.sentAt > d.answeredAt));
      const effects = new Set(last.map((d) => d.effect!));
      if (effects.size === 1) result.set(name, [...effects][0]);
      else if (effects.size > 1) result.set(name, "unknown");
    }
    return result;
  }

  /** After a check: what the daemon listed is the new starting point. */
  settle(listed: ReadonlySet<string>): void {
    for (const name of NAMES) this.known.set(name, listed.has(name) ? "present" : "absent");
    this.done = [];
  }
}

/** Errors that an operation may meet in a storm without anything being wrong, by operation. */
function expectedFailure(kind: Kind, err: unknown): boolean {
  if (!(err instanceof ConnectError)) return false;
  const busy = /is (stopping|being killed|restarting|being applied); try again|is still starting/;
  switch (kind) {
    case "start":
    case "start-slow":
      return err.code === Code.AlreadyExists || (err.code === Code.Aborted && /was stopped while starting/.test(err.rawMessage));
    case "stop":
    case "kill":
    case "restart":
      return err.code === Code.NotFound || (err.code === Code.FailedPrecondition && busy.test(err.rawMessage));
    case "apply":
      return false;
  }
}

let goGreeter: string;
before(async () => {
  goGreeter = await buildGoProgram("goplugin-greeter");
});

test("a seeded storm of start, stop, kill, restart and apply with daemon SIGKILLs: the daemon runs exactly what was acknowledged, once each", { timeout: Math.max(10 * 60_000, OPS * 1_000) }, async (t) => {
  const ops = plan(SEED, OPS);
  t.diagnostic(`seed ${SEED}, ${OPS} operations (replay: PLUGPROM_STORM_SEED=${SEED} PLUGPROM_STORM_OPS=${OPS})`);
  const next = daemonFleet(t);
  const dir = tempDir(t, "pp-storm-");
  const pluginsFile = join(dir, "plugins.json");
  const slowCommand = (delay = "0.3") => ["sh", "-c", `sleep ${delay}; exec ${goGreeter}`];
  const expectation = new Expectation();
  const opLog: string[] = [];
  const unexpected: string[] = [];
  const began = Date.now();
  const note = (line: string) => opLog.push(`${String(Date.now() - began).padStart(6)} ms ${line}`);

  const daemons: DaemonHandle[] = [];
  const startNext = async () => {
    const started = await next(["--log-level", "info"]);
    daemons.push(started);
    return started;
  };
  let d: DaemonHandle = await startNext();
  let client: ControlClient = createControlClient(d.grpcAddr);
  let epoch = 0;
  /** When the current daemon was killed: what had not answered by then may go either way. */
  let killedAt: number | undefined;
  const inFlight = new Set<Promise<void>>();

  /** Runs one operation and records its effect on each name. */
  const perform = async (op: PlannedOp): Promise<void> => {
    const c = client;
    const opEpoch = epoch;
    const sentAt = Date.now();
    const opts = { timeoutMs: CALL_TIMEOUT_MS };
    const what = `#${op.index} ${op.kind} ${op.names.join(",")}${op.duringRestore ? " (during restore)" : ""}`;
    const record = (name: string, effect: Effect | undefined, outcome: string) => {
      const cut = opEpoch !== epoch || killedAt !== undefined;
      expectation.record({ name, effect: cut ? "unknown" : effect, sentAt, answeredAt: cut ? Math.min(Date.now(), killedAt ?? Infinity) : Date.now() });
      if (name === op.names[0]) note(`${what}: ${outcome}${cut ? " (cut off by the daemon's death)" : ""}`);
    };
    const name = op.names[0];
    try {
      switch (op.kind) {
        case "start":
          await c.start({ name, command: [goGreeter], workingDir: "/" }, opts);
          return record(name, "present", "started");
        case "start-slow":
          await c.start({ name, command: slowCommand(), workingDir: "/" }, opts);
          return record(name, "present", "started");
        case "stop":
          await c.stop({ name, grace: { seconds: 2n, nanos: 0 } }, opts);
          return record(name, "absent", "stopped");
        case "kill":
          await c.kill({ name }, opts);
          return record(name, "absent", "killed");
        case "restart":
          await c.restart({ name, grace: { seconds: 2n, nanos: 0 } }, opts);
          return record(name, "present", "restarted");
        case "apply": {
          const instances = Object.fromEntries(
            op.names.map((n, i) => {
              const [command, ...args] = op.slow![i] ? slowCommand() : [goGreeter];
              return [n, { command, args, env: { STORM_REVISION: String(op.revision) } }];
            }),
          );
          const content = JSON.stringify({ instances }, null, 2);
          writeFileSync(pluginsFile, content);
          const res = await c.apply({ content, path: pluginsFile, prune: false, dryRun: false }, opts);
          for (const r of res.results) {
            const failed = r.action === ApplyAction.FAILED;
            if (failed && opEpoch === epoch && killedAt === undefined) unexpected.push(`${what}: ${r.name} failed: ${r.error}`);
            const outcome = `${ApplyAction[r.action].toLowerCase()}${failed ? ` (${r.error})` : ""}`;
            record(r.name, failed ? "absent" : r.action === ApplyAction.DELETED ? "absent" : "present", outcome);
            if (r.name !== name) note(`#${op.index} apply: ${r.name} ${outcome}`);
          }
          return;
        }
      }
    } catch (err) {
      const cut = opEpoch !== epoch || killedAt !== undefined;
      if (!cut && !expectedFailure(op.kind, err)) unexpected.push(`${what}: ${errorMessage(err)}`);
      const effect: Effect | undefined = cut ? "unknown" : undefined;
      for (const n of op.names) record(n, effect, `failed: ${errorMessage(err).replace(/\n/g, "; ")}`);
    }
  };

  const settleAll = async () => {
    while (inFlight.size > 0) await Promise.all([...inFlight]);
  };

  const issue = (op: PlannedOp) => {
    const p: Promise<void> = perform(op).finally(() => inFlight.delete(p));
    inFlight.add(p);
    return p;
  };

  /** The checks, once nothing is in flight and the daemon has finished restoring. */
  const check = async (when: string) => {
    const listedInfo = (await client.list({}, { timeoutMs: CALL_TIMEOUT_MS })).plugins;
    const listed = new Map(listedInfo.map((p) => [p.name, p]));
    const expected = expectation.expected();
    const uncertain: string[] = [];
    for (const name of NAMES) {
      const want = expected.get(name)!;
      if (want === "unknown") {
        uncertain.push(`${name} (${listed.has(name) ? "kept" : "gone"})`);
        continue;
      }
      assert.equal(listed.has(name) ? "present" : "absent", want, `${when}: "${name}" should be ${want}, the daemon ${listed.has(name) ? `lists it (${PluginState[listed.get(name)!.state]})` : "does not list it"}`);
    }
    for (const [name, groups] of groupsByInstance(d.stateDir)) {
      assert.ok(listed.has(name), `${when}: processes of "${name}" (groups ${[...groups].join(", ")}) run, but the daemon does not list it`);
      assert.equal(groups.size, 1, `${when}: "${name}" runs as ${groups.size} process groups: ${[...groups].join(", ")} (the daemon knows pid ${listed.get(name)!.pid})`);
      const info = listed.get(name)!;
      if (info.pid > 0) assert.deepEqual([...groups], [info.pid], `${when}: "${name}" runs as group ${[...groups][0]}, the daemon knows pid ${info.pid}`);
    }
    for (const info of listedInfo) {
      if (info.state !== PluginState.RUNNING) continue;
      const scrape = await httpGet(`${d.httpBase}/plugins/${info.name}/metrics`);
      assert.equal(scrape.status, 200, `${when}: scraping RUNNING "${info.name}" answered ${scrape.status}: ${scrape.body.slice(0, 200)}`);
    }
    const saved = JSON.parse(readFileSync(join(d.stateDir, "instances.json"), "utf8")) as { instances: Array<{ spec: { name: string } }> };
    assert.deepEqual(saved.instances.map((i) => i.spec.name).sort(), [...listed.keys()].sort(), `${when}: instances.json names what the daemon lists`);
    assert.deepEqual(unexpected, [], `${when}: operations failed unexpectedly`);
    if (uncertain.length > 0) t.diagnostic(`${when}: either way (cut off by a daemon kill, or operations at once that disagree): ${uncertain.join(", ")}`);
    expectation.settle(new Set(listed.keys()));
  };

  const restartDaemon = async (restoringOps: PlannedOp[]) => {
    await settleAll();
    epoch++;
    killedAt = undefined;
    d = await startNext();
    client = createControlClient(d.grpcAddr);
    // Some operations race the restore and its orphan sweep.
    for (const op of restoringOps) void issue(op);
    await d.waitForLog("instances restored", 60_000);
    await settleAll();
    await check(`after daemon restart ${epoch}`);
  };

  try {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.overlapMs === undefined) await settleAll();
      else await new Promise((resolve) => setTimeout(resolve, op.overlapMs));
      while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race([...inFlight]);
      void issue(op);
      if (op.killDaemonAfterMs !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, op.killDaemonAfterMs));
        killedAt = Date.now();
        const signal = op.gracefulKill ? "SIGTERM" : "SIGKILL";
        note(`${signal} daemon ${epoch} (${inFlight.size} operations in flight)`);
        t.diagnostic(`operation ${op.index}: ${signal} to daemon ${epoch} with ${inFlight.size} operations in flight`);
        if (op.gracefulKill) assert.equal(await d.stop(), 0, "a daemon that is sent SIGTERM in a storm exits 0");
        else d.proc.kill("SIGKILL");
        const restoring: PlannedOp[] = [];
        while (ops[i + 1]?.duringRestore) restoring.push(ops[++i]);
        await restartDaemon(restoring);
      }
    }
    await settleAll();
    await check("at the end");
    assert.equal(await d.stop(), 0, "the daemon stops cleanly");
    assert.deepEqual([...groupsByInstance(d.stateDir).keys()], [], "a daemon that stopped leaves no plugin running");
  } catch (err) {
    await settleAll().catch(() => undefined);
    const daemonTail = d.log().split("\n").slice(-40).join("\n");
    // Everything, for the post-mortem: every operation and every daemon's whole log.
    const artifacts = join(repoRoot, "test-artifacts", `fault-storm-${SEED}`);
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(join(artifacts, "operations.log"), `${opLog.join("\n")}\n`);
    daemons.forEach((h, i) => writeFileSync(join(artifacts, `daemon-${i}.log`), h.log()));
    throw new Error(
      `fault storm failed with seed ${SEED}: replay with PLUGPROM_STORM_SEED=${SEED} PLUGPROM_STORM_OPS=${OPS}\n${errorMessage(err)}\n` +
        `last operations:\n${opLog.slice(-40).join("\n")}\nlast lines of daemon ${epoch}'s log:\n${daemonTail}\n` +
        `all operations and every daemon's log: ${artifacts}`,
      { cause: err },
    );
  }
  t.diagnostic(`${OPS} operations and ${epoch} daemon restarts in ${((Date.now() - began) / 1000).toFixed(1)} s`);
});
