// Instances without supervisors, for the HTTP side, discovery and metrics: views built as a
// supervisor in that state would show them, "advertised" decided by the daemon's own rule.
import { isAdvertised, type InstanceDirectory, type InstanceView } from "../../src/daemon/instance.js";
import { PluginState } from "../../src/shared/gen/plugprom/v1/control_pb.js";

export type InstanceOverrides = Partial<Omit<InstanceView, "name" | "state" | "advertised">> & {
  /** Ran before (a STARTING instance that is restarting is advertised); default: not STARTING. */
  everRan?: boolean;
};

export function instance(name: string, state: PluginState = PluginState.RUNNING, o: InstanceOverrides = {}): InstanceView {
  const { everRan = state !== PluginState.STARTING, ...rest } = o;
  return {
    labels: {},
    metricsEndpoint: { kind: "unix", path: `/s/${name}.sock` },
    healthy: state === PluginState.RUNNING,
    pid: undefined,
    restarts: 0,
    startedAt: undefined,
    noMetrics: false,
    limits: { memoryBytes: 0, pids: 0 },
    ...rest,
    name,
    state,
    advertised: isAdvertised(state, everRan),
  };
}

export class FakeDirectory implements InstanceDirectory {
  private readonly instances = new Map<string, InstanceView>();

  /** Adds or replaces an instance. */
  add(name: string, state: PluginState = PluginState.RUNNING, o: InstanceOverrides = {}): InstanceView {
    const view = instance(name, state, o);
    this.instances.set(name, view);
    return view;
  }

  remove(name: string): void {
    this.instances.delete(name);
  }

  get(name: string): InstanceView | undefined {
    return this.instances.get(name);
  }

  list(): InstanceView[] {
    return [...this.instances.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
