/**
 * The sigma.js renderer around a topology graph. Highlights are node and edge attributes (`mark`, `dim`)
 * that the declarative styles below read, so a highlight is one batched attribute update and sigma redraws
 * once; nothing here runs per frame. A new graph replaces the old one whole (setGraph).
 */
import Sigma from 'sigma';
import { extremityArrow, layerFill, pathLine, sdfCircle, sdfDiamond, sdfSquare, sdfTriangle } from 'sigma/rendering';
import { layerRing, RING_VARIABLE } from './ring.ts';
import { newGraph, type Mark, type TopoGraph } from './build.ts';

export const MARK_COLOR: Record<Mark, string> = {
  added: '#2ca02c',
  removed: '#d62728',
  changed: '#1f77b4',
  incident: '#d62728',
  cause: '#9400d3',
  path: '#d62728',
};

export interface MapHandlers {
  onNode?(id: string): void;
  onEdge?(id: string): void;
  onHover?(id: string | null, x: number, y: number): void;
}

/** Render durations sigma reports, for the performance check: one push a frame, the last 600 kept. */
export const renderTimes: number[] = [];

export class MapView {
  readonly sigma;
  private renderStart = 0;
  /** Frames of the current graph still to time: 2 after show(), then 1, then 0. */
  private probe = 0;
  private killed = false;
  /** The first frame of the current graph, GPU included (on a new map, also the shader compilation) (ms). */
  firstFrameMs = NaN;
  /** The second frame: what drawing this graph costs here (ms). */
  frameMs = NaN;

  constructor(container: HTMLElement, handlers: MapHandlers = {}) {
    this.sigma = new Sigma(newGraph(), container, {
      primitives: {
        nodes: { shapes: [sdfCircle(), sdfSquare(), sdfDiamond(), sdfTriangle()], layers: [layerFill(), layerRing()], variables: RING_VARIABLE },
        // Straight lines only: a loop path makes every edge's shader carry arc-length sampling (2.5 times the
        // frame time under software rendering), and the topology has no self-loops worth drawing.
        edges: { paths: [pathLine()], extremities: [extremityArrow()], defaultHead: 'arrow' },
      },
      styles: {
        nodes: {
          x: { attribute: 'x' },
          y: { attribute: 'y' },
          shape: { attribute: 'shape', defaultValue: 'circle' },
          label: { attribute: 'label' },
          // A marked node grows so its fill still shows inside the ring.
          size: (a, s) => (a.mark ? a.size + 4 : a.size) * (s.isHovered ? 1.3 : 1),
          ringColor: (a) => (a.mark ? MARK_COLOR[a.mark] : 'rgba(0,0,0,0)'),
          color: { attribute: 'color' },
          opacity: (a) => (a.dim ? 0.15 : 1),
          visibility: { whenState: 'isHidden', then: 'hidden', else: 'visible' },
          labelVisibility: (a, s) => (s.isHovered || (a.mark && !a.dim) ? 'visible' : a.dim ? 'hidden' : 'auto'),
          labelColor: (a) => (a.dim ? '#9ca3af' : '#111827'),
          // A white card behind the hovered node and its label.
          backdropVisibility: { whenState: 'isHovered', then: 'visible', else: 'hidden' },
          backdropColor: '#ffffff',
          backdropShadowColor: 'rgba(0, 0, 0, 0.5)',
          backdropShadowBlur: 12,
          backdropPadding: 5,
          depth: (a, s) => (s.isHovered || (a.mark && !a.dim) ? 'topNodes' : 'nodes'),
        },
        edges: {
          size: (a) => (a.mark ? a.size * 2.5 : a.size),
          color: (a) => (a.mark ? MARK_COLOR[a.mark] : a.color),
          opacity: (a) => (a.dim ? 0.08 : 0.9),
          path: 'line',
          head: 'arrow',
          depth: (a, s) => (a.mark || s.isHovered ? 'topEdges' : 'edges'),
        },
      },
      settings: {
        enableEdgeEvents: true,
        // Labels of small nodes come with zoom; moving hides nothing (sigma's WebGL labels are cheap to draw).
        labelRenderedSizeThreshold: 5,
        labelDensity: 0.6,
        // Sizes in screen pixels (sigma 4 defaults to graph units, which made a 4-node map all discs).
        itemSizesReference: 'screen',
        enableCameraRotation: false,
        stagePadding: 70, // room for the labels of the outermost nodes
      },
    });
    this.sigma.on('clickNode', ({ node }) => handlers.onNode?.(node));
    this.sigma.on('clickEdge', ({ edge }) => handlers.onEdge?.(edge));
    this.sigma.on('enterNode', ({ node, event }) => handlers.onHover?.(node, event.x, event.y));
    this.sigma.on('leaveNode', () => handlers.onHover?.(null, 0, 0));
    this.sigma.on('beforeRender', () => {
      this.renderStart = performance.now();
    });
    this.sigma.on('afterRender', () => {
      if (this.probe > 0) this.timeFrame();
      renderTimes.push(performance.now() - this.renderStart);
      if (renderTimes.length > 600) renderTimes.splice(0, renderTimes.length - 600);
    });
  }

  get graph(): TopoGraph {
    return this.sigma.getGraph();
  }

  /**
   * Times the first two frames of each graph, GPU included (a 1-pixel read waits for it): the first is what
   * the user waits for, the second what a frame of this graph costs here. Where that is slow (software
   * rendering, as in a VM or headless Chromium, or a weak GPU) edges and labels hide while the camera moves
   * and edges stop taking hover and clicks (picking them is a second pass), so panning stays smooth; a GPU
   * that keeps up keeps everything.
   */
  private timeFrame(): void {
    const gl = this.sigma.getWebGLContext();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
    const ms = performance.now() - this.renderStart;
    if (this.probe-- === 2) {
      this.firstFrameMs = ms;
      setTimeout(() => this.killed || this.sigma.scheduleRender(), 0);
      return;
    }
    this.frameMs = ms;
    const slow = ms > 40;
    const want = { hideEdgesOnMove: slow, hideLabelsOnMove: slow, enableEdgeEvents: !slow || this.graph.size <= 300 };
    const have = this.sigma.getSettings();
    if (Object.entries(want).every(([k, v]) => have[k as keyof typeof want] === v)) return;
    // Not from inside sigma's render: changing settings there leaves its edge indexes half updated.
    setTimeout(() => this.killed || this.sigma.setSettings(want), 0);
  }

  /** Shows a new graph (already laid out) and frames it. */
  show(g: TopoGraph): void {
    this.probe = 2;
    this.sigma.setGraph(g);
    this.sigma.getCamera().setState({ x: 0.5, y: 0.5, ratio: 1, angle: 0 }); // framed whole
  }

  /**
   * Sets marks and dimming in one pass: `nodes`/`edges` give the marks; with `focus`, everything not marked is
   * dimmed (an RCA path over its neighbourhood).
   */
  highlight(nodes: ReadonlyMap<string, Mark>, edges: ReadonlyMap<string, Mark>, focus = false): void {
    const g = this.graph;
    g.updateEachNodeAttributes((id, a) => ({ ...a, mark: nodes.get(id), dim: focus && !nodes.has(id) }), { attributes: ['mark', 'dim'] });
    g.updateEachEdgeAttributes((id, a) => ({ ...a, mark: edges.get(id), dim: focus && !edges.has(id) }), { attributes: ['mark', 'dim'] });
  }

  /** Moves the camera onto a node. */
  focus(id: string): void {
    const pos = this.sigma.getNodeDisplayData(id);
    if (pos) void this.sigma.getCamera().animate({ x: pos.x, y: pos.y, ratio: 0.4 }, { duration: 400 });
  }

  kill(): void {
    this.killed = true;
    this.sigma.kill();
  }
}
