import type { SourceProfile } from '../../config/schema.ts';
import { genericProfile } from './generic.ts';
import type { SourceProfileImpl } from './types.ts';
import { usEmbassyProfile } from './us-embassy.ts';
import { usStateDeptProfile } from './us-state-dept.ts';

const PROFILES: Partial<Record<SourceProfile, SourceProfileImpl>> = {
  generic: genericProfile,
  'us-state-dept': usStateDeptProfile,
  'us-embassy': usEmbassyProfile,
};

export function profileFor(source: string): SourceProfileImpl {
  const p = PROFILES[source as SourceProfile];
  if (!p) throw new Error(`source profile "${source}" is not implemented`);
  return p;
}
