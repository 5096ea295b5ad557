/**
 * A node layer for sigma 4 that draws a coloured ring just inside the node's outline, so a node keeps its
 * kind's colour and its mark (changed, in an incident, root cause…) shows around it. sigma 4 has no border
 * layer of its own (its node-border package targets sigma 3), hence this one small GLSL function.
 */
import type { FragmentLayer } from 'sigma/rendering';

/** The style variable the ring reads; a transparent colour draws nothing. */
export const RING_VARIABLE = { ringColor: { type: 'color' as const, default: 'rgba(0,0,0,0)' } };

export function layerRing(): FragmentLayer {
  return {
    name: 'ring',
    uniforms: [],
    attributes: [{ name: 'ringColor', size: 4, type: WebGL2RenderingContext.UNSIGNED_BYTE, normalized: true, source: 'ringColor', defaultValue: 'rgba(0,0,0,0)' }],
    // sdf is negative inside the shape and 0 on its outline. The ring is the outer band, 3 px wide (at most
    // 40 % of the radius), with a 1.5 px white gap inside it so it reads as a ring on a fill of any colour.
    glsl: /* glsl */ `
vec4 layer_ring(vec4 v_ringColor) {
  float px = context.pixelToUV;
  float width = min(3.0 * px, context.shapeHalfSize * 0.4);
  float gap = min(1.5 * px, context.shapeHalfSize * 0.2);
  float aa = context.aaWidth;
  float ring = smoothstep(-width - aa, -width + aa, context.sdf);
  float inGap = smoothstep(-width - gap - aa, -width - gap + aa, context.sdf) * (1.0 - ring);
  vec4 white = vec4(1.0, 1.0, 1.0, v_ringColor.a * inGap);
  return inGap > ring ? white : vec4(v_ringColor.rgb, v_ringColor.a * ring);
}
`,
  };
}
