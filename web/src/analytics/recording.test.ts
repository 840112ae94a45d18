import { describe, expect, it } from 'vitest';
import { offsetIn } from './SessionDetailPage';

describe('a transcript line in the recording', () => {
  const recording = { started_at: '2026-12-02T10:00:00Z', duration_s: 60, bytes: 1 };

  it('starts a little before the line was final', () => {
    expect(offsetIn(recording, '2026-12-02T10:00:05Z')).toBe(3.5);
    expect(offsetIn(recording, '2026-12-02T10:00:01Z')).toBe(0);
  });

  it('has no place without a time inside the recording', () => {
    expect(offsetIn(recording, null)).toBeNull();
    expect(offsetIn(recording, 'yesterday')).toBeNull();
    expect(offsetIn(recording, '2026-12-02T09:59:00Z')).toBeNull();
    expect(offsetIn(recording, '2026-12-02T10:05:00Z')).toBeNull();
  });
});
