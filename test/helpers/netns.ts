/**
 * Two test hosts: network namespaces A and B joined by a veth pair on 10.213.7.0/24 (A = .1, B = .2). Names
 * carry this process's pid, so parallel runs do not collide; both namespaces (and with them the veth pair)
 * are deleted after `t`. Traffic stays between these two namespaces and loopback.
 */
import type { AfterHook } from './service.ts';
import { sh } from './collector.ts';

export const SUBNET = '10.213.7';

export interface NetPair {
  a: string;
  b: string;
  addrA: string;
  addrB: string;
  vethA: string;
  vethB: string;
  /** `argv` run in namespace `ns` (`ip netns exec`: the same pid, exec'd in place). */
  exec(ns: string, argv: string[]): string[];
}

export async function createNetPair(t: AfterHook, tag = ''): Promise<NetPair> {
  const id = `${process.pid}${tag}`;
  const net: NetPair = {
    a: `rootline-a-${id}`,
    b: `rootline-b-${id}`,
    addrA: `${SUBNET}.1`,
    addrB: `${SUBNET}.2`,
    vethA: `rlva${id}`.slice(0, 15),
    vethB: `rlvb${id}`.slice(0, 15),
    exec: (ns, argv) => ['ip', 'netns', 'exec', ns, ...argv],
  };
  for (const ns of [net.a, net.b]) {
    await sh(['ip', 'netns', 'add', ns]);
    t.after(async () => {
      await sh(['ip', 'netns', 'delete', ns]);
    });
  }
  await sh(['ip', 'link', 'add', net.vethA, 'netns', net.a, 'type', 'veth', 'peer', 'name', net.vethB, 'netns', net.b]);
  for (const [ns, dev, addr] of [[net.a, net.vethA, net.addrA], [net.b, net.vethB, net.addrB]] as const) {
    await sh(['ip', '-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
    await sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  return net;
}
