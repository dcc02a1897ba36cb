import { describe, expect, it } from 'vitest';
import {
  type CoordinationObservation,
  coordinationObservation,
  pickCoordinationServer,
} from '../../../functions/election/coordination-server.js';

const A = { host: '10.0.0.1', port: 3306 };
const B = { host: '10.0.0.2', port: 3306 };
const up = (s: { host: string; port: number }, reachable = true) => ({ ...s, reachable });

describe('pickCoordinationServer', () => {
  it('picks the server the routers send writes to', () => {
    const obs: CoordinationObservation = {
      servers: [up(A), up(B)],
      routers: [
        { reachable: true, target: B },
        { reachable: true, target: B },
      ],
    };
    expect(pickCoordinationServer(obs)).toMatchObject({ server: B, rule: 'router-target', votes: 2 });
  });

  it('follows the majority of routers and breaks ties by the lowest host:port', () => {
    const majority = pickCoordinationServer({
      servers: [up(A), up(B)],
      routers: [
        { reachable: true, target: A },
        { reachable: true, target: B },
        { reachable: true, target: B },
      ],
    });
    expect(majority.server).toEqual(B);
    const tie = pickCoordinationServer({
      servers: [up(B), up(A)],
      routers: [
        { reachable: true, target: B },
        { reachable: true, target: A },
      ],
    });
    expect(tie.server).toEqual(A);
  });

  it('gives the same answer whatever order the observation lists servers and routers in', () => {
    const routers = [
      { reachable: true, target: B },
      { reachable: false, target: A },
      { reachable: true, target: A },
    ];
    const one = pickCoordinationServer({ servers: [up(A), up(B)], routers });
    const two = pickCoordinationServer({ servers: [up(B), up(A)], routers: [...routers].reverse() });
    expect(one).toEqual(two);
  });

  it('ignores routers that did not answer and targets that are not configured servers', () => {
    const pick = pickCoordinationServer({
      servers: [up(A), up(B)],
      routers: [
        { reachable: false, target: A },
        { reachable: true, target: { host: '10.9.9.9', port: 3306 } },
        { reachable: true, target: B },
      ],
    });
    expect(pick).toMatchObject({ server: B, votes: 1 });
  });

  it('falls back to the lowest configured address when no router reports a target', () => {
    const pick = pickCoordinationServer({
      servers: [up(B), up(A)],
      routers: [{ reachable: false, target: null }],
    });
    expect(pick).toMatchObject({ server: A, rule: 'lowest-address' });
  });

  it('refuses to coordinate elsewhere when the picked server is unreachable from here', () => {
    const pick = pickCoordinationServer({
      servers: [up(A), up(B, false)],
      routers: [{ reachable: true, target: B }],
    });
    expect(pick.server).toBeNull();
    expect(pick.reason).toContain('10.0.0.2:3306');
  });
});

describe('coordinationObservation', () => {
  it('maps each router to the configured server it routes to', () => {
    const obs = coordinationObservation({
      servers: [
        { id: 'db1', host: '10.0.0.1', port: 3306, reachable: false },
        { id: 'db2', host: '10.0.0.2', port: 3306, reachable: true },
      ],
      routers: [
        { reachable: true, routesTo: 'db2' },
        { reachable: true, routesTo: null },
        { reachable: false, routesTo: 'db1' },
      ],
    });
    expect(obs.routers.map((r) => r.target)).toEqual([B, null, A]);
    expect(pickCoordinationServer(obs)).toMatchObject({ server: B, votes: 1 });
  });
});
