/**
 * `window.__rootline`: the live map's graph and sigma instance and a few timings, for tests, benchmarks and
 * anyone poking at the page from the console. It holds references only; nothing is computed for it.
 */
import type { MapView } from './graph/map.ts';
import { renderTimes } from './graph/map.ts';

export interface Debug {
  map: MapView | null;
  /** performance.now() (ms since navigation) of notable moments, e.g. `mapRendered`. */
  timings: Record<string, number>;
  /** The last few hundred sigma render durations (ms). */
  renderTimes: number[];
  /** The graph on screen (null before the first map). */
  readonly graph: MapView['graph'] | null;
}

export const debug: Debug = {
  map: null,
  timings: {},
  renderTimes,
  get graph() {
    return this.map?.graph ?? null;
  },
};

declare global {
  interface Window {
    __rootline: Debug;
  }
}
window.__rootline = debug;
