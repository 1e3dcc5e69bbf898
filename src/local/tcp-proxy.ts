/**
 * A TCP endpoint whose target can change, as an Aurora endpoint (a DNS name) leads to another
 * instance after a failover: new connections go to the current target, open ones stay where
 * they were connected until cut. `refuse` stands for an endpoint whose region is gone.
 */

import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export interface TcpTarget {
  readonly host: string;
  readonly port: number;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Where new connections go; undefined: refused. */
  readonly target: TcpTarget | undefined;
  route(target: TcpTarget | undefined): void;
  /** Closes the open connections to `target` (all of them when omitted); returns how many. */
  cut(target?: TcpTarget): number;
  /** Open connections per target, `host:port`. */
  open(): Record<string, number>;
  stop(): Promise<void>;
}

const key = (t: TcpTarget) => `${t.host}:${t.port}`;

export async function startTcpProxy(initial: TcpTarget | undefined): Promise<TcpProxy> {
  let target = initial;
  const links = new Map<string, Set<Socket>>();
  const track = (k: string, socket: Socket) => {
    const set = links.get(k) ?? new Set<Socket>();
    links.set(k, set);
    set.add(socket);
    socket.once("close", () => set.delete(socket));
  };
  const server: Server = createServer((client) => {
    const to = target;
    if (!to) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect({ host: to.host, port: to.port });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.once("close", close);
    upstream.once("close", close);
    track(key(to), client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    get target() {
      return target;
    },
    route(next) {
      target = next;
    },
    cut(which) {
      let n = 0;
      for (const [k, set] of links) {
        if (which && k !== key(which)) continue;
        for (const socket of set) {
          socket.destroy();
          n++;
        }
      }
      return n;
    },
    open() {
      return Object.fromEntries([...links].map(([k, set]) => [k, set.size]));
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const set of links.values()) for (const socket of set) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
