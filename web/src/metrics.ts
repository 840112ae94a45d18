// Per-turn latency packets from the agent worker: reliable data, topic `voicecall.metrics`,
// body = a TurnMetrics JSON object (functions/models/session_log.py).

import { LATENCY_STAGES, type LatencyStage } from './api';

export const METRICS_TOPIC = 'voicecall.metrics';

export type TurnMetricsMessage = { turn: number; interrupted: boolean } & Partial<Record<LatencyStage, number>>;

export function parseMetricsPacket(payload: Uint8Array | string): TurnMetricsMessage | null {
  let body: unknown;
  try {
    body = JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const o = body as Record<string, unknown>;
  if (o.type !== undefined && o.type !== 'turn_metrics') return null;
  if (typeof o.turn !== 'number' || !Number.isInteger(o.turn) || o.turn < 0) return null;
  const msg: TurnMetricsMessage = { turn: o.turn, interrupted: o.interrupted === true };
  for (const stage of LATENCY_STAGES) {
    const v = o[stage];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) msg[stage] = v;
  }
  return msg;
}

/** Insert or replace by turn number, keeping turns ordered. */
export function upsertTurn(list: readonly TurnMetricsMessage[], msg: TurnMetricsMessage): TurnMetricsMessage[] {
  const out = list.filter((m) => m.turn !== msg.turn);
  out.push(msg);
  return out.sort((a, b) => a.turn - b.turn);
}
