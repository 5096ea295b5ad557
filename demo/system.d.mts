// Types of demo/system.mjs for the TypeScript runner.
export interface ServiceDef {
  name: string;
  kind: 'http' | 'kv';
  port: number;
  otel: boolean;
  version: string;
  calls: string[];
  description: string;
}
export declare const SERVICES: readonly ServiceDef[];
export declare const PRODUCTS: readonly { id: number; name: string; priceUsd: number; category: string }[];
export declare const HANDLERS: Record<string, Record<string, unknown>>;
export declare function nextVersion(version: string): string;
